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

// Records every wait instead of sleeping.
struct Recorder {
  std::vector<milliseconds> waits;
  std::vector<RetryNotice> notices;
  RetryingTransport::Deps deps(double random = 0.5) {
    RetryingTransport::Deps d;
    d.sleep = [this](milliseconds w, const CancelToken& c) {
      waits.push_back(w);
      return !c.cancelled();
    };
    d.random = [random] { return random; };
    d.now = [] { return std::chrono::system_clock::from_time_t(784111777); };  // 1994-11-06 08:49:37
    d.on_retry = [this](const RetryNotice& n) { notices.push_back(n); };
    return d;
  }
};

HttpRequest get(const LocalServer& s) {
  HttpRequest r;
  r.url = s.url("/op");
  return r;
}

}  // namespace

TEST_CASE("retry: 503 then success is retried once, with a jittered backoff") {
  LocalServer server({Reply{503, {}, "busy"}, Reply{200, {}, "done"}});
  auto curl = make_curl_transport();
  Recorder rec;
  RetryPolicy p;
  p.base_delay = 200ms;
  RetryingTransport t(*curl, p, rec.deps(0.5));
  auto r = t.send(get(server));
  CHECK(r.status == 200);
  CHECK(r.body == "done");
  CHECK(r.attempts == 2);
  REQUIRE(rec.waits.size() == 1);
  CHECK(rec.waits[0] == 100ms);  // 0.5 * min(max_delay, 200ms * 2^0)
  REQUIRE(rec.notices.size() == 1);
  CHECK(rec.notices[0].status == 503);
  CHECK(server.requests().size() == 2);
}

TEST_CASE("retry: backoff doubles per attempt and is capped by max_delay") {
  LocalServer server({Reply{500, {}, ""}});
  auto curl = make_curl_transport();
  Recorder rec;
  RetryPolicy p;
  p.max_attempts = 6;
  p.base_delay = 100ms;
  p.max_delay = 500ms;
  p.budget = 100s;
  RetryingTransport t(*curl, p, rec.deps(0.999999));
  auto r = t.send(get(server));
  CHECK(r.status == 500);
  CHECK(r.attempts == 6);
  std::vector<milliseconds> want = {99ms, 199ms, 399ms, 499ms, 499ms};
  CHECK(rec.waits == want);
}

TEST_CASE("retry: Retry-After in seconds is honoured") {
  LocalServer server({Reply{429, {{"Retry-After", "3"}}, ""}, Reply{200, {}, "ok"}});
  auto curl = make_curl_transport();
  Recorder rec;
  RetryingTransport t(*curl, {}, rec.deps());
  auto r = t.send(get(server));
  CHECK(r.status == 200);
  REQUIRE(rec.waits.size() == 1);
  CHECK(rec.waits[0] == 3000ms);
  CHECK(rec.notices[0].from_retry_after);
}

TEST_CASE("retry: Retry-After as an HTTP-date is honoured against the injected clock") {
  LocalServer server(
      {Reply{503, {{"Retry-After", "Sun, 06 Nov 1994 08:49:42 GMT"}}, ""}, Reply{200, {}, "ok"}});
  auto curl = make_curl_transport();
  Recorder rec;
  RetryingTransport t(*curl, {}, rec.deps());
  CHECK(t.send(get(server)).status == 200);
  REQUIRE(rec.waits.size() == 1);
  CHECK(rec.waits[0] == 5000ms);
}

TEST_CASE("retry: parse_retry_after") {
  auto now = std::chrono::system_clock::from_time_t(784111777);
  CHECK(parse_retry_after("120", now) == milliseconds(120000));
  CHECK(parse_retry_after(" 0 ", now) == milliseconds(0));
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now) == milliseconds(0));
  CHECK(parse_retry_after("Sunday, 06-Nov-94 08:50:37 GMT", now) == milliseconds(60000));
  CHECK(parse_retry_after("Sun Nov  6 08:49:47 1994", now) == milliseconds(10000));
  CHECK(parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now) == milliseconds(0));  // past
  CHECK_FALSE(parse_retry_after("soon", now).has_value());
  CHECK_FALSE(parse_retry_after("-5", now).has_value());
  CHECK_FALSE(parse_retry_after("", now).has_value());
}

TEST_CASE("retry: the attempt budget runs out and the last response is returned") {
  LocalServer server({Reply{503, {}, "still busy"}});
  auto curl = make_curl_transport();
  Recorder rec;
  RetryPolicy p;
  p.max_attempts = 4;
  RetryingTransport t(*curl, p, rec.deps());
  auto r = t.send(get(server));
  CHECK(r.status == 503);
  CHECK(r.attempts == 4);
  CHECK(rec.waits.size() == 3);
  CHECK(server.requests().size() == 4);
}

TEST_CASE("retry: a wait beyond the time budget ends the operation at once") {
  LocalServer server({Reply{503, {{"Retry-After", "120"}}, ""}, Reply{200, {}, "ok"}});
  auto curl = make_curl_transport();
  Recorder rec;
  RetryPolicy p;
  p.budget = 60s;
  RetryingTransport t(*curl, p, rec.deps());
  auto r = t.send(get(server));
  CHECK(r.status == 503);
  CHECK(r.attempts == 1);
  CHECK(rec.waits.empty());
}

TEST_CASE("retry: throttling codes in the body are retried through the predicate") {
  std::string throttle =
      "<Response><Errors><Error><Code>RequestLimitExceeded</Code></Error></Errors></Response>";
  LocalServer server({Reply{400, {}, throttle}, Reply{200, {}, "ok"}});
  auto curl = make_curl_transport();
  Recorder rec;
  RetryPolicy p;
  p.is_throttle = [](const HttpResponse& r) {
    return r.body.find("<Code>RequestLimitExceeded</Code>") != std::string::npos ||
           r.body.find("<Code>Throttling</Code>") != std::string::npos;
  };
  RetryingTransport t(*curl, p, rec.deps());
  auto r = t.send(get(server));
  CHECK(r.status == 200);
  CHECK(r.attempts == 2);
  CHECK(rec.notices.at(0).reason.find("throttled") == 0);
}

TEST_CASE("retry: a retryable status the policy calls final is returned at once") {
  std::string no_capacity =
      "<Response><Errors><Error><Code>InsufficientInstanceCapacity</Code></Error></Errors></Response>";
  LocalServer server({Reply{500, {}, no_capacity}, Reply{500, {}, "plain"}, Reply{200, {}, "ok"}});
  auto curl = make_curl_transport();
  Recorder rec;
  RetryPolicy p;
  p.is_final = [](const HttpResponse& r) {
    return r.body.find("<Code>InsufficientInstanceCapacity</Code>") != std::string::npos;
  };
  RetryingTransport t(*curl, p, rec.deps());
  auto r = t.send(get(server));
  CHECK(r.status == 500);
  CHECK(r.attempts == 1);
  CHECK(rec.waits.empty());
  // A 500 it does not call final is retried as before.
  auto r2 = t.send(get(server));
  CHECK(r2.status == 200);
  CHECK(r2.attempts == 2);
}

TEST_CASE("retry: client errors and 501 are not retried") {
  for (int status : {400, 403, 404, 501}) {
    LocalServer server({Reply{status, {}, ""}, Reply{200, {}, ""}});
    auto curl = make_curl_transport();
    Recorder rec;
    RetryingTransport t(*curl, {}, rec.deps());
    auto r = t.send(get(server));
    CHECK(r.status == status);
    CHECK(r.attempts == 1);
    CHECK(rec.waits.empty());
  }
}

TEST_CASE("retry: a connection dropped mid-response is retried") {
  LocalServer server({Reply{200, {}, std::string(100, 'x'), 0ms, true}, Reply{200, {}, "whole"}});
  auto curl = make_curl_transport();
  Recorder rec;
  RetryingTransport t(*curl, {}, rec.deps());
  auto r = t.send(get(server));
  CHECK(r.body == "whole");
  CHECK(r.attempts == 2);
  CHECK(rec.notices.at(0).status == 0);
  CHECK(rec.notices.at(0).reason.find("unavailable") == 0);
}

TEST_CASE("retry: a timeout is retried, and the last error is thrown when attempts run out") {
  LocalServer server({Reply{200, {}, "late", 1000ms}});
  auto curl = make_curl_transport();
  Recorder rec;
  RetryPolicy p;
  p.max_attempts = 2;
  RetryingTransport t(*curl, p, rec.deps());
  HttpRequest req = get(server);
  req.timeout = 100ms;
  try {
    t.send(req);
    FAIL("no exception");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::timeout);
  }
  CHECK(rec.waits.size() == 1);
}

TEST_CASE("retry: transport errors are not retried when the policy says the call is unsafe") {
  LocalServer server({Reply{200, {}, "x", 0ms, false, true}, Reply{200, {}, "ok"}});
  auto curl = make_curl_transport();
  Recorder rec;
  RetryPolicy p;
  p.retry_transport_errors = false;
  RetryingTransport t(*curl, p, rec.deps());
  CHECK_THROWS_AS(t.send(get(server)), Error);
  CHECK(rec.waits.empty());
}

TEST_CASE("retry: cancellation during a wait stops the operation") {
  LocalServer server({Reply{503, {}, ""}});
  auto curl = make_curl_transport();
  CancelToken cancel;
  RetryingTransport::Deps d;
  int sleeps = 0;
  d.sleep = [&](milliseconds, const CancelToken& c) {
    ++sleeps;
    cancel.cancel();
    return !c.cancelled();
  };
  d.random = [] { return 0.1; };
  RetryingTransport t(*curl, {}, d);
  try {
    t.send(get(server), cancel);
    FAIL("no exception");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::cancelled);
  }
  CHECK(sleeps == 1);
  CHECK(server.requests().size() == 1);
}
