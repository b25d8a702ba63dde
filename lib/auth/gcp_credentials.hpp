// raycluster: OAuth2 access tokens for Google Cloud's APIs.
//
// The GCP provider signs every Compute call with "Authorization: Bearer
// <token>". The token comes from the first of these that the config or the
// environment names:
//   1. Ray's provider.gcp_credentials: {type: service_account, credentials:
//      <key JSON as a string, or a path>} or {type: credentials_token,
//      credentials: <access token>};
//   2. the flat dialect's gcp_service_account_key / provider.service_account_key
//      (a path to a key file);
//   3. GOOGLE_APPLICATION_CREDENTIALS (a service_account or authorized_user
//      file);
//   4. gcloud's application default credentials file
//      (~/.config/gcloud/application_default_credentials.json);
//   5. the metadata server of a GCE machine (GCE_METADATA_HOST overrides its
//      address, as Google's libraries read it).
// A service-account key is exchanged for a token with our own RS256 JWT
// assertion (jwt-bearer grant) at the key's token_uri; an authorized_user
// file with the refresh-token grant. Tokens are cached and fetched again
// before they expire (auth/refreshing_credentials.hpp); a request Compute
// refused with 401 asks for one forced refresh.
//
// Errors: Error(auth) naming the file (or source) and what is wrong with it;
// Error(cancelled). No message, event or file ever contains a private key,
// a refresh token or an access token.
// Thread-safety: the returned source may be used from any threads.
#pragma once

#include <memory>
#include <string>

#include "auth/aws_credentials.hpp"  // GetEnv
#include "auth/credentials.hpp"
#include "auth/refreshing_credentials.hpp"
#include "http/http.hpp"
#include "util/value.hpp"

namespace raycluster {

// What the config says about GCP credentials.
struct GcpCredentialsConfig {
  std::string key_file;   // provider.service_account_key ("~" expanded); empty: none
  Value gcp_credentials;  // Ray's provider.gcp_credentials as written; null: absent
};

// The process environment the chain may read.
struct GcpEnvironment {
  GetEnv getenv;     // required
  std::string home;  // where ~/.config/gcloud lives
};

// The chain above; resolved on the first get(). `transport` must outlive the
// source; `now` defaults to the system clock, `sleep` to real_sleeper().
// The value handed out is the bare access token (no "Bearer ").
std::shared_ptr<CredentialsSource<std::string>> make_gcp_credentials_source(
    const GcpCredentialsConfig& config, const GcpEnvironment& env, HttpTransport& transport,
    WallClock now, Sleeper sleep = {}, RefreshOptions refresh = {});

}  // namespace raycluster
