#include <doctest/doctest.h>

#include "fake_ec2.hpp"
#include "providers/aws/ec2_client.hpp"
#include "providers/aws/ec2_xml.hpp"
#include "support/fake_credentials.hpp"
#include "util/error.hpp"

using namespace raycluster;
using namespace raycluster::detail::ec2;
using namespace std::chrono_literals;
using rctest::FakeEc2;

namespace {

const auto kNow = std::chrono::system_clock::from_time_t(1767225600);  // 2026-01-01T00:00:00Z

struct ClientHarness {
  FakeEc2 fake;
  std::shared_ptr<rctest::FakeCredentialsSource> source = rctest::fake_credentials();
  std::vector<std::chrono::milliseconds> waits;
  std::unique_ptr<RetryingTransport> retrying;
  std::unique_ptr<Client> client;
  ClientHarness() {
    RetryingTransport::Deps d;
    d.sleep = [this](std::chrono::milliseconds w, const CancelToken&) {
      waits.push_back(w);
      return true;
    };
    d.random = [] { return 0.5; };
    d.now = [] { return kNow; };
    RetryPolicy policy;
    policy.is_throttle = is_throttle_response;
    retrying = std::make_unique<RetryingTransport>(fake, policy, d);
    ClientOptions o;
    o.endpoint = "http://127.0.0.1:9/";
    o.region = "us-east-1";
    o.now = [] { return kNow; };
    o.credentials = source;
    client = std::make_unique<Client>(*retrying, o);
  }
};

Ec2Error call_error(ClientHarness& h, const std::string& action) {
  try {
    h.client->call(action, {});
  } catch (const Ec2Error& e) {
    return e;
  }
  FAIL("no error");
  return Ec2Error(ErrorCode::internal, "", false, "", "");
}

}  // namespace

TEST_CASE("ec2 client: a POST of the form body, signed for ec2 in the region") {
  ClientHarness h;
  h.fake.handlers["DescribeRegions"] = [](const rctest::Ec2Call&) { return FakeEc2::ok("<DescribeRegionsResponse/>"); };
  CHECK(h.client->call("DescribeRegions", {{"RegionName.1", "us-east-1"}}) == "<DescribeRegionsResponse/>");
  REQUIRE(h.fake.calls.size() == 1);
  const auto& req = h.fake.calls[0].request;
  CHECK(req.method == "POST");
  CHECK(req.url == "http://127.0.0.1:9/");
  CHECK(req.body == "Action=DescribeRegions&Version=2016-11-15&RegionName.1=us-east-1");
  std::string auth, type, date;
  for (const auto& [k, v] : req.headers) {
    if (k == "Authorization") auth = v;
    if (k == "Content-Type") type = v;
    if (k == "X-Amz-Date") date = v;
  }
  CHECK(type == "application/x-www-form-urlencoded; charset=utf-8");
  CHECK(date == "20260101T000000Z");
  CHECK(auth.rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/ec2/aws4_request, "
                   "SignedHeaders=content-type;host;x-amz-date, Signature=", 0) == 0);
}

TEST_CASE("ec2 client: both error shapes become typed errors with code and request id") {
  ClientHarness h;
  h.fake.faults.push_back({"A", FakeEc2::fail(400, "InvalidInstanceID.NotFound", "The instance ID 'i-1' does not exist")});
  auto e = call_error(h, "A");
  CHECK(e.code() == ErrorCode::not_found);
  CHECK(e.aws_code() == "InvalidInstanceID.NotFound");
  CHECK(e.request_id() == "req-InvalidInstanceID.NotFound");
  CHECK(std::string(e.what()).find("i-1") != std::string::npos);
  CHECK_FALSE(e.retryable());

  h.fake.faults.push_back({"B", FakeEc2::fail(403, "UnauthorizedOperation", "You are not authorized", true)});
  e = call_error(h, "B");
  CHECK(e.code() == ErrorCode::auth);
  CHECK(e.aws_code() == "UnauthorizedOperation");
  CHECK(e.request_id() == "req-UnauthorizedOperation");  // <ErrorResponse>'s <RequestId>

  struct Case {
    const char* code;
    ErrorCode want;
    bool retryable;
  };
  for (const auto& c : {Case{"AuthFailure", ErrorCode::auth, false},
                        Case{"InsufficientInstanceCapacity", ErrorCode::capacity, true},
                        Case{"InsufficientFreeAddressesInSubnet", ErrorCode::capacity, true},
                        Case{"InstanceLimitExceeded", ErrorCode::quota, false},
                        Case{"VcpuLimitExceeded", ErrorCode::quota, false},
                        Case{"InvalidParameterValue", ErrorCode::invalid_request, false},
                        Case{"Unsupported", ErrorCode::unsupported, false},
                        Case{"InvalidKeyPair.NotFound", ErrorCode::not_found, false}}) {
    h.fake.faults.push_back({"C", FakeEc2::fail(400, c.code)});
    e = call_error(h, "C");
    CHECK_MESSAGE(e.code() == c.want, c.code);
    CHECK_MESSAGE(e.retryable() == c.retryable, c.code);
    CHECK(e.aws_code() == c.code);
  }
}

TEST_CASE("ec2 client: RequestLimitExceeded in the body is retried by the one retry loop") {
  ClientHarness h;
  h.fake.faults.push_back({"*", FakeEc2::fail(400, "RequestLimitExceeded", "Request limit exceeded.")});
  h.fake.faults.push_back({"*", FakeEc2::fail(503, "Unavailable", "busy")});
  std::string body = h.client->call("DescribeSubnets", {});
  CHECK(body.find("subnetSet") != std::string::npos);
  CHECK(h.fake.count("DescribeSubnets") == 3);
  CHECK(h.waits.size() == 2);
  // The same signed body each time: a retry never changes the request.
  CHECK(h.fake.calls[0].request.body == h.fake.calls[2].request.body);
}

TEST_CASE("ec2 client: throttling that outlasts the retries is a throttled error") {
  ClientHarness h;
  for (int i = 0; i < 5; ++i)
    h.fake.faults.push_back({"*", FakeEc2::fail(400, "RequestLimitExceeded", "Request limit exceeded.")});
  auto e = call_error(h, "DescribeSubnets");
  CHECK(e.code() == ErrorCode::throttled);
  CHECK(e.retryable());
  CHECK(h.fake.calls.size() == 5);
}

TEST_CASE("ec2 client: a signature refused for clock skew is signed again with the server's time") {
  ClientHarness h;
  auto skewed = FakeEc2::fail(400, "RequestExpired", "Request has expired.");
  skewed.headers.emplace_back("Date", "Thu, 01 Jan 2026 01:00:00 GMT");  // an hour ahead of us
  h.fake.faults.push_back({"*", skewed});
  h.client->call("DescribeSubnets", {});
  REQUIRE(h.fake.calls.size() == 2);
  auto date_of = [](const HttpRequest& r) {
    for (const auto& [k, v] : r.headers)
      if (k == "X-Amz-Date") return v;
    return std::string();
  };
  CHECK(date_of(h.fake.calls[0].request) == "20260101T000000Z");
  CHECK(date_of(h.fake.calls[1].request) == "20260101T010000Z");
  CHECK(h.client->clock_offset() == 3600s);

  // Only once per call: a second refusal is the caller's error.
  auto again = skewed;
  again.headers[0].second = "Thu, 01 Jan 2026 02:00:00 GMT";
  h.fake.faults.push_back({"*", again});
  again.headers[0].second = "Thu, 01 Jan 2026 03:00:00 GMT";
  h.fake.faults.push_back({"*", again});
  auto e = call_error(h, "DescribeSubnets");
  CHECK(h.fake.calls.size() == 4);
  CHECK(e.code() == ErrorCode::auth);
  CHECK(e.aws_code() == "RequestExpired");
}

TEST_CASE("ec2 client: an auth error without skew is not repeated") {
  ClientHarness h;
  auto r = FakeEc2::fail(401, "AuthFailure", "AWS was not able to validate the provided access credentials");
  r.headers.emplace_back("Date", "Thu, 01 Jan 2026 00:00:05 GMT");
  h.fake.faults.push_back({"*", r});
  auto e = call_error(h, "DescribeSubnets");
  CHECK(e.code() == ErrorCode::auth);
  // The source was asked for fresh credentials, handed back the same ones,
  // so the refused request was not sent again.
  CHECK(h.source->refreshes == 1);
  CHECK(h.fake.calls.size() == 1);
  CHECK(std::string(e.what()).find("a refresh returned the same ones") != std::string::npos);
}

namespace {

std::string key_id_of(const HttpRequest& r) {
  for (const auto& [k, v] : r.headers)
    if (k == "Authorization") {
      auto at = v.find("Credential=");
      return v.substr(at + 11, v.find('/', at) - at - 11);
    }
  return {};
}

std::string token_of(const HttpRequest& r) {
  for (const auto& [k, v] : r.headers)
    if (k == "X-Amz-Security-Token") return v;
  return {};
}

}  // namespace

TEST_CASE("ec2 client: every call signs with what the source hands out now") {
  ClientHarness h;
  h.client->call("DescribeSubnets", {});
  h.source->current = rctest::aws_credentials("AKIDROTATED", "tok-2");
  h.client->call("DescribeSubnets", {});
  REQUIRE(h.fake.calls.size() == 2);
  CHECK(h.source->gets == 2);
  CHECK(key_id_of(h.fake.calls[0].request) == "AKIDEXAMPLE");
  CHECK(key_id_of(h.fake.calls[1].request) == "AKIDROTATED");
  CHECK(token_of(h.fake.calls[1].request) == "tok-2");
}

TEST_CASE("ec2 client: expired credentials are refreshed once and the call is sent once more") {
  for (auto refusal : {FakeEc2::fail(400, "ExpiredToken", "The security token included in the request is expired"),
                       FakeEc2::fail(401, "AuthFailure", "AWS was not able to validate the provided access credentials"),
                       FakeEc2::fail(401, "SomethingNew", "refused")}) {
    ClientHarness h;
    h.source->current = rctest::aws_credentials("AKIDOLD", "tok-old");
    h.source->rotations = {rctest::aws_credentials("AKIDNEW", "tok-new")};
    h.fake.faults.push_back({"*", refusal});
    std::string body = h.client->call("DescribeSubnets", {});
    CHECK(body.find("subnetSet") != std::string::npos);
    REQUIRE(h.fake.calls.size() == 2);
    CHECK(h.source->refreshes == 1);
    CHECK(h.source->stale_ids == std::vector<std::string>{"AKIDOLD"});
    CHECK(key_id_of(h.fake.calls[0].request) == "AKIDOLD");
    CHECK(key_id_of(h.fake.calls[1].request) == "AKIDNEW");
    CHECK(token_of(h.fake.calls[1].request) == "tok-new");
    CHECK(h.fake.calls[0].request.body == h.fake.calls[1].request.body);
    CHECK(h.waits.empty());  // not the retry loop's business
  }
}

TEST_CASE("ec2 client: refused again after the refresh is an auth error, not a third send") {
  ClientHarness h;
  h.source->rotations = {rctest::aws_credentials("AKIDNEW", "tok-new"),
                         rctest::aws_credentials("AKIDNEWER", "tok-newer")};
  h.fake.faults.push_back({"*", FakeEc2::fail(400, "ExpiredToken", "expired")});
  h.fake.faults.push_back({"*", FakeEc2::fail(400, "ExpiredToken", "expired")});
  auto e = call_error(h, "DescribeSubnets");
  CHECK(e.code() == ErrorCode::auth);
  CHECK_FALSE(e.retryable());
  CHECK(e.aws_code() == "ExpiredToken");
  CHECK(h.fake.calls.size() == 2);
  CHECK(h.source->refreshes == 1);
  CHECK(std::string(e.what()).find("refused again after a refresh") != std::string::npos);
  // The next call starts afresh with what the source holds now.
  h.client->call("DescribeSubnets", {});
  CHECK(key_id_of(h.fake.calls.back().request) == "AKIDNEW");
}

TEST_CASE("ec2 client: an error body that echoes the request's headers is redacted") {
  ClientHarness h;
  h.source->current = rctest::aws_credentials("AKIDECHO", "tok-echoed-secret");
  std::string signature;
  h.fake.handlers["DescribeInstances"] = [&](const rctest::Ec2Call& c) {
    std::string echoed;
    for (const auto& [k, v] : c.request.headers) {
      echoed += k + ": " + v + "\n";
      if (k == "Authorization") signature = v.substr(v.find("Signature=") + 10);
    }
    return FakeEc2::fail(400, "InvalidParameterValue", "bad request; you sent\n" + echoed);
  };
  auto e = call_error(h, "DescribeInstances");
  const std::string msg = e.what();
  CHECK(e.aws_code() == "InvalidParameterValue");
  CHECK(msg.find("InvalidParameterValue: bad request") != std::string::npos);
  REQUIRE(signature.size() == 64);
  CHECK(msg.find(signature) == std::string::npos);
  CHECK(msg.find("tok-echoed-secret") == std::string::npos);
  CHECK(msg.find("[REDACTED]") != std::string::npos);
}

TEST_CASE("ec2 client: a refresh that fails is reported with the refusal, without secrets") {
  ClientHarness h;
  h.source->current = rctest::aws_credentials("AKIDOLD", "tok-old-secret");
  h.source->failure = Error(ErrorCode::auth, "instance metadata unreachable");
  h.fake.faults.push_back({"*", FakeEc2::fail(400, "ExpiredToken", "expired")});
  auto e = call_error(h, "DescribeSubnets");
  CHECK(e.code() == ErrorCode::auth);
  CHECK(h.fake.calls.size() == 1);
  std::string msg = e.what();
  CHECK(msg.find("ExpiredToken") != std::string::npos);
  CHECK(msg.find("refreshing them failed: instance metadata unreachable") != std::string::npos);
  CHECK(msg.find("tok-old-secret") == std::string::npos);
  CHECK(msg.find("wJalrXUtnFEMI") == std::string::npos);
}

TEST_CASE("ec2 client: RequestExpired is the clock's problem, never a credentials refresh") {
  ClientHarness h;
  h.source->rotations = {rctest::aws_credentials("AKIDNEW")};
  auto skewed = FakeEc2::fail(400, "RequestExpired", "Request has expired.");
  skewed.headers.emplace_back("Date", "Thu, 01 Jan 2026 01:00:00 GMT");
  h.fake.faults.push_back({"*", skewed});
  h.client->call("DescribeSubnets", {});
  CHECK(h.fake.calls.size() == 2);
  CHECK(h.source->refreshes == 0);
  CHECK(h.client->clock_offset() == 3600s);
}

TEST_CASE("ec2 client: a skewed clock and expired credentials are each fixed once in one call") {
  ClientHarness h;
  h.source->rotations = {rctest::aws_credentials("AKIDNEW")};
  auto skewed = FakeEc2::fail(401, "AuthFailure", "skewed");
  skewed.headers.emplace_back("Date", "Thu, 01 Jan 2026 01:00:00 GMT");
  h.fake.faults.push_back({"*", skewed});
  h.fake.faults.push_back({"*", FakeEc2::fail(400, "ExpiredToken", "expired")});
  h.client->call("DescribeSubnets", {});
  REQUIRE(h.fake.calls.size() == 3);
  CHECK(h.client->clock_offset() == 3600s);
  CHECK(h.source->refreshes == 1);
  CHECK(key_id_of(h.fake.calls[2].request) == "AKIDNEW");
}

TEST_CASE("ec2 client: refusal classification") {
  CHECK(is_refusal_of_credentials("ExpiredToken", 400));
  CHECK(is_refusal_of_credentials("AuthFailure", 401));
  CHECK(is_refusal_of_credentials("InvalidClientTokenId", 403));
  CHECK(is_refusal_of_credentials("HTTP401", 401));
  CHECK_FALSE(is_refusal_of_credentials("RequestExpired", 400));
  CHECK_FALSE(is_refusal_of_credentials("SignatureDoesNotMatch", 403));
  CHECK_FALSE(is_refusal_of_credentials("UnauthorizedOperation", 403));
  CHECK_FALSE(is_refusal_of_credentials("RequestLimitExceeded", 503));
}

TEST_CASE("ec2 xml: instances with tags, addresses, lifecycle and the next token") {
  rctest::FakeInstance i;
  i.id = "i-0abc";
  i.state = "running";
  i.zone = "us-east-1b";
  i.subnet = "subnet-b";
  i.private_ip = "10.0.1.5";
  i.public_ip = "54.1.2.3";
  i.lifecycle = "spot";
  i.token = "tok";
  i.launch_time = "2026-01-02T03:04:05.678Z";
  i.tags = {{"ray-node-type", "worker"}, {"a&b", "<x>"}};
  std::string body = "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
                     "<requestId>r</requestId><reservationSet><item><instancesSet>" +
                     rctest::instance_xml(i) +
                     "</instancesSet></item></reservationSet><nextToken>NEXT</nextToken>"
                     "</DescribeInstancesResponse>";
  // Entities in tag values are decoded.
  auto pos = body.find("<key>a&b</key><value><x></value>");
  REQUIRE(pos != std::string::npos);
  body.replace(pos, 32, "<key>a&amp;b</key><value>&lt;x&gt;</value>");
  auto page = parse_instances(body);
  REQUIRE(page.instances.size() == 1);
  const auto& in = page.instances[0];
  CHECK(in.id == "i-0abc");
  CHECK(in.state == "running");
  CHECK(in.private_ip == "10.0.1.5");  // not the network interface's 10.99.99.99
  CHECK(in.public_ip == "54.1.2.3");
  CHECK(in.zone == "us-east-1b");
  CHECK(in.subnet_id == "subnet-b");
  CHECK(in.lifecycle == "spot");
  CHECK(in.client_token == "tok");
  CHECK(in.instance_type == "m5.large");
  REQUIRE(in.tag("a&b"));
  CHECK(*in.tag("a&b") == "<x>");
  CHECK(page.next_token == "NEXT");
  CHECK(in.launch_time == std::chrono::system_clock::from_time_t(1767323045) + 678ms);
}

TEST_CASE("ec2 xml: malformed XML is an error, not a crash") {
  std::string body = "<DescribeInstancesResponse><reservationSet>";
  CHECK_THROWS_AS(parse_instances(body), Error);
  CHECK_FALSE(parse_error("not xml").has_value());
  CHECK_FALSE(parse_error("<Response><Other/></Response>").has_value());
}
