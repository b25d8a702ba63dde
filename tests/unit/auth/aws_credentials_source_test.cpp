#include <doctest/doctest.h>
#include <stdlib.h>

#include <deque>
#include <map>
#include <mutex>

#include "auth/aws_credentials_source.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace raycluster;
using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

namespace {

const Clock::time_point kT0 = Clock::from_time_t(1767225600);  // 2026-01-01T00:00:00Z
const std::string kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const std::string kToken = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN";

std::string creds_json(const std::string& key_id, const std::string& expiration) {
  return "{\"Code\": \"Success\", \"LastUpdated\": \"2026-01-01T00:00:00Z\", \"Type\": "
         "\"AWS-HMAC\", \"AccessKeyId\": \"" +
         key_id + "\", \"SecretAccessKey\": \"" + kSecret + "\", \"Token\": \"" + kToken +
         "\", \"Expiration\": \"" + expiration + "\"}";
}

// Answers by "METHOD url" from queues (the last answer of a queue repeats);
// records every request; throws Error(unavailable) for unknown ones.
struct FakeMetadata : HttpTransport {
  std::mutex mu;
  std::map<std::string, std::deque<HttpResponse>> answers;
  std::vector<HttpRequest> requests;

  void on(const std::string& key, int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    answers[key].push_back(r);
  }
  HttpResponse send(const HttpRequest& req, const CancelToken&) override {
    std::lock_guard<std::mutex> lock(mu);
    requests.push_back(req);
    auto it = answers.find(req.method + " " + req.url);
    if (it == answers.end() || it->second.empty())
      throw Error(ErrorCode::unavailable, "connection refused: " + req.url, true);
    HttpResponse r = it->second.front();
    if (it->second.size() > 1) it->second.pop_front();
    return r;
  }
  std::vector<std::string> lines() {
    std::vector<std::string> out;
    for (const auto& r : requests) out.push_back(r.method + " " + r.url);
    return out;
  }
};

std::optional<std::string> header(const HttpRequest& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return std::nullopt;
}

// A standard IMDSv2 at `base` serving role "head-role".
void serve_imds(FakeMetadata& t, const std::string& base, const std::string& key_id = "ASIAIMDS",
                const std::string& expiration = "2026-01-01T06:00:00Z") {
  t.on("PUT " + base + "/latest/api/token", 200, "imds-session-token");
  t.on("GET " + base + "/latest/meta-data/iam/security-credentials/", 200, "head-role");
  t.on("GET " + base + "/latest/meta-data/iam/security-credentials/head-role", 200,
       creds_json(key_id, expiration));
}

struct Fixture {
  std::string home;
  std::map<std::string, std::string> vars;
  FakeMetadata http;
  std::vector<std::chrono::milliseconds> sleeps;

  Fixture() {
    char tmpl[] = "/tmp/rc-creds-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    home = tmpl;
  }
  ~Fixture() { detail::remove_tree(home); }

  AwsEnvironment env() const {
    return {[this](const std::string& name) -> std::optional<std::string> {
              auto it = vars.find(name);
              if (it == vars.end()) return std::nullopt;
              return it->second;
            },
            home};
  }
  WallClock clock() const {
    return [] { return kT0; };
  }
  Sleeper sleeper() {
    return [this](std::chrono::milliseconds d, const CancelToken&) {
      sleeps.push_back(d);
      return true;
    };
  }
  Expiring<AwsCredentials> chain() { return fetch_aws_credentials(env(), http, clock(), sleeper()); }
  std::string chain_error() {
    try {
      chain();
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::auth);
      std::string msg = e.what();
      CHECK(msg.find(kSecret) == std::string::npos);
      CHECK(msg.find(kToken) == std::string::npos);
      return msg;
    }
    FAIL("expected an auth error");
    return {};
  }
};

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("aws credentials source: IMDSv2 is three requests, token first, then role and credentials") {
  Fixture f;
  serve_imds(f.http, "http://169.254.169.254");
  auto c = f.chain();
  CHECK(c.value.access_key_id == "ASIAIMDS");
  CHECK(c.value.secret_access_key == kSecret);
  CHECK(c.value.session_token == kToken);
  CHECK(c.value.source == "instance metadata role head-role");
  CHECK(c.expires_at == kT0 + 6h);

  REQUIRE(f.http.requests.size() == 3);
  const auto& put = f.http.requests[0];
  CHECK(put.method == "PUT");
  CHECK(put.url == "http://169.254.169.254/latest/api/token");
  CHECK(put.headers == HttpHeaders{{"x-aws-ec2-metadata-token-ttl-seconds", "21600"}});
  CHECK(put.body.empty());
  CHECK(put.timeout == 1s);
  CHECK(put.connect_timeout == 1s);
  for (int i : {1, 2}) {
    const auto& get = f.http.requests[i];
    CHECK(get.method == "GET");
    CHECK(get.headers == HttpHeaders{{"x-aws-ec2-metadata-token", "imds-session-token"}});
    CHECK(get.timeout == 1s);
  }
  CHECK(f.http.requests[1].url == "http://169.254.169.254/latest/meta-data/iam/security-credentials/");
  CHECK(f.http.requests[2].url ==
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/head-role");
}

TEST_CASE("aws credentials source: the IMDS endpoint, timeout and attempts come from the environment") {
  Fixture f;
  f.vars = {{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1338"},
            {"AWS_METADATA_SERVICE_TIMEOUT", "3"},
            {"AWS_METADATA_SERVICE_NUM_ATTEMPTS", "2"}};
  serve_imds(f.http, "http://127.0.0.1:1338");
  // The role list fails once (500), then answers: the second attempt is made at once.
  auto& roles = f.http.answers["GET http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/"];
  HttpResponse busy;
  busy.status = 500;
  roles.push_front(busy);
  CHECK(f.chain().value.access_key_id == "ASIAIMDS");
  CHECK(f.http.lines() == std::vector<std::string>{
                              "PUT http://127.0.0.1:1338/latest/api/token",
                              "GET http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/",
                              "GET http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/",
                              "GET http://127.0.0.1:1338/latest/meta-data/iam/security-credentials/head-role"});
  CHECK(f.http.requests[0].timeout == 3s);
  CHECK(f.sleeps.empty());
}

TEST_CASE("aws credentials source: by default one attempt per IMDS request, as botocore") {
  Fixture f;
  serve_imds(f.http, "http://169.254.169.254");
  auto& roles = f.http.answers["GET http://169.254.169.254/latest/meta-data/iam/security-credentials/"];
  HttpResponse empty;
  empty.status = 200;
  roles.push_front(empty);  // 200 with no role
  auto msg = f.chain_error();
  CHECK(contains(msg, "no AWS credentials found for profile \"default\""));
  CHECK(contains(msg, "instance metadata (http://169.254.169.254/latest/meta-data/iam/security-credentials/ answered HTTP 200 with no role)"));
  CHECK(f.http.requests.size() == 2);
}

TEST_CASE("aws credentials source: AWS_EC2_METADATA_DISABLED=true sends nothing") {
  Fixture f;
  f.vars = {{"AWS_EC2_METADATA_DISABLED", "TRUE"}};
  serve_imds(f.http, "http://169.254.169.254");
  auto msg = f.chain_error();
  CHECK(contains(msg, "instance metadata (disabled by AWS_EC2_METADATA_DISABLED)"));
  CHECK(contains(msg, "container credentials (neither"));
  CHECK(contains(msg, "shared credentials file"));
  CHECK(f.http.requests.empty());
}

TEST_CASE("aws credentials source: no IMDSv1 fallback when the token is refused") {
  for (int status : {403, 404, 405, 400}) {
    CAPTURE(status);
    Fixture f;
    serve_imds(f.http, "http://169.254.169.254");
    f.http.answers["PUT http://169.254.169.254/latest/api/token"] = {};
    f.http.on("PUT http://169.254.169.254/latest/api/token", status, "");
    f.vars = {{"AWS_METADATA_SERVICE_NUM_ATTEMPTS", "3"}};
    auto msg = f.chain_error();
    CHECK(contains(msg, "the IMDSv2 token request http://169.254.169.254/latest/api/token answered HTTP " +
                            std::to_string(status)));
    CHECK(f.http.requests.size() == 1);  // final answers are not retried, and no GET without a token
  }
}

TEST_CASE("aws credentials source: an unreachable IMDS means no credentials there, not a crash") {
  Fixture f;  // nothing served: the transport refuses the connection
  auto msg = f.chain_error();
  CHECK(contains(msg, "instance metadata (http://169.254.169.254/: connection refused"));
  CHECK(f.http.requests.size() == 1);
}

TEST_CASE("aws credentials source: an IMDS error document is named by its code, never quoted") {
  Fixture f;
  serve_imds(f.http, "http://169.254.169.254");
  f.http.answers["GET http://169.254.169.254/latest/meta-data/iam/security-credentials/head-role"] = {};
  f.http.on("GET http://169.254.169.254/latest/meta-data/iam/security-credentials/head-role", 200,
            "{\"Code\": \"AssumeRoleUnauthorizedAccess\", \"Message\": \"EC2 cannot assume the role\", "
            "\"SecretAccessKey\": \"" + kSecret + "\"}");
  auto msg = f.chain_error();
  CHECK(contains(msg, "instance metadata role head-role: the answer lacks AccessKeyId, Token, "
                      "Expiration (Code AssumeRoleUnauthorizedAccess)"));
}

TEST_CASE("aws credentials source: an IMDS role name that is not one is refused") {
  Fixture f;
  serve_imds(f.http, "http://169.254.169.254");
  f.http.answers["GET http://169.254.169.254/latest/meta-data/iam/security-credentials/"] = {};
  f.http.on("GET http://169.254.169.254/latest/meta-data/iam/security-credentials/", 200, "../../x");
  CHECK(contains(f.chain_error(), "no usable IAM role name"));
  CHECK(f.http.requests.size() == 2);
}

TEST_CASE("aws credentials source: container credentials from the relative URI, with the token") {
  Fixture f;
  f.vars = {{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc-123"},
            {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "Basic c2VjcmV0"}};
  f.http.on("GET http://169.254.170.2/v2/credentials/abc-123", 200,
            creds_json("ASIATASK", "2026-01-01T06:00:00Z"));
  serve_imds(f.http, "http://169.254.169.254");
  auto c = f.chain();
  CHECK(c.value.access_key_id == "ASIATASK");
  CHECK(c.value.source == "container credentials http://169.254.170.2/v2/credentials/abc-123");
  CHECK(c.expires_at == kT0 + 6h);
  REQUIRE(f.http.requests.size() == 1);  // IMDS is not asked
  const auto& r = f.http.requests[0];
  CHECK(r.method == "GET");
  CHECK(r.headers == HttpHeaders{{"Accept", "application/json"}, {"Authorization", "Basic c2VjcmV0"}});
  CHECK(r.timeout == 2s);
}

TEST_CASE("aws credentials source: container credentials from the full URI, the token read from its file") {
  Fixture f;
  detail::write_file_atomic(f.home + "/token", "eks-pod-identity-token", 0600);
  f.vars = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:8080/creds"},
            {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", f.home + "/token"},
            {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "the file wins"}};
  f.http.on("GET http://127.0.0.1:8080/creds", 200, creds_json("ASIAPOD", "2026-01-01T01:00:00+01:00"));
  auto c = f.chain();
  CHECK(c.value.access_key_id == "ASIAPOD");
  CHECK(c.expires_at == kT0);  // the offset is honoured
  CHECK(header(f.http.requests[0], "Authorization") == "eks-pod-identity-token");
}

TEST_CASE("aws credentials source: container URIs over plain http only to loopback or the known hosts") {
  for (auto [url, ok] : {std::pair<std::string, bool>{"http://example.com/creds", false},
                         {"http://169.254.169.254/creds", false},
                         {"http://localhost:80/creds", true},
                         {"http://169.254.170.23/v1/credentials", true},
                         {"http://[fd00:ec2::23]/v1/credentials", true},
                         {"http://[::1]:9/creds", true},
                         {"http://127.1.2.3/creds", true},
                         {"https://creds.example.com/x", true}}) {
    CAPTURE(url);
    Fixture f;
    f.vars = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", url}};
    f.http.on("GET " + url, 200, creds_json("ASIAOK", "2026-01-01T06:00:00Z"));
    if (ok) {
      CHECK(f.chain().value.access_key_id == "ASIAOK");
    } else {
      CHECK(contains(f.chain_error(), "over http only from a loopback address"));
      CHECK(f.http.requests.empty());
    }
  }
}

TEST_CASE("aws credentials source: a failing container endpoint is tried three times, then an error") {
  Fixture f;
  f.vars = {{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x"}};
  f.http.on("GET http://169.254.170.2/v2/credentials/x", 500, "oops");
  serve_imds(f.http, "http://169.254.169.254");
  auto msg = f.chain_error();
  CHECK(msg == "container credentials http://169.254.170.2/v2/credentials/x: HTTP 500 after 3 attempts");
  CHECK(f.http.requests.size() == 3);  // and IMDS is not asked: the container was configured
  CHECK(f.sleeps == std::vector<std::chrono::milliseconds>{1s, 1s});
}

TEST_CASE("aws credentials source: a container token with a line break is refused before sending") {
  Fixture f;
  f.vars = {{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x"},
            {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "abc\r\nX-Injected: 1"}};
  CHECK(contains(f.chain_error(), "contains a line break"));
  CHECK(f.http.requests.empty());
}

TEST_CASE("aws credentials source: static credentials come first and need no request") {
  Fixture f;
  f.vars = {{"AWS_ACCESS_KEY_ID", "AKIDENV"},
            {"AWS_SECRET_ACCESS_KEY", kSecret},
            {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x"}};
  serve_imds(f.http, "http://169.254.169.254");
  auto c = f.chain();
  CHECK(c.value.access_key_id == "AKIDENV");
  CHECK_FALSE(c.expires_at.has_value());
  CHECK(f.http.requests.empty());
}

TEST_CASE("aws credentials source: the source refreshes instance-role credentials before they expire") {
  Fixture f;
  Clock::time_point now = kT0;
  serve_imds(f.http, "http://169.254.169.254", "ASIAFIRST", "2026-01-01T01:00:00Z");
  auto source = make_aws_credentials_source(f.env(), f.http, [&] { return now; }, f.sleeper());
  CHECK(f.http.requests.empty());  // nothing until asked
  const AwsCredentials first = source->get();
  CHECK(first.access_key_id == "ASIAFIRST");
  CHECK(source->get().access_key_id == "ASIAFIRST");
  CHECK(f.http.requests.size() == 3);
  serve_imds(f.http, "http://169.254.169.254", "ASIASECOND", "2026-01-01T07:00:00Z");
  for (auto& [k, q] : f.http.answers) q.pop_front();  // the service rotated
  now = kT0 + 55min;  // 5 min left
  CHECK(source->get().access_key_id == "ASIAFIRST");
  CHECK(f.http.requests.size() == 3);
  now = kT0 + 55min + 1s;
  CHECK(source->get().access_key_id == "ASIASECOND");
  CHECK(f.http.requests.size() == 6);
  // A refusal of the first ones changes nothing any more.
  CHECK(source->refresh(first).access_key_id == "ASIASECOND");
  CHECK(f.http.requests.size() == 6);
}

TEST_CASE("aws credentials source: static credentials are read once however long it runs") {
  Fixture f;
  Clock::time_point now = kT0;
  f.vars = {{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", kSecret}};
  int reads = 0;
  AwsEnvironment env = f.env();
  auto inner = env.getenv;
  env.getenv = [&](const std::string& k) {
    if (k == "AWS_ACCESS_KEY_ID") ++reads;
    return inner(k);
  };
  auto source = make_aws_credentials_source(env, f.http, [&] { return now; });
  for (int i = 0; i < 5; ++i) {
    CHECK(source->get().access_key_id == "AKIDENV");
    now += std::chrono::hours(24 * 30);
  }
  CHECK(reads == 1);
  CHECK(f.http.requests.empty());
}

TEST_CASE("aws credentials source: ISO 8601 times") {
  using detail::parse_iso8601;
  CHECK(parse_iso8601("2026-01-01T00:00:00Z") == kT0);
  // Past 2262 the clock's nanoseconds overflow (found by fuzzing): no time.
  CHECK_FALSE(parse_iso8601("4620-01-01T00:00:00Z").has_value());
  CHECK_FALSE(parse_iso8601("1600-01-01T00:00:00Z").has_value());
  CHECK(parse_iso8601("2026-01-01T00:00:00.250Z") == kT0 + 250ms);
  CHECK(parse_iso8601("2026-01-01T02:30:00+02:30") == kT0);
  CHECK(parse_iso8601("2025-12-31T23:00:00-01:00") == kT0);
  CHECK(parse_iso8601("2024-02-29T12:00:00Z").has_value());
  for (const char* bad : {"", "2026-01-01", "2026-01-01T00:00:00", "2026-02-30T00:00:00Z",
                          "2026-01-01 00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00Zjunk",
                          "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00+0100"})
    CHECK_MESSAGE(!parse_iso8601(bad).has_value(), bad);
}
