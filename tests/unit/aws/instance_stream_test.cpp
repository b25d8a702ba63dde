// InstanceStream: an instance list parsed while it streams in, cut anywhere.
// Expected values come from the test's own inputs, never from the parser.
#include <doctest/doctest.h>

#include "fake_ec2.hpp"
#include "harness.hpp"
#include "providers/aws/ec2_client.hpp"
#include "providers/aws/ec2_xml.hpp"
#include "support/fake_credentials.hpp"
#include "providers/aws/instance_stream.hpp"
#include "util/error.hpp"

using namespace raycluster;
using namespace raycluster::detail::ec2;
using namespace std::chrono_literals;
using rctest::AwsHarness;

namespace {

std::vector<rctest::FakeInstance> fakes(int n) {
  std::vector<rctest::FakeInstance> out;
  for (int i = 0; i < n; ++i) {
    rctest::FakeInstance f;
    f.id = "i-" + std::to_string(1000 + i);
    f.state = i % 3 == 0 ? "pending" : "running";
    f.zone = "us-east-1" + std::string(1, static_cast<char>('a' + i % 3));
    f.subnet = "subnet-" + std::to_string(i % 3);
    f.private_ip = "10.0.0." + std::to_string(i);
    if (i % 2) f.public_ip = "54.0.0." + std::to_string(i);
    if (i % 4 == 1) f.lifecycle = "spot";
    f.token = "tok-" + std::to_string(i);
    f.launch_time = "2026-01-02T03:04:0" + std::to_string(i % 10) + ".000Z";
    f.tags = {{"ray-node-type", i == 0 ? "head" : "worker"}, {"n", std::to_string(i)}};
    out.push_back(std::move(f));
  }
  return out;
}

// A DescribeInstances answer, indented the way EC2 sends it, reservations of 4.
std::string describe_doc(const std::vector<rctest::FakeInstance>& in, const std::string& next = "") {
  std::string x =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n"
      "    <requestId>8f7724cf-496f-496e-8fe3-example</requestId>\n    <reservationSet>\n";
  for (std::size_t r = 0; r < in.size(); r += 4) {
    x += "        <item>\n            <reservationId>r-1</reservationId>\n            <groupSet/>\n"
         "            <instancesSet>\n";
    for (std::size_t i = r; i < std::min(in.size(), r + 4); ++i)
      x += "                " + rctest::instance_xml(in[i]) + "\n";
    x += "            </instancesSet>\n        </item>\n";
  }
  x += "    </reservationSet>\n";
  if (!next.empty()) x += "    <nextToken>" + next + "</nextToken>\n";
  return x + "</DescribeInstancesResponse>";
}

void check_matches(const InstancePage& page, const std::vector<rctest::FakeInstance>& want) {
  REQUIRE(page.instances.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    const auto& got = page.instances[i];
    const auto& w = want[i];
    CAPTURE(w.id);
    CHECK(got.id == w.id);
    CHECK(got.state == w.state);
    CHECK(got.instance_type == w.type);
    CHECK(got.zone == w.zone);
    CHECK(got.subnet_id == w.subnet);
    CHECK(got.private_ip == w.private_ip);
    CHECK(got.public_ip == w.public_ip);
    CHECK(got.lifecycle == w.lifecycle);
    CHECK(got.client_token == w.token);
    CHECK(got.launch_time == std::chrono::system_clock::from_time_t(1767323040) +
                                 std::chrono::seconds(w.launch_time[18] - '0'));
    REQUIRE(got.tags.size() == w.tags.size());
    for (const auto& [k, v] : w.tags) {
      REQUIRE(got.tag(k));
      CHECK(*got.tag(k) == v);
    }
  }
}

void check_same(const InstancePage& a, const InstancePage& b) {
  CHECK(a.next_token == b.next_token);
  REQUIRE(a.instances.size() == b.instances.size());
  for (std::size_t i = 0; i < a.instances.size(); ++i) {
    const auto& x = a.instances[i];
    const auto& y = b.instances[i];
    CHECK(x.id == y.id);
    CHECK(x.state == y.state);
    CHECK(x.instance_type == y.instance_type);
    CHECK(x.zone == y.zone);
    CHECK(x.subnet_id == y.subnet_id);
    CHECK(x.private_ip == y.private_ip);
    CHECK(x.public_ip == y.public_ip);
    CHECK(x.lifecycle == y.lifecycle);
    CHECK(x.client_token == y.client_token);
    CHECK(x.launch_time == y.launch_time);
    CHECK(x.tags == y.tags);
  }
}

InstancePage chunked(std::string_view doc, std::size_t size) {
  InstanceStream s;
  for (std::size_t at = 0; at < doc.size(); at += size) s.feed(doc.substr(at, size));
  return s.finish();
}

InstancePage split(std::string_view doc, std::size_t at) {
  InstanceStream s;
  s.feed(doc.substr(0, at));
  s.feed(doc.substr(at));
  return s.finish();
}

// Everything the scanner must step over: a declaration, comments (with tags
// in them, one around a whole fake instance), CDATA holding "</item>",
// self-closing elements (an empty <item/> among the instances), entities,
// attributes with ">" and "/>" in quotes, and a nextToken element that is
// not the page's.
const std::string kTricky =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<!-- a comment before the root <DescribeInstancesResponse> -->\n"
    "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
    "<requestId>r&amp;1</requestId>"
    "<reservationSet><item><reservationId>r-1</reservationId><groupSet/>"
    "<nextToken>not-the-page-token</nextToken>"
    "<instancesSet>"
    "<!-- <item><instanceId>i-commented</instanceId></item> -->"
    "<item/>"
    "<item>"
    "<instanceId>i-1</instanceId>"
    "<reason><![CDATA[</item></instancesSet> <item>]]></reason>"
    "<instanceState><code>16</code><!-- </instanceState> --><name>running</name></instanceState>"
    "<productCodes/>"
    "<instanceType>m5.large</instanceType>"
    "<placement a=\"x>y\" b='/>'><availabilityZone>us-east-1a</availabilityZone></placement>"
    "<privateIpAddress>10.0.0.1</privateIpAddress>"
    "<clientToken>t&#65;&#x42;</clientToken>"
    "<tagSet><item><key>a&amp;b</key><value>&lt;x&gt; &quot;q&quot; &apos;</value></item>"
    "<item><key>empty</key><value/></item></tagSet>"
    "<networkInterfaceSet><item><privateIpAddress>10.99.99.99</privateIpAddress></item>"
    "</networkInterfaceSet>"
    "</item>"
    "<item><instanceId>i-2</instanceId><instanceState><name>stopped</name></instanceState></item>"
    "</instancesSet></item></reservationSet>"
    "<nextToken>\n  NEXT&amp;more==\n  </nextToken>"
    "<!-- trailing comment -->"
    "</DescribeInstancesResponse>";

void check_tricky(const InstancePage& p) {
  REQUIRE(p.instances.size() == 2);
  const auto& a = p.instances[0];
  CHECK(a.id == "i-1");
  CHECK(a.state == "running");
  CHECK(a.instance_type == "m5.large");
  CHECK(a.zone == "us-east-1a");
  CHECK(a.private_ip == "10.0.0.1");
  CHECK(a.client_token == "tAB");
  REQUIRE(a.tags.size() == 2);
  CHECK(a.tags[0].first == "a&b");
  CHECK(a.tags[0].second == "<x> \"q\" '");
  CHECK(a.tags[1].first == "empty");
  CHECK(a.tags[1].second == "");
  CHECK(p.instances[1].id == "i-2");
  CHECK(p.instances[1].state == "stopped");
  CHECK(p.next_token == "NEXT&more==");
}

void check_invalid(const std::function<void()>& f) {
  try {
    f();
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_request);
  }
}

}  // namespace

TEST_CASE("instance stream: chunks of 1, 7 and 4096 bytes give the whole document's page") {
  auto in = fakes(23);
  std::string doc = describe_doc(in, "page-2");
  std::string copy = doc;
  auto whole = parse_instances(copy);
  check_matches(whole, in);
  CHECK(whole.next_token == "page-2");
  for (std::size_t size : {1u, 7u, 4096u}) {
    CAPTURE(size);
    auto page = chunked(doc, size);
    check_matches(page, in);
    check_same(page, whole);
  }
}

TEST_CASE("instance stream: comments, CDATA, entities, attributes and self-closing tags") {
  std::string copy = kTricky;
  check_tricky(parse_instances(copy));
  check_tricky(chunked(kTricky, 1));
  check_tricky(chunked(kTricky, 7));
}

TEST_CASE("instance stream: the same page at every split point of a small document") {
  for (std::size_t at = 0; at <= kTricky.size(); ++at) {
    CAPTURE(at);
    check_tricky(split(kTricky, at));
  }
  auto in = fakes(2);
  const std::string doc = describe_doc(in, "t");
  for (std::size_t at = 0; at <= doc.size(); ++at) {
    CAPTURE(at);
    auto page = split(doc, at);
    check_matches(page, in);
    CHECK(page.next_token == "t");
  }
}

TEST_CASE("instance stream: RunInstancesResponse, instances directly in instancesSet") {
  auto in = fakes(3);
  std::string doc =
      "<RunInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
      "<requestId>x</requestId><reservationId>r-2</reservationId><ownerId>123</ownerId><groupSet/>"
      "<instancesSet>";
  for (const auto& f : in) doc += rctest::instance_xml(f);
  doc += "</instancesSet></RunInstancesResponse>";
  std::string copy = doc;
  check_matches(parse_instances(copy), in);
  for (std::size_t size : {1u, 7u, 4096u}) check_matches(chunked(doc, size), in);
}

TEST_CASE("instance stream: an empty page and an empty reservation set") {
  auto p = chunked("<DescribeInstancesResponse><requestId>x</requestId><reservationSet/>"
                   "</DescribeInstancesResponse>", 3);
  CHECK(p.instances.empty());
  CHECK(p.next_token.empty());
  p = chunked("<DescribeInstancesResponse><reservationSet>\n</reservationSet></DescribeInstancesResponse>\n", 5);
  CHECK(p.instances.empty());
}

TEST_CASE("instance stream: every truncation of a document is an error") {
  // The document ends with the root's end tag, so no proper prefix is whole.
  for (std::size_t len = 0; len < kTricky.size(); ++len) {
    CAPTURE(len);
    check_invalid([&] {
      InstanceStream s;
      s.feed(std::string_view(kTricky).substr(0, len));
      s.finish();
    });
  }
  std::string cut = kTricky.substr(0, kTricky.size() / 2);
  check_invalid([&] { parse_instances(cut); });
}

TEST_CASE("instance stream: malformed documents are errors, in the stream and in parse_instances") {
  const std::vector<std::string> bad = {
      "",
      "just text",
      "<A><B></A></B>",
      "<A></A><B></B>",
      "</A>",
      "<A><instancesSet><item><instanceId>i-1</instanceId></item></instancesSet></B>",
      // Inside an instance element pugixml checks the names.
      "<A><instancesSet><item><instanceId>i-1</instanceid></item></instancesSet></A>",
      "<A><instancesSet><item><a><b></a></b></item></instancesSet></A>",
      "<A><!-- never closed </A>",
      "<A><x a=\"unterminated></x></A>",
      "<A>< >text</A>",
  };
  for (const auto& doc : bad) {
    CAPTURE(doc);
    std::string copy = doc;
    check_invalid([&] { parse_instances(copy); });
    check_invalid([&] { chunked(doc, 1); });
    check_invalid([&] { chunked(doc, 4096); });
  }
}

TEST_CASE("instance stream: after an error it stays failed until reset") {
  InstanceStream s;
  check_invalid([&] { s.feed("<A></B>"); });
  check_invalid([&] { s.feed("<A/>"); });
  check_invalid([&] { s.finish(); });
  s.reset();
  s.feed("<A/>");
  CHECK(s.finish().instances.empty());
}

TEST_CASE("instance stream: reset forgets a half-fed answer; the sink restarts it") {
  auto first = fakes(5);
  auto second = fakes(2);
  const std::string a = describe_doc(first, "from-a");
  const std::string b = describe_doc(second);
  InstanceStream s;
  s.feed(std::string_view(a).substr(0, a.size() * 2 / 3));
  s.reset();
  s.feed(b);
  auto page = s.finish();
  check_matches(page, second);
  CHECK(page.next_token.empty());

  HttpBodySink sink = s.sink();
  sink.write(std::string_view(a).substr(0, 100));
  sink.restart();
  sink.write(a);
  check_matches(s.finish(), first);
}

namespace {

ClientOptions client_options() {
  ClientOptions o;
  o.endpoint = "http://127.0.0.1:9/";
  o.region = "us-east-1";
  o.now = [] { return std::chrono::system_clock::from_time_t(1767225600); };
  o.credentials = rctest::fake_credentials();
  return o;
}

}  // namespace

TEST_CASE("ec2 client: call_streaming hands a streamed body over once, and a whole one in one piece") {
  auto in = fakes(3);
  SUBCASE("streaming transport") {
    rctest::FakeEc2 t;
    t.instances = in;
    Client client(t, client_options());
    InstanceStream s;
    client.call_streaming("DescribeInstances", {}, s.sink());
    check_matches(s.finish(), in);
    CHECK(t.streamed == 1);
  }
  SUBCASE("transport that does not stream") {
    rctest::FakeEc2 t;
    t.stream_piece = 0;
    t.instances = in;
    Client client(t, client_options());
    std::vector<std::string> pieces;
    HttpBodySink sink;
    sink.write = [&](std::string_view p) { pieces.emplace_back(p); };
    client.call_streaming("DescribeInstances", {}, sink);
    REQUIRE(pieces.size() == 1);
    CHECK(pieces[0].find("<instanceId>i-1000</instanceId>") != std::string::npos);
  }
}

TEST_CASE("ec2 client: call_streaming throws the EC2 error and the consumer sees nothing") {
  rctest::FakeEc2 t;
  HttpResponse r;
  r.status = 400;
  r.body = rctest::error_xml("InvalidParameterValue", "bad filter");
  t.faults.push_back({"*", r});
  Client client(t, client_options());
  int writes = 0;
  HttpBodySink sink;
  sink.write = [&](std::string_view) { ++writes; };
  try {
    client.call_streaming("DescribeInstances", {}, sink);
    FAIL("no error");
  } catch (const Ec2Error& e) {
    CHECK(e.aws_code() == "InvalidParameterValue");
  }
  CHECK(writes == 0);
}

TEST_CASE("aws list: every page is parsed while it streams in; a dropped page starts over") {
  AwsHarness h;
  h.ec2.page_size = 1000;
  auto tags = h.launch_tags("worker", NodeKind::worker);
  for (int i = 0; i < 2500; ++i) h.ec2.add(tags);
  h.ec2.stream_piece = 4096;
  h.ec2.drop_next_stream = true;  // the first page breaks off halfway and is asked again
  auto nodes = h.provider->list({{"ray-cluster-name", "t"}, {"raycluster-id", "c0ffee00c0ffee00"}});
  CHECK(nodes.size() == 2500);  // none twice, none lost
  std::set<std::string> ids;
  for (const auto& n : nodes) ids.insert(n.id);
  CHECK(ids.size() == 2500);
  CHECK(h.ec2.of("DescribeInstances").size() == 4);
  CHECK(h.ec2.streamed == 3);
}

TEST_CASE("aws describe by id: the answer is streamed to the parser, and restarted after a drop") {
  AwsHarness h;
  auto in = h.ec2.add(h.launch_tags("worker", NodeKind::worker));
  Node pending;
  pending.id = in.id;
  pending.internal_ip = in.private_ip;  // no public address yet: looked up by id
  h.ec2.drop_next_stream = true;
  CHECK(h.provider->command_runner(pending)->describe() == "node ubuntu@" + in.public_ip + ":22 (ssh)");
  auto calls = h.ec2.of("DescribeInstances");
  REQUIRE(calls.size() == 2);
  CHECK(calls[1].filter("instance-id") == std::vector<std::string>{in.id});
  CHECK(h.ec2.streamed == 1);
}

TEST_CASE("a launch time past the clock's range is no time, not an overflow") {
  // Year 4620 in nanoseconds overflows system_clock (found by fuzzing).
  using raycluster::detail::ec2::parse_iso8601;
  CHECK(parse_iso8601("4620-01-01T00:00:00.000Z") == std::chrono::system_clock::time_point{});
  CHECK(parse_iso8601("2026-13-01T00:00:00.000Z") == std::chrono::system_clock::time_point{});
  CHECK(parse_iso8601("2026-01-02T03:04:00.000Z") == std::chrono::system_clock::from_time_t(1767323040));
}
