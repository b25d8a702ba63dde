#include "cluster/cluster.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <future>
#include <mutex>
#include <set>

#include "autoscaler/bounds.hpp"
#include "cluster/hashes.hpp"
#include "cluster/storage.hpp"
#include "cluster/head_service.hpp"
#include "cluster/synced_files.hpp"
#include "cluster/worker_targets.hpp"
#include "cluster/provider_factory.hpp"
#include "util/error.hpp"
#include "updater/container_runner.hpp"
#include "updater/updater.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"
#include "util/ids.hpp"
#include "util/parallel.hpp"
#include "util/strings.hpp"

namespace raycluster {

using detail::ClusterIdentity;

namespace {

std::string state_root(const ClusterOptions& options) {
  if (!options.state_root.empty()) return options.state_root;
  if (const char* h = std::getenv("RAYCLUSTER_HOME"); h && *h) return h;
  return detail::home_dir() + "/.raycluster";
}

std::string where(const ClusterSpec& spec, std::string_view key) {
  auto loc = spec.origin(key);
  if (loc.file.empty()) return {};
  if (loc.line == 0) return loc.file + ": ";
  return loc.file + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.column) + ": ";
}

void write_identity(const ClusterSpec& spec, const ClusterIdentity& id, bool adopted);

// Reads or creates the cluster's identity file.
ClusterIdentity open_identity(const ClusterSpec& spec, const ClusterOptions& options) {
  ClusterIdentity id;
  id.name = spec.cluster_name;
  id.state_dir = state_root(options) + "/" + spec.cluster_name;
  detail::make_dirs(id.state_dir, 0700);
  std::string path = id.state_dir + "/cluster.json";
  detail::FileLock lock(id.state_dir + "/identity.lock", true);
  if (detail::path_exists(path)) {
    Value v = Value::parse_json(detail::read_file(path, 1 << 20));
    if (auto* cid = v.find("cluster_id"); cid && cid->is_string()) id.id = cid->as_string();
  }
  if (id.id.empty()) {
    id.id = detail::random_hex(8);
    id.fresh = true;
    write_identity(spec, id, false);
  }
  return id;
}

void write_identity(const ClusterSpec& spec, const ClusterIdentity& id, bool adopted) {
  Value v = Value::object();
  v.set("cluster_name", spec.cluster_name);
  v.set("cluster_id", id.id);
  v.set("provider", provider_kind_name(spec.provider.kind));
  v.set("config_file", spec.source_file);
  if (adopted) v.set("adopted", true);
  detail::write_file_atomic(id.state_dir + "/cluster.json", v.to_json(2) + "\n", 0600);
}

std::string resources_json(const NodeTypeSpec& type) {
  Value r = Value::object();
  for (const auto& [k, v] : type.resources) {
    double iv = static_cast<double>(static_cast<std::int64_t>(v));
    if (iv == v)
      r.set(k, static_cast<std::int64_t>(v));
    else
      r.set(k, v);
  }
  return r.to_json();
}

// Splits `nodes`: `head` gets the current head, if any; returned are the
// nodes to go: of types the config no longer has, with a changed launch
// config, and extra heads.
std::vector<Node> stale_nodes(const ClusterSpec& spec, const std::vector<Node>& nodes,
                              std::optional<Node>& head) {
  std::vector<Node> stale;
  for (const auto& n : nodes) {
    const auto* t = spec.find_node_type(n.node_type);
    if (!t) {
      stale.push_back(n);
      continue;
    }
    auto it = n.tags.find(tags::launch_config);
    if (n.kind == NodeKind::head) {
      bool current = n.node_type == spec.head_node_type && it != n.tags.end() &&
                     it->second == detail::launch_hash(spec, *t, NodeKind::head);
      if (!current || head)
        stale.push_back(n);
      else
        head = n;
    } else if (it == n.tags.end() || it->second != detail::launch_hash(spec, *t, NodeKind::worker)) {
      stale.push_back(n);
    }
  }
  return stale;
}

// The SSH sources the provider found at bootstrap, into the spec the head
// autoscaler gets (so that it need not look them up from the head).
void adopt_ssh_cidrs(ProviderSpec& provider, const std::vector<std::string>& cidrs) {
  if (cidrs.empty()) return;
  provider.ssh_allowed_cidrs = cidrs;
  Value list = Value::array();
  for (const auto& c : cidrs) list.push(c);
  if (!provider.raw.is_object()) provider.raw = Value::object();
  provider.raw.set("ssh_allowed_cidrs", std::move(list));
}

}  // namespace

struct Cluster::Impl {
  ClusterSpec spec;
  std::mutex resources_mu;
  std::mutex synced_mu;  // one fetch of cluster_synced_files at a time
  bool resources_filled = false;
  ClusterOptions options;
  ClusterIdentity identity;
  std::unique_ptr<Provider> provider;
  std::mutex sink_mu;

  void emit(const Event& e) {
    if (!options.events) return;
    std::lock_guard<std::mutex> lock(sink_mu);
    try {
      options.events(e);
    } catch (...) {
      // A throwing sink must not break the operation.
    }
  }
  EventSink sink() {
    return [this](const Event& e) { emit(e); };
  }
  void info(const std::string& msg, LogLevel level = LogLevel::info) {
    Event e;
    e.kind = EventKind::log;
    e.level = level;
    e.message = msg;
    emit(e);
  }
  void progress(int done, int total, const std::string& msg) {
    Event e;
    e.kind = EventKind::progress;
    e.done = done;
    e.total = total;
    e.message = msg;
    emit(e);
  }

  // A state folder made just now, for a cluster name the cloud already
  // runs: the folder was lost, or this is another machine. When the nodes of
  // that name carry one cluster id, this folder takes it over, as `ray`
  // finds a cluster by its name alone; with several ids it is not clear
  // whose cluster is meant, and the nodes stay foreign (listed by `down`).
  // Done once, by the first operation (opening stays free of cloud calls);
  // a failed look is tried again by the next one.
  std::mutex identity_mu;
  bool identity_settled = false;
  bool warned = false;  // the provider's warnings() were reported
  std::vector<std::unique_ptr<Provider>> retired;  // references may outlive a swap
  detail::AutoscalerPlacement placement;
  bool callers_provider = false;  // open() with a provider object: never on the head
  std::vector<std::string> start_command_warnings;  // --autoscaling-config dropped

  // ---- the head autoscaler (head_service.hpp) ----
  detail::HeadAutoscalerService head_service() {
    detail::HeadAutoscalerService service(spec, identity.id, state_root(options), identity.state_dir,
                                         [this](const std::string& m, LogLevel l) { info(m, l); });
    service.adjust_spec = [this](Value& v) { provider->adjust_head_spec(v); };
    return service;
  }
  struct HeadLink {
    std::unique_ptr<CommandRunner> runner;
    detail::HeadAccess access;
  };
  std::unique_ptr<HeadLink> head_link(const Node& head) {
    auto runner = provider->command_runner(head);
    auto* r = runner.get();
    return std::unique_ptr<HeadLink>(new HeadLink{
        std::move(runner),
        detail::HeadAccess{*r, provider->node_environment(head),
                           spec.provider.kind == ProviderKind::localhost}});
  }
  // The state file the head autoscaler changes too (on-prem: the claimed
  // machines); empty where the cloud keeps the nodes or the folder is shared.
  std::string shared_state_file() const {
    return spec.provider.kind == ProviderKind::onprem ? "onprem.json" : "";
  }
  // While a head autoscaler runs, its copy of the shared state is the newer one.
  void pull_head_state(const Node& head) {
    if (shared_state_file().empty() || placement.site != detail::AutoscalerSite::head) return;
    try {
      auto link = head_link(head);
      head_service().pull_state_file(link->access, shared_state_file());
    } catch (const Error& e) {
      info("head autoscaler: could not read its node records from the head: " + std::string(e.what()),
           LogLevel::warning);
    }
  }
  void push_head_state(const Node& head, const std::string& name) {
    if (placement.site != detail::AutoscalerSite::head || name.empty()) return;
    auto link = head_link(head);
    head_service().push_state_file(link->access, name);
  }
  // Installs (or updates) the head autoscaler, or stops one the config no longer wants.
  void settle_head_autoscaler(const Node& head, const CancelToken& cancel) {
    if (callers_provider) return;
    auto link = head_link(head);
    auto service = head_service();
    if (placement.site == detail::AutoscalerSite::head) {
      if (!shared_state_file().empty()) service.push_state_file(link->access, shared_state_file());
      try {
        service.install(link->access, cancel);
      } catch (const Error& e) {
        // The cluster is up; only scaling by itself is missing: say so and how.
        if (e.code() != ErrorCode::not_found && e.code() != ErrorCode::unsupported) throw;
        info(std::string(e.what()) + "; the cluster will not scale by itself until this is fixed "
                 "and `up` runs again (or run `raycluster monitor` where raycluster is)",
             LogLevel::warning);
      }
      return;
    }
    if (service.installed_from_here() && service.stop(link->access))
      info("head autoscaler stopped: the config runs the autoscaler " +
           std::string(detail::autoscaler_site_name(placement.site) == std::string("off")
                           ? "nowhere (autoscaler: off, or nothing can scale)"
                           : "only where `raycluster monitor` runs (autoscaler: local)"));
  }
  // `down` first: no worker may be launched while the cluster goes.
  void stop_head_autoscaler(const std::optional<Node>& head) {
    if (!head || callers_provider) return;
    if (placement.site != detail::AutoscalerSite::head && !head_service().installed_from_here()) return;
    try {
      auto link = head_link(*head);
      info("stopping the head autoscaler");
      if (head_service().stop(link->access)) info("head autoscaler stopped");
      if (!shared_state_file().empty()) {
        // Ours is the truth again until the next `up` sends it back.
        head_service().pull_state_file(link->access, shared_state_file());
        head_service().drop_state_file(link->access, shared_state_file());
      }
    } catch (const Error& e) {
      info("head autoscaler: could not reach the head to stop it: " + std::string(e.what()),
           LogLevel::warning);
    }
  }

  void settle_identity(const CancelToken& cancel) {
    std::lock_guard<std::mutex> lock(identity_mu);
    if (identity_settled) return;
    if (!warned) {
      for (const auto& w : provider->warnings()) info(w, LogLevel::warning);
      warned = true;
    }
    if (identity.fresh) adopt_cloud_identity(cancel);
    identity_settled = true;
  }

  void adopt_cloud_identity(const CancelToken& cancel) {
    auto found = provider->cluster_ids_in_use(cancel);
    std::erase(found, identity.id);
    if (found.empty()) return;
    if (found.size() > 1) {
      info("nodes named " + spec.cluster_name + " carry " + std::to_string(found.size()) +
               " other cluster ids (" + detail::join(found, ", ") + "); this new state folder " +
               identity.state_dir + " takes none of them over",
           LogLevel::warning);
      return;
    }
    {
      detail::FileLock lock(identity.state_dir + "/identity.lock", true);
      identity.id = found.front();
      write_identity(spec, identity, true);
    }
    identity.fresh = false;
    info("cluster " + spec.cluster_name + " runs in the cloud with id " + identity.id +
             ", launched from another state folder; the new state folder " + identity.state_dir +
             " takes it over",
         LogLevel::warning);
    retired.push_back(std::move(provider));
    provider = make_provider();
  }

  // The provider the spec names, on the caller's context if it gave one.
  std::unique_ptr<Provider> make_provider() const {
    return detail::make_provider(spec, identity, options.provider_context.value_or(ProviderContext{}));
  }

  Tags cluster_filter() const {
    return {{tags::cluster_name, spec.cluster_name}, {tags::cluster_id, identity.id}};
  }

  std::vector<Node> nodes() {
    settle_identity({});
    return provider->list(cluster_filter());
  }

  static std::optional<Node> head_of(const std::vector<Node>& nodes) {
    for (const auto& n : nodes)
      if (n.kind == NodeKind::head) return n;
    return std::nullopt;
  }

  std::string ip_of(const Node& n) const {
    if (spec.provider.use_internal_ips || n.external_ip.empty()) return n.internal_ip;
    return n.external_ip;
  }

  std::unique_ptr<detail::FileLock> lock_cluster() {
    return std::make_unique<detail::FileLock>(identity.state_dir + "/operation.lock", false);
  }

  // The node's runner; commands go into its container when its type (or the
  // cluster) names a docker image.
  std::unique_ptr<CommandRunner> runner_for(const Node& node) {
    auto runner = provider->command_runner(node);
    auto c = detail::container_config(spec, type_of(node), node.kind);
    if (!c) return runner;
    // Localhost nodes share this machine, hence its containers and /tmp.
    if (spec.provider.kind == ProviderKind::localhost) {
      std::string id = node.id;
      for (char& ch : id)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '.' && ch != '-')
          ch = '-';
      c->container_name += "-" + id;
      c->host_mount_prefix += "/" + id;
      // The node's folder (Ray's temp folder, logs) at the same path inside.
      auto env = provider->node_environment(node);
      if (auto it = env.find("RAYCLUSTER_NODE_DIR"); it != env.end())
        c->run_options.push_back("-v " + detail::shell_quote(it->second + ":" + it->second));
    }
    return std::make_unique<detail::ContainerRunner>(std::move(runner), std::move(*c));
  }

  // Nodes that outlive their termination (on-prem machines, this machine)
  // keep no container: Ray is stopped in it and it is removed, as Ray's
  // `down` does.
  void remove_containers(const std::vector<Node>& victims) {
    if (spec.provider.kind != ProviderKind::onprem && spec.provider.kind != ProviderKind::localhost)
      return;
    for (const auto& n : victims) {
      if (!detail::container_config(spec, type_of(n), n.kind)) continue;
      try {
        auto runner = runner_for(n);
        CommandOptions o;
        o.timeout = std::chrono::seconds(120);
        static_cast<detail::ContainerRunner&>(*runner).remove(o);
      } catch (const Error& e) {
        info(n.id + ": could not remove its container: " + e.what(), LogLevel::warning);
      }
    }
  }

  const NodeTypeSpec& type_of(const Node& n) const {
    const auto* t = spec.find_node_type(n.node_type);
    if (!t)
      throw Error(ErrorCode::not_found,
                  "node " + n.id + " has type " + n.node_type + ", which the config no longer has");
    return *t;
  }

  std::map<std::string, std::string> command_env(const Node& node, const Node& head) {
    auto env = provider->node_environment(node);
    const auto& type = type_of(node);
    env["RAY_HEAD_IP"] = head.internal_ip;
    env["RAYCLUSTER_NODE_TYPE"] = node.node_type;
    env["RAYCLUSTER_CLUSTER_NAME"] = spec.cluster_name;
    env["RAY_CLOUD_INSTANCE_ID"] = node.id;
    env["RAY_NODE_TYPE_NAME"] = node.node_type;
    if (env.find("RAYCLUSTER_GCS_PORT") == env.end())
      env["RAYCLUSTER_GCS_PORT"] = std::to_string(spec.gcs_port);
    if (env.find("RAYCLUSTER_DASHBOARD_PORT") == env.end())
      env["RAYCLUSTER_DASHBOARD_PORT"] = std::to_string(spec.dashboard_port);
    if (!type.resources.empty()) env["RAY_OVERRIDE_RESOURCES"] = resources_json(type);
    if (!type.labels.empty()) {
      Value l = Value::object();
      for (const auto& [k, v] : type.labels) l.set(k, v);
      env["RAY_OVERRIDE_LABELS"] = l.to_json();
    }
    return env;
  }

  Tags launch_tags(const NodeTypeSpec& type, NodeKind kind) {
    Tags t = spec.tags;  // the user's first, so Ray's names always win
    t[tags::cluster_name] = spec.cluster_name;
    t[tags::cluster_id] = identity.id;
    t[tags::node_kind] = node_kind_name(kind);
    t[tags::user_node_type] = type.name;
    t[tags::node_status] = status::uninitialized;
    t[tags::launch_config] = detail::launch_hash(spec, type, kind);
    return t;
  }

  // Same intent, same token: the cluster, the type, and the nodes that
  // already exist when the launch is decided.
  std::string launch_token(const NodeTypeSpec& type, NodeKind kind, int count,
                           const std::vector<Node>& existing, const std::string& salt = {}) {
    std::string basis = identity.id + "|" + type.name + "|" + node_kind_name(kind) + "|" +
                        std::to_string(count);
    if (!salt.empty()) basis += "|salt:" + salt;
    std::vector<std::string> ids;
    for (const auto& n : existing) ids.push_back(n.id);
    std::sort(ids.begin(), ids.end());
    for (const auto& id : ids) basis += "|" + id;
    return "rc-" + detail::sha256_hex(basis).substr(0, 40);
  }

  bool needs_setup(const Node& n, bool force) {
    // Ray's disable_node_updaters: workers set themselves up (image, user
    // data); they are only launched and tagged.
    if (n.kind == NodeKind::worker && spec.provider.disable_node_updaters) return false;
    if (force) return true;
    if (n.setup_status() != status::up_to_date) return true;
    auto it = n.tags.find(tags::runtime_config);
    return it == n.tags.end() || it->second != detail::runtime_hash(spec, type_of(n), n.kind);
  }

  // Ray's file_mounts_sync_continuously: a node whose setup is current but
  // whose files are not (`contents`: file_mounts_hash now) gets them again.
  bool files_stale(const Node& n, const std::string& contents) const {
    if (!spec.file_mounts_sync_continuously || n.setup_status() != status::up_to_date) return false;
    if (n.kind == NodeKind::worker && spec.provider.disable_node_updaters) return false;
    auto it = n.tags.find(tags::file_mounts_contents);
    return it == n.tags.end() || it->second != contents;
  }

  // The head's cluster_synced_files for workers, fetched once per `batch`
  // (a setup of several workers), else for this node alone.
  std::shared_ptr<detail::SyncedFiles> synced_files(const Node& node, const Node& head,
                                                    std::shared_ptr<detail::SyncedFiles>* batch) {
    if (node.kind != NodeKind::worker || spec.cluster_synced_files.empty()) return nullptr;
    std::lock_guard<std::mutex> lock(synced_mu);
    if (batch && *batch) return *batch;
    auto runner = runner_for(head);
    auto fetched = std::make_shared<detail::SyncedFiles>(spec, *runner, identity.state_dir);
    for (const auto& m : fetched->missing())
      info("cluster_synced_files: " + m + " is not on the head; skipped", LogLevel::warning);
    if (batch) *batch = fetched;
    return fetched;
  }

  static detail::UpdateResult cancelled_setup() {
    detail::UpdateResult r;
    r.cancelled = true;
    r.failed_step = "waiting for the head";
    return r;
  }

  // `head_ready`, when given, holds the worker's start commands until the
  // head's setup ended (true: it came up). `files_only`: copy the files and
  // run nothing (their contents changed, the rest is current).
  detail::UpdateResult setup(const Node& node, const Node& head, const CancelToken& cancel,
                             std::shared_future<bool> head_ready = {}, bool files_only = false,
                             std::shared_ptr<detail::SyncedFiles>* synced_batch = nullptr) {
    const auto& type = type_of(node);
    detail::SetupPlan plan;
    for (const auto& [remote, local] : spec.file_mounts) plan.file_mounts.emplace_back(remote, local);
    plan.rsync_exclude = spec.rsync_exclude;
    plan.rsync_filter = spec.rsync_filter;
    plan.files_only = files_only;
    if (node.kind == NodeKind::worker && !spec.cluster_synced_files.empty() && head_ready.valid()) {
      // The head's cluster_synced_files are there once its setup ended.
      while (head_ready.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready)
        if (cancel.cancelled()) return cancelled_setup();
      if (!head_ready.get()) return cancelled_setup();
    }
    auto synced = synced_files(node, head, synced_batch);
    if (synced) plan.synced_files = synced->files();
    // As Ray resolves them: a type's own worker_setup_commands replace the
    // cluster's setup_commands + worker_setup_commands.
    NodeCommands commands = node_commands(spec, type, node.kind == NodeKind::head);
    plan.initialization_commands = std::move(commands.initialization);
    plan.setup_commands = std::move(commands.setup);
    plan.start_commands = std::move(commands.start);
    plan.env = command_env(node, head);
    plan.runtime_hash = detail::runtime_hash(spec, type, node.kind);
    plan.file_mounts_hash = detail::file_mounts_hash(spec);
    plan.start_lock_path = provider->start_lock_path(plan.start_commands);
    if (head_ready.valid() && node.kind == NodeKind::worker)
      plan.before_start = [head_ready](const CancelToken& c) {
        while (head_ready.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready)
          if (c.cancelled()) return false;
        return head_ready.get();
      };
    detail::UpdaterOptions uo;
    uo.command_timeout = options.command_timeout;
    uo.attempts = std::max(1, options.setup_attempts);
    uo.retry_backoff = options.retry_backoff;
    if (!files_only) provider->reset_runtime(node);
    auto runner = runner_for(node);
    return detail::update_node(node, plan, *provider, *runner, uo, sink(), cancel);
  }

  // Sets the nodes up in parallel; returns the failures.
  // With `with_head`, todo[0] is the head and the workers' start commands
  // wait for it, while everything before them runs alongside its setup.
  std::vector<std::pair<Node, detail::UpdateResult>> setup_all(const std::vector<Node>& todo,
                                                               const Node& head,
                                                               const CancelToken& cancel,
                                                               bool with_head = false,
                                                               const std::set<std::string>& files_only = {}) {
    std::vector<std::pair<Node, detail::UpdateResult>> failures;
    std::shared_ptr<detail::SyncedFiles> synced;
    std::mutex mu;
    std::atomic<int> done{0};
    int total = static_cast<int>(todo.size());
    std::promise<bool> head_result;
    std::shared_future<bool> head_ready;
    if (with_head) head_ready = head_result.get_future().share();
    // parallel_for hands out indices in order, so the head (index 0) never
    // waits behind workers that wait for it.
    detail::parallel_for(todo.size(), static_cast<std::size_t>(std::max(1, options.parallelism)),
                         [&](std::size_t i) {
                           detail::UpdateResult r;
                           if (cancel.cancelled()) {
                             r.cancelled = true;
                             r.failed_step = "start";
                           } else {
                             try {
                               r = setup(todo[i], head, cancel, head_ready,
                                         files_only.count(todo[i].id) > 0, &synced);
                             } catch (const std::exception& e) {
                               r.failed_step = "setup";
                               r.output_tail = e.what();
                             }
                           }
                           if (with_head && i == 0) head_result.set_value(r.ok);
                           progress(++done, total, todo[i].id + (r.ok ? " ready" : " not ready"));
                           if (!r.ok) {
                             std::lock_guard<std::mutex> lock(mu);
                             failures.emplace_back(todo[i], r);
                           }
                         });
    return failures;
  }

  [[noreturn]] void throw_failures(
      const std::vector<std::pair<Node, detail::UpdateResult>>& failures) {
    bool all_cancelled = std::all_of(failures.begin(), failures.end(),
                                     [](const auto& f) { return f.second.cancelled; });
    if (all_cancelled) throw Error(ErrorCode::cancelled, "operation cancelled");
    std::size_t held = 0;
    std::string list;
    for (const auto& [n, r] : failures) {
      if (r.cancelled) {
        ++held;
        continue;
      }
      list += "\n  " + n.id + " (" + n.node_type + "): " + r.summary();
    }
    std::string msg = std::to_string(failures.size() - held) + " node(s) failed to set up:" + list;
    if (held > 0)
      msg += "\n" + std::to_string(held) +
             " worker(s) set up but not started: the head did not come up";
    throw Error(ErrorCode::command_failed, msg);
  }

  std::vector<Node> launch(const NodeTypeSpec& type, NodeKind kind, int count,
                           const std::vector<Node>& existing, const std::string& salt = {}) {
    LaunchRequest req;
    req.node_type = &type;
    req.kind = kind;
    req.count = count;
    req.tags = launch_tags(type, kind);
    req.idempotency_token = launch_token(type, kind, count, existing, salt);
    req.events = sink();
    info("launching " + std::to_string(count) + " " + node_kind_name(kind) + " node(s) of type " +
         type.name);
    auto made = provider->create(req);
    for (const auto& n : made) {
      Event e;
      e.kind = EventKind::node_status;
      e.node_id = n.id;
      e.node_type = n.node_type;
      e.status = status::uninitialized;
      e.message = n.id + " launched (" + n.internal_ip + ")";
      emit(e);
    }
    return made;
  }

  int workers_of(const std::vector<Node>& nodes, const std::string& type) {
    return static_cast<int>(std::count_if(nodes.begin(), nodes.end(), [&](const Node& n) {
      return n.kind == NodeKind::worker && n.node_type == type;
    }));
  }

  void terminate(const std::vector<Node>& victims, const std::string& why) {
    if (victims.empty()) return;
    std::vector<std::string> ids;
    for (const auto& n : victims) ids.push_back(n.id);
    info("terminating " + std::to_string(ids.size()) + " node(s): " + why);
    remove_containers(victims);
    provider->terminate(ids);
    for (const auto& n : victims) {
      Event e;
      e.kind = EventKind::node_status;
      e.node_id = n.id;
      e.node_type = n.node_type;
      e.status = "terminated";
      e.message = n.id + " terminated";
      emit(e);
    }
  }
};

Cluster::Cluster(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Cluster::~Cluster() = default;

std::unique_ptr<Cluster> Cluster::open(ClusterSpec spec, ClusterOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->identity = open_identity(spec, options);
  impl->spec = std::move(spec);
  impl->options = std::move(options);
  impl->provider = impl->make_provider();
  impl->placement = detail::place_autoscaler(
      impl->spec, detail::path_exists(impl->identity.state_dir + "/requested_resources.json"),
      impl->provider->makes_head_identity());
  if (impl->placement.site == detail::AutoscalerSite::head)
    impl->start_command_warnings = detail::strip_autoscaling_config(impl->spec.head_start_ray_commands);
  return std::unique_ptr<Cluster>(new Cluster(std::move(impl)));
}

std::unique_ptr<Cluster> Cluster::open(ClusterSpec spec, ClusterOptions options,
                                       std::unique_ptr<Provider> provider) {
  if (!provider) throw Error(ErrorCode::invalid_argument, "Cluster::open: no provider");
  auto impl = std::make_unique<Impl>();
  impl->identity = open_identity(spec, options);
  impl->spec = std::move(spec);
  impl->options = std::move(options);
  impl->provider = std::move(provider);
  impl->identity_settled = true;  // the caller's provider: no swapping it
  // A provider object of the caller's cannot be made again on the head: the
  // autoscaler runs where the caller runs it (raycluster::Autoscaler).
  impl->callers_provider = true;
  if (impl->spec.autoscaler != "off" && detail::cluster_can_scale(impl->spec, false))
    impl->placement.site = detail::AutoscalerSite::local;
  return std::unique_ptr<Cluster>(new Cluster(std::move(impl)));
}

const ClusterSpec& Cluster::spec() const { return impl_->spec; }

std::unique_ptr<CommandRunner> Cluster::command_runner(const Node& node) {
  return impl_->runner_for(node);
}

std::map<std::string, std::string> Cluster::node_environment(const Node& node) {
  return impl_->provider->node_environment(node);
}

std::string Cluster::dashboard_url(const Node& head) { return impl_->provider->dashboard_url(head); }

void Cluster::fill_node_type_resources(const CancelToken& cancel) {
  auto& I = *impl_;
  std::lock_guard<std::mutex> lock(I.resources_mu);
  if (I.resources_filled) return;
  for (auto& t : I.spec.node_types) {
    auto found = I.provider->node_type_resources(t, t.name == I.spec.head_node_type, cancel);
    for (const auto& [name, amount] : found) t.resources.emplace(name, amount);
  }
  I.resources_filled = true;
}

void Cluster::bootstrap(const CancelToken& cancel) {
  impl_->settle_identity(cancel);
  impl_->provider->bootstrap(impl_->sink(), cancel);
}

void Cluster::up(const UpOptions& options, const CancelToken& cancel) {
  auto& I = *impl_;
  detail::refuse_tpu_node_types(I.spec);
  auto lock = I.lock_cluster();
  const auto& spec = I.spec;
  I.settle_identity(cancel);
  for (const auto& w : I.start_command_warnings) I.info(w, LogLevel::warning);
  if (!I.placement.warning.empty()) I.info(I.placement.warning, LogLevel::warning);
  detail::clear_worker_targets(I.identity.state_dir);
  detail::Storage storage(spec, *I.provider, [&I](const std::string& m, LogLevel l) { I.info(m, l); });
  storage.check_supported();
  // The head autoscaler's cloud identity first: a refusal stops `up` before anything exists.
  if (I.placement.site == detail::AutoscalerSite::head && !I.callers_provider &&
      I.provider->makes_head_identity() && !detail::head_names_cloud_identity(spec))
    I.provider->prepare_head_identity(I.sink(), cancel);
  I.info("bootstrapping " + I.provider->name() + " resources for cluster " + spec.cluster_name);
  I.provider->bootstrap(I.sink(), cancel);
  cancel.throw_if_cancelled();
  // The head autoscaler allows SSH from where `up` found this machine, as `up` did.
  if (I.spec.provider.ssh_allowed_cidrs.empty())
    adopt_ssh_cidrs(I.spec.provider, I.provider->resolved_ssh_cidrs());
  fill_node_type_resources(cancel);

  if (auto h = Impl::head_of(I.nodes())) I.pull_head_state(*h);
  auto nodes = I.nodes();
  // Nodes of types the config no longer has, and extra heads, go first.
  std::optional<Node> head;
  I.terminate(stale_nodes(spec, nodes, head), "their type or launch config changed");
  cancel.throw_if_cancelled();
  nodes = I.nodes();

  // Every launch of this operation carries its id in its idempotency token:
  // a retried call repeats the token, a later operation of the same shape
  // does not (EC2 remembers a ClientToken for a day after termination).
  const std::string op_salt = detail::random_hex(6);
  const auto& head_type = spec.head_type();
  if (!head) {
    storage.place_head(cancel);
    auto made = I.launch(head_type, NodeKind::head, 1, {}, op_salt);
    head = made.front();
  }
  cancel.throw_if_cancelled();
  // Workers joined the head's Ray: when it restarts, they start again too.
  const bool head_restarted = I.needs_setup(*head, options.force_setup);
  // file_mounts_sync_continuously: nodes set up but with older files get
  // the files alone.
  const std::string contents =
      spec.file_mounts_sync_continuously ? detail::file_mounts_hash(spec) : std::string();
  std::set<std::string> files_only;
  if (!head_restarted && I.files_stale(*head, contents)) files_only.insert(head->id);
  if (!head_restarted && files_only.empty()) I.info("head " + head->id + " is up to date");

  // Workers: at least each type's initial count, within the maxima. They are
  // launched before the head is set up, so that their boot and setup overlap
  // the head's; only their start commands wait for it.
  nodes = I.nodes();
  int total_workers = 0;
  for (const auto& n : nodes)
    if (n.kind == NodeKind::worker) ++total_workers;
  // The head's type may have workers too (Ray's on-prem default has one type
  // for every machine); its max_workers is 0 unless the config says so.
  for (const auto& t : spec.node_types) {
    int have = I.workers_of(nodes, t.name);
    int missing = std::min(std::max(0, t.initial_workers - have),
                           detail::worker_room({t.min_workers, t.max_workers}, spec.max_workers,
                                               have, total_workers));
    if (missing > 0) {
      std::vector<Node> existing;
      for (const auto& n : nodes)
        if (n.kind == NodeKind::worker && n.node_type == t.name) existing.push_back(n);
      I.launch(t, NodeKind::worker, missing, existing, op_salt);
      total_workers += missing;
    }
    cancel.throw_if_cancelled();
  }
  nodes = I.nodes();
  // Volumes before setup, so that setup commands find them mounted.
  storage.attach_and_mount(nodes, cancel);
  std::vector<Node> todo;
  if (head_restarted || files_only.count(head->id)) todo.push_back(*head);
  std::size_t workers_todo = 0;
  for (const auto& n : nodes) {
    if (n.kind != NodeKind::worker) continue;
    const bool full = I.needs_setup(n, options.force_setup || head_restarted);
    if (!full && I.files_stale(n, contents)) files_only.insert(n.id);
    if (full || files_only.count(n.id)) {
      todo.push_back(n);
      ++workers_todo;
    }
  }
  if (!files_only.empty())
    I.info("copying changed file mounts to " + std::to_string(files_only.size()) +
           " node(s) (file_mounts_sync_continuously)");
  if (!todo.empty()) {
    if (workers_todo > 0)
      I.info("setting up " + std::string(head_restarted ? "the head and " : "") +
             std::to_string(workers_todo) + " worker(s)");
    auto failures = I.setup_all(todo, *head, cancel, head_restarted, files_only);
    if (!failures.empty()) I.throw_failures(failures);
  }
  I.settle_head_autoscaler(*head, cancel);
  auto url = I.provider->dashboard_url(*head);
  I.info("cluster " + spec.cluster_name + " is up: head " + I.ip_of(*head) + ", " +
         std::to_string(I.nodes().size() - 1) + " worker(s)");
  if (!url.empty())
    I.info("dashboard: " + url);
  else
    I.info("dashboard: run `raycluster dashboard " + spec.source_file +
           "` for an SSH tunnel to port " + std::to_string(spec.dashboard_port));
}

void Cluster::scale(const ScaleOptions& options, const CancelToken& cancel) {
  auto& I = *impl_;
  const auto& spec = I.spec;
  if (options.workers < 0)
    throw Error(ErrorCode::invalid_argument, "the number of workers cannot be negative");
  const NodeTypeSpec* type = nullptr;
  if (options.node_type.empty()) {
    std::vector<const NodeTypeSpec*> worker_types;
    for (const auto& t : spec.node_types)
      if (t.max_workers > 0) worker_types.push_back(&t);
    if (worker_types.size() != 1) {
      std::string names;
      for (const auto* t : worker_types) names += (names.empty() ? "" : ", ") + t->name;
      throw Error(ErrorCode::invalid_argument,
                  worker_types.empty()
                      ? "the config has no worker node type (max_workers > 0)"
                      : "the config has several worker node types (" + names +
                            "): name one with --node-type");
    }
    type = worker_types.front();
  } else {
    type = spec.find_node_type(options.node_type);
    if (!type)
      throw Error(ErrorCode::invalid_argument,
                  "no worker node type named " + options.node_type + " in " + spec.source_file);
  }
  const detail::WorkerLimits limits{type->min_workers, type->max_workers};
  const auto broken = detail::broken_worker_bound(limits, spec.max_workers, std::nullopt, options.workers);
  std::string key = "available_node_types." + type->name;
  if (broken == detail::WorkerBound::type_max)
    throw Error(ErrorCode::invalid_argument,
                where(spec, key + ".max_workers") + "cannot scale " + type->name + " to " +
                    std::to_string(options.workers) + " workers: its max_workers is " +
                    std::to_string(type->max_workers) + " (raise it in the config)");
  if (broken == detail::WorkerBound::type_min)
    throw Error(ErrorCode::invalid_argument,
                where(spec, key + ".min_workers") + "cannot scale " + type->name + " to " +
                    std::to_string(options.workers) + " workers: its min_workers is " +
                    std::to_string(type->min_workers) + " (lower it in the config)");

  auto lock = I.lock_cluster();
  auto nodes = I.nodes();
  auto head = Impl::head_of(nodes);
  if (!head)
    throw Error(ErrorCode::not_found,
                "cluster " + spec.cluster_name + " has no head node: run `raycluster up` first");
  I.pull_head_state(*head);
  nodes = I.nodes();
  if (I.placement.site == detail::AutoscalerSite::head) {
    // The autoscaler on the head keeps this count as the type's floor.
    detail::write_worker_target(I.identity.state_dir, type->name, options.workers);
    I.push_head_state(*head, detail::kWorkerTargetsFile);
  }
  int others = 0;
  std::vector<Node> mine;
  for (const auto& n : nodes) {
    if (n.kind != NodeKind::worker) continue;
    if (n.node_type == type->name)
      mine.push_back(n);
    else
      ++others;
  }
  if (detail::broken_worker_bound(limits, spec.max_workers, others, options.workers) ==
      detail::WorkerBound::cluster_max)
    throw Error(ErrorCode::invalid_argument,
                where(spec, "max_workers") + "cannot scale to " + std::to_string(options.workers) +
                    " workers of " + type->name + ": with the " + std::to_string(others) +
                    " other worker(s) that exceeds the cluster's max_workers " +
                    std::to_string(spec.max_workers));
  int have = static_cast<int>(mine.size());
  if (options.workers > have) {
    I.provider->bootstrap(I.sink(), cancel);
    I.launch(*type, NodeKind::worker, options.workers - have, mine, detail::random_hex(6));
  } else if (options.workers < have) {
    // Remove the ones that help least first: failed, not yet set up, newest.
    std::stable_sort(mine.begin(), mine.end(), [](const Node& a, const Node& b) {
      auto rank = [](const Node& n) {
        auto s = n.setup_status();
        if (s == status::update_failed) return 0;
        if (s != status::up_to_date) return 1;
        return 2;
      };
      if (rank(a) != rank(b)) return rank(a) < rank(b);
      return a.launch_time > b.launch_time;
    });
    std::vector<Node> victims(mine.begin(), mine.begin() + (have - options.workers));
    I.terminate(victims, "scaled down to " + std::to_string(options.workers));
  }
  cancel.throw_if_cancelled();
  nodes = I.nodes();
  std::vector<Node> todo;
  for (const auto& n : nodes)
    if (n.kind == NodeKind::worker && n.node_type == type->name && I.needs_setup(n, false))
      todo.push_back(n);
  if (!todo.empty()) {
    auto failures = I.setup_all(todo, *head, cancel);
    if (!failures.empty()) I.throw_failures(failures);
  }
  if (!I.shared_state_file().empty()) I.push_head_state(*head, I.shared_state_file());
  I.info("cluster " + spec.cluster_name + " has " + std::to_string(options.workers) + " " +
         type->name + " worker(s)");
}

void Cluster::down(const DownOptions& options, const CancelToken& cancel) {
  auto& I = *impl_;
  if (options.delete_storage && (options.workers_only || options.keep_min_workers))
    throw Error(ErrorCode::invalid_argument,
                "deleting the cluster's storage needs a full down (not --workers-only or "
                "--keep-min-workers)");
  detail::Storage storage(I.spec, *I.provider,
                          [&I](const std::string& m, LogLevel l) { I.info(m, l); });
  I.stop_head_autoscaler(Impl::head_of(I.nodes()));
  auto lock = I.lock_cluster();
  cancel.throw_if_cancelled();
  auto nodes = I.nodes();
  std::vector<Node> victims;
  std::map<std::string, int> kept;
  // Oldest first, so --keep-min-workers keeps the longest-serving ones.
  for (const auto& n : nodes) {
    if (n.kind == NodeKind::head) {
      if (!options.workers_only && !options.keep_min_workers) victims.push_back(n);
      continue;
    }
    if (options.keep_min_workers) {
      const auto* t = I.spec.find_node_type(n.node_type);
      if (t && kept[n.node_type] < t->min_workers && n.setup_status() != status::update_failed) {
        ++kept[n.node_type];
        continue;
      }
    }
    victims.push_back(n);
  }
  // Workers before the head, as Ray does.
  std::stable_partition(victims.begin(), victims.end(),
                        [](const Node& n) { return n.kind == NodeKind::worker; });
  storage.release(victims, cancel);
  I.terminate(victims, options.workers_only || options.keep_min_workers ? "workers down"
                                                                          : "cluster down");
  if (!options.workers_only && !options.keep_min_workers) {
    I.provider->teardown(I.sink(), cancel);
    if (options.delete_storage) {
      auto gone = storage.delete_all(cancel);
      I.info("cluster " + I.spec.cluster_name + ": " + std::to_string(gone.size()) +
             " volume(s) deleted");
    }
  }
  I.info("cluster " + I.spec.cluster_name + ": " + std::to_string(victims.size()) +
         " node(s) terminated");
}

ClusterStatus Cluster::status() {
  auto& I = *impl_;
  ClusterStatus st;
  st.cluster_name = I.spec.cluster_name;
  auto nodes = I.nodes();  // first: it may take over the cloud's cluster id
  st.cluster_id = I.identity.id;
  st.provider = I.provider->name();
  std::stable_partition(nodes.begin(), nodes.end(),
                        [](const Node& n) { return n.kind == NodeKind::head; });
  st.autoscaler.site = detail::autoscaler_site_name(I.placement.site);
  if (auto head = Impl::head_of(nodes); head && I.placement.site == detail::AutoscalerSite::head) {
    I.pull_head_state(*head);
    nodes = I.nodes();
    std::stable_partition(nodes.begin(), nodes.end(),
                          [](const Node& n) { return n.kind == NodeKind::head; });
    try {
      auto link = I.head_link(*head);
      auto hs = I.head_service().read(link->access);
      st.autoscaler.installed = hs.installed;
      st.autoscaler.service = hs.service;
      st.autoscaler.alive = hs.alive && hs.monitor_alive;
      st.autoscaler.where = head->id + ":" + hs.dir;
      st.autoscaler.report = hs.status;
    } catch (const Error& e) {
      st.autoscaler.error = e.what();
    }
  }
  if (auto head = Impl::head_of(nodes)) {
    st.head_ip = I.ip_of(*head);
    st.dashboard = I.provider->dashboard_url(*head);
    if (st.dashboard.empty())
      st.dashboard = "ssh tunnel: raycluster dashboard " + I.spec.source_file;
  }
  st.nodes = std::move(nodes);
  try {
    fill_node_type_resources();
  } catch (const Error& e) {
    // The config's resources are still worth showing; say why no more.
    I.info(std::string("node type resources from the cloud: ") + e.what(), LogLevel::warning);
  }
  for (const auto& t : I.spec.node_types) st.node_type_resources[t.name] = t.resources;
  return st;
}

int Cluster::exec(const std::string& command, const ExecOptions& options,
                  const CancelToken& cancel) {
  auto& I = *impl_;
  auto nodes = I.nodes();
  auto head = Impl::head_of(nodes);
  if (!head)
    throw Error(ErrorCode::not_found,
                "cluster " + I.spec.cluster_name + " has no head node: run `raycluster up` first");
  const Node* target = &*head;
  if (!options.node_id.empty()) {
    target = nullptr;
    for (const auto& n : nodes)
      if (n.id == options.node_id || n.internal_ip == options.node_id ||
          n.external_ip == options.node_id)
        target = &n;
    if (!target)
      throw Error(ErrorCode::not_found,
                  "no node " + options.node_id + " in cluster " + I.spec.cluster_name +
                      " (see `raycluster status`)");
  }
  auto runner = I.runner_for(*target);
  CommandOptions co;
  co.env = I.command_env(*target, *head);
  co.timeout = options.timeout;
  co.cancel = cancel;
  co.on_line = options.on_output;
  auto r = runner->run(command, co);
  if (r.cancelled) throw Error(ErrorCode::cancelled, "command cancelled");
  if (r.timed_out)
    throw Error(ErrorCode::timeout, "node " + target->id + ": `" + command + "` timed out");
  return r.exit_status;
}

std::string Cluster::head_ip() {
  auto nodes = impl_->nodes();
  auto head = Impl::head_of(nodes);
  if (!head)
    throw Error(ErrorCode::not_found, "cluster " + impl_->spec.cluster_name + " has no head node");
  return impl_->ip_of(*head);
}

std::vector<std::string> Cluster::worker_ips() {
  std::vector<std::string> out;
  for (const auto& n : impl_->nodes())
    if (n.kind == NodeKind::worker) out.push_back(impl_->ip_of(n));
  return out;
}

Tunnel::Tunnel(std::string host, int port, std::unique_ptr<PortForward> carrier)
    : host_(std::move(host)), port_(port), carrier_(std::move(carrier)) {}
Tunnel::~Tunnel() = default;

std::string Tunnel::url() const { return "http://" + host_ + ":" + std::to_string(port_); }

std::uint64_t Tunnel::connections() const { return carrier_ ? carrier_->connections() : 0; }

std::unique_ptr<Tunnel> Cluster::tunnel(int remote_port, int local_port) {
  if (remote_port <= 0 || remote_port > 65535 || local_port < 0 || local_port > 65535)
    throw Error(ErrorCode::invalid_argument, "tunnel: ports must be within 1-65535");
  auto head = Impl::head_of(impl_->nodes());
  if (!head)
    throw Error(ErrorCode::not_found, "cluster " + impl_->spec.cluster_name + " has no head node");
  auto& provider = *impl_->provider;
  if (auto direct = provider.direct_address(*head); !direct.empty())
    return std::make_unique<Tunnel>(direct, remote_port, nullptr);
  auto runner = provider.command_runner(*head);
  auto carrier = runner->forward(local_port, remote_port);
  int port = carrier->local_port();
  return std::make_unique<Tunnel>("127.0.0.1", port, std::move(carrier));
}

int Cluster::gcs_port(const Node& head) {
  int port = impl_->provider->gcs_port(head);
  return port > 0 ? port : impl_->spec.gcs_port;
}

std::unique_ptr<Tunnel> Cluster::gcs(int local_port) {
  auto head = Impl::head_of(impl_->nodes());
  if (!head)
    throw Error(ErrorCode::not_found, "cluster " + impl_->spec.cluster_name + " has no head node");
  return tunnel(gcs_port(*head), local_port);
}

std::unique_ptr<Tunnel> Cluster::dashboard(int local_port) {
  auto head = Impl::head_of(impl_->nodes());
  if (!head)
    throw Error(ErrorCode::not_found, "cluster " + impl_->spec.cluster_name + " has no head node");
  std::string url = impl_->provider->dashboard_url(*head);
  if (url.rfind("http://", 0) == 0) {
    std::string hostport = url.substr(7);
    hostport = hostport.substr(0, hostport.find('/'));
    auto colon = hostport.rfind(':');
    if (colon != std::string::npos)
      return std::make_unique<Tunnel>(hostport.substr(0, colon),
                                      std::stoi(hostport.substr(colon + 1)), nullptr);
  }
  return tunnel(impl_->spec.dashboard_port, local_port);
}

int Cluster::autoscaler_log(bool follow, const ExecOptions& options, const CancelToken& cancel) {
  auto head = Impl::head_of(impl_->nodes());
  if (!head)
    throw Error(ErrorCode::not_found, "cluster " + impl_->spec.cluster_name + " has no head node");
  ExecOptions eo = options;
  eo.node_id = head->id;
  const bool local = impl_->spec.provider.kind == ProviderKind::localhost;
  return exec(impl_->head_service().log_command(local, follow), eo, cancel);
}

void Cluster::share_with_head_autoscaler(const std::string& name) {
  auto head = Impl::head_of(impl_->nodes());
  if (!head || impl_->callers_provider) return;
  impl_->push_head_state(*head, name);
}

const std::string& Cluster::state_dir() const { return impl_->identity.state_dir; }

std::vector<Node> Cluster::nodes() { return impl_->nodes(); }

std::vector<Node> Cluster::launch_workers(const std::string& node_type, int count,
                                          const std::vector<Node>& current,
                                          const std::string& token_salt) {
  auto& I = *impl_;
  const auto* type = I.spec.find_node_type(node_type);
  if (!type) throw Error(ErrorCode::invalid_argument, "no worker node type named " + node_type);
  if (count <= 0) return {};
  std::vector<Node> existing;
  for (const auto& n : current)
    if (n.kind == NodeKind::worker && n.node_type == type->name) existing.push_back(n);
  return I.launch(*type, NodeKind::worker, count, existing, token_salt);
}

void Cluster::setup_node(const Node& node, const Node& head, const CancelToken& cancel) {
  auto& I = *impl_;
  const bool files_only = I.spec.file_mounts_sync_continuously && !I.needs_setup(node, false) &&
                          I.files_stale(node, detail::file_mounts_hash(I.spec));
  auto r = I.setup(node, head, cancel, {}, files_only);
  if (r.ok) return;
  if (r.cancelled) throw Error(ErrorCode::cancelled, "setup of " + node.id + " cancelled");
  throw Error(ErrorCode::command_failed, node.id + " (" + node.node_type + "): " + r.summary());
}

std::vector<Node> Cluster::nodes_with_stale_files(const std::vector<Node>& nodes) {
  auto& I = *impl_;
  std::vector<Node> out;
  if (!I.spec.file_mounts_sync_continuously) return out;
  const std::string contents = detail::file_mounts_hash(I.spec);
  for (const auto& n : nodes)
    if (n.alive() && !I.needs_setup(n, false) && I.files_stale(n, contents)) out.push_back(n);
  return out;
}

void Cluster::terminate_nodes(const std::vector<Node>& nodes, const std::string& reason) {
  impl_->terminate(nodes, reason);
}

std::shared_ptr<void> Cluster::try_lock_operations() {
  try {
    return std::shared_ptr<void>(impl_->lock_cluster());
  } catch (const Error& e) {
    if (e.code() == ErrorCode::conflict) return nullptr;
    throw;
  }
}

}  // namespace raycluster
