#include <doctest/doctest.h>

#include <filesystem>
#include <set>
#include <thread>

#include "harness.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace raycluster;
using namespace raycluster::detail::ec2;
using namespace std::chrono_literals;
using rctest::AwsHarness;
using rctest::Ec2Call;
using rctest::FakeEc2;

namespace {

std::map<std::string, std::string> instance_tags(const Ec2Call& c) {
  std::map<std::string, std::string> out;
  for (int s = 1; c.has("TagSpecification." + std::to_string(s) + ".ResourceType"); ++s) {
    std::string p = "TagSpecification." + std::to_string(s);
    if (c.at(p + ".ResourceType") != "instance") continue;
    for (int t = 1; c.has(p + ".Tag." + std::to_string(t) + ".Key"); ++t)
      out[c.at(p + ".Tag." + std::to_string(t) + ".Key")] = c.at(p + ".Tag." + std::to_string(t) + ".Value");
  }
  return out;
}

// One entry per launch attempt: EC2 sends capacity errors as HTTP 500, which
// the retry loop repeats (same body) before the provider moves on.
std::vector<Ec2Call> attempts(const std::vector<Ec2Call>& runs) {
  std::vector<Ec2Call> out;
  for (const auto& r : runs)
    if (out.empty() || out.back().request.body != r.request.body) out.push_back(r);
  return out;
}

}  // namespace

TEST_CASE("aws create: one RunInstances for the batch, every tag on at creation") {
  AwsHarness h;
  h.bootstrap();
  auto nodes = h.provider->create(h.request("worker", 3, "tok-1"));
  REQUIRE(nodes.size() == 3);
  auto runs = h.ec2.of("RunInstances");
  REQUIRE(runs.size() == 1);
  const auto& run = runs[0];
  CHECK(run.at("MinCount") == "3");
  CHECK(run.at("MaxCount") == "3");
  CHECK(run.at("InstanceType") == "m5.large");
  CHECK(run.at("SubnetId") == "subnet-a");
  CHECK(run.at("ImageId") == "ami-noble-new");  // newest 24.04
  CHECK(run.at("KeyName") == "raycluster_t_us-east-1");
  CHECK(run.at("SecurityGroupId.1") == h.provider->security_group_id());
  auto tags = instance_tags(run);
  for (const auto& [k, v] : h.launch_tags("worker", NodeKind::worker)) CHECK(tags[k] == v);
  CHECK(tags["Name"] == "ray-t-worker");
  // The volumes carry the same tags.
  CHECK(run.at("TagSpecification.2.ResourceType") == "volume");
  const std::string& token = run.at("ClientToken");
  CHECK(!token.empty());
  CHECK(token.size() <= 64);
  for (char ch : token) CHECK(static_cast<unsigned char>(ch) < 128);
  CHECK(nodes[0].kind == NodeKind::worker);
  CHECK(nodes[0].node_type == "worker");
  CHECK(nodes[0].tags.at("raycluster-id") == "c0ffee00c0ffee00");
  CHECK(!nodes[0].internal_ip.empty());
}

TEST_CASE("aws create: node_config is passed through, user tags merged, ours winning") {
  AwsHarness h;
  h.spec.tags = {{"team", "ml"}};
  auto* w = const_cast<NodeTypeSpec*>(h.spec.find_node_type("worker"));
  w->node_config = Value::parse_json(R"({
    "InstanceType": "m5.xlarge", "ImageId": "ami-mine",
    "BlockDeviceMappings": [{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 100}}],
    "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "owner", "Value": "me"},
                                                                 {"Key": "ray-node-type", "Value": "bogus"}]}]
  })");
  h.make();
  h.bootstrap();
  auto req = h.request("worker", 1, "tok");
  req.tags["team"] = "ml";
  h.provider->create(req);
  auto run = h.ec2.of("RunInstances").at(0);
  CHECK(run.at("ImageId") == "ami-mine");
  CHECK(run.at("InstanceType") == "m5.xlarge");
  CHECK(run.at("BlockDeviceMapping.1.Ebs.VolumeSize") == "100");
  auto tags = instance_tags(run);
  CHECK(tags["owner"] == "me");
  CHECK(tags["team"] == "ml");
  CHECK(tags["ray-node-type"] == "worker");
  CHECK(h.ec2.count("DescribeImages") == 1);  // only the head needed the default image
}

TEST_CASE("aws create: an unknown node_config key fails bootstrap, naming the key path") {
  AwsHarness h;
  auto* w = const_cast<NodeTypeSpec*>(h.spec.find_node_type("worker"));
  w->node_config = Value::parse_json(R"({"InstanceType": "m5.large", "BlockDeviceMappings": [{"Ebs": {"Size": 1}}]})");
  h.make();
  try {
    h.bootstrap();
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::config);
    CHECK(std::string(e.what()).find("available_node_types.worker.node_config.BlockDeviceMappings[0].Ebs.Size") !=
          std::string::npos);
  }
  CHECK(h.ec2.calls.empty());  // nothing was created
}

TEST_CASE("aws create: the ClientToken is the same on a retried request") {
  AwsHarness h;
  h.bootstrap();
  h.ec2.faults.push_back({"RunInstances", FakeEc2::fail(503, "Unavailable", "busy")});
  h.provider->create(h.request("worker", 2, "tok-r"));
  auto runs = h.ec2.of("RunInstances");
  REQUIRE(runs.size() == 2);
  CHECK(runs[0].request.body == runs[1].request.body);
  CHECK(h.ec2.instances.size() == 2);
}

TEST_CASE("aws create: a create() repeated with its token launches nothing more") {
  AwsHarness h;
  h.bootstrap();
  auto first = h.provider->create(h.request("worker", 2, "tok-same"));
  auto again = h.provider->create(h.request("worker", 2, "tok-same"));
  CHECK(h.ec2.count("RunInstances") == 1);
  CHECK(h.ec2.instances.size() == 2);
  std::set<std::string> a, b;
  for (const auto& n : first) a.insert(n.id);
  for (const auto& n : again) b.insert(n.id);
  CHECK(a == b);
  // Another token is another launch.
  h.provider->create(h.request("worker", 2, "tok-other"));
  CHECK(h.ec2.instances.size() == 4);
}

TEST_CASE("aws create: no capacity in one zone moves to the next, with its own token") {
  AwsHarness h;
  h.bootstrap();
  h.ec2.no_capacity = {"subnet-a"};
  auto nodes = h.provider->create(h.request("worker", 2, "tok-z"));
  REQUIRE(nodes.size() == 2);
  auto runs = attempts(h.ec2.of("RunInstances"));
  REQUIRE(runs.size() == 2);
  CHECK(runs[0].at("SubnetId") == "subnet-a");
  CHECK(runs[1].at("SubnetId") == "subnet-b");
  CHECK(runs[0].at("ClientToken") != runs[1].at("ClientToken"));
  CHECK(runs[1].at("MinCount") == "2");
  for (const auto& i : h.ec2.instances) CHECK(i.zone == "us-east-1b");

  SUBCASE("the zone is tried last for a while, then first again") {
    h.ec2.no_capacity.clear();
    h.provider->create(h.request("worker", 1, "tok-z2"));
    CHECK(h.ec2.of("RunInstances").back().at("SubnetId") == "subnet-b");
    h.now += 6min;
    h.provider->create(h.request("worker", 1, "tok-z3"));
    CHECK(h.ec2.of("RunInstances").back().at("SubnetId") == "subnet-a");
  }
}

TEST_CASE("aws create: no capacity anywhere is a retryable capacity error naming the zones") {
  AwsHarness h;
  h.bootstrap();
  h.ec2.no_capacity = {"subnet-a", "subnet-b", "subnet-c"};
  try {
    h.provider->create(h.request("worker", 1, "tok"));
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::capacity);
    CHECK(e.retryable());
    std::string msg = e.what();
    CHECK(msg.find("us-east-1a") != std::string::npos);
    CHECK(msg.find("us-east-1c") != std::string::npos);
    CHECK(e.request_id() == "req-InsufficientInstanceCapacity");
  }
  CHECK(attempts(h.ec2.of("RunInstances")).size() == 3);
  // One call per zone: a capacity answer (HTTP 500) is not retried in place.
  CHECK(h.ec2.count("RunInstances") == 3);
  // Other errors end the launch at once.
  h.ec2.no_capacity.clear();
  h.ec2.calls.clear();
  h.ec2.faults.push_back({"RunInstances", FakeEc2::fail(400, "VcpuLimitExceeded", "You have requested more vCPU capacity")});
  CHECK_THROWS_AS(h.provider->create(h.request("worker", 1, "tok2")), Ec2Error);
  CHECK(h.ec2.count("RunInstances") == 1);
}

TEST_CASE("aws create: availability_zone orders the subnets") {
  std::string yaml = rctest::kBaseConfig;
  yaml.replace(yaml.find("  cache_stopped"), 0, "  availability_zone: us-east-1c, us-east-1a\n");
  AwsHarness h(yaml);
  h.bootstrap();
  auto p = h.provider->placements("worker");
  REQUIRE(p.size() == 2);
  CHECK(p[0].subnet_id == "subnet-c");
  CHECK(p[1].subnet_id == "subnet-a");
}

TEST_CASE("aws create: SubnetIds of a node type are used, in that order") {
  AwsHarness h;
  auto* w = const_cast<NodeTypeSpec*>(h.spec.find_node_type("worker"));
  w->node_config = Value::parse_json(R"({"InstanceType": "m5.large", "SubnetIds": ["subnet-b", "subnet-c"]})");
  h.make();
  h.bootstrap();
  auto p = h.provider->placements("worker");
  REQUIRE(p.size() == 2);
  CHECK(p[0].subnet_id == "subnet-b");
  CHECK(p[1].subnet_id == "subnet-c");
  h.provider->create(h.request("worker", 1, "t"));
  auto run = h.ec2.of("RunInstances").at(0);
  CHECK(run.at("SubnetId") == "subnet-b");
  CHECK_FALSE(run.has("SubnetIds.1"));
}

TEST_CASE("aws list: every page, by cluster name, live states only") {
  AwsHarness h;
  h.ec2.page_size = 1000;
  auto tags = h.launch_tags("worker", NodeKind::worker);
  for (int i = 0; i < 2500; ++i) h.ec2.add(tags);
  h.ec2.add(tags, "stopped");
  h.ec2.add(tags, "terminated");
  h.ec2.add({{"ray-cluster-name", "other"}});
  auto nodes = h.provider->list({{"ray-cluster-name", "t"}, {"raycluster-id", "c0ffee00c0ffee00"}});
  CHECK(nodes.size() == 2500);
  auto pages = h.ec2.of("DescribeInstances");
  REQUIRE(pages.size() == 3);
  CHECK(pages[0].at("MaxResults") == "1000");
  CHECK_FALSE(pages[0].has("NextToken"));
  CHECK(pages[1].at("NextToken") == "1000");
  CHECK(pages[2].at("NextToken") == "2000");
  CHECK(pages[0].filter("tag:ray-cluster-name") == std::vector<std::string>{"t"});
  CHECK(pages[0].filter("instance-state-name") == std::vector<std::string>{"pending", "running"});
}

TEST_CASE("aws list: instances of another cluster id are left out and reported") {
  AwsHarness h;
  h.ec2.add(h.launch_tags("head", NodeKind::head));
  auto foreign = h.ec2.add(h.launch_tags("worker", NodeKind::worker, "0ther0000000000"));
  auto ray_made = h.ec2.add({{"ray-cluster-name", "t"}, {"ray-node-type", "worker"}});
  auto nodes = h.provider->list({{"ray-cluster-name", "t"}, {"raycluster-id", "c0ffee00c0ffee00"}});
  std::set<std::string> ids;
  for (const auto& n : nodes) ids.insert(n.id);
  CHECK(ids.size() == 2);
  CHECK(ids.count(ray_made.id) == 1);  // no cluster id: a `ray up` node of this name
  CHECK(ids.count(foreign.id) == 0);
  auto reported = h.provider->foreign_instances();
  REQUIRE(reported.size() == 1);
  CHECK(reported.at(foreign.id) == "0ther0000000000");
}

TEST_CASE("aws terminate: chunks of at most 1000 ids, unknown ids ignored") {
  AwsHarness h;
  std::vector<std::string> ids;
  for (int i = 0; i < 2500; ++i) ids.push_back(h.ec2.add(h.launch_tags("worker", NodeKind::worker)).id);
  ids.insert(ids.begin() + 1500, "i-00000000000unknown");
  h.provider->terminate(ids);
  auto calls = h.ec2.of("TerminateInstances");
  REQUIRE(calls.size() == 4);  // 1000, 1000 (one unknown), the same 999 again, 501
  for (const auto& c : calls) CHECK(c.list("InstanceId").size() <= 1000);
  for (const auto& i : h.ec2.instances) CHECK(i.state == "shutting-down");
}

TEST_CASE("aws set_tags: one CreateTags per chunk, DeleteTags for empty values") {
  AwsHarness h;
  std::vector<std::string> ids;
  for (int i = 0; i < 1500; ++i) ids.push_back(h.ec2.add(h.launch_tags("worker", NodeKind::worker)).id);
  h.provider->set_tags(ids, {{"ray-node-status", "up-to-date"}, {"ray-runtime-config", "r1"},
                             {"ray-launch-config", ""}});
  auto creates = h.ec2.of("CreateTags");
  REQUIRE(creates.size() == 2);
  CHECK(creates[0].list("ResourceId").size() == 1000);
  CHECK(creates[1].list("ResourceId").size() == 500);
  CHECK(creates[0].at("Tag.1.Key") == "ray-node-status");
  CHECK(creates[0].at("Tag.1.Value") == "up-to-date");
  CHECK(creates[0].at("Tag.2.Key") == "ray-runtime-config");
  auto deletes = h.ec2.of("DeleteTags");
  REQUIRE(deletes.size() == 2);
  CHECK(deletes[0].at("Tag.1.Key") == "ray-launch-config");
  CHECK_FALSE(deletes[0].has("Tag.1.Value"));
  CHECK(h.ec2.instances[7].tags.count("ray-launch-config") == 0);
  CHECK(h.ec2.instances[7].tags.at("ray-node-status") == "up-to-date");
}

TEST_CASE("aws set_tags: a just-launched instance not yet visible is waited for") {
  AwsHarness h;
  auto id = h.ec2.add(h.launch_tags("worker", NodeKind::worker)).id;
  h.ec2.faults.push_back({"CreateTags", FakeEc2::fail(400, "InvalidInstanceID.NotFound", "The instance ID '" + id + "' does not exist")});
  h.provider->set_tags({id}, {{"ray-node-status", "setting-up"}});
  CHECK(h.ec2.count("CreateTags") == 2);
  CHECK(h.ec2.instances[0].tags.at("ray-node-status") == "setting-up");
}

TEST_CASE("aws cache_stopped_nodes: on-demand workers stop, spot and heads terminate; stopped ones restart") {
  std::string yaml = rctest::kBaseConfig;
  yaml.replace(yaml.find("cache_stopped_nodes: false"), 26, "cache_stopped_nodes: true");
  AwsHarness h(yaml);
  auto worker = h.ec2.add(h.launch_tags("worker", NodeKind::worker)).id;
  auto& s = h.ec2.add(h.launch_tags("worker", NodeKind::worker));
  s.lifecycle = "spot";
  auto spot = s.id;
  auto head = h.ec2.add(h.launch_tags("head", NodeKind::head)).id;
  h.provider->terminate({worker, spot, head});
  CHECK(h.ec2.find(worker)->state == "stopped");
  CHECK(h.ec2.find(spot)->state == "shutting-down");
  CHECK(h.ec2.find(head)->state == "shutting-down");
  CHECK(h.ec2.count("StopInstances") == 1);
  // Stopped nodes are not live nodes.
  CHECK(h.provider->list({{"ray-cluster-name", "t"}}).empty());

  h.bootstrap();
  auto made = h.provider->create(h.request("worker", 2, "tok-reuse"));
  REQUIRE(made.size() == 2);
  CHECK(h.ec2.count("StartInstances") == 1);
  CHECK(h.ec2.of("StartInstances")[0].list("InstanceId") == std::vector<std::string>{worker});
  CHECK(h.ec2.find(worker)->state == "pending");
  CHECK(h.ec2.find(worker)->tags.at("ray-node-status") == "uninitialized");
  auto runs = h.ec2.of("RunInstances");
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].at("MaxCount") == "1");  // the rest of the batch
}

TEST_CASE("aws cache_stopped_nodes: a stopped node of another launch config is not reused") {
  std::string yaml = rctest::kBaseConfig;
  yaml.replace(yaml.find("cache_stopped_nodes: false"), 26, "cache_stopped_nodes: true");
  AwsHarness h(yaml);
  auto tags = h.launch_tags("worker", NodeKind::worker);
  tags["ray-launch-config"] = "old-hash";
  h.ec2.add(tags, "stopped");
  h.bootstrap();
  h.provider->create(h.request("worker", 1, "tok"));
  CHECK(h.ec2.count("StartInstances") == 0);
  CHECK(h.ec2.count("RunInstances") == 1);
}

TEST_CASE("aws teardown: terminates everything, stopped nodes too, and waits for it") {
  AwsHarness h;
  auto tags = h.launch_tags("worker", NodeKind::worker);
  h.ec2.add(tags);
  h.ec2.add(tags, "stopped");
  h.ec2.add(h.launch_tags("head", NodeKind::head), "pending");
  h.provider->teardown(h.sink(), {});
  for (const auto& i : h.ec2.instances) CHECK(i.state == "shutting-down");
  CHECK(h.ec2.count("TerminateInstances") == 1);
}

TEST_CASE("aws teardown: instances that refuse to end are reported by id") {
  AwsHarness h;
  auto ok_id = h.ec2.add(h.launch_tags("worker", NodeKind::worker)).id;
  auto stuck = h.ec2.add(h.launch_tags("head", NodeKind::head)).id;
  h.ec2.protected_ids = {stuck};
  try {
    h.provider->teardown(h.sink(), {});
    FAIL("no error");
  } catch (const Error& e) {
    std::string msg = e.what();
    CHECK(msg.find(stuck) != std::string::npos);
    CHECK(msg.find("OperationNotPermitted") != std::string::npos);
    CHECK(msg.find(ok_id) == std::string::npos);
  }
  CHECK(h.ec2.find(ok_id)->state == "shutting-down");
}

TEST_CASE("aws teardown: gives up after its deadline, and stops when cancelled") {
  AwsHarness h;
  h.ec2.add(h.launch_tags("worker", NodeKind::worker));
  // An instance that never leaves running.
  h.ec2.handlers["TerminateInstances"] = [](const Ec2Call&) {
    return FakeEc2::ok("<TerminateInstancesResponse/>");
  };
  try {
    h.provider->teardown(h.sink(), {});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::timeout);
  }
  CancelToken cancel;
  cancel.cancel();
  CHECK_THROWS_AS(h.provider->teardown(h.sink(), cancel), Error);
}

TEST_CASE("aws teardown from a new state folder: the other id's instances are reported, not ended") {
  AwsHarness h;
  auto old_id = h.ec2.add(h.launch_tags("head", NodeKind::head, "01d0000000000000")).id;
  h.make("fresh00000000000", true);  // a new state folder made a new cluster id
  try {
    h.provider->teardown(h.sink(), {});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::conflict);
    std::string msg = e.what();
    CHECK(msg.find(old_id) != std::string::npos);
    CHECK(msg.find("01d0000000000000") != std::string::npos);
  }
  CHECK(h.ec2.find(old_id)->state == "running");
}

TEST_CASE("aws teardown: once this folder's instances are gone, others of the name are named, not ended") {
  AwsHarness h;
  h.ec2.add(h.launch_tags("worker", NodeKind::worker));
  auto other = h.ec2.add(h.launch_tags("head", NodeKind::head, "0ther0000000000")).id;
  h.provider->teardown(h.sink(), {});
  CHECK(h.ec2.find(other)->state == "running");
  bool named = false;
  for (const auto& e : h.events)
    named = named || (e.level == LogLevel::warning && e.message.find(other) != std::string::npos &&
                      e.message.find("0ther0000000000") != std::string::npos);
  CHECK(named);
}

TEST_CASE("aws cluster_ids_in_use: every id on live or stopped instances of the name, once") {
  AwsHarness h;
  CHECK(h.provider->cluster_ids_in_use({}).empty());
  h.ec2.add(h.launch_tags("head", NodeKind::head, "bbbb000000000000"));
  h.ec2.add(h.launch_tags("worker", NodeKind::worker, "bbbb000000000000"), "stopped");
  h.ec2.add(h.launch_tags("worker", NodeKind::worker, "aaaa000000000000"));
  h.ec2.add(h.launch_tags("worker", NodeKind::worker, "dead000000000000"), "terminated");
  CHECK(h.provider->cluster_ids_in_use({}) ==
        std::vector<std::string>{"aaaa000000000000", "bbbb000000000000"});
}

TEST_CASE("aws default image: chosen once per cluster, kept until a full down") {
  AwsHarness h;
  h.bootstrap();
  CHECK(h.ec2.count("DescribeImages") == 1);
  const auto pin = h.dir / h.spec.cluster_name / "images.json";
  REQUIRE(std::filesystem::exists(pin));
  CHECK(detail::read_file(pin.string()).find("\"us-east-1/amd64\": \"ami-noble-new\"") !=
        std::string::npos);

  // Canonical publishes a newer image meanwhile (here: the pin names an
  // older one); a later bootstrap, as by `scale` or the autoscaler, keeps
  // the cluster's image and does not ask again.
  detail::write_file_atomic(pin.string(), R"({"us-east-1/amd64": "ami-cluster-image"})");
  h.make();
  h.bootstrap();
  CHECK(h.ec2.count("DescribeImages") == 1);
  h.provider->create(h.request("worker", 1, "tok"));
  CHECK(h.ec2.of("RunInstances").at(0).at("ImageId") == "ami-cluster-image");

  // A full down lets the next `up` pick the newest image again.
  h.provider->teardown(h.sink(), {});
  CHECK(!std::filesystem::exists(pin));
  h.make();
  h.bootstrap();
  CHECK(h.ec2.count("DescribeImages") == 2);
}

TEST_CASE("aws command runner: the public address, or the private one with use_internal_ips") {
  AwsHarness h;
  auto in = h.ec2.add(h.launch_tags("worker", NodeKind::worker));
  Node n;
  n.id = in.id;
  n.internal_ip = in.private_ip;
  n.external_ip = in.public_ip;
  CHECK(h.provider->command_runner(n)->describe() == "node ubuntu@" + in.public_ip + ":22 (ssh)");

  SUBCASE("use_internal_ips") {
    std::string yaml = rctest::kBaseConfig;
    yaml.replace(yaml.find("  cache_stopped"), 0, "  use_internal_ips: true\n");
    AwsHarness hi(yaml);
    CHECK(hi.provider->command_runner(n)->describe() == "node ubuntu@" + in.private_ip + ":22 (ssh)");
  }
  SUBCASE("a node without its public address yet is looked up again") {
    Node pending = n;
    pending.external_ip.clear();
    CHECK(h.provider->command_runner(pending)->describe() == "node ubuntu@" + in.public_ip + ":22 (ssh)");
    CHECK(h.ec2.count("DescribeInstances") == 1);
  }
}

TEST_CASE("aws provider: the endpoint comes from the config, then the environment") {
  std::string yaml = rctest::kBaseConfig;
  yaml.replace(yaml.find("  endpoint_url: http://127.0.0.1:9\n"), 35, "");
  AwsHarness h(yaml);
  CHECK(h.provider->region() == "us-east-1");
  CHECK(h.provider->endpoint() == "https://ec2.us-east-1.amazonaws.com");
  h.env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:7";
  h.make();
  CHECK(h.provider->endpoint() == "http://127.0.0.1:7");
  h.env["AWS_ENDPOINT_URL_EC2"] = "http://127.0.0.1:8";
  h.make();
  CHECK(h.provider->endpoint() == "http://127.0.0.1:8");
  h.spec.provider.endpoint_url = "http://127.0.0.1:9";
  h.make();
  CHECK(h.provider->endpoint() == "http://127.0.0.1:9");
}

TEST_CASE("aws set_tags: concurrent calls with the same tags share CreateTags calls") {
  AwsHarness h;
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) ids.push_back(h.ec2.add(h.launch_tags("worker", NodeKind::worker)).id);
  std::vector<std::thread> threads;
  for (int i = 0; i < 40; ++i)
    threads.emplace_back([&, i] { h.provider->set_tags({ids[i]}, {{"ray-node-status", "setting-up"}}); });
  for (auto& t : threads) t.join();
  CHECK(h.ec2.count("CreateTags") >= 1);
  CHECK(h.ec2.count("CreateTags") <= 40);
  for (const auto& i : h.ec2.instances) CHECK(i.tags.at("ray-node-status") == "setting-up");
  // Every call carried one tag set, so the calls name several ids each once batched.
  std::size_t named = 0;
  for (const auto& c : h.ec2.of("CreateTags")) named += c.list("ResourceId").size();
  CHECK(named == 40);
}
