// A GcpProvider on a FakeCompute, with a fixed clock, no sleeping, a token
// source under the test's control and a temporary state folder.
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "fake_compute.hpp"
#include "providers/gcp/gcp_provider.hpp"
#include "spec/spec.hpp"

namespace rctest {

inline const char* kGcpConfig = R"(
cluster_name: t
max_workers: 3000
provider:
  type: gcp
  region: us-central1
  availability_zone: us-central1-a
  project_id: p
  endpoint_url: http://127.0.0.1:9/compute/v1/
auth: {ssh_user: ubuntu, ssh_public_key: @DIR@/id.pub}
available_node_types:
  ray.head.default:
    node_config:
      machineType: n1-standard-4
      disks: [{boot: true, initializeParams: {sourceImage: projects/x/global/images/family/y}}]
  ray.worker.default:
    max_workers: 3000
    node_config:
      machineType: zones/us-central1-a/machineTypes/n1-standard-2
      scheduling: [{preemptible: true}]
      labels: {team: research}
head_node_type: ray.head.default
)";

// A cluster in two zones (us-central1-a, -b) of up to 10 workers, without
// node types: a test appends its available_node_types and head_node_type.
inline const std::string kTwoZonePreamble = R"(
cluster_name: t
max_workers: 10
provider:
  type: gcp
  region: us-central1
  availability_zone: us-central1-a,us-central1-b
  project_id: p
  endpoint_url: http://127.0.0.1:9/compute/v1/
auth: {ssh_user: ubuntu, ssh_public_key: @DIR@/id.pub}
)";

// Hands out tokens in order: get() the current one, refresh() the next.
struct TokenSource : raycluster::CredentialsSource<std::string> {
  std::vector<std::string> tokens = {"tok-1", "tok-2"};
  std::size_t at = 0;
  int refreshes = 0;
  std::string get(const raycluster::CancelToken&) override { return tokens[at]; }
  std::string refresh(const std::string&, const raycluster::CancelToken&) override {
    ++refreshes;
    if (at + 1 < tokens.size()) ++at;
    return tokens[at];
  }
};

struct GcpHarness {
  FakeCompute gce;
  std::shared_ptr<TokenSource> tokens = std::make_shared<TokenSource>();
  std::filesystem::path dir;
  raycluster::ClusterSpec spec;
  std::chrono::system_clock::time_point now = std::chrono::system_clock::from_time_t(1767225600);
  std::unique_ptr<raycluster::detail::gce::GcpProvider> provider;
  std::vector<raycluster::Event> events;

  explicit GcpHarness(const std::string& yaml = kGcpConfig) {
    char tmpl[] = "/tmp/rc_gcp_test_XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    std::string text = yaml;
    for (auto at = text.find("@DIR@"); at != std::string::npos; at = text.find("@DIR@"))
      text.replace(at, 5, dir.string());
    {
      std::ofstream pub(dir / "id.pub");
      pub << "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyForTests me@host\n";
    }
    spec = raycluster::load_spec_string(text, (dir / "cluster.yaml").string());
    make();
  }
  ~GcpHarness() {
    provider.reset();
    std::filesystem::remove_all(dir);
  }
  raycluster::ProviderContext context() {
    raycluster::ProviderContext d;
    d.transport = std::shared_ptr<raycluster::HttpTransport>(std::shared_ptr<void>(), &gce);
    d.env.getenv = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    d.env.home = dir.string();
    d.now = [this] { return now; };
    d.sleep = [this](std::chrono::milliseconds w, const raycluster::CancelToken& c) {
      now += w;
      return !c.cancelled();
    };
    d.random = [] { return 0.0; };
    d.gcp_credentials = tokens;
    return d;
  }
  void make(const std::string& id = "c0ffee00c0ffee00") {
    provider.reset();
    std::filesystem::create_directories(dir / spec.cluster_name);
    provider = std::make_unique<raycluster::detail::gce::GcpProvider>(
        spec, raycluster::detail::ClusterIdentity{spec.cluster_name, id, (dir / spec.cluster_name).string(), false},
        context());
  }
  void bootstrap() {
    provider->bootstrap([this](const raycluster::Event& e) { events.push_back(e); }, {});
  }
  raycluster::LaunchRequest request(const std::string& type, int count, const std::string& token,
                                    raycluster::NodeKind kind = raycluster::NodeKind::worker) {
    raycluster::LaunchRequest r;
    r.node_type = spec.find_node_type(type);
    REQUIRE(r.node_type);
    r.kind = kind;
    r.count = count;
    r.tags = {{"ray-cluster-name", spec.cluster_name},
              {"raycluster-id", "c0ffee00c0ffee00"},
              {"ray-node-type", raycluster::node_kind_name(kind)},
              {"ray-user-node-type", type},
              {"ray-node-status", "uninitialized"},
              {"ray-launch-config", "hash-" + type}};
    r.idempotency_token = token;
    return r;
  }
};

}  // namespace rctest
