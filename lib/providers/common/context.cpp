#include "providers/common/context.hpp"

#include <cstdlib>

#include "util/fs.hpp"

namespace raycluster {

std::optional<std::string> Environment::get(const std::string& name) const {
  if (!getenv) return std::nullopt;
  return getenv(name);
}

Environment process_environment() {
  Environment env;
  env.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
  env.home = detail::home_dir();
  return env;
}

AwsEnvironment to_aws_environment(const Environment& env) {
  AwsEnvironment aws;
  aws.getenv = env.getenv ? env.getenv : process_environment().getenv;
  aws.home = env.home;
  return aws;
}

ProviderContext ProviderContext::with_defaults() const {
  ProviderContext c = *this;
  if (!c.env.getenv) c.env = process_environment();
  if (!c.now) c.now = real_wall_clock();
  if (!c.sleep) c.sleep = real_sleeper();
  if (!c.random) c.random = real_random();
  return c;
}

}  // namespace raycluster
