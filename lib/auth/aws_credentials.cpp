#include "auth/aws_credentials.hpp"

#include <cctype>
#include <vector>

#include "auth/ini.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace raycluster {

namespace {

constexpr std::size_t kMaxFileBytes = 1 << 20;

std::optional<std::string> env_value(const AwsEnvironment& env, const std::string& name) {
  if (!env.getenv) return std::nullopt;
  auto v = env.getenv(name);
  if (!v || v->empty()) return std::nullopt;  // set-but-empty counts as unset, as in botocore
  return v;
}

// One of the two shared files, read and parsed (or why it could not be).
struct SharedFile {
  std::string path;
  bool loaded = false;
  std::string problem;  // "missing", "unreadable: ..."
  std::vector<detail::IniSection> sections;
};

SharedFile load_shared_file(const AwsEnvironment& env, const char* env_var,
                            const char* default_name) {
  SharedFile f;
  auto override_path = env_value(env, env_var);
  f.path = override_path ? detail::expand_user(*override_path, env.home)
                         : env.home + "/.aws/" + default_name;
  if (!detail::path_exists(f.path)) {
    f.problem = "missing";
    return f;
  }
  try {
    f.sections = detail::parse_ini(detail::read_file(f.path, kMaxFileBytes));
    f.loaded = true;
  } catch (const Error& e) {
    f.problem = std::string("unreadable: ") + e.what();
  }
  return f;
}

SharedFile credentials_file(const AwsEnvironment& env) {
  return load_shared_file(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
}
SharedFile config_file(const AwsEnvironment& env) {
  return load_shared_file(env, "AWS_CONFIG_FILE", "config");
}

// [profile] in the credentials file: the section name is the profile name.
const detail::IniSection* credentials_section(const SharedFile& f, const std::string& profile) {
  for (const auto& s : f.sections)
    if (s.name == profile) return &s;
  return nullptr;
}

// [profile name] in the config file; [default] also names the default profile.
// When both [default] and [profile default] exist, the later one wins (botocore).
const detail::IniSection* config_section(const SharedFile& f, const std::string& profile) {
  const detail::IniSection* found = nullptr;
  for (const auto& s : f.sections) {
    auto words = detail::split(s.name, ' ');
    std::erase_if(words, [](const std::string& w) { return w.empty(); });
    if (words.size() == 2 && words[0] == "profile" && words[1] == profile) found = &s;
    if (profile == "default" && s.name == "default") found = &s;
  }
  return found;
}

const std::string* value_of(const detail::IniSection* s, const std::string& key) {
  if (!s) return nullptr;
  auto it = s->values.find(key);
  if (it == s->values.end() || it->second.empty()) return nullptr;
  return &it->second;
}

// Static keys from a profile section; nullopt when it has none; throws when
// half there.
std::optional<AwsCredentials> keys_from_section(const detail::IniSection* s,
                                                const std::string& source) {
  if (!s) return std::nullopt;
  auto id = value_of(s, "aws_access_key_id");
  auto secret = value_of(s, "aws_secret_access_key");
  if (!id && !secret) return std::nullopt;
  if (!id || !secret)
    throw Error(ErrorCode::auth, "incomplete AWS credentials in " + source + ": " +
                                     (id ? "aws_access_key_id is set but aws_secret_access_key is missing"
                                         : "aws_secret_access_key is set but aws_access_key_id is missing"));
  AwsCredentials c;
  c.access_key_id = *id;
  c.secret_access_key = *secret;
  // aws_security_token is the legacy name; botocore checks it first.
  if (auto t = value_of(s, "aws_security_token"))
    c.session_token = *t;
  else if (auto t2 = value_of(s, "aws_session_token"))
    c.session_token = *t2;
  c.source = source;
  return c;
}

// Keys a profile may use for credential sources raycluster does not implement.
constexpr const char* kUnsupportedSources[][2] = {
    {"role_arn", "assume-role (role_arn)"},
    {"web_identity_token_file", "web identity (web_identity_token_file)"},
    {"sso_session", "IAM Identity Center / SSO (sso_session)"},
    {"sso_start_url", "IAM Identity Center / SSO (sso_start_url)"},
    {"credential_process", "credential_process"},
};

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

std::string where(const SharedFile& f, const std::string& profile, bool config) {
  return (config ? "config file " : "shared credentials file ") + f.path + " [" +
         (config && profile != "default" ? "profile " : "") + profile + "]";
}

}  // namespace

std::string AwsCredentials::to_string() const {
  return "AwsCredentials{access_key_id=" + access_key_id + ", secret_access_key=" +
         (secret_access_key.empty() ? "<none>" : "<redacted>") +
         ", session_token=" + (session_token.empty() ? "<none>" : "<redacted>") +
         ", source=" + source + "}";
}

std::string resolve_aws_profile(const AwsEnvironment& env,
                                const std::optional<std::string>& explicit_profile) {
  if (explicit_profile && !explicit_profile->empty()) return *explicit_profile;
  if (auto p = env_value(env, "AWS_PROFILE")) return *p;
  if (auto p = env_value(env, "AWS_DEFAULT_PROFILE")) return *p;
  return "default";
}

std::optional<AwsCredentials> find_static_aws_credentials(
    const AwsEnvironment& env, const std::optional<std::string>& explicit_profile,
    std::vector<std::string>& tried) {
  bool explicit_named = explicit_profile && !explicit_profile->empty();
  if (!explicit_named) {
    auto id = env_value(env, "AWS_ACCESS_KEY_ID");
    auto secret = env_value(env, "AWS_SECRET_ACCESS_KEY");
    if (id && !secret)
      throw Error(ErrorCode::auth,
                  "incomplete AWS credentials in the environment: AWS_ACCESS_KEY_ID is set but "
                  "AWS_SECRET_ACCESS_KEY is missing or empty");
    if (id) {
      AwsCredentials c;
      c.access_key_id = *id;
      c.secret_access_key = *secret;
      if (auto t = env_value(env, "AWS_SESSION_TOKEN"))
        c.session_token = *t;
      else if (auto t2 = env_value(env, "AWS_SECURITY_TOKEN"))
        c.session_token = *t2;
      c.source = "environment";
      return c;
    }
    tried.push_back(secret ? "environment (AWS_SECRET_ACCESS_KEY set without AWS_ACCESS_KEY_ID)"
                           : "environment (AWS_ACCESS_KEY_ID not set)");
  } else {
    tried.push_back("environment (skipped: profile named explicitly)");
  }

  auto profile = resolve_aws_profile(env, explicit_profile);
  auto creds = credentials_file(env);
  auto config = config_file(env);
  const auto* cred_sec = credentials_section(creds, profile);
  const auto* conf_sec = config_section(config, profile);

  // botocore tries assume-role, web identity and SSO before the static keys of
  // the credentials file; refuse rather than quietly use other credentials.
  for (const auto* sec : {conf_sec, cred_sec}) {
    for (const auto& [key, what] : kUnsupportedSources) {
      if (value_of(sec, key))
        throw Error(ErrorCode::auth, "AWS profile " + quoted(profile) + " uses " + what +
                                         ", which raycluster does not support yet; use static "
                                         "keys or export temporary credentials to the environment");
    }
  }

  auto cred_where = where(creds, profile, false);
  if (auto c = keys_from_section(cred_sec, cred_where)) return *c;
  tried.push_back(cred_where + (creds.loaded ? (cred_sec ? " (no keys)" : " (no such profile)")
                                             : " (" + creds.problem + ")"));

  auto conf_where = where(config, profile, true);
  if (auto c = keys_from_section(conf_sec, conf_where)) return *c;
  tried.push_back(conf_where + (config.loaded ? (conf_sec ? " (no keys)" : " (no such profile)")
                                              : " (" + config.problem + ")"));

  return std::nullopt;
}

AwsCredentials resolve_aws_credentials(const AwsEnvironment& env,
                                       const std::optional<std::string>& explicit_profile) {
  std::vector<std::string> tried;
  if (auto c = find_static_aws_credentials(env, explicit_profile, tried)) return *c;
  throw Error(ErrorCode::auth, "no AWS credentials found for profile " +
                                   quoted(resolve_aws_profile(env, explicit_profile)) +
                                   "; tried: " + detail::join(tried, "; "));
}

std::optional<std::string> resolve_aws_region(const AwsEnvironment& env,
                                              const std::optional<std::string>& explicit_region,
                                              const std::optional<std::string>& explicit_profile) {
  if (explicit_region && !explicit_region->empty()) return explicit_region;
  if (auto r = env_value(env, "AWS_REGION")) return r;
  if (auto r = env_value(env, "AWS_DEFAULT_REGION")) return r;
  auto config = config_file(env);
  if (auto v = value_of(config_section(config, resolve_aws_profile(env, explicit_profile)),
                        "region"))
    return *v;
  return std::nullopt;
}

std::optional<std::string> resolve_aws_ca_bundle(const AwsEnvironment& env,
                                                 const std::optional<std::string>& explicit_profile) {
  std::optional<std::string> path = env_value(env, "AWS_CA_BUNDLE");
  if (!path) {
    auto config = config_file(env);
    if (auto v = value_of(config_section(config, resolve_aws_profile(env, explicit_profile)),
                          "ca_bundle"))
      path = *v;
  }
  if (path && (*path == "~" || path->rfind("~/", 0) == 0)) *path = env.home + path->substr(1);
  return path;
}

std::optional<std::string> resolve_aws_endpoint_url(
    const AwsEnvironment& env, const std::string& service_id,
    const std::optional<std::string>& explicit_url,
    const std::optional<std::string>& explicit_profile) {
  if (explicit_url && !explicit_url->empty()) return explicit_url;
  auto config = config_file(env);
  auto profile = resolve_aws_profile(env, explicit_profile);
  const auto* sec = config_section(config, profile);

  auto is_true = [](const std::string* v) {
    if (!v) return false;
    std::string l = *v;
    for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return l == "true";
  };
  auto ignore = env_value(env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
  if (ignore ? is_true(&*ignore) : is_true(value_of(sec, "ignore_configured_endpoint_urls")))
    return std::nullopt;

  // "EC2" / "Elastic Load Balancing v2" -> EC2 / ELASTIC_LOAD_BALANCING_V2 (env)
  // and ec2 / elastic_load_balancing_v2 (config).
  std::string env_id, config_id;
  for (char c : service_id) {
    char u = (c == ' ' || c == '-') ? '_' : c;
    env_id += static_cast<char>(std::toupper(static_cast<unsigned char>(u)));
    config_id += static_cast<char>(std::tolower(static_cast<unsigned char>(u)));
  }
  if (auto v = env_value(env, "AWS_ENDPOINT_URL_" + env_id)) return v;
  if (auto v = env_value(env, "AWS_ENDPOINT_URL")) return v;

  if (auto services = value_of(sec, "services")) {
    const detail::IniSection* svc = nullptr;
    for (const auto& s : config.sections) {
      auto words = detail::split(s.name, ' ');
      std::erase_if(words, [](const std::string& w) { return w.empty(); });
      if (words.size() == 2 && words[0] == "services" && words[1] == *services) svc = &s;
    }
    if (!svc)
      throw Error(ErrorCode::auth, "AWS profile " + quoted(profile) + " in " + config.path +
                                       " names services section " + quoted(*services) +
                                       ", which does not exist");
    if (auto v = value_of(svc, config_id + ".endpoint_url")) return *v;
  }
  if (auto v = value_of(sec, "endpoint_url")) return *v;
  return std::nullopt;
}

}  // namespace raycluster
