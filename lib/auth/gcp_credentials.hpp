// raycluster: OAuth2 access tokens for Google Cloud's APIs.
//
// The GCP provider signs every Compute call with "Authorization: Bearer
// <token>". The token comes from the first of these that the config or the
// environment names:
//   1. Ray's provider.gcp_credentials: {type: service_account, credentials:
//      <key JSON as a string (or a mapping), or a path>} or {type:
//      credentials_token, credentials: <access token>};
//   2. the flat dialect's gcp_service_account_key / provider.service_account_key
//      (a path to a service-account key file);
//   3. GOOGLE_APPLICATION_CREDENTIALS (a service_account or authorized_user
//      file);
//   4. gcloud's application default credentials file
//      ($CLOUDSDK_CONFIG, else ~/.config/gcloud, /application_default_credentials.json);
//   5. the metadata server of a GCE machine: GET
//      http://HOST/computeMetadata/v1/instance/service-accounts/default/token
//      with "Metadata-Flavor: Google", HOST being GCE_METADATA_HOST (host[:port],
//      as Google's libraries read it) or 169.254.169.254; 1 s to connect, 3 s
//      per request, 3 attempts. Skipped when NO_GCE_CHECK is "true".
// Sources 1-3 are used when named, and their failures are errors; 4 when its
// file exists; 5 when it answers. Nothing found: Error(auth) listing every
// source tried and why it did not apply.
//
// A service-account key is exchanged for a token with our own RS256 JWT
// assertion (auth/gcp_jwt.hpp; jwt-bearer grant) at the key's token_uri; an
// authorized_user file with the refresh-token grant at its token_uri (default
// https://oauth2.googleapis.com/token). A token URI must be https, or http to
// a loopback address. Token requests are retried on 429/5xx and lost
// connections (3 attempts). Tokens are cached and fetched again before they
// expire (auth/refreshing_credentials.hpp: expiry = now + expires_in); a
// request Compute refused with 401 asks for one forced refresh, which runs the
// chain again (a rotated key file is read anew). A raw access token
// (credentials_token) is handed out as it is and cannot be refreshed: its
// refresh() throws Error(auth).
//
// Everything goes through the injected GcpEnvironment and HttpTransport (used
// raw, with a short retry loop of its own): no getenv(), no real home.
//
// Errors: Error(auth) naming the file (or source) and what is wrong with it:
// unreadable, not JSON, a missing field, an unsupported "type"
// (external_account, ...), a private key that is not RSA or unreadable, the
// token endpoint's invalid_grant (with its error_description) or other
// refusal (with its HTTP status); Error(cancelled). No message, event or file
// ever contains a private key, a client secret, a refresh token, an assertion
// or an access token.
// Thread-safety: the returned source may be used from any threads; its
// fetches call env.getenv and read files on whichever thread needs a token,
// so `env` must be safe to use from any thread.
#pragma once

#include <memory>
#include <string>
#include <variant>

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

// The chain above. Ray's credentials_token gives a source that hands that
// token out and whose refresh() throws Error(auth); anything else gives a
// RefreshingCredentials over fetch_gcp_access_token(), resolved on the first
// get() and run again for every refresh. Throws Error(auth) at once (no I/O)
// only for a malformed credentials_token. `transport` must outlive the
// source; `now` defaults to the system clock, `sleep` (waits between
// attempts) to real_sleeper(). The value handed out is the bare access token
// (no "Bearer ").
std::shared_ptr<CredentialsSource<std::string>> make_gcp_credentials_source(
    const GcpCredentialsConfig& config, const GcpEnvironment& env, HttpTransport& transport,
    WallClock now, Sleeper sleep = {}, RefreshOptions refresh = {});

// What a credentials JSON file holds (secrets included: never print these).
struct GcpServiceAccountKey {
  std::string private_key;     // PEM
  std::string private_key_id;  // may be empty
  std::string client_email;
  std::string token_uri;
  std::string project_id;  // may be empty
};
struct GcpAuthorizedUser {
  std::string client_id;
  std::string client_secret;
  std::string refresh_token;
  std::string token_uri;  // https://oauth2.googleapis.com/token when absent
};
using GcpCredentialsFile = std::variant<GcpServiceAccountKey, GcpAuthorizedUser>;

// Parses credentials JSON text. `source` names it in errors ("key file
// /a/b.json"). Throws Error(auth) for text that is not a JSON object, a
// "type" other than service_account and authorized_user, or a missing field;
// the message never quotes the text.
GcpCredentialsFile parse_gcp_credentials_json(const std::string& text, const std::string& source);

// The chain once: a token and its expiry (nullopt: a raw token, or an answer
// without expires_in). Throws as described at the top.
Expiring<std::string> fetch_gcp_access_token(const GcpCredentialsConfig& config,
                                             const GcpEnvironment& env, HttpTransport& transport,
                                             WallClock now, Sleeper sleep,
                                             const CancelToken& cancel = {});

}  // namespace raycluster
