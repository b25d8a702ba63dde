// planner-bench FILE...: times raycluster::plan() on ray-binpack-input/1 files.
//
// For each file prints one JSON line: file, median_ms (planning only, not
// parsing), runs, nodes_to_launch {type: count}, unfulfilled {shape: count},
// infeasible {shape: count}, terminations, peak_rss_mb (process-wide so far).
// Options: --runs N (default 7).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "autoscaler/binpack_input.hpp"
#include "autoscaler/autoscaler.hpp"
#include "util/error.hpp"

namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + '"';
}

std::string demands_json(const std::vector<raycluster::ResourceDemand>& ds) {
  std::string out = "{";
  for (std::size_t i = 0; i < ds.size(); ++i) {
    if (i) out += ',';
    out += quote(ds[i].shape.to_json()) + ':' + std::to_string(ds[i].count);
  }
  return out + '}';
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 7;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else {
      files.emplace_back(argv[i]);
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "usage: planner-bench [--runs N] FILE...\n");
    return 2;
  }
  int status = 0;
  for (const auto& path : files) {
    try {
      const raycluster::PlannerInput input = raycluster::detail::load_binpack_input(path);
      std::vector<double> ms;
      raycluster::Plan plan;
      for (int r = 0; r < runs; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        plan = raycluster::plan(input);
        auto t1 = std::chrono::steady_clock::now();
        ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
      std::sort(ms.begin(), ms.end());
      const double median = ms[ms.size() / 2];
      std::string base = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
      std::string launch = "{";
      bool first = true;
      for (const auto& [type, n] : plan.launch_totals()) {
        if (!first) launch += ',';
        first = false;
        launch += quote(type) + ':' + std::to_string(n);
      }
      launch += '}';
      char fig[96];
      std::snprintf(fig, sizeof fig, "\"median_ms\":%.3f,\"min_ms\":%.3f,\"runs\":%d", median, ms.front(), runs);
      char rss[48];
      std::snprintf(rss, sizeof rss, "%.1f", peak_rss_mb());
      std::printf("{\"file\":%s,%s,\"nodes\":%zu,\"demands\":%zu,\"nodes_to_launch\":%s,"
                  "\"unfulfilled\":%s,\"infeasible\":%s,\"terminations\":%zu,\"peak_rss_mb\":%s}\n",
                  quote(base).c_str(), fig, input.nodes.size(), input.demands.size(), launch.c_str(),
                  demands_json(plan.unfulfilled).c_str(), demands_json(plan.infeasible).c_str(),
                  plan.terminations.size(), rss);
      std::fflush(stdout);
    } catch (const raycluster::Error& e) {
      std::fprintf(stderr, "planner-bench: %s: %s\n", path.c_str(), e.what());
      status = 1;
    }
  }
  return status;
}
