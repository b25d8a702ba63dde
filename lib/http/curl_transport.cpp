// The libcurl transport: a pool of easy handles (each keeps its connections
// alive, so a handle taken again reuses them), TLS always verified, no
// proxies unless asked for, cancellation through the progress callback.
#include <curl/curl.h>

#include <exception>
#include <mutex>
#include <vector>

#include "util/error.hpp"
#include "http/http.hpp"
#include "util/strings.hpp"

namespace raycluster {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw Error(ErrorCode::internal, "curl_global_init failed");
  });
}

struct Transfer {
  HttpResponse* response = nullptr;
  std::size_t max_bytes = 0;
  bool too_big = false;
  const CancelToken* cancel = nullptr;
  CURL* handle = nullptr;
  const HttpBodySink* sink = nullptr;  // null: collect every body
  enum class Mode { undecided, collect, stream } mode = Mode::undecided;
  std::size_t received = 0;
  std::exception_ptr sink_error;  // what the sink threw; rethrown after the transfer
};

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::size_t len = size * n;
  if (t->received + len > t->max_bytes) {
    t->too_big = true;
    return 0;
  }
  t->received += len;
  if (t->mode == Transfer::Mode::undecided) {
    // The first body bytes: the status line and headers are in, so the
    // status is known. Only a 2xx body is streamed.
    long code = 0;
    curl_easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &code);
    t->mode = t->sink && code >= 200 && code < 300 ? Transfer::Mode::stream : Transfer::Mode::collect;
  }
  if (t->mode == Transfer::Mode::collect) {
    t->response->body.append(data, len);
    return len;
  }
  try {
    t->sink->write(std::string_view(data, len));
  } catch (...) {
    // Exceptions must not cross libcurl: stop the transfer, rethrow after it.
    t->sink_error = std::current_exception();
    return 0;
  }
  return len;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::size_t len = size * n;
  std::string_view line(data, len);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new status line (after 100 Continue, say): earlier headers are not this response's.
    t->response->headers.clear();
    return len;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  t->response->headers.emplace_back(std::string(detail::trim(line.substr(0, colon))),
                                    std::string(detail::trim(line.substr(colon + 1))));
  return len;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return t->cancel->cancelled() ? 1 : 0;
}

class CurlTransport : public HttpTransport {
 public:
  explicit CurlTransport(CurlTransportOptions o) : options_(std::move(o)) { global_init(); }
  ~CurlTransport() override {
    for (CURL* h : idle_) curl_easy_cleanup(h);
  }

  HttpResponse send(const HttpRequest& request, const CancelToken& cancel) override {
    cancel.throw_if_cancelled();
    CURL* h = acquire();
    struct Release {
      CurlTransport* self;
      CURL* h;
      ~Release() { self->release(h); }
    } release{this, h};

    HttpResponse response;
    Transfer t;
    t.response = &response;
    t.max_bytes = options_.max_response_bytes;
    t.cancel = &cancel;
    t.handle = h;
    if (request.body_sink.write) t.sink = &request.body_sink;
    curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options_.ca_bundle.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_bundle.c_str());
    if (!options_.proxy.empty())
      curl_easy_setopt(h, CURLOPT_PROXY, options_.proxy.c_str());
    else if (!options_.proxy_from_environment)
      curl_easy_setopt(h, CURLOPT_PROXY, "");  // "" disables the environment's proxies
    if (request.timeout.count() > 0)
      curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
    if (request.connect_timeout.count() > 0)
      curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                       static_cast<long>(request.connect_timeout.count()));
    // Streamed answers are the large ones: fewer, larger pieces (the default is 16 KiB).
    if (t.sink) curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 64L * 1024);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");  // what curl can decode
    // Pooled handles keep options: set these either way. An h2c connection
    // is not reused: a second request on one kept from an earlier call
    // failed ("Error in the HTTP2 framing layer") against Ray's GCS.
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
                     request.http2_prior_knowledge ? static_cast<long>(CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE)
                                                   : static_cast<long>(CURL_HTTP_VERSION_NONE));
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, request.http2_prior_knowledge ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, request.http2_prior_knowledge ? 1L : 0L);
    const std::string& m = request.method;
    if (m == "GET") {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (m == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m.c_str());
    }
    if (!request.body.empty() || (m != "GET" && m != "HEAD" && m != "DELETE")) {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    }
    curl_slist* headers = nullptr;
    bool has_expect = false;
    for (const auto& [k, v] : request.headers) {
      if (detail::ascii_lower(k) == "expect") has_expect = true;
      std::string line = v.empty() ? k + ";" : k + ": " + v;
      headers = curl_slist_append(headers, line.c_str());
    }
    if (!has_expect) headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);

    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(headers);
    if (t.sink_error) std::rethrow_exception(t.sink_error);
    if (rc != CURLE_OK) {
      std::string what = describe(request) + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc));
      what = redact(what);
      switch (rc) {
        case CURLE_ABORTED_BY_CALLBACK:
          throw Error(ErrorCode::cancelled, "request cancelled: " + describe(request));
        case CURLE_OPERATION_TIMEDOUT:
          throw Error(ErrorCode::timeout, what, true);
        case CURLE_WRITE_ERROR:
          if (t.too_big)
            throw Error(ErrorCode::io, describe(request) + ": response larger than " +
                                           std::to_string(options_.max_response_bytes) + " bytes");
          throw Error(ErrorCode::io, what);
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
          throw Error(ErrorCode::unavailable, what, false);
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
          throw Error(ErrorCode::invalid_argument, what);
        default:
          throw Error(ErrorCode::unavailable, what, true);
      }
    }
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    response.status = static_cast<int>(code);
    response.body_streamed = t.sink && code >= 200 && code < 300;
    return response;
  }

 private:
  CURL* acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        CURL* h = idle_.back();
        idle_.pop_back();
        curl_easy_reset(h);  // options only: its connections stay open
        return h;
      }
    }
    CURL* h = curl_easy_init();
    if (!h) throw Error(ErrorCode::internal, "curl_easy_init failed");
    return h;
  }
  void release(CURL* h) {
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() < options_.max_idle_handles) {
      idle_.push_back(h);
      return;
    }
    curl_easy_cleanup(h);
  }

  CurlTransportOptions options_;
  std::mutex mu_;
  std::vector<CURL*> idle_;
};

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  std::string want = detail::ascii_lower(name);
  for (const auto& [k, v] : headers)
    if (detail::ascii_lower(k) == want) return v;
  return std::nullopt;
}

std::unique_ptr<HttpTransport> make_curl_transport(const CurlTransportOptions& options) {
  return std::make_unique<CurlTransport>(options);
}

}  // namespace raycluster
