// Names, lookups, origins, the JSON view, and every shipped example.
#include <algorithm>
#include <filesystem>

#include "spec_helpers.hpp"

using namespace raycluster;

TEST_CASE("names") {
  CHECK(std::string(dialect_name(Dialect::ray)) == "ray");
  CHECK(std::string(dialect_name(Dialect::ray_legacy)) == "ray-legacy");
  CHECK(std::string(dialect_name(Dialect::flat)) == "flat");
  CHECK(std::string(provider_kind_name(ProviderKind::aws)) == "aws");
  CHECK(std::string(provider_kind_name(ProviderKind::gcp)) == "gcp");
  CHECK(std::string(provider_kind_name(ProviderKind::localhost)) == "localhost");
  CHECK(std::string(provider_kind_name(ProviderKind::onprem)) == "onprem");
}

TEST_CASE("origin() gives the line and column of a key") {
  ClusterSpec s = load_spec_file(spec_test::config("ray/aws-multi-type.yaml"));
  SourceLocation l = s.origin("available_node_types.small.max_workers");
  CHECK(l.file == spec_test::config("ray/aws-multi-type.yaml"));
  CHECK(l.line == 9);
  CHECK(l.column == 5);
  CHECK(s.origin("provider.region").line == 3);
  CHECK(s.origin("head_node_type").line == 16);
  SourceLocation none = s.origin("upscaling_speed");  // a default
  CHECK(none.line == 0);
  CHECK(none.file == spec_test::config("ray/aws-multi-type.yaml"));
}

TEST_CASE("find_node_type and head_type") {
  ClusterSpec s = load_spec_string("provider: {type: localhost}\n", "inline");
  CHECK(s.source_file == "inline");
  CHECK(s.find_node_type("nope") == nullptr);
  CHECK(s.head_type().name == "ray.head.default");
  ClusterSpec empty;
  empty.head_node_type = std::string(1, 'x');  // not = "x": GCC 12 -Wrestrict false positive under ASan
  CHECK_THROWS_AS(empty.head_type(), Error);
}

TEST_CASE("spec_to_value: stable key names") {
  ClusterSpec s = load_spec_string(
      "cluster_name: c\nprovider: {type: localhost}\nmax_workers: 4\n"
      "available_node_types:\n  h: {resources: {CPU: 2}}\n  w: {resources: {CPU: 1}, min_workers: 1}\n"
      "head_node_type: h\n",
      "v.yaml");
  Value v = spec_to_value(s);
  std::vector<std::string> keys;
  for (const auto& m : v.as_object()) keys.push_back(m.first);
  CHECK(keys == std::vector<std::string>{
                    "source_file", "dialect", "cluster_name", "max_workers", "upscaling_speed",
                    "idle_timeout_minutes", "idle_release_after_startups", "launch_payback", "autoscaler",
                    "gcs_port",
                    "dashboard_port", "provider", "auth",
                    "docker", "head_node_type", "node_types", "file_mounts",
                    "cluster_synced_files", "file_mounts_sync_continuously", "rsync_exclude",
                    "rsync_filter", "initialization_commands", "setup_commands",
                    "head_setup_commands", "worker_setup_commands", "head_start_ray_commands",
                    "worker_start_ray_commands", "tags", "warnings", "storage"});
  CHECK(v.find("dialect")->as_string() == "ray");
  CHECK(v.find("provider")->find("kind")->as_string() == "localhost");
  CHECK(v.find("docker")->is_null());
  CHECK(v.find("max_workers")->as_int() == 4);
  const Value& w = v.find("node_types")->as_array()[1];
  CHECK(w.to_json() ==
        R"({"name":"w","node_config":{},"resources":{"CPU":1.0},"labels":{},"min_workers":1,)"
        R"("max_workers":4,"initial_workers":1,"idle_timeout_minutes":null,"cost_per_hour":null,)"
        R"("worker_setup_commands":null,"initialization_commands":null,)"
        R"("commands":{"initialization_commands":[],"setup_commands":[],)"
        R"("start_ray_commands":[")" + s.worker_start_ray_commands.at(0) + R"("]},)"
        R"("docker":null,"startup_seconds":null})");
  std::vector<std::string> pkeys;
  for (const auto& m : v.find("provider")->as_object()) pkeys.push_back(m.first);
  CHECK(pkeys == std::vector<std::string>{
                     "kind", "type", "region", "availability_zone", "project_id",
                     "use_internal_ips", "cache_stopped_nodes", "disable_node_updaters",
                     "disable_launch_config_check", "endpoint_url", "security_group_ids",
                     "subnet_id", "key_name", "service_account_key", "network", "subnetwork",
                     "firewall_rules", "head_ip", "worker_ips", "coordinator_address",
                     "stop_commands", "ssh_allowed_cidrs"});
}

TEST_CASE("every file under examples/ loads") {
  namespace fs = std::filesystem;
  const fs::path root = RC_EXAMPLES;
  REQUIRE(fs::is_directory(root));
  // These folders must exist; a missing one fails rather than being skipped.
  for (const char* dir : {"aws", "gcp", "localhost"}) {
    INFO("examples/" << dir);
    CHECK(fs::is_directory(root / dir));
  }
  CHECK(fs::exists(root / "aws" / "cluster.yaml"));
  CHECK(fs::exists(root / "aws" / "flat.yaml"));
  CHECK(fs::exists(root / "gcp" / "cluster.yaml"));
  CHECK(fs::exists(root / "gcp" / "flat.yaml"));
  CHECK(fs::exists(root / "localhost" / "cluster.yaml"));
  std::vector<fs::path> files;
  // Cluster configs sit one level down (examples/<kind>/*.yaml); deeper
  // folders are other tools' (npm's node_modules under examples/node).
  for (const auto& dir : fs::directory_iterator(root)) {
    if (!dir.is_directory()) continue;
    for (const auto& e : fs::directory_iterator(dir.path()))
      if (e.is_regular_file() &&
          (e.path().extension() == ".yaml" || e.path().extension() == ".yml"))
        files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  CHECK(files.size() >= 5);
  for (const auto& f : files) {
    INFO(f.string());
    try {
      ClusterSpec s = load_spec_file(f.string());
      CHECK(!s.node_types.empty());
      CHECK(s.find_node_type(s.head_node_type) != nullptr);
    } catch (const ConfigError& e) {
      FAIL(e.what());
    }
  }
}

TEST_CASE("examples say what they mean") {
  const std::string root = RC_EXAMPLES;
  ClusterSpec flat = load_spec_file(root + "/aws/flat.yaml");
  CHECK(flat.dialect == Dialect::flat);
  CHECK(flat.provider.key_name == "research-key");
  CHECK(flat.tags.at("CostCenter") == "4711");
  CHECK(flat.max_workers == 3);
  ClusterSpec ray = load_spec_file(root + "/aws/cluster.yaml");
  CHECK(ray.dialect == Dialect::ray);
  CHECK(ray.cluster_name == "research");
  ClusterSpec g = load_spec_file(root + "/gcp/flat.yaml");
  CHECK(g.provider.project_id == "my-research-project");
  ClusterSpec gr = load_spec_file(root + "/gcp/cluster.yaml");
  CHECK(gr.head_node_type == "ray_head");
}
