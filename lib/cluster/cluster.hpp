// raycluster: the lifecycle of one cluster.
//
// Cluster::open() binds a ClusterSpec to its provider and its local state
// folder (~/.raycluster/<cluster_name>/, or $RAYCLUSTER_HOME/<cluster_name>/).
// up / scale / down / exec are long operations: they report Events to the
// sink given in ClusterOptions and stop at their CancelToken. Operations that
// change the cluster take the state folder's lock, so two processes never
// change one cluster at once (the second fails with ErrorCode::conflict).
// status(), head_ip() and worker_ips() do not take the lock.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "util/event.hpp"
#include "util/node.hpp"
#include "providers/common/context.hpp"
#include "providers/common/provider.hpp"
#include "spec/spec.hpp"
#include "util/value.hpp"

namespace raycluster {

struct ClusterOptions {
  EventSink events;        // may be empty
  std::string state_root;  // empty: $RAYCLUSTER_HOME, else ~/.raycluster
  // Nodes set up at once. Setup is mostly waiting on the nodes, so a thread
  // each is cheap; the bound keeps 1,000 new nodes from needing 1,000 threads.
  int parallelism = 128;
  // Per-command limit for setup and start commands; zero means none.
  std::chrono::milliseconds command_timeout{0};
  int setup_attempts = 2;  // tries of a failing setup step before update-failed
  std::chrono::milliseconds retry_backoff{1000};
  // What the provider the spec names is built on: its transport, clock,
  // sleeper, random source, environment, retry policy and credentials
  // (see providers/common/context.hpp). Empty: the real ones.
  std::optional<ProviderContext> provider_context;
};

struct UpOptions {
  // Re-run setup even when the node's config hashes say it is up to date.
  bool force_setup = false;
};

struct ScaleOptions {
  int workers = 0;         // the new number of workers of node_type
  std::string node_type;   // empty: the only worker type (an error if several)
};

struct DownOptions {
  bool workers_only = false;
  bool keep_min_workers = false;
  // Also delete the cluster's volumes (the `storage:` section) and their
  // data; without it `down` detaches them and keeps them for the next `up`.
  // Only with a full down (not workers_only / keep_min_workers).
  bool delete_storage = false;
};

struct ExecOptions {
  std::string node_id;  // empty: the head
  std::chrono::milliseconds timeout{0};
  std::function<void(std::string_view line, bool is_stderr)> on_output;
};

// Where the cluster's autoscaler runs and, on the head, how it does.
struct AutoscalerStatus {
  std::string site = "off";  // "head", "local" or "off" (the config's choice, see README)
  bool installed = false;    // head: its folder is on the head
  std::string service;       // head: "systemd-user", "systemd-system", "loop" or "none"
  bool alive = false;        // head: its service and the autoscaler itself run
  std::string where;         // head: "<head id>:<its folder>"
  Value report;              // head: its status.json (pid, ticks, last_tick, last_decision) or null
  std::string error;         // head: why the head could not be asked
};

struct ClusterStatus {
  std::string cluster_name;
  std::string cluster_id;
  std::string provider;
  std::vector<Node> nodes;  // head first, then workers by launch time
  std::string head_ip;
  std::string dashboard;  // how to reach the dashboard
  AutoscalerStatus autoscaler;
  // Each node type's resources: the config's, plus what the cloud says its
  // machines have (see Cluster::fill_node_type_resources).
  std::map<std::string, std::map<std::string, double>> node_type_resources;

  // JSON shape: {"cluster_name","cluster_id","provider","head_ip","dashboard",
  //  "nodes":[{"id","kind","node_type","state","status","internal_ip",
  //  "external_ip","launch_time","tags"}],
  //  "autoscaler":{"site","installed","service","alive","where","report","error"},
  //  "node_types":{name:{"resources":{name:amount}}}}
  Value to_value() const;
};

// A port of the head reached from this machine: carried over SSH to
// 127.0.0.1:port(), or the head's own address where this machine reaches its
// ports directly (the localhost provider). Closes when destroyed; its const
// members may be called from any thread.
class Tunnel {
 public:
  Tunnel(std::string host, int port, std::unique_ptr<PortForward> carrier);
  ~Tunnel();
  Tunnel(const Tunnel&) = delete;
  Tunnel& operator=(const Tunnel&) = delete;

  const std::string& host() const { return host_; }
  int port() const { return port_; }
  // True when no tunnel was needed (host() is the head's address).
  bool direct() const { return !carrier_; }
  // "http://host:port".
  std::string url() const;
  // Connections carried so far (0 when direct).
  std::uint64_t connections() const;

 private:
  std::string host_;
  int port_;
  std::unique_ptr<PortForward> carrier_;
};

class Cluster {
 public:
  // Uses the provider the spec names. Opening makes no cloud calls. When it
  // makes the state folder, the first operation looks for the cluster in
  // the cloud by name and takes over the one cluster id it finds (a warning
  // event says so), so a lost folder does not orphan a running cluster.
  static std::unique_ptr<Cluster> open(ClusterSpec spec, ClusterOptions options = {});
  // Uses the given provider (tests, embedders with their own provider).
  static std::unique_ptr<Cluster> open(ClusterSpec spec, ClusterOptions options,
                                       std::unique_ptr<Provider> provider);
  ~Cluster();

  const ClusterSpec& spec() const;

  // Bootstraps, launches the head and the initial workers, sets every node up.
  // A second call reuses live nodes and re-runs setup only where the config
  // that shaped a node changed. Throws Error; a node whose setup failed makes
  // it throw ErrorCode::command_failed after every other node was handled.
  void up(const UpOptions& options = {}, const CancelToken& cancel = {});
  void scale(const ScaleOptions& options, const CancelToken& cancel = {});
  void down(const DownOptions& options = {}, const CancelToken& cancel = {});
  ClusterStatus status();
  // Runs a command on a node; returns its exit status.
  int exec(const std::string& command, const ExecOptions& options = {},
           const CancelToken& cancel = {});
  std::string head_ip();
  std::vector<std::string> worker_ips();
  // Reaches `remote_port` on the head (its 127.0.0.1:remote_port) from this
  // machine: an SSH tunnel listening on 127.0.0.1:local_port (0: a free
  // port), or the head's address when the provider reaches its ports
  // directly. Nothing is opened to other machines. Throws Error(not_found)
  // without a head, Error(unavailable/auth) when the head cannot be reached.
  std::unique_ptr<Tunnel> tunnel(int remote_port, int local_port = 0);
  // The head's Ray dashboard: the provider's direct URL when it has one,
  // else a tunnel to the config's dashboard_port (8265).
  std::unique_ptr<Tunnel> dashboard(int local_port = 0);
  // The head's Ray GCS (gRPC): the head's address where the provider reaches
  // it directly, else a tunnel, to the provider's GCS port or the config's
  // gcs_port (6379).
  std::unique_ptr<Tunnel> gcs(int local_port = 0);
  // The head's GCS port as the provider knows it, else the config's gcs_port.
  int gcs_port(const Node& head);
  // Prints the head autoscaler's log through `on_output` (the last 200
  // lines; with `follow`, then what it writes until cancel). Returns the
  // command's exit status (non-zero when the head has no such log).
  int autoscaler_log(bool follow, const ExecOptions& options, const CancelToken& cancel = {});
  // Sends the state folder's file `name` (e.g. requested_resources.json) to
  // the autoscaler on the head, which keeps a state folder of its own there;
  // nothing when it runs elsewhere or shares this folder (localhost).
  void share_with_head_autoscaler(const std::string& name);

  // A runner for commands on the node (`attach` uses it for a shell).
  std::unique_ptr<CommandRunner> command_runner(const Node& node);
  // The environment the provider adds to every command on the node (the
  // localhost provider's ports and folders; empty for clouds).
  std::map<std::string, std::string> node_environment(const Node& node);
  // A URL at which this machine reaches the head's dashboard directly, or
  // empty when only a tunnel reaches it (see dashboard()).
  std::string dashboard_url(const Node& head);

  // Building blocks for the autoscaler's reconcile loop (raycluster::Autoscaler).
  // They neither take the operation lock nor bootstrap the provider; the
  // caller does (try_lock_operations(), bootstrap()).

  // Creates (or reuses) what nodes need before the first launch, as up()
  // does first; its events go to ClusterOptions::events.
  void bootstrap(const CancelToken& cancel = {});

  // Adds to each node type the resources the cloud says its machines have
  // (Provider::node_type_resources: CPU, GPU, accelerator_type:*, memory for
  // workers, as Ray's AWS provider fills them); the config's own values win.
  // Asks the provider once per Cluster (later calls return at once); up()
  // calls it after bootstrap, the autoscaler before its first plan. Call it
  // while no other operation on this Cluster is in flight: it changes spec().
  void fill_node_type_resources(const CancelToken& cancel = {});

  // The cluster's state folder (~/.raycluster/<cluster_name>).
  const std::string& state_dir() const;
  // The cluster's live nodes: one provider list call.
  std::vector<Node> nodes();
  // Launches `count` workers of a worker type, tagged as up() tags them, and
  // does not set them up. `current` are the cluster's nodes now and
  // `token_salt` tells this launch apart from an earlier one of the same
  // shape; both go into the idempotency token.
  std::vector<Node> launch_workers(const std::string& node_type, int count,
                                   const std::vector<Node>& current,
                                   const std::string& token_salt = {});
  // Sets one node up as up() does (file mounts, setup and start commands),
  // joining it to `head`. Throws Error(command_failed) with the failing step,
  // Error(cancelled) when cancel fires. Thread-safe for distinct nodes.
  // A node whose setup is current but whose file mounts changed since
  // (file_mounts_sync_continuously) gets only its files copied again.
  void setup_node(const Node& node, const Node& head, const CancelToken& cancel = {});
  // Of `nodes`, the live ones set up whose file mounts changed since
  // (file_mounts_sync_continuously; none without it): setup_node copies
  // their files again and runs nothing.
  std::vector<Node> nodes_with_stale_files(const std::vector<Node>& nodes);
  // Terminates the nodes; `reason` goes into the events.
  void terminate_nodes(const std::vector<Node>& nodes, const std::string& reason);
  // The operation lock without waiting: held until the returned handle is
  // destroyed; empty when another operation (up, scale, down) holds it.
  std::shared_ptr<void> try_lock_operations();

 private:
  struct Impl;
  explicit Cluster(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace raycluster
