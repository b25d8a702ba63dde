#include "spec/defaults.hpp"

namespace raycluster::detail {

std::vector<std::string> default_head_start_commands(ProviderKind kind) {
  switch (kind) {
    case ProviderKind::localhost:
      // No `ray stop`: on this machine it would stop every Ray, not just ours.
      // The localhost provider exports these variables to every command.
      return {
          "ray start --head --node-ip-address=$RAYCLUSTER_NODE_IP --port=$RAYCLUSTER_GCS_PORT "
          "--dashboard-host=$RAYCLUSTER_NODE_IP --dashboard-port=$RAYCLUSTER_DASHBOARD_PORT "
          "--ray-client-server-port=$RAYCLUSTER_CLIENT_PORT "
          "--dashboard-agent-listen-port=$RAYCLUSTER_AGENT_PORT "
          "--min-worker-port=$RAYCLUSTER_MIN_WORKER_PORT "
          "--max-worker-port=$RAYCLUSTER_MAX_WORKER_PORT --temp-dir=$RAYCLUSTER_RAY_TEMP_DIR "
          "--object-store-memory=$RAYCLUSTER_OBJECT_STORE_MEMORY --disable-usage-stats"};
    case ProviderKind::onprem:
      return {"ray stop",
              "ulimit -c unlimited; ray start --head --port=6379 --dashboard-host=127.0.0.1"};
    case ProviderKind::aws:
    case ProviderKind::gcp:
      break;
  }
  // The dashboard listens on loopback only: users reach it through an SSH tunnel.
  return {"ray stop",
          "ulimit -n 65536; ray start --head --port=6379 --object-manager-port=8076 "
          "--dashboard-host=127.0.0.1"};
}

std::vector<std::string> default_worker_start_commands(ProviderKind kind) {
  switch (kind) {
    case ProviderKind::localhost:
      return {
          "ray start --address=$RAY_HEAD_IP:$RAYCLUSTER_GCS_PORT "
          "--node-ip-address=$RAYCLUSTER_NODE_IP --temp-dir=$RAYCLUSTER_NODE_RAY_TEMP_DIR "
          "--dashboard-agent-listen-port=$RAYCLUSTER_AGENT_PORT "
          "--min-worker-port=$RAYCLUSTER_MIN_WORKER_PORT "
          "--max-worker-port=$RAYCLUSTER_MAX_WORKER_PORT "
          "--object-store-memory=$RAYCLUSTER_OBJECT_STORE_MEMORY --disable-usage-stats"};
    case ProviderKind::onprem:
      return {"ray stop", "ray start --address=$RAY_HEAD_IP:6379"};
    case ProviderKind::aws:
    case ProviderKind::gcp:
      break;
  }
  return {"ray stop",
          "ulimit -n 65536; ray start --address=$RAY_HEAD_IP:6379 --object-manager-port=8076"};
}

std::vector<std::string> default_setup_commands(ProviderKind kind) {
  // Ray's cloud defaults install Ray when the image lacks it; on-prem and
  // localhost machines are the user's own, so nothing is installed there.
  if (kind == ProviderKind::aws || kind == ProviderKind::gcp)
    return {"which ray || python3 -m pip install -U \"ray[default]\""};
  return {};
}

Value gcp_boot_disk(const std::string& source_image, int size_gb) {
  Value params = Value::object();
  params.set("diskSizeGb", size_gb);
  params.set("sourceImage", source_image);
  Value disk = Value::object();
  disk.set("boot", true);
  disk.set("autoDelete", true);
  disk.set("type", "PERSISTENT");
  disk.set("initializeParams", std::move(params));
  return disk;
}

Value default_node_config(ProviderKind kind) {
  Value c = Value::object();
  if (kind == ProviderKind::aws) {
    c.set("InstanceType", kAwsDefaultInstanceType);
  } else if (kind == ProviderKind::gcp) {
    c.set("machineType", kGcpDefaultMachineType);
    Value disks = Value::array();
    disks.push(gcp_boot_disk(kGcpDefaultImage, kGcpDefaultDiskGb));
    c.set("disks", std::move(disks));
  }
  return c;
}

}  // namespace raycluster::detail
