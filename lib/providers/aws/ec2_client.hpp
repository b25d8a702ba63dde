// A client of the EC2 Query API (version 2016-11-15).
//
// Each call is a POST of `Action=...&Version=2016-11-15&...`
// (application/x-www-form-urlencoded, byte for byte as botocore encodes it)
// signed with SigV4 for service
// ec2, sent through the HttpTransport it is given. That transport is expected
// to be a RetryingTransport with is_throttle_response() as its throttle
// classifier: throttling and 5xx retries happen there and only there. The
// client itself repeats a call for two reasons only, each at most once per
// call: to correct its clock after the service said the signature was made
// at the wrong time, and to sign again with refreshed credentials after the
// service refused them (see is_refusal_of_credentials()); a second refusal
// is an Ec2Error with ErrorCode::auth.
//
// Errors: Ec2Error (a raycluster::Error) carrying the AWS error code and
// request id, for both EC2 error shapes; see error_code_for() for the mapping.
// Thread-safety: call() may be used from several threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "providers/aws/query_names.hpp"
#include "auth/aws_credentials.hpp"
#include "auth/credentials.hpp"
#include "util/error.hpp"
#include "http/http.hpp"
#include "auth/sigv4.hpp"

namespace raycluster::detail::ec2 {

inline constexpr std::string_view kApiVersion = "2016-11-15";

class Ec2Error : public Error {
 public:
  Ec2Error(ErrorCode code, const std::string& message, bool retryable, std::string request_id,
           std::string aws_code)
      : Error(code, message, retryable, std::move(request_id)), aws_code_(std::move(aws_code)) {}
  // "InsufficientInstanceCapacity", "InvalidInstanceID.NotFound", ...
  const std::string& aws_code() const noexcept { return aws_code_; }

 private:
  std::string aws_code_;
};

// The category of an AWS error code (HTTP status for codes not known).
ErrorCode error_code_for(std::string_view aws_code, int http_status);
// True when repeating the call later may succeed.
bool is_retryable(std::string_view aws_code, int http_status);
// Throttling signalled in the body (RequestLimitExceeded, Throttling, ...),
// whatever the HTTP status: the RetryPolicy::is_throttle of EC2 calls.
bool is_throttle_response(const HttpResponse& response);
// A 5xx answer whose code says a zone has no capacity (InsufficientInstance-
// Capacity, ...): the RetryPolicy::is_final of EC2 calls, since repeating
// it only delays the move to the next zone.
bool is_capacity_response(const HttpResponse& response);
// An answer saying the credentials themselves were refused (expired, revoked
// or unknown), which fresh credentials from the source may cure: HTTP 401,
// or ExpiredToken, ExpiredTokenException, AuthFailure, InvalidClientTokenId,
// UnrecognizedClientException. Not RequestExpired (the signing time is off:
// that is the clock correction's case, and new credentials would not help).
bool is_refusal_of_credentials(std::string_view aws_code, int http_status);

// Appends prefix.1=v1, prefix.2=v2, ...
void add_list(QueryParams& params, const std::string& prefix, const std::vector<std::string>& values);
// Appends Filter.<n>.Name=name and Filter.<n>.Value.<i>=values[i-1].
void add_filter(QueryParams& params, int n, const std::string& name,
                const std::vector<std::string>& values);

// "Action=X&Version=2016-11-15&k=v..." with keys and values form-encoded as
// botocore does (unreserved characters kept, space as '+', the rest %XX).
std::string form_body(std::string_view action, const QueryParams& params,
                      std::string_view version = kApiVersion);

struct ClientOptions {
  std::string endpoint;  // "https://ec2.us-east-1.amazonaws.com" or an override
  std::string region;
  // Required. Asked on every call (its get() is cheap while the cached
  // credentials are fresh), and asked to refresh() once when the service
  // refuses them; so the first call is the first to need credentials.
  std::shared_ptr<CredentialsSource<AwsCredentials>> credentials;
  WallClock now;  // default: the system clock
  // Another Query API on the same protocol (IAM: "iam", "2010-05-08", "IAM").
  std::string service = "ec2";
  std::string api_version = std::string(kApiVersion);
  std::string label = "EC2";  // names the service in error messages
};

class Client {
 public:
  Client(HttpTransport& transport, ClientOptions options);

  // The body of the 2xx answer. Throws Ec2Error for an EC2 error answer and
  // the transport's Error when no answer came.
  std::string call(std::string_view action, const QueryParams& params,
                   const CancelToken& cancel = {});
  // As call(), but the body of the 2xx answer goes to `consumer` as it
  // arrives instead of being returned, so it is never held whole (with a
  // transport that does not stream, the body is handed over in one piece).
  // consumer.restart is called before a retried attempt; what consumer.write
  // throws aborts the call and propagates. Error answers throw as in call().
  void call_streaming(std::string_view action, const QueryParams& params, const HttpBodySink& consumer,
                      const CancelToken& cancel = {});

  const std::string& endpoint() const { return options_.endpoint; }
  const std::string& region() const { return options_.region; }
  // What is added to the local clock when signing (learned from the server).
  std::chrono::seconds clock_offset() const { return std::chrono::seconds(offset_.load()); }

 private:
  HttpRequest build(const std::string& body, const AwsCredentials& creds);
  // Sends until a 2xx answer, which it returns; throws for the rest.
  HttpResponse exchange(std::string_view action, const QueryParams& params, const HttpBodySink* sink,
                        const CancelToken& cancel);

  HttpTransport& transport_;
  ClientOptions options_;
  sigv4::SigningKeyCache keys_;
  std::atomic<long long> offset_{0};
};

}  // namespace raycluster::detail::ec2
