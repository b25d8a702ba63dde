// raycluster from C++ directly: the same lifecycle as examples/c, with
// exceptions for errors and a lambda for events; the up runs on a thread
// of ours while this one watches the cluster's status.
//
//   PATH=$PWD/.venv/bin:$PATH build/tests/c/example_cpp examples/c/cluster.yaml
#include <chrono>
#include <cstdio>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "cluster/cluster.hpp"
#include "spec/spec.hpp"
#include "util/error.hpp"
#include "util/event.hpp"

namespace rc = raycluster;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CLUSTER.yaml\n", argv[0]);
    return 2;
  }
  std::unique_ptr<rc::Cluster> cluster;
  try {
    rc::ClusterOptions options;
    std::mutex out_mu;
    options.events = [&](const rc::Event& e) {  // serialised per operation by the library
      std::lock_guard<std::mutex> lock(out_mu);
      if (e.kind == rc::EventKind::node_status)
        std::printf("[%s] %s\n", e.node_id.c_str(), e.status.c_str());
      else if (e.kind == rc::EventKind::progress)
        std::printf("progress %d/%d: %s\n", e.done, e.total, e.message.c_str());
      else if (e.level >= rc::LogLevel::info)
        std::printf("%s\n", e.message.c_str());
      std::fflush(stdout);
    };
    cluster = rc::Cluster::open(rc::load_spec_file(argv[1]), options);

    rc::CancelToken cancel;  // cancel.cancel() from any thread would stop the up
    auto up = std::async(std::launch::async, [&] { cluster->up({}, cancel); });
    while (up.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
      auto st = cluster->status();
      std::printf("... %zu node(s) so far\n", st.nodes.size());
    }
    up.get();  // rethrows what up threw

    std::printf("status: %s\n", cluster->status().to_value().to_json(2).c_str());
    std::printf("head: %s\n", cluster->head_ip().c_str());
    // Ray publishes its first cluster status a few seconds after the head
    // starts; until then `ray status` says so: ask again for a while.
    std::string out;
    rc::ExecOptions exec;
    exec.on_output = [&](std::string_view line, bool) {
      out.append(line);
      out += '\n';
    };
    int code = 0;
    for (int tries = 0; tries < 30; ++tries) {
      out.clear();
      code = cluster->exec("ray status --address=$RAY_HEAD_IP:$RAYCLUSTER_GCS_PORT", exec);
      if (code != 0 || out.find("No cluster status") == std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    std::printf("%s`ray status` exited %d\n", out.c_str(), code);
    cluster->down();
    return 0;
  } catch (const rc::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  } catch (const rc::Error& e) {
    std::fprintf(stderr, "failed (%s): %s\n", rc::error_code_name(e.code()), e.what());
    if (cluster) {
      try {
        cluster->down();
      } catch (const rc::Error& e2) {
        std::fprintf(stderr, "down failed too: %s\n", e2.what());
      }
    }
    return 1;
  }
}
