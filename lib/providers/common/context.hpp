// raycluster: what a provider touches in the world, injected.
//
// Every provider is built from (spec, ClusterIdentity, ProviderContext). The
// context carries the provider's transport, clock, sleeper, random source,
// environment, HTTP retry policy and credentials source, plus the durations
// it waits for. Empty members mean the real thing (see with_defaults()), so
// a default-constructed context drives the real cloud; a test or a host
// program replaces what it wants to control (faults, a fake clock, its own
// transport) and passes the context through ClusterOptions.
//
// Thread-safety: a context is a value; providers copy it. The objects it
// points to (transport, credentials source) must be safe to use from several
// threads, as providers call them from several threads at once.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "auth/aws_credentials.hpp"
#include "auth/credentials.hpp"
#include "auth/gcp_credentials.hpp"
#include "http/http.hpp"

namespace raycluster {

// The process environment a provider may read: variables and the home
// folder. Providers never call getenv() or read $HOME themselves.
struct Environment {
  GetEnv getenv;     // empty: the process environment
  std::string home;  // empty with getenv empty: $HOME (or the password database)

  // The variable's value; nullopt when unset (or getenv is empty).
  std::optional<std::string> get(const std::string& name) const;
};

// The real process environment and home folder.
Environment process_environment();
// The same variables and home as the AWS resolver's input.
AwsEnvironment to_aws_environment(const Environment& env);

// Durations a provider waits for; the defaults suit real clouds.
struct ProviderSettings {
  // A zone that had no capacity for an instance type is tried last for this long.
  std::chrono::milliseconds capacity_cooldown{std::chrono::minutes(5)};
  // How long teardown() waits for every node to be terminating.
  std::chrono::milliseconds teardown_timeout{std::chrono::minutes(10)};
  // How long command_runner() waits for a new node's address.
  std::chrono::milliseconds address_timeout{std::chrono::minutes(5)};
  // How long a cloud operation (GCP's zone and global operations) may run
  // before the provider gives up waiting for it.
  std::chrono::milliseconds operation_timeout{std::chrono::minutes(15)};
};

struct ProviderContext {
  // The raw transport of a cloud provider's API calls; the provider wraps it
  // in its own RetryingTransport (with `retry`). Null: a libcurl transport
  // the provider owns. Shared: a swapped provider (Cluster::open's take-over
  // of a cluster id) and the caller may use it at the same time.
  std::shared_ptr<HttpTransport> transport;
  WallClock now;        // empty: the system clock
  Sleeper sleep;        // empty: real_sleeper()
  RandomSource random;  // empty: real_random()
  Environment env;      // getenv empty: the process environment and $HOME
  // Retries of throttling and 5xx, in the HTTP layer; each provider sets the
  // policy's classifiers (is_throttle, is_final) for its cloud.
  RetryPolicy retry;
  // Credentials of the AWS provider's requests; null: the default chain
  // (environment, shared files) resolved from `env` on the first request.
  std::shared_ptr<CredentialsSource<AwsCredentials>> aws_credentials;
  // Access tokens of the GCP provider's requests; null: the chain of
  // make_gcp_credentials_source() from the spec and `env`.
  std::shared_ptr<CredentialsSource<std::string>> gcp_credentials;
  ProviderSettings settings;

  // A copy with every empty member set to the real thing.
  ProviderContext with_defaults() const;
};

}  // namespace raycluster
