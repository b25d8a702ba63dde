// The three dialects, normalised; expected values are read off the YAML by hand.
#include <filesystem>

#include "spec_helpers.hpp"
#include "util/fs.hpp"

using namespace raycluster;
using spec_test::config;

namespace {
std::string home() { return detail::home_dir(); }

// spec_to_value without the fields that name the input rather than the cluster.
Value normalised(const ClusterSpec& s, bool drop_tags) {
  Value v = spec_to_value(s);
  Value::Object kept;
  for (auto& m : v.as_object())
    if (m.first != "source_file" && m.first != "dialect" && !(drop_tags && m.first == "tags"))
      kept.push_back(m);
  return Value(std::move(kept));
}
}  // namespace

TEST_CASE("flat AWS (tutorial keys) normalises") {
  ClusterSpec s = load_spec_file(config("flat/aws.yaml"));
  CHECK(s.dialect == Dialect::flat);
  CHECK(s.cluster_name == "default");
  CHECK(s.provider.kind == ProviderKind::aws);
  CHECK(s.provider.region == "us-east-1");
  CHECK(s.provider.key_name == "my-ray-key");
  CHECK(s.auth.ssh_user == "ubuntu");
  CHECK(s.auth.ssh_private_key == home() + "/.ssh/my-ray-key.pem");
  CHECK(s.max_workers == 2);
  CHECK(s.idle_timeout_minutes == 5.0);
  CHECK(s.upscaling_speed == 1.0);
  CHECK(s.tags == std::map<std::string, std::string>{{"Name", "ray-cluster"},
                                                     {"Project", "ML-Experiment"}});
  REQUIRE(s.node_types.size() == 2);
  CHECK(s.head_node_type == "ray.head.default");
  const NodeTypeSpec& head = s.head_type();
  CHECK(head.max_workers == 0);
  CHECK(head.node_config.to_json() == R"({"InstanceType":"m5.large","KeyName":"my-ray-key"})");
  const NodeTypeSpec* w = s.find_node_type("ray.worker.default");
  REQUIRE(w);
  CHECK(w->min_workers == 0);
  CHECK(w->max_workers == 2);
  CHECK(w->initial_workers == 2);
  CHECK(w->resources.empty());
  CHECK(s.head_start_ray_commands ==
        std::vector<std::string>{"ray stop",
                                 "ulimit -n 65536; ray start --head --port=6379 "
                                 "--object-manager-port=8076 --dashboard-host=127.0.0.1"});
  CHECK(s.worker_start_ray_commands ==
        std::vector<std::string>{"ray stop",
                                 "ulimit -n 65536; ray start --address=$RAY_HEAD_IP:6379 "
                                 "--object-manager-port=8076"});
  CHECK(s.gcs_port == 6379);
  CHECK(s.dashboard_port == 8265);
}

TEST_CASE("flat AWS with every key") {
  ClusterSpec s = load_spec_file(config("flat/aws-full.yaml"));
  CHECK(s.cluster_name == "etl");
  CHECK(s.provider.availability_zone == "eu-west-1b");
  CHECK(s.provider.security_group_ids == std::vector<std::string>{"sg-0aaa1111bbbb2222c"});
  CHECK(s.provider.subnet_id == "subnet-0ddd3333eeee4444f");
  CHECK(s.auth.ssh_user == "ec2-user");
  CHECK(s.max_workers == 4);
  CHECK(s.idle_timeout_minutes == 10.0);
  CHECK(s.head_type().node_config.to_json() ==
        R"({"InstanceType":"c5.2xlarge","ImageId":"ami-0123abcd4567ef890","KeyName":"etl-key",)"
        R"("SecurityGroupIds":["sg-0aaa1111bbbb2222c"],"SubnetIds":["subnet-0ddd3333eeee4444f"]})");
  const NodeTypeSpec* w = s.find_node_type("ray.worker.default");
  REQUIRE(w);
  CHECK(w->min_workers == 1);
  CHECK(w->initial_workers == 1);
  CHECK(w->max_workers == 4);
}

TEST_CASE("flat GCP (tutorial keys) normalises") {
  ClusterSpec s = load_spec_file(config("flat/gcp.yaml"));
  CHECK(s.dialect == Dialect::flat);
  CHECK(s.provider.kind == ProviderKind::gcp);
  CHECK(s.provider.region == "us-central1");
  CHECK(s.provider.availability_zone == "us-central1-a");
  CHECK(s.provider.project_id == "your-gcp-project-id");
  CHECK(s.provider.service_account_key == "/path/to/your/gcp-key.json");
  CHECK(s.tags == std::map<std::string, std::string>{{"ray-project", "ml-experiment"}});
  CHECK(s.head_type().node_config.to_json() ==
        R"({"machineType":"n1-standard-1","disks":[{"boot":true,"autoDelete":true,"type":"PERSISTENT",)"
        R"("initializeParams":{"diskSizeGb":50,"sourceImage":"projects/deeplearning-platform-release/global/images/family/common-cpu"}}]})");
  CHECK(s.find_node_type("ray.worker.default")->initial_workers == 2);
}

TEST_CASE("flat GCP with network, firewall and the idle-time alias") {
  ClusterSpec s = load_spec_file(config("flat/gcp-full.yaml"));
  CHECK(s.provider.service_account_key == home() + "/keys/ray-sa.json");
  CHECK(s.provider.network == "ray-net");
  CHECK(s.provider.subnetwork == "ray-subnet-eu");
  REQUIRE(s.provider.firewall_rules.size() == 2);
  CHECK(s.provider.firewall_rules[0].name == "ssh-from-office");
  CHECK(s.provider.firewall_rules[0].ports == std::vector<std::string>{"22"});
  CHECK(s.provider.firewall_rules[1].allowed_sources == std::vector<std::string>{"10.10.0.0/16"});
  CHECK(s.idle_timeout_minutes == 12.0);
  const Value* nics = s.head_type().node_config.find("networkInterfaces");
  REQUIRE(nics);
  CHECK(nics->to_json() == R"([{"network":"ray-net","subnetwork":"ray-subnet-eu"}])");
  const Value& disk = s.head_type().node_config.find("disks")->as_array()[0];
  CHECK(disk.find("initializeParams")->find("sourceImage")->as_string() ==
        "projects/my-proj/global/images/ray-2-9");
  const NodeTypeSpec* w = s.find_node_type("ray.worker.default");
  CHECK(w->min_workers == 1);
  CHECK(w->initial_workers == 3);
  CHECK(w->max_workers == 6);
}

TEST_CASE("the tutorial's keys and values read as the tutorial means them") {
  // tests/configs/flat/ has the tutorial's keys and values, written anew.
  ClusterSpec a = load_spec_file(config("flat/aws.yaml"));
  CHECK(a.dialect == Dialect::flat);
  CHECK(a.provider.region == "us-east-1");
  CHECK(a.find_node_type("ray.worker.default")->initial_workers == 2);
  CHECK(a.tags.at("Project") == "ML-Experiment");
  ClusterSpec g = load_spec_file(config("flat/gcp.yaml"));
  CHECK(g.dialect == Dialect::flat);
  CHECK(g.provider.project_id == "your-gcp-project-id");
  CHECK(g.tags.at("ray-project") == "ml-experiment");
}

TEST_CASE("flat, Ray and legacy configs with one meaning give one spec") {
  ClusterSpec flat = load_spec_file(config("flat/aws.yaml"));
  ClusterSpec ray = load_spec_file(config("ray/aws-flat-equivalent.yaml"));
  ClusterSpec legacy = load_spec_file(config("legacy/aws-flat-equivalent.yaml"));
  CHECK(ray.dialect == Dialect::ray);
  CHECK(legacy.dialect == Dialect::ray_legacy);
  // Ray's schemas have no cluster-wide tags; everything else must agree.
  CHECK(normalised(flat, true).to_json(2) == normalised(ray, true).to_json(2));
  // Ray names a legacy config's types ray-legacy-*-node-type; the rest agrees.
  std::string legacy_json = normalised(legacy, true).to_json(2);
  for (auto [from, to] : {std::pair{"ray-legacy-head-node-type", "ray.head.default"},
                          std::pair{"ray-legacy-worker-node-type", "ray.worker.default"}})
    for (auto at = legacy_json.find(from); at != std::string::npos; at = legacy_json.find(from))
      legacy_json.replace(at, std::string(from).size(), to);
  CHECK(normalised(flat, true).to_json(2) == legacy_json);
}

TEST_CASE("flat GCP and its Ray-schema twin give one spec") {
  ClusterSpec flat = load_spec_file(config("flat/gcp.yaml"));
  ClusterSpec ray = load_spec_file(config("ray/gcp-flat-equivalent.yaml"));
  CHECK(normalised(flat, true).to_json(2) == normalised(ray, true).to_json(2));
}

TEST_CASE("legacy: target_utilization_fraction 0.8 -> upscaling_speed 0.25") {
  ClusterSpec s = load_spec_file(config("legacy/autoscaling.yaml"));
  CHECK(s.dialect == Dialect::ray_legacy);
  CHECK(s.upscaling_speed == doctest::Approx(0.25));
  CHECK(s.idle_timeout_minutes == 7.0);
  CHECK(s.max_workers == 5);
  CHECK(s.head_node_type == "ray-legacy-head-node-type");  // Ray's name for it
  const NodeTypeSpec& head = s.head_type();
  CHECK(head.resources == std::map<std::string, double>{{"CPU", 4}});
  CHECK(head.node_config.to_json() == R"({"InstanceType":"m5.xlarge"})");  // resources lifted out
  CHECK(head.max_workers == 0);
  const NodeTypeSpec* w = s.find_node_type("ray-legacy-worker-node-type");
  REQUIRE(w);
  CHECK(w->min_workers == 1);
  CHECK(w->max_workers == 5);
  CHECK(w->initial_workers == 3);
  CHECK(w->node_config.to_json() == R"({"InstanceType":"m5.large","ImageId":"ami-0aaaabbbbccccdddd"})");
  CHECK(s.provider.availability_zone == "us-west-2a,us-west-2b");
}

TEST_CASE("legacy: aggressive mode wins over the fraction, as in Ray") {
  ClusterSpec s = load_spec_file(config("legacy/aggressive.yaml"));
  CHECK(s.upscaling_speed == 99999.0);
  // head_node: {} on a cloud takes Ray's default machine type.
  CHECK(s.head_type().node_config.find("machineType")->as_string() == "n1-standard-2");
  CHECK(s.find_node_type("ray-legacy-worker-node-type")->node_config.to_json() ==
        R"({"machineType":"n1-standard-4"})");
}

TEST_CASE("Ray schema: minimal AWS takes Ray's defaults") {
  ClusterSpec s = load_spec_file(config("ray/aws-minimal.yaml"));
  CHECK(s.cluster_name == "tiny");
  CHECK(s.max_workers == 2);
  CHECK(s.auth.ssh_user == "ubuntu");
  CHECK(s.provider.cache_stopped_nodes == true);
  REQUIRE(s.node_types.size() == 2);
  CHECK(s.node_types[0].name == "ray.head.default");
  CHECK(s.node_types[1].name == "ray.worker.default");
  CHECK(s.node_types[0].node_config.to_json() == R"({"InstanceType":"m5.large"})");
  CHECK(s.node_types[1].max_workers == 2);
  CHECK(s.setup_commands == std::vector<std::string>{"which ray || python3 -m pip install -U \"ray[default]\""});
}

TEST_CASE("Ray schema: the head's start commands move the dashboard and GCS ports") {
  auto head_start = [](const std::string& commands) {
    return load_spec_string("cluster_name: p\nprovider: {type: aws, region: us-east-1}\n"
                            "head_start_ray_commands:\n" + commands);
  };
  ClusterSpec plain = head_start("  - ray stop\n  - ray start --head\n");
  CHECK(plain.dashboard_port == 8265);
  CHECK(plain.gcs_port == 6379);

  ClusterSpec moved = head_start(
      "  - ray stop\n"
      "  - ulimit -n 65536; ray start --head --port 7000 --dashboard-port=9000 "
      "--ray-client-server-port=10001 --dashboard-agent-listen-port 52365\n");
  CHECK(moved.dashboard_port == 9000);
  CHECK(moved.gcs_port == 7000);

  // Shell variables and nonsense are not ports: the defaults stay.
  ClusterSpec vars = head_start("  - ray start --head --port=$PORT --dashboard-port=99999\n");
  CHECK(vars.dashboard_port == 8265);
  CHECK(vars.gcs_port == 6379);
}

TEST_CASE("Ray schema: a full AWS config") {
  ClusterSpec s = load_spec_file(config("ray/aws-full.yaml"));
  CHECK(s.max_workers == 8);
  CHECK(s.upscaling_speed == 2.0);
  CHECK(s.idle_timeout_minutes == 15.0);
  REQUIRE(s.docker);
  CHECK(s.docker->image == "rayproject/ray-ml:2.9.0");
  CHECK(s.docker->container_name == "ray_box");
  CHECK(s.docker->pull_before_run == false);
  CHECK(s.docker->run_options == std::vector<std::string>{"--ulimit nofile=65536:65536"});
  CHECK(s.provider.cache_stopped_nodes == false);
  CHECK(s.head_node_type == "head");
  const NodeTypeSpec* w = s.find_node_type("cpu-workers");
  REQUIRE(w);
  CHECK(w->resources == std::map<std::string, double>{{"CPU", 8}, {"spot", 1}});
  CHECK(w->labels == std::map<std::string, std::string>{{"pool", "cheap"}});
  CHECK(w->min_workers == 1);
  CHECK(w->initial_workers == 1);
  CHECK(w->max_workers == 6);
  CHECK(s.head_type().node_config.find("BlockDeviceMappings")->to_json() ==
        R"([{"DeviceName":"/dev/sda1","Ebs":{"VolumeSize":200,"VolumeType":"gp3"}}])");
  // Relative local paths resolve against the config's folder; ~ expands.
  CHECK(s.file_mounts.at("/home/ubuntu/data") == std::string(RC_TEST_CONFIGS) + "/ray/./data");
  CHECK(s.file_mounts.at("~/conf.json") == home() + "/work/conf.json");
  CHECK(s.cluster_synced_files == std::vector<std::string>{"/home/ubuntu/shared"});
  CHECK(s.file_mounts_sync_continuously);
  CHECK(s.rsync_exclude == std::vector<std::string>{"**/.git", "**/.git/**"});
  CHECK(s.rsync_filter == std::vector<std::string>{".gitignore"});
  CHECK(s.initialization_commands == std::vector<std::string>{"echo init"});
  CHECK(s.setup_commands == std::vector<std::string>{"pip install -U \"ray[default]==2.9.0\""});
  CHECK(s.head_setup_commands == std::vector<std::string>{"pip install boto3"});
  CHECK(s.worker_setup_commands.empty());
  CHECK(s.head_start_ray_commands ==
        std::vector<std::string>{"ray stop", "ray start --head --port=6379 --dashboard-host=127.0.0.1"});
}

TEST_CASE("Ray schema: several worker types") {
  ClusterSpec s = load_spec_file(config("ray/aws-multi-type.yaml"));
  REQUIRE(s.node_types.size() == 3);
  CHECK(s.node_types[1].name == "small");
  CHECK(s.node_types[1].min_workers == 2);
  CHECK(s.node_types[1].max_workers == 4);
  CHECK(s.node_types[2].name == "big");
  CHECK(s.node_types[2].max_workers == 10);  // the cluster's max when unset
  CHECK(s.node_types[2].worker_setup_commands == std::vector<std::string>{"echo big"});
  CHECK(s.node_types[2].idle_timeout_minutes == 2.0);
  CHECK(!s.node_types[1].worker_setup_commands);
}

TEST_CASE("Ray schema: GPU workers in docker") {
  ClusterSpec s = load_spec_file(config("ray/aws-gpu-docker.yaml"));
  REQUIRE(s.docker);
  CHECK(s.docker->image == "rayproject/ray-ml:latest-gpu");
  const NodeTypeSpec* w = s.find_node_type("gpu_worker");
  REQUIRE(w);
  CHECK(w->resources == std::map<std::string, double>{{"GPU", 1}, {"accelerator_type_T4", 1}});
  REQUIRE(w->docker);
  CHECK(w->docker->worker_image == "rayproject/ray-ml:latest-gpu");
  CHECK(w->docker->worker_run_options == std::vector<std::string>{"--gpus all"});
  CHECK(w->docker->container_name == "ray_container");
  CHECK(s.head_type().node_config.find("ImageId")->as_string() == "latest_dlami");
}

TEST_CASE("Ray schema: subnets, security groups, launch templates") {
  ClusterSpec sub = load_spec_file(config("ray/aws-subnets.yaml"));
  CHECK(sub.provider.use_internal_ips);
  CHECK(sub.provider.subnet_id == "subnet-0123456789abcdef0");
  CHECK(sub.head_type().node_config.find("SubnetIds")->size() == 2);

  ClusterSpec sg = load_spec_file(config("ray/aws-security-group.yaml"));
  CHECK(sg.provider.security_group_ids ==
        std::vector<std::string>{"sg-0aaa1111bbbb2222c", "sg-0ccc"});
  const Value* group = sg.provider.raw.find("security_group");
  REQUIRE(group);
  CHECK(group->find("GroupName")->as_string() == "ray_sg_custom");
  CHECK(group->find("IpPermissions")->as_array()[0].find("FromPort")->as_int() == 8000);

  ClusterSpec lt = load_spec_file(config("ray/aws-launch-template.yaml"));
  CHECK(lt.head_type().node_config.to_json() ==
        R"({"LaunchTemplate":{"LaunchTemplateName":"ray-head-template","Version":"$Latest"}})");
  // A quoted "2" stays a string: EC2 wants Version as a string.
  CHECK(lt.find_node_type("ray.worker.default")->node_config.find("LaunchTemplate")->find("Version")->to_json() ==
        "\"2\"");
}

TEST_CASE("Ray schema: GCP full and minimal") {
  ClusterSpec s = load_spec_file(config("ray/gcp-full.yaml"));
  CHECK(s.provider.project_id == "my-project-123");
  CHECK(s.provider.subnetwork == "regions/us-west1/subnetworks/ray");
  CHECK(s.head_type().resources == std::map<std::string, double>{{"CPU", 2}});
  CHECK(s.find_node_type("ray_worker_small")->node_config.find("scheduling")->to_json() ==
        R"([{"preemptible":true}])");
  ClusterSpec m = load_spec_file(config("ray/gcp-minimal.yaml"));
  CHECK(m.head_type().node_config.find("machineType")->as_string() == "n1-standard-2");
  CHECK(m.auth.ssh_user == "ubuntu");
}

TEST_CASE("localhost: declared resources, no `ray stop`, the exported variables") {
  ClusterSpec s = load_spec_file(config("ray/localhost.yaml"));
  CHECK(s.provider.kind == ProviderKind::localhost);
  CHECK(s.auth.ssh_user.empty());
  CHECK(s.head_type().resources == std::map<std::string, double>{{"CPU", 2}});
  CHECK(s.find_node_type("worker")->resources ==
        std::map<std::string, double>{{"CPU", 1}, {"memory", 1e9}});
  CHECK(s.setup_commands.empty());
  REQUIRE(s.head_start_ray_commands.size() == 1);
  CHECK(s.head_start_ray_commands[0] ==
        "ray start --head --node-ip-address=$RAYCLUSTER_NODE_IP --port=$RAYCLUSTER_GCS_PORT "
        "--dashboard-host=$RAYCLUSTER_NODE_IP --dashboard-port=$RAYCLUSTER_DASHBOARD_PORT "
        "--ray-client-server-port=$RAYCLUSTER_CLIENT_PORT "
        "--dashboard-agent-listen-port=$RAYCLUSTER_AGENT_PORT "
        "--min-worker-port=$RAYCLUSTER_MIN_WORKER_PORT --max-worker-port=$RAYCLUSTER_MAX_WORKER_PORT "
        "--temp-dir=$RAYCLUSTER_RAY_TEMP_DIR --object-store-memory=$RAYCLUSTER_OBJECT_STORE_MEMORY "
        "--disable-usage-stats");
  REQUIRE(s.worker_start_ray_commands.size() == 1);
  CHECK(s.worker_start_ray_commands[0] ==
        "ray start --address=$RAY_HEAD_IP:$RAYCLUSTER_GCS_PORT --node-ip-address=$RAYCLUSTER_NODE_IP "
        "--temp-dir=$RAYCLUSTER_NODE_RAY_TEMP_DIR --dashboard-agent-listen-port=$RAYCLUSTER_AGENT_PORT "
        "--min-worker-port=$RAYCLUSTER_MIN_WORKER_PORT --max-worker-port=$RAYCLUSTER_MAX_WORKER_PORT "
        "--object-store-memory=$RAYCLUSTER_OBJECT_STORE_MEMORY --disable-usage-stats");
}

TEST_CASE("localhost without node types: {CPU: 1} head and worker; alias fake_multinode") {
  ClusterSpec s = load_spec_file(config("ray/localhost-default.yaml"));
  CHECK(s.provider.type == "fake_multinode");
  CHECK(s.provider.kind == ProviderKind::localhost);
  REQUIRE(s.node_types.size() == 2);
  CHECK(s.node_types[0].resources == std::map<std::string, double>{{"CPU", 1}});
  CHECK(s.node_types[1].resources == std::map<std::string, double>{{"CPU", 1}});
  CHECK(s.node_types[1].max_workers == 2);
  CHECK(s.node_types[0].max_workers == 0);
}

TEST_CASE("on-prem: Ray's local provider") {
  ClusterSpec s = load_spec_file(config("ray/onprem.yaml"));
  CHECK(s.provider.kind == ProviderKind::onprem);
  CHECK(s.provider.head_ip == "192.0.2.10");
  CHECK(s.max_workers == 3);
  REQUIRE(s.node_types.size() == 1);
  CHECK(s.head_node_type == "local.cluster.node");
  CHECK(s.node_types[0].min_workers == 3);
  CHECK(s.node_types[0].max_workers == 3);
  CHECK(s.auth.ssh_user == "ray");
  CHECK(s.auth.ssh_private_key == home() + "/.ssh/lab_rsa");
  CHECK(s.head_start_ray_commands[0] == "ray stop");
}
