#include <doctest/doctest.h>

#include <cstdlib>

#include "local_server.hpp"
#include "util/error.hpp"
#include "http/http.hpp"

using namespace raycluster;
using namespace std::chrono_literals;
using rctest::LocalServer;
using rctest::Reply;

TEST_CASE("curl transport: a request and its response, headers and body both ways") {
  LocalServer server({Reply{201, {{"X-Answer", "42"}, {"Content-Type", "text/plain"}}, "made"}});
  auto t = make_curl_transport();
  HttpRequest req;
  req.method = "POST";
  req.url = server.url("/things?a=1");
  req.headers = {{"Content-Type", "application/json"}, {"X-Custom", "yes"}};
  req.body = R"({"x":1})";
  auto r = t->send(req);
  CHECK(r.status == 201);
  CHECK(r.body == "made");
  CHECK(r.header("x-answer") == std::optional<std::string>("42"));
  CHECK_FALSE(r.header("missing").has_value());
  auto got = server.requests();
  REQUIRE(got.size() == 1);
  CHECK(got[0].method == "POST");
  CHECK(got[0].target == "/things?a=1");
  CHECK(got[0].body == R"({"x":1})");
  CHECK(got[0].head.find("X-Custom: yes") != std::string::npos);
}

TEST_CASE("curl transport: connections are reused across requests") {
  LocalServer server({Reply{200, {}, "ok"}});
  auto t = make_curl_transport();
  HttpRequest req;
  req.url = server.url("/");
  for (int i = 0; i < 5; ++i) CHECK(t->send(req).status == 200);
  CHECK(server.connections() == 1);
}

TEST_CASE("curl transport: an HTTP error status is a response, not an exception") {
  LocalServer server({Reply{404, {}, "nope"}});
  auto t = make_curl_transport();
  HttpRequest req;
  req.url = server.url("/");
  auto r = t->send(req);
  CHECK(r.status == 404);
  CHECK(r.body == "nope");
}

TEST_CASE("curl transport: a connection dropped mid-response is a retryable unavailable error") {
  LocalServer server({Reply{200, {}, std::string(1000, 'x'), 0ms, true}});
  auto t = make_curl_transport();
  HttpRequest req;
  req.url = server.url("/");
  try {
    t->send(req);
    FAIL("no exception");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unavailable);
    CHECK(e.retryable());
  }
}

TEST_CASE("curl transport: the request timeout is enforced") {
  // The answer comes only after the suite's own time limit: a send that
  // waited for it would fail the test, not pass it late.
  LocalServer server({Reply{200, {}, "late", 60s}});
  auto t = make_curl_transport();
  HttpRequest req;
  req.url = server.url("/");
  req.timeout = 200ms;
  try {
    t->send(req);
    FAIL("no exception");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::timeout);
    CHECK(e.retryable());
  }
}

TEST_CASE("curl transport: a refused connection is unavailable") {
  int port;
  {
    LocalServer gone({Reply{}});
    port = std::stoi(gone.url("").substr(17));
  }
  auto t = make_curl_transport();
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  CHECK_THROWS_AS(t->send(req), Error);
}

TEST_CASE("curl transport: proxies from the environment are not used unless asked") {
  LocalServer server({Reply{200, {}, "direct"}});
  ::setenv("http_proxy", "http://127.0.0.1:1", 1);
  ::setenv("HTTP_PROXY", "http://127.0.0.1:1", 1);
  auto t = make_curl_transport();
  HttpRequest req;
  req.url = server.url("/");
  auto r = t->send(req);
  ::unsetenv("http_proxy");
  ::unsetenv("HTTP_PROXY");
  CHECK(r.body == "direct");
}

TEST_CASE("curl transport: a cancelled token stops a slow request") {
  // As above: only the cancel can end this request in time.
  LocalServer server({Reply{200, {}, "late", 60s}});
  auto t = make_curl_transport();
  HttpRequest req;
  req.url = server.url("/");
  CancelToken cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    cancel.cancel();
  });
  try {
    t->send(req, cancel);
    FAIL("no exception");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::cancelled);
  }
  canceller.join();
}

TEST_CASE("curl transport: responses above the size limit are refused") {
  LocalServer server({Reply{200, {}, std::string(10000, 'y')}});
  CurlTransportOptions o;
  o.max_response_bytes = 100;
  auto t = make_curl_transport(o);
  HttpRequest req;
  req.url = server.url("/");
  try {
    t->send(req);
    FAIL("no exception");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::io);
  }
}
