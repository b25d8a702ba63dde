// raycluster: the RS256 JWT a Google service-account key signs to ask for an
// access token (RFC 7523 jwt-bearer grant, as Google's token endpoint takes it).
//
// The assertion is base64url(header) "." base64url(claims) "." base64url(sig),
// without padding, where
//   header = {"alg":"RS256","kid":<private_key_id>,"typ":"JWT"}   ("kid" only when set)
//   claims = {"iss":<client_email>,"scope":<scope>,"aud":<token_uri>,"iat":<now>,"exp":<now+3600>}
// serialized compactly in exactly that key order, strings escaped as
// Python's json.dumps escapes them (non-ASCII as \uXXXX). That is the byte
// sequence PyJWT's jwt.encode(claims, key, "RS256", headers={"kid": ...})
// produces, which the unit tests compare against. The signature is
// RSASSA-PKCS1-v1_5 with SHA-256 (deterministic), made with OpenSSL.
//
// Errors: Error(auth) when the private key is not a parseable, unencrypted
// PEM RSA private key; the message names `source` and never contains the key.
// Thread-safety: all functions are reentrant.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace raycluster {

inline constexpr std::string_view kGcpCloudPlatformScope =
    "https://www.googleapis.com/auth/cloud-platform";
// Lifetime of an assertion: Google accepts at most an hour.
inline constexpr std::chrono::seconds kGcpAssertionLifetime{3600};

struct GcpJwtRequest {
  std::string private_key_pem;  // PKCS#8 or PKCS#1 PEM, unencrypted
  std::string key_id;           // "kid"; empty: no kid in the header
  std::string client_email;     // "iss"
  std::string audience;         // "aud": the token URI
  std::string scope{kGcpCloudPlatformScope};
  std::chrono::system_clock::time_point now;  // "iat" (whole seconds, rounded down)
};

// The signed assertion. `source` names the key in errors ("key file /x.json").
std::string make_gcp_jwt_assertion(const GcpJwtRequest& request, const std::string& source);

namespace detail {
// base64url (RFC 4648 section 5) without padding.
std::string base64url_encode(std::string_view bytes);
// `text` as a JSON string literal, escaped as Python's json.dumps does.
std::string json_quote(std::string_view text);
}  // namespace detail

}  // namespace raycluster
