// Parses synthetic instances.list answers of N instances the way
// GcpProvider::list() does (JSON -> Value -> Instance), in pages of 500 and
// as one page, and prints the times and the process's peak RSS as JSON.
// Usage: gcp-list-bench [N]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "providers/gcp/gcp_provider.hpp"
#include "providers/gcp/instance_list.hpp"

using namespace raycluster;
using namespace raycluster::detail::gce;

namespace {

std::string instance_json(int i) {
  char ip[32], nat[32];
  std::snprintf(ip, sizeof ip, "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
  std::snprintf(nat, sizeof nat, "34.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
  std::string name = "ray-bench-worker-0123abcd-" + std::to_string(i);
  return R"({"kind":"compute#instance","id":")" + std::to_string(1000000000 + i) +
         R"(","creationTimestamp":"2026-12-03T05:14:00.123-08:00","name":")" + name +
         R"(","machineType":"https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/machineTypes/n1-standard-2","status":"RUNNING","zone":"https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a","networkInterfaces":[{"kind":"compute#networkInterface","network":"https://www.googleapis.com/compute/v1/projects/p/global/networks/default","subnetwork":"https://www.googleapis.com/compute/v1/projects/p/regions/us-central1/subnetworks/default","networkIP":")" +
         ip + R"(","name":"nic0","accessConfigs":[{"kind":"compute#accessConfig","type":"ONE_TO_ONE_NAT","name":"External NAT","natIP":")" +
         nat + R"(","networkTier":"PREMIUM"}],"fingerprint":"abcdEFGH123="}],"disks":[{"kind":"compute#attachedDisk","type":"PERSISTENT","mode":"READ_WRITE","source":"https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/disks/)" +
         name + R"(","deviceName":"persistent-disk-0","index":0,"boot":true,"autoDelete":true,"diskSizeGb":"50"}],"metadata":{"kind":"compute#metadata","fingerprint":"xyz=","items":[{"key":"ssh-keys","value":"ubuntu:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample ubuntu"}]},"tags":{"items":["raycluster-c0ffee00c0ffee00"],"fingerprint":"tagfp="},"labels":{"ray-cluster-name":"bench","raycluster-id":"c0ffee00c0ffee00","ray-node-type":"worker","ray-user-node-type":"__ray_2eworker_2edefault","ray-node-status":"up-to-date","ray-launch-config":"_xabcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst","ray-runtime-config":"_xabcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst","ray-node-name":"ray-bench-worker","raycluster-launch":"0123456789abcdef"},"labelFingerprint":"42WmSpB8rSM=","scheduling":{"onHostMaintenance":"MIGRATE","automaticRestart":true,"preemptible":false,"provisioningModel":"STANDARD"},"cpuPlatform":"Intel Broadwell","selfLink":"https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/instances/)" +
         name + R"("})";
}

std::string page_json(int from, int to, bool more) {
  std::string s = R"({"kind":"compute#instanceList","id":"projects/p/zones/us-central1-a/instances","items":[)";
  for (int i = from; i < to; ++i) {
    if (i > from) s += ',';
    s += instance_json(i);
  }
  s += "]";
  if (more) s += R"(,"nextPageToken":"token)" + std::to_string(to) + "\"";
  return s + "}";
}

// sax: the provider's parser; else through a Value tree (for comparison).
double parse_pages(const std::vector<std::string>& pages, std::size_t& count, bool sax) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<Instance> all;
  for (const auto& p : pages) {
    auto page = sax ? parse_instance_list(p) : parse_instances(Value::parse_json(p));
    for (auto& in : page.instances) all.push_back(std::move(in));
  }
  count = all.size();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 10000;
  std::vector<std::string> paged;
  std::size_t bytes = 0;
  for (int i = 0; i < n; i += 500) {
    paged.push_back(page_json(i, std::min(n, i + 500), i + 500 < n));
    bytes += paged.back().size();
  }
  std::size_t count_paged = 0, count_whole = 0;
  // Best of three: the machine is shared.
  double paged_ms = 1e9, whole_ms = 1e9, tree_ms = 1e9;
  for (int r = 0; r < 3; ++r) paged_ms = std::min(paged_ms, parse_pages(paged, count_paged, true));
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  const double rss_paged = ru.ru_maxrss / 1024.0;
  paged.clear();
  paged.shrink_to_fit();
  std::vector<std::string> whole = {page_json(0, n, false)};
  for (int r = 0; r < 3; ++r) whole_ms = std::min(whole_ms, parse_pages(whole, count_whole, true));
  getrusage(RUSAGE_SELF, &ru);
  const double rss_whole = ru.ru_maxrss / 1024.0;
  std::size_t count_tree = 0;
  tree_ms = parse_pages(whole, count_tree, false);
  std::printf(
      "{\"instances\": %d, \"answer_bytes\": %zu, \"parsed\": %zu, \"pages_of_500_ms\": %.1f, "
      "\"peak_rss_mb_after_pages\": %.1f, \"one_page_ms\": %.1f, \"peak_rss_mb_after_one_page\": %.1f, "
      "\"one_page_through_value_tree_ms\": %.1f, "
      "\"goals\": {\"ms\": \"< 100\", \"peak_rss_mb\": \"< 64\"}}\n",
      n, bytes, count_paged, paged_ms, rss_paged, whole_ms, rss_whole, tree_ms);
  return count_paged == static_cast<std::size_t>(n) && count_whole == static_cast<std::size_t>(n) ? 0 : 1;
}
