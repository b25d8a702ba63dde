// raycluster: credentials that may expire, and the source that hands them out.
//
// A CredentialsSource<T> gives every request the credentials to sign it with.
// Static credentials (environment variables, profile files) never expire.
// Expiring ones (STS sessions, instance-role credentials, GCP access tokens)
// are fetched again a margin before they expire, so no request is signed with
// credentials about to lapse; and a request the cloud refused as expired
// (HTTP 401, ExpiredToken) asks for one forced refresh and is sent once more.
// RefreshingCredentials (auth/refreshing_credentials.hpp) is the
// implementation over a fetch function; make_aws_credentials_source()
// (auth/aws_credentials_source.hpp) builds AWS's default chain on it.
//
// Thread-safety: get() and refresh() may be called from any number of threads
// at once; at most one fetch is in flight, and the threads that asked while it
// ran all get its result.
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include "util/event.hpp"

namespace raycluster {

// Credentials of type T with the time they stop being valid (nullopt: never).
template <class T>
struct Expiring {
  T value;
  std::optional<std::chrono::system_clock::time_point> expires_at;
};

template <class T>
class CredentialsSource {
 public:
  virtual ~CredentialsSource() = default;
  // Credentials that are not about to expire: the cached ones, or freshly
  // fetched ones (RefreshingCredentials: valid for at least its mandatory
  // margin). Throws Error(auth) when none can be had, Error(cancelled) when
  // `cancel` fires while it waits.
  virtual T get(const CancelToken& cancel = {}) = 0;
  // The cloud refused `stale` as expired or invalid: fetch anew, unless
  // another thread already replaced `stale` (then its result is returned),
  // so a burst of refused requests causes one fetch, not one each.
  virtual T refresh(const T& stale, const CancelToken& cancel = {}) = 0;
};

}  // namespace raycluster
