// An AwsProvider on a FakeEc2, with a fixed clock, no sleeping and a
// temporary state folder.
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "fake_ec2.hpp"
#include "providers/aws/aws_provider.hpp"
#include "spec/spec.hpp"

namespace rctest {

inline const char* kBaseConfig = R"(
cluster_name: t
max_workers: 3000
provider:
  type: aws
  region: us-east-1
  endpoint_url: http://127.0.0.1:9
  cache_stopped_nodes: false
auth: {ssh_user: ubuntu}
available_node_types:
  head:
    node_config: {InstanceType: m5.large}
  worker:
    max_workers: 3000
    node_config: {InstanceType: m5.large}
head_node_type: head
)";

struct AwsHarness {
  FakeEc2 ec2;
  std::filesystem::path dir;
  raycluster::ClusterSpec spec;
  std::map<std::string, std::string> env = {{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"},
                                            {"AWS_SECRET_ACCESS_KEY", "secret"}};
  std::chrono::system_clock::time_point now = std::chrono::system_clock::from_time_t(1767225600);
  std::vector<std::chrono::milliseconds> sleeps;
  std::unique_ptr<raycluster::detail::ec2::AwsProvider> provider;
  std::vector<raycluster::Event> events;

  explicit AwsHarness(const std::string& yaml = kBaseConfig) {
    char tmpl[] = "/tmp/rc_aws_test_XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    spec = raycluster::load_spec_string(yaml, "cluster.yaml");
    make();
  }
  ~AwsHarness() {
    provider.reset();
    std::filesystem::remove_all(dir);
  }
  raycluster::detail::ClusterIdentity identity(const std::string& id = "c0ffee00c0ffee00",
                                               bool fresh = false) {
    return {spec.cluster_name, id, (dir / spec.cluster_name).string(), fresh};
  }
  raycluster::ProviderContext context() {
    raycluster::ProviderContext d;
    // Not owned: the fake outlives every provider made here.
    d.transport = std::shared_ptr<raycluster::HttpTransport>(std::shared_ptr<void>(), &ec2);
    d.env.getenv = [this](const std::string& k) -> std::optional<std::string> {
      auto it = env.find(k);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    d.env.home = dir.string();
    d.now = [this] { return now; };
    d.sleep = [this](std::chrono::milliseconds w, const raycluster::CancelToken& c) {
      sleeps.push_back(w);
      now += w;
      return !c.cancelled();
    };
    d.random = [] { return 0.0; };
    return d;
  }
  // fresh: as for a state folder made by this very command.
  void make(const std::string& id = "c0ffee00c0ffee00", bool fresh = false) {
    provider.reset();
    std::filesystem::create_directories(dir / spec.cluster_name);
    provider = std::make_unique<raycluster::detail::ec2::AwsProvider>(spec, identity(id, fresh), context());
  }
  void bootstrap() {
    provider->bootstrap([this](const raycluster::Event& e) { events.push_back(e); }, {});
  }
  raycluster::EventSink sink() {
    return [this](const raycluster::Event& e) { events.push_back(e); };
  }
  // The tags Cluster puts on a launch.
  raycluster::Tags launch_tags(const std::string& type, raycluster::NodeKind kind,
                               const std::string& id = "c0ffee00c0ffee00") {
    return {{"ray-cluster-name", spec.cluster_name},
            {"raycluster-id", id},
            {"ray-node-type", raycluster::node_kind_name(kind)},
            {"ray-user-node-type", type},
            {"ray-node-status", "uninitialized"},
            {"ray-launch-config", "hash-" + type}};
  }
  raycluster::LaunchRequest request(const std::string& type, int count, const std::string& token,
                                    raycluster::NodeKind kind = raycluster::NodeKind::worker) {
    raycluster::LaunchRequest r;
    r.node_type = spec.find_node_type(type);
    REQUIRE(r.node_type);
    r.kind = kind;
    r.count = count;
    r.tags = launch_tags(type, kind);
    r.idempotency_token = token;
    return r;
  }
  // Every parameter value any request carried.
  bool any_param_equals(const std::string& value) const {
    for (const auto& c : ec2.calls)
      for (const auto& [k, v] : c.params)
        if (v == value) return true;
    return false;
  }
};

}  // namespace rctest
