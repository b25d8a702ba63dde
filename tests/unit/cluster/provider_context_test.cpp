// A ProviderContext given through ClusterOptions reaches the provider the
// spec names: Cluster::open on an AWS spec sends every EC2 call through the
// context's transport, retries throttling with the context's retry policy,
// random source and sleeper, signs with its clock and environment or its
// credentials source, and a provider swapped by the take-over of a cluster
// id keeps the same context.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "aws/fake_ec2.hpp"
#include "cluster/cluster.hpp"
#include "util/fs.hpp"

using namespace raycluster;
using namespace std::chrono_literals;
using rctest::FakeEc2;

namespace {

// autoscaler: local, so that status() reads no head autoscaler over SSH
// (the fake's addresses are not this machine's).
const char* kAwsConfig = R"(
cluster_name: ctx
autoscaler: local
max_workers: 2
provider:
  type: aws
  region: us-east-1
  endpoint_url: http://127.0.0.1:9
auth: {ssh_user: ubuntu}
available_node_types:
  head:
    node_config: {InstanceType: m5.large}
  worker:
    max_workers: 2
    node_config: {InstanceType: m5.large}
head_node_type: head
)";

struct Fixture {
  FakeEc2 ec2;
  std::string root;
  std::map<std::string, std::string> env = {{"AWS_ACCESS_KEY_ID", "AKIDCONTEXT"},
                                            {"AWS_SECRET_ACCESS_KEY", "secret"}};
  std::chrono::system_clock::time_point now = std::chrono::system_clock::from_time_t(1767225600);
  std::vector<std::chrono::milliseconds> sleeps;

  Fixture() {
    char tmpl[] = "/tmp/rc-context-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    root = tmpl;
    // A head launched from another state folder: the new folder takes its
    // cluster id over, which builds the provider a second time.
    ec2.add({{"ray-cluster-name", "ctx"},
             {"raycluster-id", "feedface00000000"},
             {"ray-node-type", "head"},
             {"ray-user-node-type", "head"}});
  }
  ~Fixture() { detail::remove_tree(root); }

  ProviderContext context() {
    ProviderContext c;
    c.transport = std::shared_ptr<HttpTransport>(std::shared_ptr<void>(), &ec2);  // not owned
    c.env.getenv = [this](const std::string& k) -> std::optional<std::string> {
      auto it = env.find(k);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    c.env.home = root;
    c.now = [this] { return now; };
    c.sleep = [this](std::chrono::milliseconds d, const CancelToken&) {
      sleeps.push_back(d);
      now += d;
      return true;
    };
    c.random = [] { return 0.5; };
    c.retry.base_delay = 100ms;
    c.retry.max_attempts = 6;
    return c;
  }
  std::unique_ptr<Cluster> open(ProviderContext c) {
    ClusterOptions o;
    o.state_root = root;
    o.provider_context = std::move(c);
    return Cluster::open(load_spec_string(kAwsConfig, "ctx.yaml"), o);
  }
  void throttle(int n) {
    for (int i = 0; i < n; ++i)
      ec2.faults.emplace_back("*", FakeEc2::fail(503, "RequestLimitExceeded", "Request limit exceeded."));
  }
  // Every call carried a SigV4 Authorization header naming this key id.
  bool signed_with(const std::string& key_id) const {
    for (const auto& c : ec2.calls) {
      bool ok = false;
      for (const auto& [k, v] : c.request.headers)
        if (k == "Authorization") ok = v.find("Credential=" + key_id + "/") != std::string::npos;
      if (!ok) return false;
    }
    return !ec2.calls.empty();
  }
};

struct StaticSource : CredentialsSource<AwsCredentials> {
  int gets = 0;
  AwsCredentials get(const CancelToken&) override {
    ++gets;
    return {"AKIDSOURCE", "from-source", "", "test source"};
  }
  AwsCredentials refresh(const AwsCredentials& stale, const CancelToken&) override { return stale; }
};

}  // namespace

TEST_CASE("a Cluster on an AWS spec retries throttled EC2 calls through the context it was given") {
  Fixture f;
  f.throttle(3);
  auto cluster = f.open(f.context());
  auto st = cluster->status();

  // The take-over's listing was throttled three times, then answered; the
  // retries waited as the context's policy, random source and sleeper say
  // (full jitter at 0.5 of 100, 200, 400 ms), on the context's clock.
  CHECK(f.sleeps == std::vector<std::chrono::milliseconds>{50ms, 100ms, 200ms});
  // Three throttled attempts, the take-over's listing, then the swapped
  // provider's own listing: every call went through the context's transport.
  CHECK(f.ec2.count("DescribeInstances") == 5);
  CHECK(f.ec2.faults.empty());
  CHECK(st.provider == "aws");
  CHECK(st.cluster_id == "feedface00000000");
  REQUIRE(st.nodes.size() == 1);
  CHECK(st.nodes[0].kind == NodeKind::head);
  CHECK(st.head_ip == f.ec2.instances[0].public_ip);
  // Signed with the context's environment and clock.
  CHECK(f.signed_with("AKIDCONTEXT"));
  for (const auto& c : f.ec2.calls) {
    CHECK(c.request.url.rfind("http://127.0.0.1:9", 0) == 0);
    bool dated = false;
    for (const auto& [k, v] : c.request.headers)
      if (k == "X-Amz-Date") dated = v.rfind("20260101T", 0) == 0;
    CHECK(dated);
  }
}

TEST_CASE("the provider swapped by a cluster id take-over keeps the context") {
  Fixture f;
  auto cluster = f.open(f.context());
  cluster->head_ip();  // the take-over happens here; its listing is not throttled
  f.throttle(2);
  auto ips = cluster->worker_ips();
  CHECK(ips.empty());
  CHECK(f.sleeps == std::vector<std::chrono::milliseconds>{50ms, 100ms});
}

TEST_CASE("the context's credentials source signs the requests instead of the default chain") {
  Fixture f;
  f.env.clear();  // the chain would find nothing
  auto source = std::make_shared<StaticSource>();
  auto c = f.context();
  c.aws_credentials = source;
  auto cluster = f.open(c);
  CHECK(cluster->status().nodes.size() == 1);
  CHECK(source->gets >= 1);
  CHECK(f.signed_with("AKIDSOURCE"));
}

TEST_CASE("without a context's credentials source the default chain of its environment applies") {
  Fixture f;
  // No keys, no container endpoint, and no instance metadata to ask.
  f.env = {{"AWS_EC2_METADATA_DISABLED", "true"}};
  auto cluster = f.open(f.context());
  ErrorCode code = ErrorCode::internal;
  try {
    cluster->status();
  } catch (const Error& e) {
    code = e.code();
  }
  CHECK(code == ErrorCode::auth);
  CHECK(f.ec2.calls.empty());  // nothing was sent unsigned
}

TEST_CASE("a plain-http EC2 endpoint off this machine is warned about once, loopback is not") {
  auto warnings_of = [](const std::string& endpoint) {
    Fixture f;
    std::vector<std::string> seen;
    ClusterOptions o;
    o.state_root = f.root;
    o.provider_context = f.context();
    o.events = [&](const Event& e) {
      if (e.kind == EventKind::log && e.level == LogLevel::warning &&
          e.message.find("plain http") != std::string::npos)
        seen.push_back(e.message);
    };
    std::string yaml = kAwsConfig;
    yaml.replace(yaml.find("http://127.0.0.1:9"), 18, endpoint);
    auto cluster = Cluster::open(load_spec_string(yaml, "ctx.yaml"), o);
    cluster->status();
    cluster->status();
    return seen;
  };
  // The fake transport answers; nothing leaves this process.
  auto far = warnings_of("http://10.1.2.3:9");
  REQUIRE(far.size() == 1);
  CHECK(far[0].find("the EC2 endpoint http://10.1.2.3:9 is plain http") != std::string::npos);
  CHECK(far[0].find("session token") != std::string::npos);
  CHECK(warnings_of("http://127.0.0.1:9").empty());
  CHECK(warnings_of("http://[::1]:9").empty());
  CHECK(warnings_of("https://10.1.2.3:9").empty());
}
