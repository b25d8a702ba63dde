// raycluster: AWS Signature Version 4, as a pipeline of pure stages.
//
//   prepare_request  -> the request as it will be sent (X-Amz-Date, token,
//                       x-amz-content-sha256 headers, or the presign X-Amz-* query)
//   canonical_request -> string_to_sign -> derive_signing_key -> compute_signature
//   sign()           -> all of the above, plus the Authorization header or the
//                       final presigned query string
//
// Written against the AWS spec ("Create a signed AWS API request") and checked
// stage by stage against botocore (tests/reference/sigv4_cases.py).
//
// Conventions of the inputs:
//   - `path` is the path as sent on the wire, i.e. already percent-encoded once
//     ("/my%20key"). With normalize_path (every service but S3) it is
//     normalised (dot segments and empty segments removed) and encoded again,
//     as the spec requires; without it (S3) it is used as is (no dot-segment
//     or "//" removal), except that bytes outside the unreserved set, "/" and
//     "%XX" triplets are encoded once and triplets get upper-case hex. A path
//     encoded the way the S3 serializer does it passes through unchanged.
//   - query parameters are DECODED key/value pairs, in any order, repeats
//     allowed; the signer encodes them (RFC 3986 unreserved characters kept,
//     everything else %XX, upper-case hex, UTF-8 bytes).
//   - header names are case-insensitive; repeated names are joined with ","
//     in the order given; values are trimmed and runs of ASCII white space
//     (including line breaks of multi-line values) collapsed to one space.
//     Hop-by-hop headers that proxies rewrite (user-agent, expect, connection,
//     transfer-encoding, ... the same list botocore uses) are never signed.
//
// Time is always an argument. Nothing here reads a clock, the environment or
// a file. All functions are reentrant; SigningKeyCache is thread-safe.
//
// Errors: Error(invalid_argument) for unusable input (empty method, host,
// region or service; presign expiry outside 1..604800 s; malformed URL).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "auth/aws_credentials.hpp"

namespace raycluster::sigv4 {

using Clock = std::chrono::system_clock;
using Headers = std::vector<std::pair<std::string, std::string>>;  // name, value
using QueryParams = std::vector<std::pair<std::string, std::string>>;  // decoded

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Request {
  std::string method;            // "GET", ...; upper-cased for signing
  std::string host;              // host[:port] as in the Host header (lower case)
  std::string path = "/";        // as sent, percent-encoded once; "" means "/"
  QueryParams query;             // decoded
  Headers headers;               // a "host" header here overrides `host`
  std::string body;              // hashed unless body_sha256 is set
  std::optional<std::string> body_sha256;  // lower-case hex of the body
};

// Splits "scheme://[user@]host[:port][/path][?query][#fragment]" into a
// Request: host lower-cased, the scheme's default port dropped, IPv6 literals
// kept in brackets, the query split on "&" and "=" and percent-decoded ("+"
// stays "+"). Throws Error(invalid_argument) when there is no scheme or host.
Request request_from_url(std::string method, std::string_view url);

struct SigningOptions {
  std::string service;  // "ec2", "s3", "iam", ...
  std::string region;   // "us-east-1"
  // Normalise and double-encode the path (everything but S3).
  bool normalize_path = true;
  // Header signing: send and sign x-amz-content-sha256 with the payload hash
  // (S3 requires it). Forced on for header signing with unsigned_payload.
  bool content_sha256_header = false;
  // Use "UNSIGNED-PAYLOAD" instead of the body's hash (S3 over TLS, presigned S3 URLs).
  bool unsigned_payload = false;
  // Set: presigned query signing valid this long (1 s .. 7 days); unset: header signing.
  std::optional<std::chrono::seconds> presign_expires;
};

// ---- stages ----------------------------------------------------------------

// RFC 3986 percent-encoding as SigV4 wants it: A-Z a-z 0-9 - _ . ~ kept,
// every other byte %XX with upper-case hex; "/" kept when keep_slash.
std::string uri_encode(std::string_view s, bool keep_slash);
// Decodes %XX (invalid triplets are kept literally); "+" is not a space.
std::string uri_decode(std::string_view s);

// "20150830T123600Z" and "20150830" (UTC), whole seconds.
std::string amz_date(Clock::time_point t);
std::string amz_day(Clock::time_point t);

std::string canonical_uri(std::string_view path, bool normalize);
std::string canonical_query_string(const QueryParams& query);
// Trims and collapses white space as the spec's Trimall.
std::string canonical_header_value(std::string_view value);
// True for headers that are never signed (compared lower-case).
bool is_unsigned_header(std::string_view lower_name);

struct CanonicalHeaders {
  std::string text;            // "name:value\n" for each, sorted by name
  std::string signed_headers;  // "content-type;host;x-amz-date"
};
// `host` is used when `headers` has no Host header.
CanonicalHeaders canonical_headers(const Headers& headers, std::string_view host);

// The request as it will be sent, before the signature: header mode drops
// Authorization and sets X-Amz-Date, X-Amz-Security-Token (with a token) and
// X-Amz-Content-SHA256 (when asked or unsigned); presign mode appends
// X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders and
// -Security-Token to the query and leaves the headers alone.
Request prepare_request(const Request& request, const AwsCredentials& credentials,
                        const SigningOptions& options, Clock::time_point now);

// The payload hash line of the canonical request for a prepared request.
std::string payload_hash(const Request& prepared, const SigningOptions& options);

// Method \n URI \n query \n headers \n \n signed headers \n payload hash.
std::string canonical_request(const Request& prepared, const SigningOptions& options);

// "20150830/us-east-1/iam/aws4_request"
std::string credential_scope(std::string_view day, std::string_view region,
                             std::string_view service);

// Algorithm \n amz-date \n scope \n hex(sha256(canonical request)).
std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request);

// HMAC chain "AWS4"+secret -> day -> region -> service -> "aws4_request";
// 32 raw bytes.
std::string derive_signing_key(std::string_view secret_access_key, std::string_view day,
                               std::string_view region, std::string_view service);

// hex(HMAC-SHA256(signing key, string to sign)).
std::string compute_signature(std::string_view signing_key, std::string_view string_to_sign);

// Caches signing keys per (day, region, service) for one secret at a time: a
// different access key or secret (rotated credentials) replaces the entries.
// Owned by the caller, shared across threads; at most `capacity` entries,
// all dropped when full (keys change daily, so this stays tiny).
class SigningKeyCache {
 public:
  explicit SigningKeyCache(std::size_t capacity = 64) : capacity_(capacity) {}
  SigningKeyCache(const SigningKeyCache&) = delete;
  SigningKeyCache& operator=(const SigningKeyCache&) = delete;

  // The signing key, derived on a miss.
  std::string get(const AwsCredentials& credentials, std::string_view day,
                  std::string_view region, std::string_view service);

  std::size_t hits() const;
  std::size_t misses() const;

 private:
  mutable std::mutex mu_;
  std::size_t capacity_;
  std::string owner_;  // access key id + sha256(secret): whose keys these are
  std::map<std::tuple<std::string, std::string, std::string>, std::string> keys_;
  std::size_t hits_ = 0;
  std::size_t misses_ = 0;
};

// ---- the whole pipeline ----------------------------------------------------

struct SignedRequest {
  // Header mode: the headers to send (the caller's, minus the replaced ones,
  // plus X-Amz-Date, [X-Amz-Security-Token], [X-Amz-Content-SHA256],
  // Authorization). Presign mode: the caller's headers unchanged.
  Headers headers;
  // The query string to send, encoded: the canonical query string, plus
  // "&X-Amz-Signature=..." in presign mode.
  std::string query_string;
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // hex
  std::string authorization;  // header mode only
};

// Signs `request` at `now`. With a cache, the signing key is taken from it.
SignedRequest sign(const Request& request, const AwsCredentials& credentials,
                   const SigningOptions& options, Clock::time_point now,
                   SigningKeyCache* cache = nullptr);

// ---- clock skew ------------------------------------------------------------

// Parses an HTTP date (RFC 1123, "Sun, 06 Nov 1994 08:49:37 GMT"); nullopt when
// malformed.
std::optional<Clock::time_point> parse_http_date(std::string_view value);

// The offset to add to our clock to match the server's, from a response's
// Date header and the local time it was received: server - now, in whole
// seconds. nullopt when the header does not parse.
std::optional<std::chrono::seconds> clock_skew(std::string_view date_header,
                                               Clock::time_point now);

}  // namespace raycluster::sigv4
