#include <doctest/doctest.h>

#include <regex>
#include <set>

#include "harness.hpp"
#include "providers/gcp/instance_list.hpp"
#include "providers/gcp/labels.hpp"
#include "util/error.hpp"

using namespace raycluster;
using namespace raycluster::detail::gce;
using rctest::ComputeCall;
using rctest::FakeCompute;
using rctest::GcpHarness;

namespace {

std::string label(const Value& body, const std::string& k) {
  const Value* l = body.find("labels");
  const Value* v = l ? l->find(k) : nullptr;
  return v && v->is_string() ? v->as_string() : std::string("<absent>");
}

bool uuid_like(const std::string& s) {
  static const std::regex re("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  return std::regex_match(s, re);
}

const std::string kTwoZones = rctest::kTwoZonePreamble + R"(
available_node_types:
  head:
    node_config: {machineType: n1-standard-2}
  worker:
    max_workers: 10
    node_config: {machineType: n1-standard-2}
head_node_type: head
)";

}  // namespace

TEST_CASE("gcp labels: values that fit stay, others are encoded reversibly") {
  CHECK(encode_label_value("k", "ray_head-1") == "ray_head-1");
  CHECK(encode_label_value("k", "up-to-date") == "up-to-date");
  CHECK(encode_label_value("k", "ray.head.default") == "__ray_2ehead_2edefault");
  CHECK(encode_label_value("k", "__x") == "___5f_5fx");
  const std::string hash(64, 'f');
  CHECK(encode_label_value("k", hash) == "_x" + std::string(51, '7') + "q");
  CHECK(encode_label_value("k", "_xab") == "___5fxab");
  for (std::string v : {"ray.head.default", "My Cluster", "__x", "_", "a_b", "", "ÄÖ", "x__5f", "_xab",
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"})
    CHECK(decode_label_value(encode_label_value("k", v)) == v);
  CHECK_THROWS_AS(encode_label_value("k", std::string(40, '.')), Error);
  CHECK(valid_label_key("ray-node-type"));
  CHECK_FALSE(valid_label_key("Team"));
  CHECK_FALSE(valid_label_key("1x"));
}

TEST_CASE("gcp client: requestIds are UUIDs derived from their seed") {
  CHECK(uuid_like(uuid_from("a")));
  CHECK(uuid_from("a") == uuid_from("a"));
  CHECK(uuid_from("a") != uuid_from("b"));
}

TEST_CASE("gcp create: one bulkInsert with string counts, a bare machine type and every label") {
  GcpHarness h;
  h.bootstrap();
  auto nodes = h.provider->create(h.request("ray.worker.default", 3, "launch-1"));
  REQUIRE(nodes.size() == 3);
  auto bulks = h.gce.of("POST", "/instances/bulkInsert");
  REQUIRE(bulks.size() == 1);
  const Value& b = bulks[0].body;
  CHECK(bulks[0].path == "zones/us-central1-a/instances/bulkInsert");
  CHECK(b.find("count")->as_string() == "3");
  CHECK(b.find("minCount")->as_string() == "3");
  CHECK(b.find("namePattern")->as_string().find("ray-t-worker-") == 0);
  CHECK(uuid_like(bulks[0].query.at("requestId")));
  const Value& props = *b.find("instanceProperties");
  CHECK(props.find("machineType")->as_string() == "n1-standard-2");
  // Ray's list-of-maps scheduling becomes one object.
  CHECK(props.find("scheduling")->find("preemptible")->as_bool());
  CHECK(label(props, "ray-cluster-name") == "t");
  CHECK(label(props, "raycluster-id") == "c0ffee00c0ffee00");
  CHECK(label(props, "ray-node-type") == "worker");
  CHECK(label(props, "ray-user-node-type") == "__ray_2eworker_2edefault");
  CHECK(label(props, "ray-launch-config") == "__hash-ray_2eworker_2edefault");
  CHECK(label(props, "team") == "research");
  // The instance's own metadata carries the key; nothing else is written.
  std::string keys;
  for (const auto& item : props.find("metadata")->find("items")->as_array())
    if (item.find("key")->as_string() == "ssh-keys") keys = item.find("value")->as_string();
  CHECK(keys.rfind("ubuntu:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyForTests", 0) == 0);
  CHECK(h.gce.of("POST", "/setCommonInstanceMetadata").empty());
  CHECK(props.find("tags")->find("items")->as_array()[0].as_string() == h.provider->network_tag());
  // Nodes come back decoded.
  for (const auto& n : nodes) {
    CHECK(n.node_type == "ray.worker.default");
    CHECK(n.tags.at("ray-launch-config") == "hash-ray.worker.default");
    CHECK(n.tags.count("raycluster-launch") == 0);
    CHECK(!n.external_ip.empty());
  }
}

TEST_CASE("gcp create: a head goes through instances.insert with a zonal machine type") {
  GcpHarness h;
  auto nodes = h.provider->create(h.request("ray.head.default", 1, "head-1", NodeKind::head));
  REQUIRE(nodes.size() == 1);
  auto inserts = h.gce.of("POST", "zones/us-central1-a/instances");
  REQUIRE(inserts.size() == 1);
  CHECK(inserts[0].body.find("machineType")->as_string() ==
        "zones/us-central1-a/machineTypes/n1-standard-4");
  CHECK(uuid_like(inserts[0].query.at("requestId")));
  CHECK(nodes[0].kind == NodeKind::head);
  CHECK(h.gce.of("POST", "/bulkInsert").empty());
}

TEST_CASE("gcp create: a retried call reuses its requestId and never launches twice") {
  GcpHarness h;
  h.bootstrap();
  // The first answer is lost to a 503: the HTTP layer sends the same body again.
  h.gce.faults.push_back({[](const ComputeCall& c) { return c.path.find("bulkInsert") != std::string::npos; },
                          FakeCompute::error(503, "backendError")});
  auto first = h.provider->create(h.request("ray.worker.default", 2, "same"));
  auto bulks = h.gce.of("POST", "/bulkInsert");
  REQUIRE(bulks.size() == 2);
  CHECK(bulks[0].query.at("requestId") == bulks[1].query.at("requestId"));
  CHECK(bulks[0].body == bulks[1].body);
  // create() called again with the same token finds the first call's nodes.
  auto again = h.provider->create(h.request("ray.worker.default", 2, "same"));
  CHECK(h.gce.of("POST", "/bulkInsert").size() == 2);
  std::set<std::string> a, b;
  for (const auto& n : first) a.insert(n.id);
  for (const auto& n : again) b.insert(n.id);
  CHECK(a == b);
  for (const auto& [rid, n] : h.gce.created_by_request) CHECK(n == 1);
  CHECK(h.gce.instances.size() == 2);
}

TEST_CASE("gcp list: every page, the cluster's label filter, maxResults 500") {
  GcpHarness h;
  h.gce.page_size = 2;
  h.provider->create(h.request("ray.worker.default", 5, "w"));
  h.gce.calls.clear();
  auto nodes = h.provider->list({{"ray-node-type", "worker"}});
  CHECK(nodes.size() == 5);
  auto lists = h.gce.of("GET", "zones/us-central1-a/instances");
  REQUIRE(lists.size() == 3);
  CHECK(lists[0].query.at("maxResults") == "500");
  CHECK(lists[0].query.at("filter") ==
        "(labels.ray-cluster-name = \"t\") AND (labels.ray-node-type = \"worker\")");
  CHECK(lists[1].query.at("pageToken") == "2");
  CHECK(lists[2].query.at("pageToken") == "4");
  // Sorted by launch time, then name.
  for (std::size_t i = 1; i < nodes.size(); ++i) {
    bool ordered = nodes[i - 1].launch_time < nodes[i].launch_time ||
                   (nodes[i - 1].launch_time == nodes[i].launch_time && nodes[i - 1].id < nodes[i].id);
    CHECK(ordered);
  }
}

TEST_CASE("gcp set_tags: a 412 re-reads the fingerprint and tries again") {
  GcpHarness h;
  auto nodes = h.provider->create(h.request("ray.worker.default", 1, "w"));
  h.gce.faults.push_back({[](const ComputeCall& c) { return c.path.find("/setLabels") != std::string::npos; },
                          FakeCompute::error(412, "conditionNotMet")});
  h.provider->set_tags({nodes[0].id}, {{"ray-node-status", "up-to-date"}, {"ray-launch-config", ""}});
  auto sets = h.gce.of("POST", "/setLabels");
  REQUIRE(sets.size() == 2);
  // The first try used the fingerprint of the launch's listing; only the 412 re-reads.
  CHECK(h.gce.of("GET", "/instances/" + nodes[0].id).size() == 1);
  auto after = h.provider->list({});
  REQUIRE(after.size() == 1);
  CHECK(after[0].tags.at("ray-node-status") == "up-to-date");
  CHECK(after[0].tags.count("ray-launch-config") == 0);
  CHECK(after[0].tags.at("ray-cluster-name") == "t");
}

TEST_CASE("gcp set_tags: the latest fingerprint is kept, so a write costs one call after a listing") {
  GcpHarness h;
  auto nodes = h.provider->create(h.request("ray.worker.default", 3, "w"));
  std::vector<std::string> ids;
  for (const auto& n : nodes) ids.push_back(n.id);
  auto gets = [&] {
    std::size_t n = 0;
    for (const auto& id : ids) n += h.gce.of("GET", "/instances/" + id).size();
    return n;
  };
  h.gce.calls.clear();
  h.provider->set_tags(ids, {{"ray-node-status", "waiting-for-ssh"}});
  CHECK(h.gce.of("POST", "/setLabels").size() == 3);
  CHECK(gets() == 0);
  // A second write without a listing between lists the cluster once for the
  // new fingerprints rather than getting each node.
  const auto lists = h.gce.of("GET", "zones/us-central1-a/instances").size();
  h.provider->set_tags(ids, {{"ray-node-status", "setting-up"}});
  CHECK(h.gce.of("POST", "/setLabels").size() == 6);
  CHECK(gets() == 0);
  CHECK(h.gce.of("GET", "zones/us-central1-a/instances").size() == lists + 1);
  // One node alone is read with a get.
  h.provider->set_tags({ids[0]}, {{"ray-node-status", "setting-up"}, {"x", "1"}});
  CHECK(gets() == 1);
  h.provider->set_tags(ids, {{"ray-node-status", "setting-up"}});
  // A listing gives every fingerprint: the next write is one call per node.
  h.gce.calls.clear();
  auto listed = h.provider->list({});
  REQUIRE(listed.size() == 3);
  for (const auto& n : listed) CHECK(n.tags.at("ray-node-status") == "setting-up");
  h.provider->set_tags(ids, {{"ray-node-status", "up-to-date"}});
  CHECK(h.gce.of("POST", "/setLabels").size() == 3);
  CHECK(gets() == 0);
  for (const auto& n : h.provider->list({{"ray-node-status", "up-to-date"}}))
    CHECK(n.tags.at("ray-cluster-name") == "t");
  CHECK(h.provider->list({{"ray-node-status", "up-to-date"}}).size() == 3);
}

TEST_CASE("gcp set_tags and terminate: a vanished instance is dropped, not retried") {
  GcpHarness h;
  auto nodes = h.provider->create(h.request("ray.worker.default", 2, "w"));
  h.gce.instances.erase(nodes[0].id);
  h.gce.calls.clear();
  CHECK_NOTHROW(h.provider->set_tags({nodes[0].id, nodes[1].id}, {{"ray-node-status", "setting-up"}}));
  // Sent with the fingerprints the launch's listing gave: the vanished one answers 404.
  CHECK(h.gce.of("POST", "/setLabels").size() == 2);
  CHECK(h.gce.of("GET", "/instances/" + nodes[0].id).empty());
  CHECK_NOTHROW(h.provider->terminate({nodes[0].id, nodes[1].id}));
  CHECK(h.gce.instances.empty());
  CHECK(h.provider->list({}).empty());
}

TEST_CASE("gcp create: a stockout moves to the next zone and the zone cools down") {
  GcpHarness h(kTwoZones);
  h.gce.stockout_zones = {"us-central1-a"};
  auto nodes = h.provider->create(h.request("worker", 2, "w1"));
  REQUIRE(nodes.size() == 2);
  auto bulks = h.gce.of("POST", "/bulkInsert");
  REQUIRE(bulks.size() == 2);
  CHECK(bulks[0].path.find("us-central1-a") != std::string::npos);
  CHECK(bulks[1].path.find("us-central1-b") != std::string::npos);
  for (const auto& [name, in] : h.gce.instances)
    CHECK(in.find("zone")->as_string().find("us-central1-b") != std::string::npos);
  // The next launch tries b first; a is back in front once the cool-down passed.
  h.gce.stockout_zones.clear();
  h.gce.calls.clear();
  h.provider->create(h.request("worker", 1, "w2"));
  REQUIRE(h.gce.of("POST", "/bulkInsert").size() == 1);
  CHECK(h.gce.of("POST", "/bulkInsert")[0].path.find("us-central1-b") != std::string::npos);
  h.now += std::chrono::minutes(6);
  h.gce.calls.clear();
  h.provider->create(h.request("worker", 1, "w3"));
  CHECK(h.gce.of("POST", "/bulkInsert")[0].path.find("us-central1-a") != std::string::npos);
  // Every zone out of stock: a capacity error naming them.
  h.gce.stockout_zones = {"us-central1-a", "us-central1-b"};
  try {
    h.provider->create(h.request("worker", 1, "w4"));
    FAIL("expected a capacity error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::capacity);
    CHECK(std::string(e.what()).find("us-central1-b (ZONE_RESOURCE_POOL_EXHAUSTED)") != std::string::npos);
  }
}

TEST_CASE("gcp create: quota errors stop at once and name the quota") {
  GcpHarness h(kTwoZones);
  h.gce.quota_zone = "us-central1-a";
  try {
    h.provider->create(h.request("worker", 2, "q"));
    FAIL("expected a quota error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::quota);
    CHECK(std::string(e.what()).find("CPUS") != std::string::npos);
  }
  CHECK(h.gce.of("POST", "/bulkInsert").size() == 1);  // no other zone tried
  h.gce.quota_zone.clear();
  h.gce.op_error_code = "QUOTA_EXCEEDED";
  CHECK_THROWS_WITH_AS(h.provider->create(h.request("worker", 2, "q2")),
                       doctest::Contains("QUOTA_EXCEEDED"), Error);
}

TEST_CASE("gcp client: throttling (429, 403 rateLimitExceeded) is retried by the HTTP layer") {
  GcpHarness h;
  auto is_list = [](const ComputeCall& c) { return c.method == "GET" && c.path.find("/instances") != std::string::npos; };
  h.gce.faults.push_back({is_list, FakeCompute::error(429, "rateLimitExceeded")});
  h.gce.faults.push_back({is_list, FakeCompute::error(403, "rateLimitExceeded")});
  h.gce.faults.push_back({is_list, FakeCompute::json(200, Value::parse_json(
      R"({"error":{"code":403,"errors":[{"reason":"x"}],"message":"RESOURCE_OPERATION_RATE_EXCEEDED"}})"))});
  h.gce.faults.back().response.status = 403;
  CHECK(h.provider->list({}).empty());
  CHECK(h.gce.of("GET", "zones/us-central1-a/instances").size() == 4);
}

TEST_CASE("gcp client: a 401 refreshes the token once and sends again") {
  GcpHarness h;
  h.gce.refused_tokens = {"Bearer tok-1"};
  CHECK(h.provider->list({}).empty());
  auto lists = h.gce.of("GET", "zones/us-central1-a/instances");
  REQUIRE(lists.size() == 2);
  CHECK(lists[0].authorization == "Bearer tok-1");
  CHECK(lists[1].authorization == "Bearer tok-2");
  CHECK(h.tokens->refreshes == 1);
  // Refused again after the refresh: an auth error, no loop.
  h.gce.refused_tokens = {"Bearer tok-2"};
  h.gce.calls.clear();
  CHECK_THROWS_WITH_AS(h.provider->list({}), doctest::Contains("401"), Error);
  CHECK(h.gce.of("GET", "zones/us-central1-a/instances").size() == 1);
}

TEST_CASE("gcp bootstrap: firewall rules by network tag, SSH from the caller only; teardown removes them") {
  GcpHarness h;
  h.bootstrap();
  REQUIRE(h.gce.firewalls.size() == 2);
  const std::string tag = h.provider->network_tag();
  const Value& ssh = h.gce.firewalls.at(tag + "-ssh");
  CHECK(ssh.find("sourceRanges")->as_array()[0].as_string() == "203.0.113.9/32");
  CHECK(ssh.find("allowed")->as_array()[0].find("ports")->as_array()[0].as_string() == "22");
  CHECK(ssh.find("targetTags")->as_array()[0].as_string() == tag);
  CHECK(ssh.find("network")->as_string() == "global/networks/default");
  const Value& internal = h.gce.firewalls.at(tag + "-internal");
  CHECK(internal.find("sourceTags")->as_array()[0].as_string() == tag);
  CHECK(internal.find("sourceRanges") == nullptr);
  // Open between the nodes, but not the dashboard's port.
  std::vector<std::string> tcp;
  for (const auto& a : internal.find("allowed")->as_array())
    if (a.find("IPProtocol")->as_string() == "tcp")
      for (const auto& p : a.find("ports")->as_array()) tcp.push_back(p.as_string());
  CHECK(tcp == std::vector<std::string>{"0-8264", "8266-65535"});
  for (const auto& [n, fw] : h.gce.firewalls) CHECK(fw.to_json().find("0.0.0.0/0") == std::string::npos);
  // A second bootstrap changes nothing.
  h.gce.calls.clear();
  h.bootstrap();
  CHECK(h.gce.of("POST", "global/firewalls").empty());
  // Someone else's rule stays.
  Value other = Value::parse_json(R"({"name":"keep-me","targetTags":["x"]})");
  h.gce.firewalls["keep-me"] = other;
  auto nodes = h.provider->create(h.request("ray.worker.default", 2, "w"));
  h.provider->terminate({nodes[0].id});
  h.provider->teardown({}, {});
  CHECK(h.gce.instances.empty());
  REQUIRE(h.gce.firewalls.size() == 1);
  CHECK(h.gce.firewalls.count("keep-me") == 1);
}

TEST_CASE("gcp bootstrap: the flat dialect's firewall_rules are honoured as written") {
  GcpHarness h(R"(
provider: gcp
project_id: p
region: us-central1
zone: us-central1-a
instance_type: n1-standard-2
cluster_name: flat
firewall_rules:
  - name: ssh-from-home
    ports: ["22"]
    allowed_sources: ["198.51.100.7/32"]
labels: {team: research}
)");
  h.bootstrap();
  CHECK(h.gce.of("GET", "checkip").empty());
  REQUIRE(h.gce.firewalls.size() == 2);
  const Value& mine = h.gce.firewalls.at(h.provider->network_tag() + "-ssh-from-home");
  CHECK(mine.find("sourceRanges")->as_array()[0].as_string() == "198.51.100.7/32");
  // No key named: one is made in the state folder, and its public half goes
  // into the instances' metadata.
  auto nodes = h.provider->create(h.request("ray.worker.default", 1, "w"));
  CHECK(h.provider->key_path() == (h.dir / "flat" / "gcp_ssh_key.pem").string());
  auto bulk = h.gce.of("POST", "/bulkInsert").at(0).body.find("instanceProperties")->to_json();
  CHECK(bulk.find("ubuntu:ssh-rsa ") != std::string::npos);
  CHECK(bulk.find("\"team\":\"research\"") != std::string::npos);
}

TEST_CASE("gcp bootstrap: an unknown node_config key is named with its file and line") {
  GcpHarness h(R"(
cluster_name: t
provider: {type: gcp, region: r, availability_zone: r-a, project_id: p}
auth: {ssh_user: ubuntu, ssh_public_key: @DIR@/id.pub}
available_node_types:
  head:
    node_config:
      machineType: n1-standard-2
      machineTipe: n1-standard-4
head_node_type: head
)");
  try {
    h.bootstrap();
    FAIL("expected a config error");
  } catch (const ConfigError& e) {
    std::string msg = e.what();
    CHECK(msg.find("cluster.yaml:9") != std::string::npos);
    CHECK(msg.find("machineTipe") != std::string::npos);
    CHECK(msg.find("machineType") != std::string::npos);
  }
  CHECK(h.gce.of("POST", "global/firewalls").empty());
}

TEST_CASE("gcp: stopped nodes are not cached unless the config says so") {
  GcpHarness h;
  CHECK_FALSE(h.provider->caches_stopped_nodes());
  std::string yaml = rctest::kGcpConfig;
  yaml.replace(yaml.find("  project_id: p\n"), 15, "  project_id: p\n  cache_stopped_nodes: true\n");
  GcpHarness c(yaml);
  CHECK(c.provider->caches_stopped_nodes());
  auto nodes = c.provider->create(c.request("ray.worker.default", 1, "a"));
  c.provider->terminate({nodes[0].id});
  CHECK(c.gce.instances.at(nodes[0].id).find("status")->as_string() == "TERMINATED");
  auto again = c.provider->create(c.request("ray.worker.default", 1, "b"));
  REQUIRE(again.size() == 1);
  CHECK(again[0].id == nodes[0].id);
  CHECK(c.gce.of("POST", "/start").size() == 1);
  CHECK(c.gce.of("POST", "/bulkInsert").size() == 1);
}

TEST_CASE("gcp: the endpoint comes from CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE; plain http off loopback warns") {
  std::string yaml = rctest::kGcpConfig;
  const std::string line = "  endpoint_url: http://127.0.0.1:9/compute/v1/\n";
  yaml.replace(yaml.find(line), line.size(), "");
  GcpHarness h(yaml);
  CHECK(h.provider->endpoint() == kDefaultEndpoint);
  CHECK(h.provider->warnings().empty());
  auto ctx = h.context();
  ctx.env.getenv = [](const std::string& k) -> std::optional<std::string> {
    if (k == "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE") return std::string("http://compute.example/compute/v1/");
    return std::nullopt;
  };
  GcpProvider p(h.spec, {"t", "c0ffee00c0ffee00", h.dir.string(), false}, ctx);
  CHECK(p.endpoint() == "http://compute.example/compute/v1/");
  REQUIRE(p.warnings().size() == 1);
  CHECK(p.warnings()[0].find("plain http") != std::string::npos);
}

TEST_CASE("gcp list parsing: the streaming parser reads what the JSON says, within bounds") {
  const std::string text = R"({"kind":"compute#instanceList","items":[
    {"name":"a","zone":"https://x/zones/z-a","status":"RUNNING","labelFingerprint":"fp=",
     "creationTimestamp":"2026-12-03T05:14:00.123-08:00","labels":{"k":"v","n":"__x_2ey"},
     "networkInterfaces":[{"networkIP":"10.0.0.1","accessConfigs":[{"name":"x"},{"natIP":"34.1.2.3"}],
                           "extra":{"networkIP":"no"}},{"networkIP":"10.9.9.9"}],
     "scheduling":{"preemptible":true},"disks":[{"labels":{"no":"no"},"name":"no"}]},
    {"name":"b","status":"TERMINATED","scheduling":{"provisioningModel":"SPOT"},"metadata":{"items":[{"key":"name","value":"no"}]}}],
    "nextPageToken":"next"})";
  auto sax = parse_instance_list(text);
  auto tree = parse_instances(Value::parse_json(text));
  REQUIRE(sax.instances.size() == 2);
  REQUIRE(tree.instances.size() == 2);
  CHECK(sax.next_page_token == "next");
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& a = sax.instances[i];
    const auto& b = tree.instances[i];
    CHECK(a.name == b.name);
    CHECK(a.zone == b.zone);
    CHECK(a.status == b.status);
    CHECK(a.labels == b.labels);
    CHECK(a.label_fingerprint == b.label_fingerprint);
    CHECK(a.internal_ip == b.internal_ip);
    CHECK(a.external_ip == b.external_ip);
    CHECK(a.creation == b.creation);
    CHECK(a.preemptible == b.preemptible);
  }
  CHECK(sax.instances[0].zone == "z-a");
  CHECK(sax.instances[0].internal_ip == "10.0.0.1");
  CHECK(sax.instances[0].external_ip == "34.1.2.3");
  CHECK(sax.instances[0].labels.size() == 2);
  CHECK(sax.instances[1].preemptible);
  CHECK(parse_instance_list("{}").instances.empty());
  CHECK_THROWS_AS(parse_instance_list("{\"items\":["), Error);
  std::string deep(100, '[');
  CHECK_THROWS_WITH_AS(parse_instance_list(deep), doctest::Contains("nested deeper"), Error);
}

TEST_CASE("gcp create: more than 1,000 nodes go out in bulkInserts of 1,000, retried as one request") {
  GcpHarness h;
  auto nodes = h.provider->create(h.request("ray.worker.default", 1001, "big"));
  CHECK(nodes.size() == 1001);
  auto bulks = h.gce.of("POST", "/bulkInsert");
  REQUIRE(bulks.size() == 2);
  CHECK(bulks[0].body.find("count")->as_string() == "1000");
  CHECK(bulks[1].body.find("count")->as_string() == "1");
  CHECK(bulks[0].query.at("requestId") != bulks[1].query.at("requestId"));
  auto again = h.provider->create(h.request("ray.worker.default", 1001, "big"));
  CHECK(again.size() == 1001);
  CHECK(h.gce.of("POST", "/bulkInsert").size() == 2);
  CHECK(h.gce.instances.size() == 1001);
}

TEST_CASE("gcp create: a launch operation refused for its rate is sent again under a new requestId") {
  GcpHarness h;
  h.gce.op_error_code = "RESOURCE_OPERATION_RATE_EXCEEDED";
  int launches = 0;
  h.gce.faults.push_back({[&](const ComputeCall& c) {
                            // The second bulkInsert's operation succeeds.
                            if (c.path.find("bulkInsert") != std::string::npos && ++launches == 2)
                              h.gce.op_error_code.clear();
                            return false;
                          },
                          {}, false});
  auto nodes = h.provider->create(h.request("ray.worker.default", 2, "rate"));
  CHECK(nodes.size() == 2);
  auto bulks = h.gce.of("POST", "/bulkInsert");
  REQUIRE(bulks.size() == 2);
  CHECK(bulks[0].query.at("requestId") != bulks[1].query.at("requestId"));
  CHECK(h.gce.instances.size() == 2);
}

TEST_CASE("gcp bootstrap: a new caller address is added to the SSH rule, the old one kept") {
  GcpHarness h;
  h.bootstrap();
  h.gce.checkip = "198.51.100.20";
  h.make();
  h.bootstrap();
  auto patches = h.gce.of("PATCH", "-ssh");
  REQUIRE(patches.size() == 1);
  const auto& ranges = h.gce.firewalls.at(h.provider->network_tag() + "-ssh").find("sourceRanges")->as_array();
  REQUIRE(ranges.size() == 2);
  CHECK(ranges[0].as_string() == "203.0.113.9/32");
  CHECK(ranges[1].as_string() == "198.51.100.20/32");
}

TEST_CASE("gcp create: node_config passes through, metadata, tags and labels merged with ours") {
  GcpHarness h(R"(
cluster_name: t
provider: {type: gcp, region: r, availability_zone: r-a, project_id: p, use_internal_ips: true}
auth: {ssh_user: ubuntu, ssh_public_key: @DIR@/id.pub}
available_node_types:
  head:
    node_config: {machineType: n1-standard-2}
  gpu:
    max_workers: 2
    node_config:
      machineType: projects/p/zones/r-a/machineTypes/a2-highgpu-1g
      guestAccelerators: [{acceleratorType: nvidia-tesla-a100, acceleratorCount: 1}]
      scheduling: {provisioningModel: SPOT, instanceTerminationAction: DELETE}
      serviceAccounts: [{email: sa@p.iam.gserviceaccount.com, scopes: [x]}]
      metadata: {items: [{key: startup-script, value: echo hi}, {key: ssh-keys, value: "alice:ssh-rsa AAA alice"}]}
      tags: {items: [web]}
      labels: {team: ml, ray-cluster-name: spoofed}
      networkInterfaces: [{subnetwork: regions/r/subnetworks/s}]
head_node_type: head
)");
  h.provider->create(h.request("gpu", 2, "g"));
  auto bulks = h.gce.of("POST", "/bulkInsert");
  REQUIRE(bulks.size() == 1);
  const Value& p = *bulks[0].body.find("instanceProperties");
  CHECK(p.find("machineType")->as_string() == "a2-highgpu-1g");
  CHECK(p.find("guestAccelerators")->as_array()[0].find("acceleratorCount")->as_int() == 1);
  CHECK(p.find("scheduling")->find("provisioningModel")->as_string() == "SPOT");
  CHECK(p.find("serviceAccounts")->as_array()[0].find("email")->as_string() == "sa@p.iam.gserviceaccount.com");
  // The user's network interface as written: no external address added.
  CHECK(p.find("networkInterfaces")->to_json() == R"([{"subnetwork":"regions/r/subnetworks/s"}])");
  std::map<std::string, std::string> md;
  for (const auto& item : p.find("metadata")->find("items")->as_array())
    md[item.find("key")->as_string()] = item.find("value")->as_string();
  CHECK(md["startup-script"] == "echo hi");
  CHECK(md["ssh-keys"].rfind("alice:ssh-rsa AAA alice\nubuntu:ssh-ed25519 ", 0) == 0);
  std::vector<std::string> tags;
  for (const auto& t : p.find("tags")->find("items")->as_array()) tags.push_back(t.as_string());
  CHECK(tags == std::vector<std::string>{"web", h.provider->network_tag()});
  CHECK(label(p, "team") == "ml");
  CHECK(label(p, "ray-cluster-name") == "t");  // ours win
}

TEST_CASE("gcp create: without a node_config network interface, one on the default network; internal IPs only when asked") {
  std::string yaml = rctest::kGcpConfig;
  yaml.replace(yaml.find("  project_id: p\n"), 15, "  project_id: p\n  network: vpc1\n  subnetwork: sub1\n");
  GcpHarness h(yaml);
  h.provider->create(h.request("ray.worker.default", 1, "n"));
  auto bulks = h.gce.of("POST", "/bulkInsert");
  REQUIRE(bulks.size() == 1);
  const Value& nic = bulks[0].body.find("instanceProperties")->find("networkInterfaces")->as_array()[0];
  CHECK(nic.find("network")->as_string() == "global/networks/vpc1");
  CHECK(nic.find("subnetwork")->as_string() == "regions/us-central1/subnetworks/sub1");
  CHECK(nic.find("accessConfigs")->as_array()[0].find("type")->as_string() == "ONE_TO_ONE_NAT");
}

TEST_CASE("gcp examples: the tutorial's flat and Ray-schema configs launch as written") {
  for (const char* name : {"flat.yaml", "cluster.yaml"}) {
    CAPTURE(name);
    GcpHarness h;
    h.spec = load_spec_file(std::string(RC_EXAMPLES) + "/gcp/" + name);
    h.make();
    h.bootstrap();
    const std::string head = h.spec.head_node_type;
    std::string worker;
    for (const auto& t : h.spec.node_types)
      if (t.name != head) worker = t.name;
    REQUIRE(h.provider->create(h.request(head, 1, "h", NodeKind::head)).size() == 1);
    REQUIRE(h.provider->create(h.request(worker, 2, "w")).size() == 2);
    auto inserts = h.gce.of("POST", "/instances");
    REQUIRE(inserts.size() == 1);
    CHECK(inserts[0].path == "zones/europe-west1-b/instances");
    CHECK(inserts[0].body.find("machineType")->as_string() == "zones/europe-west1-b/machineTypes/n1-standard-4");
    auto bulks = h.gce.of("POST", "/bulkInsert");
    REQUIRE(bulks.size() == 1);
    CHECK(bulks[0].body.find("instanceProperties")->find("machineType")->as_string() == "n1-standard-4");
    CHECK(h.gce.firewalls.size() == 2);
    if (std::string(name) == "flat.yaml")
      CHECK(label(*bulks[0].body.find("instanceProperties"), "team") == "research");
    else
      CHECK(bulks[0].body.find("instanceProperties")->find("scheduling")->find("preemptible")->as_bool());
  }
}

TEST_CASE("gcp create: a bulkInsert's progress reaches the request's event sink") {
  GcpHarness h;
  h.bootstrap();
  // The launch's operation is the next one; its first wait answers half done.
  const std::string name = "operation-" + std::to_string(h.gce.next_op + 1);
  Value half = Value::parse_json(
      R"({"kind":"compute#operation","zone":"https://x/compute/v1/projects/p/zones/us-central1-a",)"
      R"("operationType":"bulkInsert","status":"RUNNING","progress":50})");
  half.set("name", name);
  h.gce.faults.push_back({[](const ComputeCall& c) { return c.path.find("/wait") != std::string::npos; },
                          FakeCompute::json(200, half)});
  std::vector<Event> seen;
  auto req = h.request("ray.worker.default", 2, "progress");
  req.events = [&](const Event& e) { seen.push_back(e); };
  const std::size_t waits_before = h.gce.of("POST", "/wait").size();
  auto nodes = h.provider->create(req);
  REQUIRE(nodes.size() == 2);
  CHECK(h.gce.of("POST", "/wait").size() - waits_before == 2);
  std::vector<int> done;
  for (const auto& e : seen) {
    if (e.kind != EventKind::progress) continue;
    CHECK(e.total == 100);
    CHECK(e.message.find("us-central1-a") != std::string::npos);
    done.push_back(e.done);
  }
  CHECK(done == std::vector<int>{0, 50, 100});
}
