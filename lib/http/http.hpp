// raycluster: the HTTP transport and the one retry loop.
//
// HttpTransport sends one request and returns the response, whatever its
// status. make_curl_transport() is the libcurl implementation; tests and
// embedders inject their own. RetryingTransport wraps any transport with the
// project's only retry loop (callers never wrap another one around it):
// exponential backoff with full jitter, Retry-After honoured, a retry budget
// per operation, cancellation. redact() keeps secrets out of logs.
//
// Errors: send() throws raycluster::Error when no HTTP response arrived:
//   unavailable (retryable)      refused, reset or dropped connection, DNS failure
//   timeout (retryable)          the request's timeout passed
//   cancelled                    the CancelToken fired
//   unavailable (not retryable)  TLS verification failed
//   io                           the response exceeded max_response_bytes
//   (any)                        what a body sink threw (see HttpBodySink)
// An HTTP error status (4xx, 5xx) is a response, not an exception.
//
// Thread-safety: make_curl_transport()'s transport and RetryingTransport may
// be used from any number of threads at once (the curl transport keeps a pool
// of handles, so connections are reused across requests).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/event.hpp"

namespace raycluster {

// Header name/value pairs in order; names compare case-insensitively.
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// Optional streaming of a successful answer's body, so that a large answer
// is consumed while it arrives instead of being held whole.
//
// When `write` is set and the answer's status is 2xx, a transport that
// streams (make_curl_transport()'s does) hands the body to `write` piece by
// piece, in order, as it arrives, leaves HttpResponse::body empty and sets
// HttpResponse::body_streamed. Answers of any other status are collected
// whole in HttpResponse::body as usual (error parsers and retry classifiers
// need them). A transport that does not stream ignores the sink and returns
// the body as usual (body_streamed false): callers then pass the body on
// themselves. `write` may throw to abort the transfer: send() then throws
// that exception.
//
// RetryingTransport calls `restart` (when set) before every attempt after
// the first, so a consumer that received part of an answer whose connection
// then dropped starts over. Both are called on the thread that called send().
struct HttpBodySink {
  std::function<void()> restart;
  std::function<void(std::string_view piece)> write;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  HttpHeaders headers;
  std::string body;
  // Whole-request deadline and connect deadline; zero means none.
  std::chrono::milliseconds timeout{30000};
  std::chrono::milliseconds connect_timeout{10000};
  // HTTP/2 without TLS from the first byte (h2c with prior knowledge, as
  // gRPC servers expect); otherwise libcurl's default for the scheme.
  bool http2_prior_knowledge = false;
  // Empty (no write function): the body of every answer is collected.
  HttpBodySink body_sink;
};

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;
  std::string body;
  // True when the body went to the request's body_sink instead of `body`.
  bool body_streamed = false;
  // Set by RetryingTransport: how many attempts this response took (1 = no retry).
  int attempts = 1;

  // The first header of that name (case-insensitive), or nullopt.
  std::optional<std::string> header(std::string_view name) const;
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Sends one request; see the top of this header for errors.
  virtual HttpResponse send(const HttpRequest& request, const CancelToken& cancel = {}) = 0;
};

struct CurlTransportOptions {
  // PEM file of CA certificates to trust instead of the system's. TLS peer and
  // host verification are always on; there is no switch to turn them off.
  std::string ca_bundle;
  // Proxies: none by default, even when http_proxy/https_proxy are set.
  bool proxy_from_environment = false;
  std::string proxy;  // explicit proxy URL (wins over the environment)
  // Limit of a body, collected or streamed to a body sink.
  std::size_t max_response_bytes = 64u << 20;
  std::size_t max_idle_handles = 8;  // pooled handles kept for reuse
};

std::unique_ptr<HttpTransport> make_curl_transport(const CurlTransportOptions& options = {});

// Sleeps up to d; returns false when cancel fired first (then it returns early).
using Sleeper = std::function<bool(std::chrono::milliseconds d, const CancelToken& cancel)>;
// Uniform random number in [0, 1).
using RandomSource = std::function<double()>;
using WallClock = std::function<std::chrono::system_clock::time_point()>;

// The defaults: CancelToken::sleep_for, a std::mt19937_64 seeded from
// std::random_device (behind a mutex), std::chrono::system_clock::now.
Sleeper real_sleeper();
RandomSource real_random();
WallClock real_wall_clock();

struct RetryPolicy {
  int max_attempts = 5;  // attempts per operation, the first included
  std::chrono::milliseconds base_delay{200};
  std::chrono::milliseconds max_delay{20000};  // cap of one backoff step
  // Total time one operation may spend waiting between attempts; a wait
  // (backoff or Retry-After) that would exceed it ends the operation.
  std::chrono::milliseconds budget{60000};
  // Statuses retried: 429, 503 (throttling) and every other 5xx except 501.
  // Extra throttling signals carried in a body (EC2's RequestLimitExceeded,
  // "Throttling", ...): return true to retry that response too.
  std::function<bool(const HttpResponse&)> is_throttle;
  // A retryable status whose body says the same request will not succeed
  // soon (EC2 answers InsufficientInstanceCapacity with HTTP 500, and the
  // caller tries another zone instead): return true to hand that response
  // back at once, without waiting.
  std::function<bool(const HttpResponse&)> is_final;
  // Retry after the connection dropped or timed out. Safe when the calls are
  // idempotent (EC2 ClientToken, GCP requestId, GETs); turn off otherwise.
  bool retry_transport_errors = true;
};

// What happened before a retry; for logs and metrics.
struct RetryNotice {
  int attempt = 0;  // the attempt that failed (1-based)
  std::chrono::milliseconds delay{0};
  int status = 0;       // 0 when the transport failed
  std::string reason;   // "HTTP 503", "throttled", "unavailable: ...", redacted
  bool from_retry_after = false;
};

class RetryingTransport : public HttpTransport {
 public:
  struct Deps {
    Sleeper sleep;      // default real_sleeper()
    RandomSource random;  // default real_random()
    WallClock now;      // default real_wall_clock(); for Retry-After dates
    std::function<void(const RetryNotice&)> on_retry;  // may be empty
  };
  // `inner` must outlive this object.
  RetryingTransport(HttpTransport& inner, RetryPolicy policy, Deps deps = {});

  // Sends with retries. Returns the first response that is not retried, or
  // the last one when the attempts or the budget ran out (attempts says how
  // many were made). Throws the last transport Error when no response came,
  // and Error(cancelled) when cancel fires (also during a wait). Calls
  // request.body_sink.restart before every attempt after the first.
  HttpResponse send(const HttpRequest& request, const CancelToken& cancel = {}) override;

 private:
  HttpTransport& inner_;
  RetryPolicy policy_;
  Deps deps_;
};

// A Retry-After value (delay-seconds or an HTTP-date) as a delay from `now`;
// nullopt when unparseable. Dates in the past give zero.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

// Text with secrets replaced by "[REDACTED]": Authorization and
// Proxy-Authorization headers, X-Amz-Security-Token, X-Amz-Signature and
// X-Amz-Credential (headers and query parameters), bearer/basic tokens,
// JSON/XML/INI/query fields named like secret keys, session tokens, access,
// refresh and id tokens, passwords, client secrets, private keys, and PEM
// private key blocks. Everything else is kept.
std::string redact(std::string_view text);
// Headers with the values of sensitive ones replaced.
HttpHeaders redact(const HttpHeaders& headers);
// "METHOD url" with secrets in the query removed; for log lines.
std::string describe(const HttpRequest& request);

// The host of an absolute URL, without brackets, port or user info; empty
// without a scheme.
std::string url_host(std::string_view url);
// True for an IPv4 address in 127.0.0.0/8 or the IPv6 address ::1.
bool is_loopback_address(const std::string& host);

}  // namespace raycluster
