#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "util/error.hpp"
#include "auth/sigv4.hpp"
#include "util/hash.hpp"

using namespace raycluster;
using namespace raycluster::sigv4;
using namespace std::chrono_literals;

namespace {

// 2015-08-30T12:36:00Z, the time of the AWS documentation's examples.
const Clock::time_point kDocTime = Clock::from_time_t(1440938160);

AwsCredentials doc_credentials() {
  AwsCredentials c;
  c.access_key_id = "AKIDEXAMPLE";
  c.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  return c;
}

SigningOptions options(std::string service, std::string region) {
  SigningOptions o;
  o.service = std::move(service);
  o.region = std::move(region);
  return o;
}

}  // namespace

// Hand-copied from the AWS General Reference, "Signature Version 4 signing
// process" example (GET IAM ListUsers, 2015-08-30).
TEST_CASE("the AWS documentation's IAM ListUsers example, stage by stage") {
  auto req = request_from_url("GET", "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08");
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  auto opt = options("iam", "us-east-1");
  auto creds = doc_credentials();

  const std::string expected_cr =
      "GET\n"
      "/\n"
      "Action=ListUsers&Version=2010-05-08\n"
      "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
      "host:iam.amazonaws.com\n"
      "x-amz-date:20150830T123600Z\n"
      "\n"
      "content-type;host;x-amz-date\n"
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  const std::string expected_sts =
      "AWS4-HMAC-SHA256\n"
      "20150830T123600Z\n"
      "20150830/us-east-1/iam/aws4_request\n"
      "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59";
  const std::string expected_key =
      "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9";
  const std::string expected_sig =
      "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

  auto prepared = prepare_request(req, creds, opt, kDocTime);
  auto cr = canonical_request(prepared, opt);
  CHECK(cr == expected_cr);
  CHECK(detail::sha256_hex(cr) == "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  auto sts = string_to_sign(amz_date(kDocTime), credential_scope("20150830", "us-east-1", "iam"), cr);
  CHECK(sts == expected_sts);
  auto key = derive_signing_key(creds.secret_access_key, "20150830", "us-east-1", "iam");
  CHECK(detail::hex(key) == expected_key);
  CHECK(compute_signature(key, sts) == expected_sig);

  auto s = sign(req, creds, opt, kDocTime);
  CHECK(s.canonical_request == expected_cr);
  CHECK(s.string_to_sign == expected_sts);
  CHECK(s.signature == expected_sig);
  CHECK(s.authorization ==
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, Signature=" + expected_sig);
  REQUIRE(s.headers.size() == 3);
  CHECK(s.headers[1] == std::pair<std::string, std::string>{"X-Amz-Date", "20150830T123600Z"});
  CHECK(s.headers[2].first == "Authorization");
}

TEST_CASE("uri_encode keeps only unreserved characters and encodes UTF-8 bytes") {
  CHECK(uri_encode("AZaz09-_.~", false) == "AZaz09-_.~");
  CHECK(uri_encode("a b+c*d/e", false) == "a%20b%2Bc%2Ad%2Fe");
  CHECK(uri_encode("a b/c", true) == "a%20b/c");
  CHECK(uri_encode("\xc3\xa9", false) == "%C3%A9");
  CHECK(uri_encode("%", false) == "%25");
  CHECK(uri_decode("a%2fb%2Bc+d%zz%4") == "a/b+c+d%zz%4");
}

TEST_CASE("canonical_uri normalises and double-encodes, or keeps S3 paths") {
  CHECK(canonical_uri("", true) == "/");
  CHECK(canonical_uri("/", true) == "/");
  CHECK(canonical_uri("/a//b/./c/../d/", true) == "/a/b/d/");
  CHECK(canonical_uri("/..", true) == "/");
  CHECK(canonical_uri("/a/..", true) == "/");
  CHECK(canonical_uri("/my%20key", true) == "/my%2520key");
  CHECK(canonical_uri("/~user/a*b", true) == "/~user/a%2Ab");
  // S3: no normalisation, no second encoding.
  CHECK(canonical_uri("/b//k/./../x", false) == "/b//k/./../x");
  CHECK(canonical_uri("/my%20key", false) == "/my%20key");
  CHECK(canonical_uri("/a%2fb c", false) == "/a%2Fb%20c");
  CHECK(canonical_uri("", false) == "/");
}

TEST_CASE("canonical_query_string sorts by encoded key then value, keeps repeats") {
  QueryParams q = {{"b", "2"}, {"a", "z"}, {"a", "y"}, {"a-b", "1"}, {"A", ""}, {"~k", "+ *"}};
  CHECK(canonical_query_string(q) == "A=&a=y&a=z&a-b=1&b=2&~k=%2B%20%2A");
  CHECK(canonical_query_string({}) == "");
}

TEST_CASE("header values are trimmed and runs of white space collapse, across lines") {
  CHECK(canonical_header_value("  a   b \t c  ") == "a b c");
  CHECK(canonical_header_value("first\n   second\r\n\tthird") == "first second third");
  CHECK(canonical_header_value("   ") == "");
  Headers h = {{"X-B", " 1 "}, {"x-b", "2"}, {"User-Agent", "curl"}, {"X-A", "v"}};
  auto c = canonical_headers(h, "Host.example");
  CHECK(c.text == "host:Host.example\nx-a:v\nx-b:1,2\n");
  CHECK(c.signed_headers == "host;x-a;x-b");
}

TEST_CASE("request_from_url drops default ports and userinfo, keeps IPv6 brackets") {
  auto r = request_from_url("GET", "https://user@EC2.Example.com:443/a%20b?x=1&flag&y=%7e#frag");
  CHECK(r.host == "ec2.example.com");
  CHECK(r.path == "/a%20b");
  REQUIRE(r.query.size() == 3);
  CHECK(r.query[1] == std::pair<std::string, std::string>{"flag", ""});
  CHECK(r.query[2].second == "~");
  CHECK(request_from_url("GET", "http://h:8080").host == "h:8080");
  CHECK(request_from_url("GET", "http://h:8080").path == "/");
  CHECK(request_from_url("GET", "http://[::1]:80/x").host == "[::1]");
  CHECK(request_from_url("GET", "https://[::1]:9000/x").host == "[::1]:9000");
  CHECK_THROWS_AS(request_from_url("GET", "no-scheme/x"), Error);
  CHECK_THROWS_AS(request_from_url("GET", "https://h:x/"), Error);
}

TEST_CASE("session tokens are signed as a header, or as a query parameter when presigning") {
  auto creds = doc_credentials();
  creds.session_token = "tok/en+=";
  auto req = request_from_url("GET", "https://sts.amazonaws.com/");
  req.headers = {{"X-Amz-Security-Token", "stale"}, {"Authorization", "stale"}};
  auto opt = options("sts", "us-east-1");
  auto s = sign(req, creds, opt, kDocTime);
  CHECK(s.canonical_request.find("x-amz-security-token:tok/en+=\n") != std::string::npos);
  for (const auto& [n, v] : s.headers) CHECK(v != "stale");

  opt.presign_expires = 900s;
  auto p = sign(req, creds, opt, kDocTime);
  CHECK(p.authorization.empty());
  CHECK(p.query_string.find("X-Amz-Security-Token=tok%2Fen%2B%3D") != std::string::npos);
  CHECK(p.query_string.find("X-Amz-Expires=900") != std::string::npos);
  CHECK(p.query_string.find("X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fsts%2Faws4_request") !=
        std::string::npos);
  CHECK(p.query_string.ends_with("&X-Amz-Signature=" + p.signature));
  opt.presign_expires = 604801s;
  CHECK_THROWS_AS(sign(req, creds, opt, kDocTime), Error);
}

TEST_CASE("S3 style: x-amz-content-sha256 carries the body hash or UNSIGNED-PAYLOAD") {
  auto creds = doc_credentials();
  auto req = request_from_url("PUT", "https://bucket.s3.amazonaws.com/my%20key");
  req.body = "hello";
  auto opt = options("s3", "us-east-1");
  opt.normalize_path = false;
  opt.content_sha256_header = true;
  auto s = sign(req, creds, opt, kDocTime);
  auto hash = detail::sha256_hex("hello");
  CHECK(s.canonical_request.find("\n/my%20key\n") != std::string::npos);
  CHECK(s.canonical_request.find("x-amz-content-sha256:" + hash + "\n") != std::string::npos);
  CHECK(s.canonical_request.substr(s.canonical_request.size() - 64) == hash);

  opt.unsigned_payload = true;
  s = sign(req, creds, opt, kDocTime);
  CHECK(s.canonical_request.find("x-amz-content-sha256:UNSIGNED-PAYLOAD\n") != std::string::npos);
  CHECK(s.canonical_request.ends_with("\nUNSIGNED-PAYLOAD"));

  // A precomputed body hash is used instead of hashing the body.
  opt.unsigned_payload = false;
  req.body_sha256 = std::string(64, 'a');
  s = sign(req, creds, opt, kDocTime);
  CHECK(s.canonical_request.ends_with("\n" + std::string(64, 'a')));
}

TEST_CASE("the signing key cache derives once per day, region and service") {
  SigningKeyCache cache;
  auto creds = doc_credentials();
  auto k1 = cache.get(creds, "20150830", "us-east-1", "iam");
  auto k2 = cache.get(creds, "20150830", "us-east-1", "iam");
  CHECK(k1 == k2);
  CHECK(k1 == derive_signing_key(creds.secret_access_key, "20150830", "us-east-1", "iam"));
  CHECK(cache.misses() == 1);
  CHECK(cache.hits() == 1);
  cache.get(creds, "20150831", "us-east-1", "iam");
  cache.get(creds, "20150830", "eu-west-1", "iam");
  cache.get(creds, "20150830", "us-east-1", "ec2");
  CHECK(cache.misses() == 4);

  // Rotated credentials never get the old key.
  auto rotated = creds;
  rotated.secret_access_key = "another-secret";
  auto k3 = cache.get(rotated, "20150830", "us-east-1", "iam");
  CHECK(k3 != k1);
  CHECK(k3 == derive_signing_key("another-secret", "20150830", "us-east-1", "iam"));
  CHECK(cache.misses() == 5);

  // sign() with a cache gives the same signature as without.
  auto req = request_from_url("GET", "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08");
  auto opt = options("iam", "us-east-1");
  CHECK(sign(req, creds, opt, kDocTime, &cache).signature == sign(req, creds, opt, kDocTime).signature);
}

TEST_CASE("the signing key cache is safe to share between threads") {
  SigningKeyCache cache(4);
  auto creds = doc_credentials();
  const auto expected = derive_signing_key(creds.secret_access_key, "20150830", "us-east-1", "ec2");
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        if (cache.get(creds, "20150830", "us-east-1", "ec2") != expected) ++wrong;
        cache.get(creds, "2015083" + std::to_string((i + t) % 10), "us-east-1", "ec2");
      }
    });
  for (auto& th : threads) th.join();
  CHECK(wrong == 0);
  CHECK(cache.hits() + cache.misses() == 4000);
}

TEST_CASE("invalid input is rejected with invalid_argument") {
  auto creds = doc_credentials();
  auto req = request_from_url("GET", "https://h/");
  auto opt = options("ec2", "");
  try {
    sign(req, creds, opt, kDocTime);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
  }
}

TEST_CASE("amz_date formats UTC with whole seconds") {
  CHECK(amz_date(kDocTime + 999ms) == "20150830T123600Z");
  CHECK(amz_day(kDocTime) == "20150830");
  CHECK(amz_date(Clock::from_time_t(0)) == "19700101T000000Z");
}

TEST_CASE("clock_skew: the offset to add to our clock, from an RFC 1123 Date header") {
  auto server = parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT");
  REQUIRE(server);
  CHECK(*server == kDocTime);
  CHECK(clock_skew("Sun, 30 Aug 2015 12:36:00 GMT", kDocTime) == 0s);
  CHECK(clock_skew("Sun, 30 Aug 2015 12:41:00 GMT", kDocTime) == 300s);
  CHECK(clock_skew("Sun, 30 Aug 2015 12:31:30 GMT", kDocTime + 500ms) == -270s);
  CHECK(clock_skew(" Mon, 31 Aug 2015 00:00:00 GMT ", kDocTime) == 41040s);
  // Adding the offset to our clock gives the server's time.
  auto now = kDocTime + 12345s;
  auto skew = clock_skew("Sun, 30 Aug 2015 12:36:00 GMT", now);
  REQUIRE(skew);
  CHECK(now + *skew == kDocTime);
  CHECK_FALSE(clock_skew("", kDocTime));
  CHECK_FALSE(clock_skew("Sun, 30 Foo 2015 12:36:00 GMT", kDocTime));
  CHECK_FALSE(clock_skew("Sun, 30 Aug 2015 25:36:00 GMT", kDocTime));
  CHECK_FALSE(clock_skew("Sunday, 30-Aug-15 12:36:00 GMT", kDocTime));
  CHECK_FALSE(clock_skew("Sun, 30 Aug 2015 12:36:00 PST", kDocTime));
}
