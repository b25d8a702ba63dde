// raycluster: AWS credentials that may expire, from botocore's default chain.
//
// The chain, first source with credentials wins, as botocore orders it:
//   1-3. the static sources of resolve_aws_credentials() (auth/aws_credentials.hpp):
//        environment, shared credentials file, config file; they never expire;
//   4.   container credentials, when AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
//        (a path on http://169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI
//        (https anywhere; http only to a loopback address, 169.254.170.2,
//        169.254.170.23, fd00:ec2::23 or localhost) is set. GET with
//        "Accept: application/json" and, when AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
//        (read at every fetch) or else AWS_CONTAINER_AUTHORIZATION_TOKEN is set,
//        "Authorization: <token>". 2 s timeout, 3 attempts 1 s apart. Once
//        configured, a failure is an error (it does not fall through to 5);
//   5.   EC2 instance metadata, IMDSv2 only, unless AWS_EC2_METADATA_DISABLED
//        is "true": at AWS_EC2_METADATA_SERVICE_ENDPOINT (default
//        http://169.254.169.254), PUT /latest/api/token with
//        "x-aws-ec2-metadata-token-ttl-seconds: 21600", then with
//        "x-aws-ec2-metadata-token: <token>" GET
//        /latest/meta-data/iam/security-credentials/ (the role name) and
//        GET /latest/meta-data/iam/security-credentials/<role>. Timeout and
//        attempts per request as botocore's defaults: AWS_METADATA_SERVICE_TIMEOUT
//        seconds (1) and AWS_METADATA_SERVICE_NUM_ATTEMPTS (1), no wait between
//        attempts. Unreachable, no role, or an unusable answer: "not found".
//        Unlike botocore, no fallback to IMDSv1 when the token is refused.
// Both HTTP sources answer JSON with AccessKeyId, SecretAccessKey, Token and
// Expiration (ISO 8601); their credentials are fetched again before they
// expire (see auth/refreshing_credentials.hpp).
//
// Everything goes through the injected AwsEnvironment and HttpTransport: no
// getenv(), no real home, no network of its own. The transport is used raw:
// these functions put their own short RetryingTransport around it.
//
// Errors: Error(auth) naming every source tried and why it did not apply;
// Error(cancelled). Messages never contain a secret key, session token or
// authorization token, and never a metadata answer's body.
// Thread-safety: the fetch functions are reentrant; the source returned by
// make_aws_credentials_source() is a RefreshingCredentials (any threads). Its
// fetches call env.getenv and read files on whichever thread needs fresh
// credentials, so `env` must be safe to use from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/aws_credentials.hpp"
#include "auth/credentials.hpp"
#include "auth/refreshing_credentials.hpp"
#include "http/http.hpp"

namespace raycluster {

struct AwsCredentialsSourceOptions {
  // A profile named explicitly (like `aws --profile`); skips the environment keys.
  std::optional<std::string> profile;
  RefreshOptions refresh;
};

// Source 4 alone: nullopt when neither container variable is set; throws
// Error(auth) when one is set and no credentials came.
// `sleep` waits between attempts (default real_sleeper()).
std::optional<Expiring<AwsCredentials>> fetch_container_credentials(
    const AwsEnvironment& env, HttpTransport& transport, WallClock now, Sleeper sleep,
    const CancelToken& cancel = {});

// Source 5 alone: nullopt (and why in *why, when given) when disabled,
// unreachable, without a role or with an unusable answer.
std::optional<Expiring<AwsCredentials>> fetch_instance_metadata_credentials(
    const AwsEnvironment& env, HttpTransport& transport, WallClock now,
    const CancelToken& cancel = {}, std::string* why = nullptr);

// The whole chain once. Throws Error(auth) when no source has credentials.
Expiring<AwsCredentials> fetch_aws_credentials(const AwsEnvironment& env, HttpTransport& transport,
                                               WallClock now, Sleeper sleep,
                                               const AwsCredentialsSourceOptions& options = {},
                                               const CancelToken& cancel = {});

// The chain behind a RefreshingCredentials: resolved on the first get(), run
// again whenever the credentials need refreshing (so a refused static key
// is re-read from its file, and instance-role credentials rotate).
// `transport` must outlive the source; `now` defaults to the system clock,
// `sleep` (the waits between attempts at the container endpoint) to
// real_sleeper().
std::shared_ptr<CredentialsSource<AwsCredentials>> make_aws_credentials_source(
    const AwsEnvironment& env, HttpTransport& transport, WallClock now, Sleeper sleep = {},
    AwsCredentialsSourceOptions options = {});

namespace detail {
// "2026-01-01T06:00:00Z", with optional fraction of a second and "Z" or a
// "+hh:mm"/"-hh:mm" offset; nullopt for anything else.
std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view text);
}  // namespace detail

}  // namespace raycluster
