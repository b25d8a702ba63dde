// raycluster: the autoscaler's reconcile loop and its load sources.
//
// An Autoscaler is bound to one Cluster. Each tick it
//   1. lists the cluster's nodes (one provider list call),
//   2. reads the load: Ray's head (GET <dashboard>/api/cluster_status: pending
//      tasks and actors, pending placement groups, ray.autoscaler.sdk
//      request_resources(), per-node usage), the resource request persisted in
//      the state folder (request_resources() below, `raycluster
//      request-resources`), and demand pushed with report_demand(),
//   3. calls the pure planner (raycluster::plan, autoscaler.hpp),
//   4. launches through the provider with Ray's tags, as Cluster::up does, and
//      sets new nodes up in the background (at most max_concurrent_setups at
//      once), and terminates idle, outdated and failed nodes with their reason.
// Idle workers are first drained through Ray's GCS (NodeDrainer, below),
// after a fresh read of the head's report: a worker the fresh report shows
// busy, or whose raylet refuses, stays; while the GCS cannot be reached no
// worker is ended for idleness alone. Workers ended for other reasons
// (outdated, above max_workers, type removed, failed setup) are not drained.
// A node whose setup failed is terminated (failed_setup) and replaced while
// demand remains; a failed launch puts its type in a cool-down (doubling from
// launch_cooldown up to max_launch_cooldown) so the planner tries another type.
// A tick makes at most max_api_calls_per_tick provider calls; what does not
// fit waits for the next tick. A tick is skipped while another operation
// (up, scale, down) holds the cluster.
//
// Idle time: Ray 2.x's report carries per-node usage but (autoscaler v1) no
// per-node idle time, so the loop keeps it: a node is busy while any of its
// resources other than memory, object_store_memory and node:* markers is in
// use; idle_for is the time since it was last seen busy (or since it first
// appeared in the report). When the report carries idleTimeMap, that wins.
// While the head's report is unavailable, no node counts as idle.
//
// Startup: the planner's startup-aware rules (autoscaler.hpp) get each node
// type's time from launch to usable: the type's startup_seconds when the
// config gives it, else the median of the loop's own last launch-to-ready
// times for the type (its node_ready events say both), and each node's age
// since launch. Idle workers are released before the idle timeout only when
// the config sets idle_release_after_startups.
//
// Task durations: with the config's launch_payback > 0, the loop reads how
// long finished tasks of each resource shape ran from Ray's state API
// (GET <dashboard>/api/v0/tasks, the same URL or tunnel as the report), in
// the background at most every 5 s, and gives the planner a decaying mean
// per shape (monitor/task_durations.hpp). A failing read keeps the last
// estimates. Without launch_payback nothing is read: launches are Ray's.
//
// Worker targets: each tick reads the counts `raycluster scale` set
// (cluster/worker_targets.hpp) and keeps each as its type's floor.
//
// The spec is the one the Cluster was opened with: as in Ray, workers whose
// launch config hash differs from it are terminated (outdated). After
// editing the config, restart the loop (Ray's monitor re-reads it each round;
// this one does not yet).
//
// Threads: start() runs ticks on a thread of its own until stop() (or the
// destructor); run() does the same on the caller's thread until cancel.
// tick() may be called directly instead (tests, hosts with their own loop),
// but not concurrently with start()/run(). request_resources() and
// report_demand() may be called from any thread at any time. The event
// callback is called from the loop's and the setup threads, one at a time.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "autoscaler/autoscaler.hpp"
#include "cluster/cluster.hpp"
#include "util/event.hpp"
#include "http/http.hpp"
#include "monitor/resource_request.hpp"

namespace raycluster {

// One Ray node as the head reports it.
struct RayNodeLoad {
  std::string ray_node_id;  // Ray's node id (hex)
  std::string ip;           // from its node:<ip> resource
  ResourceMap total;
  ResourceMap available;
  std::optional<std::chrono::milliseconds> idle_for;  // when the report has it
};

// The load one source reported.
struct ClusterLoad {
  bool ok = false;    // false: the source could not be read (see error)
  std::string error;  // why, for events
  std::chrono::system_clock::time_point report_time{};  // when the head made the report
  std::vector<ResourceDemand> demands;             // pending tasks and actors
  std::vector<PlacementGroup> placement_groups;    // pending placement groups
  std::vector<ResourceDemand> resource_requests;   // request_resources() floors
  std::vector<RayNodeLoad> nodes;
};

class LoadSource {
 public:
  virtual ~LoadSource() = default;
  // Never throws for an unreachable or malformed source: returns ok = false.
  virtual ClusterLoad read(const CancelToken& cancel) = 0;
};

// What Ray said to a request to drain a node before it is ended.
struct DrainResult {
  enum class Outcome { accepted, refused, unreachable };
  Outcome outcome = Outcome::unreachable;
  std::string message;  // the raylet's reason for refusing, or why Ray was not reached
};

// Asks Ray to drain a node it is about to end as idle, as Ray's autoscaler
// v2 does: the GCS's AutoscalerStateService/DrainNode with reason
// DRAIN_NODE_REASON_IDLE_TERMINATION. The node's raylet refuses while it
// runs or has been given work; once it accepts, it takes no new work.
class NodeDrainer {
 public:
  virtual ~NodeDrainer() = default;
  // `ray_node_id`: Ray's node id in hex, as the head's report has it. Never
  // throws but Error(cancelled): an unreachable GCS is Outcome::unreachable.
  virtual DrainResult drain_idle(const std::string& ray_node_id, const CancelToken& cancel) = 0;
};

// Ray's head: GET <base_url>/api/cluster_status?format=0 (base_url like
// "http://10.0.0.1:8265", or a local tunnel end). `transport` must outlive it.
std::unique_ptr<LoadSource> make_ray_head_load_source(std::string base_url,
                                                      HttpTransport& transport);

// The persisted resource request: monitor/resource_request.hpp.

// One decision or observation of the loop.
struct AutoscalerEvent {
  // "demand"        the pending load changed (detail describes it)
  // "infeasible"    demand no node type can hold
  // "launch"        count nodes of node_type launched (reason, node_ids;
  //                 for demand with launch_payback on, detail: the task
  //                 duration estimates the plan used)
  // "launch_failed" the provider refused a launch (detail; type cools down)
  // "node_ready"    a launched node finished setup (node_ids; detail: the
  //                 time since its launch and the type's startup estimate)
  // "setup_failed"  a node's setup failed (detail); it will be replaced
  // "terminate"     nodes terminated (reason, node_ids)
  // "drain"         an idle worker was asked to drain before its end
  //                 (node_ids: the one node; detail: "accepted", "refused:
  //                 <Ray's reason>", "busy in a fresh report", or "Ray's GCS
  //                 unreachable: <why>"); only accepted nodes are terminated
  // "durations"     the per-shape task duration estimates read from Ray's
  //                 state API changed (only with launch_payback on; detail:
  //                 mean, p90 and tasks per shape, and what Ray left out)
  // "load_error"    the head's report, or its task durations ("task
  //                 durations: ..."), could not be read (detail)
  // "tunnel"        an SSH tunnel to the head's dashboard was opened to read
  //                 its report (detail: the local URL and the head's port)
  // "target"        the worker counts `scale` set changed (detail: them)
  // "skipped"       the tick did nothing (detail: why)
  // "tick"          a tick finished (detail: figures)
  std::string type;
  std::string node_type;
  int count = 0;
  std::string reason;  // launch_reason_name / termination_reason_name
  std::vector<std::string> node_ids;
  std::string detail;
  std::chrono::system_clock::time_point time{};
  // "demand": when the head produced the report that showed it (zero if none).
  std::chrono::system_clock::time_point report_time{};

  // {"time":<unix seconds>,"event":type,...}: one line for `monitor --json`.
  std::string to_json() const;
};

struct AutoscalerOptions {
  std::chrono::milliseconds interval{5000};  // between tick starts, clamped to [100 ms, 10 min]
  int max_api_calls_per_tick = 16;           // provider calls (list, create, terminate)
  int max_concurrent_setups = 4;
  std::chrono::milliseconds launch_cooldown{30000};
  std::chrono::milliseconds max_launch_cooldown{300000};
  // Where Ray's head dashboard is reached; empty: the provider's
  // dashboard_url(head) where it has one (localhost), else an SSH tunnel the
  // loop opens to the head (Cluster::dashboard) and keeps while it answers.
  std::string dashboard_url;
  // The loop runs on the head itself (`raycluster monitor --on-head`): where
  // the provider gives no direct URL, the dashboard is read at
  // http://127.0.0.1:<dashboard_port>, without a tunnel.
  bool on_head = false;
  // Replaces the head as the load source (tests, hosts without Ray's head).
  std::shared_ptr<LoadSource> load_source;
  // Replaces the head's GCS as the drainer of idle workers (tests, hosts
  // without Ray's head); empty: the GCS, at the head's address where the
  // provider reaches it directly, 127.0.0.1 with on_head, else an SSH tunnel.
  std::shared_ptr<NodeDrainer> drainer;
  // Transport for the head's dashboard; empty: libcurl.
  std::shared_ptr<HttpTransport> transport;
  std::function<void(const AutoscalerEvent&)> on_event;
  WallClock now;  // default: system_clock::now
  Sleeper sleep;  // between ticks; default: CancelToken::sleep_for
};

// Figures of one tick.
struct TickResult {
  bool ran = false;  // false when skipped (lock held elsewhere, no head)
  Plan plan;
  int api_calls = 0;
  int launched = 0;
  int terminated = 0;
  std::chrono::microseconds duration{0};
  std::chrono::microseconds load_duration{0};  // part spent reading the load
};

class Autoscaler {
 public:
  // `cluster` must outlive the Autoscaler.
  explicit Autoscaler(Cluster& cluster, AutoscalerOptions options = {});
  ~Autoscaler();  // stop()
  Autoscaler(const Autoscaler&) = delete;
  Autoscaler& operator=(const Autoscaler&) = delete;

  // Ray's ray.autoscaler.sdk.request_resources(bundles=...): replaces the
  // previous request (persisted, so a restarted loop keeps it); bundles are
  // packed against the cluster's total capacity. Empty withdraws it.
  // Bundles stay aggregated by shape (see parse_resource_request()).
  void request_resources(const std::vector<ResourceDemand>& requests);
  // Pending demand from the host (replaces the previous report); added to
  // what Ray's head reports.
  void report_demand(std::vector<ResourceDemand> demand);

  // One reconcile round on the caller's thread. Throws only Error(cancelled);
  // failures of the provider or the load source become events.
  TickResult tick(const CancelToken& cancel = {});
  // Ticks every interval until cancel; waits for setups before returning.
  void run(const CancelToken& cancel);
  // Waits until every setup started so far has finished (e.g. after tick()).
  void drain();
  void start();  // run() on a thread of its own
  void stop();   // cancels, joins the loop and the setups; idempotent

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace raycluster
