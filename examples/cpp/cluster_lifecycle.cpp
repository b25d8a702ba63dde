// raycluster from C++: the same lifecycle as examples/c, through the
// header-only layer raycluster.hpp (exceptions for errors, a lambda for
// events). The up runs on the library's thread while this one watches the
// cluster's status; then `ray status` on the head, then down.
//
//   c++ -std=c++17 cluster_lifecycle.cpp $(pkg-config --cflags --libs raycluster)
//   PATH=$PWD/.venv/bin:$PATH ./a.out examples/c/cluster.yaml
//
// Exit status: 0 done; 1 an operation failed ("failed (<category>): ..."
// on stderr; the cluster is taken down); 2 usage, or a config that does
// not load (the message names the file and line).
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "raycluster/raycluster.hpp"

namespace rc = raycluster;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CLUSTER.yaml\n", argv[0]);
    return 2;
  }
  std::printf("raycluster %s (ABI %d)\n", rc::version().c_str(), rc::abi_version());
  std::mutex out_mu;
  rc::ClusterOptions options;
  options.min_log_level = rc::LogLevel::info;
  options.on_event = [&](const rc::Event& e) {  // on the operation's event thread
    std::lock_guard<std::mutex> lock(out_mu);
    switch (e.kind()) {
      case rc::EventKind::node_status:
        std::printf("[%s] %s\n", e.node_id(), e.status());
        break;
      case rc::EventKind::progress:
        std::printf("progress %d/%d: %s\n", e.progress().done, e.progress().total, e.message());
        break;
      case rc::EventKind::log:
        std::printf("%s\n", e.message());
        break;
    }
    std::fflush(stdout);
  };

  rc::Cluster cluster;  // empty until opened
  try {
    cluster = rc::Cluster::open(argv[1], std::move(options));

    rc::Operation up = cluster.up_async();  // up.cancel() from any thread would stop it
    while (!up.wait_for(std::chrono::seconds(2))) {
      std::string st = cluster.status_json();
      std::size_t nodes = 0;
      for (std::size_t at = st.find("\"kind\""); at != std::string::npos;
           at = st.find("\"kind\"", at + 1))
        ++nodes;
      std::lock_guard<std::mutex> lock(out_mu);
      std::printf("... %zu node(s) so far\n", nodes);
    }
    up.result();  // throws how the up failed

    std::printf("status: %s\n", cluster.status_json().c_str());
    std::printf("head: %s\n", cluster.head_ip().c_str());
    // Ray publishes its first cluster status a few seconds after the head
    // starts; until then `ray status` says so: ask again for a while.
    rc::ExecResult ray_status;
    for (int tries = 0; tries < 30; ++tries) {
      ray_status = cluster.exec("ray status --address=$RAY_HEAD_IP:$RAYCLUSTER_GCS_PORT");
      if (ray_status.exit_status != 0 ||
          ray_status.out.find("No cluster status") == std::string::npos)
        break;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    std::printf("%s`ray status` exited %d\n", ray_status.out.c_str(), ray_status.exit_status);
    cluster.down();
    return 0;
  } catch (const rc::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  } catch (const rc::Error& e) {
    std::fprintf(stderr, "failed (%s): %s\n", e.category().c_str(), e.what());
    if (cluster) {
      try {
        cluster.down();
      } catch (const rc::Error& e2) {
        std::fprintf(stderr, "down failed too: %s\n", e2.what());
      }
    }
    return 1;
  }
}
