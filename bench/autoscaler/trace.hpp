// trace-sim's model of a workload and the cluster it runs on, and the trace
// file format shared with the live replayer (bench/README.md, "Trace files").
//
// A trace file is JSON lines, one task per line:
//   {"arrival_s": 12.5, "duration_s": 30.0, "resources": {"CPU": 1}}
// or CSV with the header `arrival_s,duration_s,resources` and resources
// written `CPU=1;GPU=1`. Blank lines and lines starting with '#' are
// skipped; extra JSON keys are ignored. The first line may be a header
// {"trace": {"name": ..., "node_types": {"cpu": {"resources": {"CPU": 8},
// "max_workers": 20}, ...}, "boot_s": 60, "setup_s": 30,
// "idle_timeout_s": 300}} describing the cluster the trace was made for.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tracesim {

using ms_t = std::int64_t;
constexpr ms_t kSec = 1000;
constexpr ms_t kMin = 60 * kSec;
constexpr ms_t kHour = 60 * kMin;

using Resources = std::map<std::string, double>;  // name -> amount, amounts > 0

struct NodeTypeSpec {
  std::string name;
  Resources resources;
  int max_workers = 0;
  double cost_per_hour = 0;  // 0: unknown (the planner then uses Ray's scorer)
};

struct ClusterSpec {
  std::vector<NodeTypeSpec> node_types;  // worker types (the head runs no tasks)
  ms_t boot_ms = 60 * kSec;              // launch until SSH answers
  ms_t setup_ms = 30 * kSec;             // setup commands, ray start
  ms_t idle_timeout_ms = 5 * kMin;       // Ray's idle_timeout_minutes
  int max_workers = 270;                 // cluster-wide

  ms_t startup_ms() const { return boot_ms + setup_ms; }
};

struct Task {
  ms_t arrival = 0;
  ms_t duration = 0;
  int shape = 0;  // index into Workload::shapes
};

struct Workload {
  std::string name;
  ClusterSpec cluster;
  std::vector<Resources> shapes;  // distinct task shapes, in order of first appearance
  std::vector<Task> tasks;        // sorted by arrival

  // Adds a task, interning its shape.
  void add(ms_t arrival, ms_t duration, const Resources& shape);
  // Sorts the tasks by arrival (stable).
  void sort();
};

// The cluster every built-in workload runs on: "cpu8" {CPU: 8} and "gpu1"
// {CPU: 8, GPU: 1}.
ClusterSpec default_cluster();

// A malformed trace: what() is "FILE:LINE: message".
struct TraceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Reads a JSON-lines or CSV trace (told apart by the first task line). The
// cluster comes from the file's header when it has one, else `fallback`;
// the name from the header, else the file's base name without extension.
// Throws TraceError.
Workload read_trace(const std::string& path, const ClusterSpec& fallback);

// Writes `w` as JSON lines, header first. Times are written in ms precision,
// so reading the file back gives the same workload. Throws TraceError when
// the file cannot be written.
void write_trace(const std::string& path, const Workload& w);

// Parses a node type flag "NAME:CPU=8;GPU=1:MAX_WORKERS[:COST_PER_HOUR]".
// Throws std::invalid_argument.
NodeTypeSpec parse_node_type_flag(const std::string& flag);

}  // namespace tracesim
