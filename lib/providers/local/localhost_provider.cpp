#include "providers/local/localhost_provider.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "providers/common/launch.hpp"
#include "providers/common/tag_filter.hpp"
#include "providers/local/local_runner.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/ids.hpp"
#include "util/process.hpp"

namespace raycluster::detail {
namespace {

using namespace std::chrono_literals;

constexpr auto kStopGrace = 3s;

// A port the kernel reports free right now (Ray's own test clusters pick
// their ports the same way).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error(ErrorCode::io, "cannot open a socket to find a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw Error(ErrorCode::io, "cannot find a free local port");
  }
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

std::int64_t to_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

CloudState parse_state(const std::string& s) {
  if (s == "running") return CloudState::running;
  if (s == "terminating") return CloudState::terminating;
  if (s == "terminated") return CloudState::terminated;
  return CloudState::pending;
}

}  // namespace

LocalhostProvider::LocalhostProvider(const ClusterSpec& spec, ClusterIdentity identity,
                                     ProviderContext context)
    : spec_(spec),
      identity_(std::move(identity)),
      ctx_(context.with_defaults()),
      nodes_dir_(identity_.state_dir + "/nodes") {}

std::string LocalhostProvider::node_dir(const std::string& id) const { return nodes_dir_ + "/" + id; }
std::string LocalhostProvider::record_path(const std::string& id) const {
  return nodes_dir_ + "/" + id + ".json";
}

std::string LocalhostProvider::ray_temp_dir() const {
  // Short: Ray puts unix sockets below it (path limit 107 bytes).
  return "/tmp/raycluster-" + identity_.id.substr(0, 12);
}

std::string LocalhostProvider::node_ray_temp_dir(const std::string& id) const {
  return ray_temp_dir() + "-" + id.substr(id.size() > 8 ? id.size() - 8 : 0);
}

std::string LocalhostProvider::start_lock_path(const std::vector<std::string>& start_commands) {
  for (const auto& c : start_commands)
    if (c.find("ray start") != std::string::npos && c.find("--temp-dir") == std::string::npos)
      return identity_.state_dir + "/ray-start.lock";
  return {};
}

Value LocalhostProvider::load_cluster_state() {
  std::string path = identity_.state_dir + "/localhost.json";
  if (!path_exists(path)) return Value();
  return Value::parse_json(read_file(path, 1 << 20));
}

void LocalhostProvider::save_cluster_state(const Value& v) {
  write_file_atomic(identity_.state_dir + "/localhost.json", v.to_json(2) + "\n", 0600);
}

void LocalhostProvider::bootstrap(const EventSink& events, const CancelToken& cancel) {
  cancel.throw_if_cancelled();
  std::string note;  // reported after the lock is released: a sink may call back in
  std::unique_lock<std::mutex> lock(mu_);
  make_dirs(nodes_dir_, 0700);
  Value st = load_cluster_state();
  if (st.is_null()) {
    st = Value::object();
    // One loopback block per cluster: 127.A.B.n, from the cluster id.
    unsigned a = std::stoul(identity_.id.substr(0, 2), nullptr, 16) % 254 + 1;
    unsigned b = std::stoul(identity_.id.substr(2, 2), nullptr, 16);
    st.set("address_prefix", "127." + std::to_string(a) + "." + std::to_string(b));
    st.set("next_host", 1);
  }
  // Head ports are chosen again whenever no head runs, so a port taken by
  // something else since the last `up` is never reused.
  bool head_alive = false;
  for (const auto& name : list_dir(nodes_dir_)) {
    if (name.size() < 6 || name.substr(name.size() - 5) != ".json") continue;
    Value rec = load_record(name.substr(0, name.size() - 5));
    if (!rec.is_null() && rec.find("kind")->as_string() == "head" &&
        rec.find("state")->as_string() == "running")
      head_alive = true;
  }
  if (!head_alive || !st.find("gcs_port")) {
    std::set<int> taken;
    auto pick = [&] {
      for (;;) {
        int p = free_port();
        if (taken.insert(p).second) return p;
      }
    };
    st.set("gcs_port", pick());
    st.set("dashboard_port", pick());
    st.set("client_port", pick());
    note = "localhost: head ports gcs " + std::to_string(st.find("gcs_port")->as_int()) +
           ", dashboard " + std::to_string(st.find("dashboard_port")->as_int());
  }
  save_cluster_state(st);
  lock.unlock();
  if (events && !note.empty()) {
    Event e;
    e.kind = EventKind::log;
    e.level = LogLevel::debug;
    e.message = note;
    events(e);
  }
}

Value LocalhostProvider::load_record(const std::string& id) {
  std::string path = record_path(id);
  if (!path_exists(path)) return Value();
  try {
    return Value::parse_json(read_file(path, 1 << 20));
  } catch (const Error&) {
    // Records are written atomically; an unreadable one is not ours.
    return Value();
  }
}

void LocalhostProvider::save_record(const Value& rec) {
  write_file_atomic(record_path(rec.find("id")->as_string()), rec.to_json(2) + "\n", 0600);
}

Node LocalhostProvider::to_node(const Value& rec) const {
  Node n;
  n.id = rec.find("id")->as_string();
  n.kind = rec.find("kind")->as_string() == "head" ? NodeKind::head : NodeKind::worker;
  n.node_type = rec.find("node_type")->as_string();
  n.state = parse_state(rec.find("state")->as_string());
  n.internal_ip = rec.find("ip")->as_string();
  n.external_ip = n.internal_ip;
  if (auto* t = rec.find("tags"))
    for (const auto& [k, v] : t->as_object()) n.tags[k] = v.as_string();
  n.launch_time = std::chrono::system_clock::time_point(
      std::chrono::milliseconds(rec.find("launch_time")->as_int()));
  return n;
}

std::vector<Node> LocalhostProvider::create(const LaunchRequest& request) {
  if (!request.node_type) throw Error(ErrorCode::invalid_argument, "create: no node type");
  if (request.count <= 0) return {};
  std::lock_guard<std::mutex> lock(mu_);
  make_dirs(nodes_dir_, 0700);
  LaunchBatch batch(request);
  // Idempotency: nodes already made under this token count toward the batch.
  if (!request.idempotency_token.empty()) {
    for (const auto& name : list_dir(nodes_dir_)) {
      if (name.size() < 6 || name.substr(name.size() - 5) != ".json") continue;
      Value rec = load_record(name.substr(0, name.size() - 5));
      if (rec.is_null()) continue;
      auto* tok = rec.find("token");
      if (tok && batch.made_by_request(tok->as_string()) &&
          rec.find("state")->as_string() != "terminated")
        batch.add(to_node(rec));
    }
  }
  Value st = load_cluster_state();
  if (st.is_null())
    throw Error(ErrorCode::internal, "localhost provider used before bootstrap");
  const std::string prefix = st.find("address_prefix")->as_string();
  std::int64_t next_host = st.find("next_host")->as_int();
  auto now = ctx_.now();
  while (batch.remaining() > 0) {
    if (next_host > 254) next_host = 1;  // addresses of ended nodes are reused
    Value rec = Value::object();
    std::string id = "local-" + random_hex(6);
    rec.set("id", id);
    rec.set("kind", node_kind_name(request.kind));
    rec.set("node_type", request.node_type->name);
    rec.set("state", "running");
    rec.set("ip", prefix + "." + std::to_string(next_host++));
    rec.set("launch_time", static_cast<std::int64_t>(to_ms(now)));
    rec.set("token", request.idempotency_token);
    rec.set("agent_port", free_port());
    Value tags = Value::object();
    for (const auto& [k, v] : request.tags)
      if (!v.empty()) tags.set(k, v);
    tags.set(tags::node_name, id);
    rec.set("tags", tags);
    rec.set("sessions", Value::array());
    make_dirs(node_dir(id), 0700);
    // The record is the instance: once written, list() sees the node and
    // terminate() can end it, whatever happens to this process.
    save_record(rec);
    st.set("next_host", next_host);
    save_cluster_state(st);
    batch.add(to_node(rec));
  }
  return batch.take();
}

std::vector<Node> LocalhostProvider::list(const Tags& filter) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Node> out;
  for (const auto& name : list_dir(nodes_dir_)) {
    if (name.size() < 6 || name.substr(name.size() - 5) != ".json") continue;
    Value rec = load_record(name.substr(0, name.size() - 5));
    if (rec.is_null()) continue;
    Node n = to_node(rec);
    if (n.state != CloudState::terminated) out.push_back(std::move(n));
  }
  return select_nodes(std::move(out), filter);
}

namespace {

// A node record's "sessions": each {"pid", "start"} is a keeper (see
// ProcessSpec::contain) and the session it leads; a bare number is a session
// recorded before nodes had keepers.
void add_to_scope(ProcessScope& scope, const Value& v) {
  if (v.is_integer()) {
    scope.sessions.insert(static_cast<pid_t>(v.as_int()));
  } else if (v.is_object() && v.find("pid") && v.find("start")) {
    Keeper k{static_cast<pid_t>(v.find("pid")->as_int()),
             static_cast<unsigned long long>(v.find("start")->as_int())};
    scope.keepers.push_back(k);
    scope.sessions.insert(k.pid);
  }
}

ProcessScope recorded_scope(const Value& rec) {
  ProcessScope scope;
  if (auto* s = rec.find("sessions"); s && s->is_array())
    for (const auto& v : s->as_array()) add_to_scope(scope, v);
  return scope;
}

}  // namespace

void LocalhostProvider::record_session(const std::string& id, pid_t keeper) {
  // Read before the lock: the keeper waits for this record to be written.
  const auto start = static_cast<std::int64_t>(process_start(keeper));
  std::lock_guard<std::mutex> lock(mu_);
  Value rec = load_record(id);
  if (rec.is_null()) return;
  // Keep the list short: keepers and sessions with nothing left need no remembering.
  Value kept = Value::array();
  if (auto* s = rec.find("sessions"); s && s->is_array()) {
    const auto snapshot = list_processes();
    for (const auto& v : s->as_array()) {
      ProcessScope one;
      add_to_scope(one, v);
      if (!processes_in_scope(one, snapshot).empty()) kept.as_array().push_back(v);
    }
  }
  Value entry = Value::object();
  entry.set("pid", static_cast<std::int64_t>(keeper));
  entry.set("start", start);
  kept.as_array().push_back(entry);
  rec.set("sessions", kept);
  save_record(rec);
}

ProcessScope LocalhostProvider::node_scope(const Value& rec) {
  const std::string id = rec.find("id")->as_string();
  ProcessScope scope = recorded_scope(rec);
  // Processes that left their session but kept the marker.
  auto marked = find_by_environment("RAYCLUSTER_NODE", identity_.id + "/" + id, false);
  if (!marked.empty()) {
    std::set<pid_t> m(marked.begin(), marked.end());
    for (const auto& p : list_processes())
      if (m.count(p.pid)) scope.sessions.insert(p.session);
  }
  return scope;
}

void LocalhostProvider::terminate(const std::vector<std::string>& node_ids) {
  std::vector<Value> recs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& id : node_ids) {
      Value rec = load_record(id);
      if (rec.is_null()) continue;
      rec.set("state", "terminating");
      save_record(rec);
      recs.push_back(std::move(rec));
    }
  }
  // All nodes' processes at once, as a cloud ends instances: SIGTERM, then
  // SIGKILL for what is left after the grace period (Ray's gcs_server and
  // monitor ignore SIGTERM for longer than is worth waiting).
  std::vector<ProcessScope> scopes;
  ProcessScope all;
  for (const auto& rec : recs) {
    scopes.push_back(node_scope(rec));
    all.sessions.insert(scopes.back().sessions.begin(), scopes.back().sessions.end());
    all.keepers.insert(all.keepers.end(), scopes.back().keepers.begin(), scopes.back().keepers.end());
  }
  end_scope(all, kStopGrace);

  std::vector<std::string> failed;
  bool head_ended = false;
  std::lock_guard<std::mutex> lock(mu_);
  for (std::size_t i = 0; i < recs.size(); ++i) {
    const std::string id = recs[i].find("id")->as_string();
    auto left = processes_in_scope(scopes[i]);
    if (!left.empty()) {
      failed.push_back(id + " (" + std::to_string(left.size()) + " processes did not end)");
      continue;
    }
    if (recs[i].find("kind")->as_string() == "head") head_ended = true;
    remove_tree(node_dir(id));
    try {
      remove_tree(node_ray_temp_dir(id));
    } catch (const Error&) {
    }
    ::unlink(record_path(id).c_str());
  }
  if (head_ended) {
    // The Ray session folder belongs to the head.
    try {
      remove_tree(ray_temp_dir());
    } catch (const Error&) {
    }
  }
  if (!failed.empty()) {
    std::string msg = "could not end every process of";
    for (const auto& f : failed) msg += " " + f;
    throw Error(ErrorCode::io, msg);
  }
}

void LocalhostProvider::teardown(const EventSink& events, const CancelToken& cancel) {
  (void)cancel;
  auto marked = find_by_environment("RAYCLUSTER_NODE", identity_.id + "/", true);
  if (!marked.empty()) {
    std::set<pid_t> m(marked.begin(), marked.end()), sessions;
    for (const auto& p : list_processes())
      if (m.count(p.pid)) sessions.insert(p.session);
    if (events) {
      Event e;
      e.kind = EventKind::log;
      e.level = LogLevel::warning;
      e.message = "ending " + std::to_string(marked.size()) +
                  " process(es) of the cluster that belonged to no node";
      events(e);
    }
    int left = end_sessions(sessions, kStopGrace);
    if (left > 0)
      throw Error(ErrorCode::io, std::to_string(left) + " process(es) of cluster " +
                                     identity_.name + " did not end");
  }
  try {
    remove_tree(ray_temp_dir());
    // Workers' own folders: ray_temp_dir()-<id end>.
    const std::string prefix = ray_temp_dir().substr(5) + "-";
    for (const auto& name : list_dir("/tmp"))
      if (name.rfind(prefix, 0) == 0) remove_tree("/tmp/" + name);
  } catch (const Error&) {
  }
}

void LocalhostProvider::set_tags(const std::vector<std::string>& node_ids, const Tags& tags) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& id : node_ids) {
    Value rec = load_record(id);
    if (rec.is_null()) throw Error(ErrorCode::not_found, "no node " + id);
    Value* t = rec.find("tags");
    if (!t) t = &rec.set("tags", Value::object());
    for (const auto& [k, v] : tags) {
      if (v.empty()) {
        auto& o = t->as_object();
        const std::string& key = k;  // clang 14 captures no structured binding
        o.erase(std::remove_if(o.begin(), o.end(), [&](const auto& m) { return m.first == key; }),
                o.end());
      } else {
        t->set(k, v);
      }
    }
    save_record(rec);
  }
}

std::unique_ptr<CommandRunner> LocalhostProvider::command_runner(const Node& node) {
  std::string id = node.id;
  return std::make_unique<LocalRunner>(
      node.id, node_dir(node.id), identity_.id + "/" + node.id,
      [this, id](pid_t sid) { record_session(id, sid); });
}

std::map<std::string, std::string> LocalhostProvider::node_environment(const Node& node) {
  std::map<std::string, std::string> env;
  Value st, rec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    st = load_cluster_state();
    rec = load_record(node.id);
  }
  if (st.is_null() || rec.is_null())
    throw Error(ErrorCode::not_found, "node " + node.id + " has no local state");
  env["RAYCLUSTER_NODE_ID"] = node.id;
  env["RAYCLUSTER_NODE_IP"] = node.internal_ip;
  env["RAYCLUSTER_NODE_DIR"] = node_dir(node.id);
  env["RAYCLUSTER_GCS_PORT"] = std::to_string(st.find("gcs_port")->as_int());
  env["RAYCLUSTER_DASHBOARD_PORT"] = std::to_string(st.find("dashboard_port")->as_int());
  env["RAYCLUSTER_CLIENT_PORT"] = std::to_string(st.find("client_port")->as_int());
  env["RAYCLUSTER_AGENT_PORT"] = std::to_string(rec.find("agent_port")->as_int());
  // 0 and 0: Ray's workers take any free port, so nodes never collide.
  env["RAYCLUSTER_MIN_WORKER_PORT"] = "0";
  env["RAYCLUSTER_MAX_WORKER_PORT"] = "0";
  env["RAYCLUSTER_RAY_TEMP_DIR"] = ray_temp_dir();
  env["RAYCLUSTER_NODE_RAY_TEMP_DIR"] = node_ray_temp_dir(node.id);
  std::int64_t store = 256ll << 20;
  if (const auto* t = spec_.find_node_type(node.node_type)) {
    auto it = t->resources.find("object_store_memory");
    if (it != t->resources.end() && it->second > 0) store = static_cast<std::int64_t>(it->second);
  }
  env["RAYCLUSTER_OBJECT_STORE_MEMORY"] = std::to_string(store);
  return env;
}

void LocalhostProvider::reset_runtime(const Node& node) {
  Value rec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    rec = load_record(node.id);
  }
  if (rec.is_null()) return;
  if (end_scope(node_scope(rec), kStopGrace) > 0)
    throw Error(ErrorCode::io, "node " + node.id + ": its earlier processes did not end");
}

std::string LocalhostProvider::dashboard_url(const Node& head) {
  std::lock_guard<std::mutex> lock(mu_);
  Value st = load_cluster_state();
  if (st.is_null() || !st.find("dashboard_port")) return {};
  return "http://" + head.internal_ip + ":" + std::to_string(st.find("dashboard_port")->as_int());
}

int LocalhostProvider::gcs_port(const Node& head) {
  (void)head;
  std::lock_guard<std::mutex> lock(mu_);
  Value st = load_cluster_state();
  if (st.is_null() || !st.find("gcs_port")) return 0;
  return static_cast<int>(st.find("gcs_port")->as_int());
}

}  // namespace raycluster::detail
