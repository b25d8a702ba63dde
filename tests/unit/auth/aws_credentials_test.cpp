#include <doctest/doctest.h>
#include <stdlib.h>

#include <map>

#include "auth/aws_credentials.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace raycluster;

namespace {

const std::string kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const std::string kToken = "FwoGZXIvYXdzEXAMPLETOKEN";

// A home folder with optional ~/.aws files and a fake environment.
struct Fixture {
  std::string home;
  std::map<std::string, std::string> vars;

  Fixture() {
    char tmpl[] = "/tmp/rc-auth-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    home = tmpl;
  }
  ~Fixture() { detail::remove_tree(home); }

  void write(const std::string& rel, const std::string& text) {
    detail::make_dirs(home + "/.aws");
    detail::write_file_atomic(home + "/" + rel, text, 0600);
  }

  AwsEnvironment env() const {
    return {[this](const std::string& name) -> std::optional<std::string> {
              auto it = vars.find(name);
              if (it == vars.end()) return std::nullopt;
              return it->second;
            },
            home};
  }
};

std::string auth_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::auth);
    return e.what();
  }
  FAIL("expected an auth error");
  return {};
}

}  // namespace

TEST_CASE("environment credentials come first, with the session token") {
  Fixture f;
  f.write(".aws/credentials", "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = s\n");
  f.vars = {{"AWS_ACCESS_KEY_ID", "ENVKEY"}, {"AWS_SECRET_ACCESS_KEY", kSecret},
            {"AWS_SESSION_TOKEN", kToken}};
  auto c = resolve_aws_credentials(f.env());
  CHECK(c.access_key_id == "ENVKEY");
  CHECK(c.secret_access_key == kSecret);
  CHECK(c.session_token == kToken);
  CHECK(c.source == "environment");

  // The legacy AWS_SECURITY_TOKEN is a fallback.
  f.vars.erase("AWS_SESSION_TOKEN");
  f.vars["AWS_SECURITY_TOKEN"] = "legacy";
  CHECK(resolve_aws_credentials(f.env()).session_token == "legacy");

  // An explicit profile skips the environment, like `aws --profile`.
  CHECK(resolve_aws_credentials(f.env(), std::string("default")).access_key_id == "FILEKEY");
}

TEST_CASE("a key id without a secret in the environment is an error that names the variable") {
  Fixture f;
  f.vars = {{"AWS_ACCESS_KEY_ID", "ENVKEY"}, {"AWS_SECRET_ACCESS_KEY", ""}};
  auto msg = auth_error([&] { resolve_aws_credentials(f.env()); });
  CHECK(msg.find("AWS_SECRET_ACCESS_KEY") != std::string::npos);
}

TEST_CASE("the shared credentials file beats the config file; AWS_PROFILE picks the section") {
  Fixture f;
  f.write(".aws/credentials",
          "[default]\naws_access_key_id = DEFKEY\naws_secret_access_key = defsecret\n"
          "[dev]\naws_access_key_id = DEVKEY\naws_secret_access_key = devsecret\n"
          "aws_session_token = devtoken\n");
  f.write(".aws/config",
          "[default]\nregion = us-west-2\naws_access_key_id = CFGKEY\naws_secret_access_key = x\n"
          "[profile ops]\naws_access_key_id = OPSKEY\naws_secret_access_key = opssecret\n"
          "region = eu-central-1\n");
  auto c = resolve_aws_credentials(f.env());
  CHECK(c.access_key_id == "DEFKEY");
  CHECK(c.source.find(".aws/credentials [default]") != std::string::npos);

  f.vars["AWS_PROFILE"] = "dev";
  c = resolve_aws_credentials(f.env());
  CHECK(c.access_key_id == "DEVKEY");
  CHECK(c.session_token == "devtoken");

  // Only in the config file, as [profile ops].
  f.vars["AWS_PROFILE"] = "ops";
  c = resolve_aws_credentials(f.env());
  CHECK(c.access_key_id == "OPSKEY");
  CHECK(c.source.find(".aws/config [profile ops]") != std::string::npos);

  // AWS_DEFAULT_PROFILE is the legacy fallback; AWS_PROFILE wins over it.
  f.vars.erase("AWS_PROFILE");
  f.vars["AWS_DEFAULT_PROFILE"] = "dev";
  CHECK(resolve_aws_credentials(f.env()).access_key_id == "DEVKEY");
  f.vars["AWS_PROFILE"] = "ops";
  CHECK(resolve_aws_credentials(f.env()).access_key_id == "OPSKEY");
}

TEST_CASE("AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE override the paths, with ~") {
  Fixture f;
  f.write("creds.ini", "[default]\naws_access_key_id = OTHER\naws_secret_access_key = s\n");
  f.write("conf.ini", "[profile p]\naws_access_key_id = CONF\naws_secret_access_key = s\nregion = sa-east-1\n");
  f.write(".aws/credentials", "[default]\naws_access_key_id = HIDDEN\naws_secret_access_key = s\n");
  f.vars["AWS_SHARED_CREDENTIALS_FILE"] = "~/creds.ini";
  f.vars["AWS_CONFIG_FILE"] = f.home + "/conf.ini";
  CHECK(resolve_aws_credentials(f.env()).access_key_id == "OTHER");
  CHECK(resolve_aws_credentials(f.env(), std::string("p")).access_key_id == "CONF");
  CHECK(resolve_aws_region(f.env(), {}, std::string("p")) == "sa-east-1");
}

TEST_CASE("no credentials: the error names every source tried and no secret") {
  Fixture f;
  f.write(".aws/config", "[profile other]\naws_secret_access_key = " + kSecret + "\n");
  f.vars["AWS_PROFILE"] = "missing";
  auto msg = auth_error([&] { resolve_aws_credentials(f.env()); });
  CHECK(msg.find("\"missing\"") != std::string::npos);
  CHECK(msg.find("AWS_ACCESS_KEY_ID") != std::string::npos);
  CHECK(msg.find(f.home + "/.aws/credentials [missing] (missing)") != std::string::npos);
  CHECK(msg.find(f.home + "/.aws/config [profile missing] (no such profile)") != std::string::npos);
  CHECK(msg.find(kSecret) == std::string::npos);
}

TEST_CASE("a profile with a key id but no secret is an error without the values") {
  Fixture f;
  f.write(".aws/credentials", "[default]\naws_access_key_id = AKIDONLY\naws_session_token = " + kToken + "\n");
  auto msg = auth_error([&] { resolve_aws_credentials(f.env()); });
  CHECK(msg.find("aws_secret_access_key is missing") != std::string::npos);
  CHECK(msg.find(kToken) == std::string::npos);
}

TEST_CASE("profiles that need assume-role or SSO are refused, not silently skipped") {
  Fixture f;
  f.write(".aws/credentials", "[default]\naws_access_key_id = K\naws_secret_access_key = s\n");
  f.write(".aws/config", "[profile admin]\nrole_arn = arn:aws:iam::123:role/x\nsource_profile = default\n"
                         "[profile sso]\nsso_session = corp\n");
  auto msg = auth_error([&] { resolve_aws_credentials(f.env(), std::string("admin")); });
  CHECK(msg.find("role_arn") != std::string::npos);
  msg = auth_error([&] { resolve_aws_credentials(f.env(), std::string("sso")); });
  CHECK(msg.find("SSO") != std::string::npos);
}

TEST_CASE("to_string never prints the secret or the token") {
  AwsCredentials c{"AKIDEXAMPLE", kSecret, kToken, "environment"};
  auto s = c.to_string();
  CHECK(s.find("AKIDEXAMPLE") != std::string::npos);
  CHECK(s.find(kSecret) == std::string::npos);
  CHECK(s.find(kToken) == std::string::npos);
  CHECK(s.find("<redacted>") != std::string::npos);
  c.session_token.clear();
  CHECK(c.to_string().find("session_token=<none>") != std::string::npos);
}

TEST_CASE("region: explicit, AWS_REGION, AWS_DEFAULT_REGION, then the profile's config") {
  Fixture f;
  f.write(".aws/config", "[default]\nregion = us-west-2\n[profile eu]\nregion = eu-west-1\n");
  CHECK(resolve_aws_region(f.env()) == "us-west-2");
  f.vars["AWS_PROFILE"] = "eu";
  CHECK(resolve_aws_region(f.env()) == "eu-west-1");
  f.vars["AWS_DEFAULT_REGION"] = "ap-south-1";
  CHECK(resolve_aws_region(f.env()) == "ap-south-1");
  f.vars["AWS_REGION"] = "ca-central-1";
  CHECK(resolve_aws_region(f.env()) == "ca-central-1");
  CHECK(resolve_aws_region(f.env(), std::string("us-east-2")) == "us-east-2");
  Fixture empty;
  CHECK_FALSE(resolve_aws_region(empty.env()));
}

TEST_CASE("endpoint override: argument, service env, global env, services section, profile") {
  Fixture f;
  f.write(".aws/config",
          "[default]\nendpoint_url = http://profile:1\nservices = local\n"
          "[services local]\nec2 =\n  endpoint_url = http://services-ec2:2\n"
          "s3 =\n  endpoint_url = http://services-s3:3\n"
          "[profile broken]\nservices = nope\n");
  auto env = f.env();
  CHECK(resolve_aws_endpoint_url(env, "ec2") == "http://services-ec2:2");
  CHECK(resolve_aws_endpoint_url(env, "iam") == "http://profile:1");
  f.vars["AWS_ENDPOINT_URL"] = "http://global:4";
  CHECK(resolve_aws_endpoint_url(f.env(), "ec2") == "http://global:4");
  f.vars["AWS_ENDPOINT_URL_EC2"] = "http://ec2env:5";
  CHECK(resolve_aws_endpoint_url(f.env(), "ec2") == "http://ec2env:5");
  CHECK(resolve_aws_endpoint_url(f.env(), "s3") == "http://global:4");
  CHECK(resolve_aws_endpoint_url(f.env(), "ec2", std::string("http://arg:6")) == "http://arg:6");
  f.vars["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "TRUE";
  CHECK_FALSE(resolve_aws_endpoint_url(f.env(), "ec2"));
  CHECK(resolve_aws_endpoint_url(f.env(), "ec2", std::string("http://arg:6")) == "http://arg:6");
  f.vars.clear();
  f.vars["AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2"] = "http://elb:7";
  CHECK(resolve_aws_endpoint_url(f.env(), "Elastic Load Balancing v2") == "http://elb:7");
  auto msg = auth_error([&] { resolve_aws_endpoint_url(f.env(), "ec2", {}, std::string("broken")); });
  CHECK(msg.find("\"nope\"") != std::string::npos);
  Fixture empty;
  CHECK_FALSE(resolve_aws_endpoint_url(empty.env(), "ec2"));
}
