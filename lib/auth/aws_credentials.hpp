// raycluster: AWS credentials, region and endpoint resolution.
//
// Resolves what the AWS CLI would use, from an injected environment: the
// resolver never calls getenv() and never reads the real home folder itself,
// so tests (and embedding tools) decide what it sees.
//
// Credential chain (the first source that has credentials wins):
//   1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
//      (+ AWS_SESSION_TOKEN, or the legacy AWS_SECURITY_TOKEN); skipped when the
//      caller names a profile explicitly (like `aws --profile`);
//   2. the shared credentials file: AWS_SHARED_CREDENTIALS_FILE, else
//      <home>/.aws/credentials, section [<profile>];
//   3. the config file: AWS_CONFIG_FILE, else <home>/.aws/config, section
//      [profile <profile>] (or [default] for the default profile).
//   Keys: aws_access_key_id, aws_secret_access_key, aws_session_token (or the
//   legacy aws_security_token).
// The profile is: the explicit argument, else AWS_PROFILE, else the legacy
// AWS_DEFAULT_PROFILE, else "default".
//
// These three never expire. The sources that do, container credentials and
// EC2 instance metadata (IMDSv2), come after them in the default chain that
// make_aws_credentials_source() builds (auth/aws_credentials_source.hpp).
//
// Not supported (yet): assume-role (role_arn), SSO, credential_process and web
// identity. A profile that uses one of them is an ErrorCode::auth error that
// says so, rather than silently falling through to other credentials.
//
// Errors: raycluster::Error with ErrorCode::auth; the message names every source
// that was tried and why it did not apply. Messages never contain a secret key
// or a session token (access key ids are not secret and may appear).
//
// Thread-safety: the functions are reentrant; `getenv` is called on the
// caller's thread only, during the call.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace raycluster {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: long-term credentials, no token
  // Where they came from, e.g. "environment" or "shared credentials file
  // /home/u/.aws/credentials [profile default]"; for messages only.
  std::string source;

  // Safe to log: the access key id and the source; the secret and the token
  // are printed as "<redacted>" (or "<none>" when the token is empty).
  std::string to_string() const;

  bool operator==(const AwsCredentials&) const = default;
};

// Returns the value of an environment variable, or nullopt when unset.
using GetEnv = std::function<std::optional<std::string>(const std::string&)>;

// What the resolver may look at.
struct AwsEnvironment {
  GetEnv getenv;     // required
  std::string home;  // the user's home folder: where ~/.aws lives, and what "~" expands to
};

// The profile name that applies: `explicit_profile` when set and non-empty,
// else AWS_PROFILE, else AWS_DEFAULT_PROFILE, else "default".
std::string resolve_aws_profile(const AwsEnvironment& env,
                                const std::optional<std::string>& explicit_profile = {});

// The credential chain above. Throws Error(auth) when nothing applies or a
// source is incomplete (e.g. a key id without a secret); Error(io) never: an
// unreadable or missing file counts as "tried, not found" and is named.
AwsCredentials resolve_aws_credentials(const AwsEnvironment& env,
                                       const std::optional<std::string>& explicit_profile = {});

// The same three sources, for a longer chain: nullopt when none has keys
// (each one tried is appended to `tried`, with why it did not apply); throws
// as resolve_aws_credentials() does for an incomplete or unsupported source.
std::optional<AwsCredentials> find_static_aws_credentials(
    const AwsEnvironment& env, const std::optional<std::string>& explicit_profile,
    std::vector<std::string>& tried);

// The region: `explicit_region` (e.g. the cluster YAML's provider.region),
// else AWS_REGION, else AWS_DEFAULT_REGION, else `region` of the profile in
// the config file; nullopt when none is set.
std::optional<std::string> resolve_aws_region(const AwsEnvironment& env,
                                              const std::optional<std::string>& explicit_region = {},
                                              const std::optional<std::string>& explicit_profile = {});

// The PEM file of CA certificates to trust for AWS endpoints instead of the
// system's, as botocore finds it: AWS_CA_BUNDLE, else the profile's
// `ca_bundle` in the config file ("~" expanded); nullopt when neither is set.
std::optional<std::string> resolve_aws_ca_bundle(
    const AwsEnvironment& env, const std::optional<std::string>& explicit_profile = {});

// An endpoint override for one service, as botocore resolves it; nullopt means
// "use the service's default endpoint". Order:
//   1. `explicit_url` (e.g. provider.endpoint_url in the cluster YAML);
//   2. AWS_ENDPOINT_URL_<SERVICE> (service id upper-cased, spaces and dashes
//      to underscores: "ec2" -> AWS_ENDPOINT_URL_EC2);
//   3. AWS_ENDPOINT_URL;
//   4. the profile's `services = <name>` section in the config file:
//      [services <name>] <service> = \n  endpoint_url = ...;
//   5. the profile's own `endpoint_url`.
// Steps 2-5 are skipped when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is "true" or
// the profile's ignore_configured_endpoint_urls is "true".
// Throws Error(auth) only when the profile names a services section that does
// not exist (botocore does the same).
std::optional<std::string> resolve_aws_endpoint_url(
    const AwsEnvironment& env, const std::string& service_id,
    const std::optional<std::string>& explicit_url = {},
    const std::optional<std::string>& explicit_profile = {});

}  // namespace raycluster
