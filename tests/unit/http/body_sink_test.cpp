// HttpBodySink: 2xx bodies streamed by the curl transport, other answers
// kept whole, and a retried attempt restarting the consumer.
#include <doctest/doctest.h>

#include "local_server.hpp"
#include "util/error.hpp"
#include "http/http.hpp"

using namespace raycluster;
using namespace std::chrono_literals;
using rctest::LocalServer;
using rctest::Reply;
using std::chrono::milliseconds;

namespace {

// Collects what a sink receives and counts restarts.
struct Consumer {
  std::string got;
  int writes = 0;
  int restarts = 0;
  HttpBodySink sink() {
    HttpBodySink s;
    s.restart = [this] {
      ++restarts;
      got.clear();
    };
    s.write = [this](std::string_view piece) {
      ++writes;
      got.append(piece);
    };
    return s;
  }
};

RetryingTransport::Deps no_wait() {
  RetryingTransport::Deps d;
  d.sleep = [](milliseconds, const CancelToken&) { return true; };
  d.random = [] { return 0.0; };
  return d;
}

// 1 MiB of text that is not periodic in any small length, so a piece
// delivered twice or out of order would show.
std::string big_body() {
  std::string s;
  for (int i = 0; s.size() < (1u << 20); ++i) s += std::to_string(i) + ",";
  return s;
}

HttpRequest get(const LocalServer& s, Consumer& c) {
  HttpRequest r;
  r.url = s.url("/big");
  r.body_sink = c.sink();
  return r;
}

}  // namespace

TEST_CASE("body sink: a 2xx body goes to the sink in pieces, not into the response") {
  const std::string body = big_body();
  LocalServer server({Reply{200, {}, body}});
  auto curl = make_curl_transport();
  Consumer c;
  auto r = curl->send(get(server, c));
  CHECK(r.status == 200);
  CHECK(r.body_streamed);
  CHECK(r.body.empty());
  CHECK(c.got == body);
  CHECK(c.writes > 1);  // 1 MiB does not arrive in one callback
  CHECK(c.restarts == 0);
}

TEST_CASE("body sink: error answers are kept whole in the response and never reach the sink") {
  for (int status : {404, 400, 500, 503}) {
    CAPTURE(status);
    const std::string body = "<Response><Errors><Error><Code>X</Code></Error></Errors></Response>";
    LocalServer server({Reply{status, {}, body}});
    auto curl = make_curl_transport();
    Consumer c;
    auto r = curl->send(get(server, c));
    CHECK(r.status == status);
    CHECK_FALSE(r.body_streamed);
    CHECK(r.body == body);
    CHECK(c.writes == 0);
  }
}

TEST_CASE("body sink: without a sink the body is collected as before") {
  LocalServer server({Reply{200, {}, "whole"}});
  auto curl = make_curl_transport();
  HttpRequest r;
  r.url = server.url("/");
  auto resp = curl->send(r);
  CHECK(resp.body == "whole");
  CHECK_FALSE(resp.body_streamed);
}

TEST_CASE("body sink: a connection dropped mid-body is retried and the consumer starts over") {
  const std::string body = big_body();
  Reply dropped{200, {}, body};
  dropped.drop_mid_body = true;
  LocalServer server({dropped, Reply{200, {}, body}});
  auto curl = make_curl_transport();
  RetryingTransport t(*curl, RetryPolicy{}, no_wait());
  Consumer c;
  auto r = t.send(get(server, c));
  CHECK(r.status == 200);
  CHECK(r.attempts == 2);
  CHECK(c.restarts == 1);
  CHECK(c.got.size() == body.size());
  CHECK(c.got == body);  // the first half of the dropped answer is not in it
}

TEST_CASE("body sink: a 503 before the 2xx leaves only the 2xx body in the consumer") {
  LocalServer server({Reply{503, {}, "busy"}, Reply{200, {}, "payload"}});
  auto curl = make_curl_transport();
  RetryingTransport t(*curl, RetryPolicy{}, no_wait());
  Consumer c;
  auto r = t.send(get(server, c));
  CHECK(r.status == 200);
  CHECK(c.got == "payload");
  CHECK(c.restarts == 1);
}

TEST_CASE("body sink: what the sink throws ends the transfer and is not retried") {
  LocalServer server({Reply{200, {}, big_body()}});
  auto curl = make_curl_transport();
  RetryingTransport t(*curl, RetryPolicy{}, no_wait());
  HttpRequest r;
  r.url = server.url("/");
  r.body_sink.write = [](std::string_view) { throw Error(ErrorCode::invalid_request, "bad piece"); };
  try {
    t.send(r);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_request);
    CHECK(std::string(e.what()) == "bad piece");
  }
  CHECK(server.requests().size() == 1);
}

TEST_CASE("body sink: max_response_bytes also bounds a streamed body") {
  LocalServer server({Reply{200, {}, std::string(100000, 'x')}});
  CurlTransportOptions o;
  o.max_response_bytes = 1000;
  auto curl = make_curl_transport(o);
  Consumer c;
  try {
    curl->send(get(server, c));
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::io);
  }
  CHECK(c.got.size() <= 1000);
}

namespace {

// A transport without a network: the first attempt streams part of a body
// and then fails as a dropped connection does; the second streams it all.
class DroppingTransport : public HttpTransport {
 public:
  int sends = 0;
  HttpResponse send(const HttpRequest& request, const CancelToken&) override {
    ++sends;
    if (sends == 1) {
      request.body_sink.write("<partial");
      throw Error(ErrorCode::unavailable, "connection reset", true);
    }
    request.body_sink.write("<whole/>");
    HttpResponse r;
    r.status = 200;
    r.body_streamed = true;
    return r;
  }
};

}  // namespace

TEST_CASE("body sink: RetryingTransport restarts the consumer before each retried attempt only") {
  DroppingTransport inner;
  RetryingTransport t(inner, RetryPolicy{}, no_wait());
  Consumer c;
  HttpRequest r;
  r.url = "http://example.invalid/";
  r.body_sink = c.sink();
  auto resp = t.send(r);
  CHECK(resp.status == 200);
  CHECK(inner.sends == 2);
  CHECK(c.restarts == 1);
  CHECK(c.got == "<whole/>");
}
