#include "providers/onprem/onprem_provider.hpp"

#include <algorithm>
#include <chrono>
#include <future>
#include <set>

#include "providers/common/launch.hpp"
#include "providers/common/ssh_nodes.hpp"
#include "providers/common/tag_filter.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace raycluster::detail {
namespace {

using namespace std::chrono_literals;

// Stop commands of several machines run at once, this many at a time.
constexpr std::size_t kParallelStops = 16;
constexpr auto kStopTimeout = 120s;

std::int64_t to_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

void erase_member(Value& object, const std::string& key) {
  auto& o = object.as_object();
  o.erase(std::remove_if(o.begin(), o.end(), [&](const auto& m) { return m.first == key; }),
          o.end());
}

}  // namespace

OnpremProvider::OnpremProvider(const ClusterSpec& spec, ClusterIdentity identity,
                               ProviderContext context)
    : spec_(spec),
      identity_(std::move(identity)),
      ctx_(context.with_defaults()),
      state_path_(identity_.state_dir + "/onprem.json"),
      lock_path_(identity_.state_dir + "/onprem.lock"),
      tags_([this](const auto& batch, auto& errors) { commit_tags(batch, errors); }) {}

template <typename Fn>
auto OnpremProvider::with_state(Fn&& fn) {
  std::lock_guard<std::mutex> guard(mu_);
  make_dirs(identity_.state_dir, 0700);
  FileLock lock(lock_path_, true);
  Value st;
  if (path_exists(state_path_)) st = Value::parse_json(read_file(state_path_, 16 << 20));
  if (!st.is_object()) st = Value::object();
  if (!st.find("machines")) st.set("machines", Value::object());
  Value& machines = *st.find("machines");
  auto save = [&] { write_file_atomic(state_path_, st.to_json(2) + "\n", 0600); };
  return fn(machines, save);
}

Node OnpremProvider::to_node(const std::string& ip, const Value& rec) const {
  Node n;
  n.id = ip;
  n.kind = rec.find("kind")->as_string() == "head" ? NodeKind::head : NodeKind::worker;
  n.node_type = rec.find("node_type")->as_string();
  n.state = CloudState::running;
  n.internal_ip = ip;
  n.external_ip = ip;
  if (n.kind == NodeKind::head) {
    // Ray's external_head_ip: the address this machine uses to reach the head
    // when it differs from the one the workers use.
    if (const Value* ext = spec_.provider.raw.find("external_head_ip"); ext && ext->is_string())
      n.external_ip = ext->as_string();
  }
  if (const Value* t = rec.find("tags"))
    for (const auto& [k, v] : t->as_object())
      if (v.is_string()) n.tags[k] = v.as_string();
  if (const Value* lt = rec.find("launch_time"))
    n.launch_time = std::chrono::system_clock::time_point(std::chrono::milliseconds(lt->as_int()));
  return n;
}

void OnpremProvider::bootstrap(const EventSink& events, const CancelToken& cancel) {
  (void)events;
  cancel.throw_if_cancelled();
  const ProviderSpec& p = spec_.provider;
  auto at = [&](const char* key) {
    auto where = spec_.origin(std::string("provider.") + key);
    return where.file.empty() ? std::string()
                              : where.file + ":" + std::to_string(where.line) + ": ";
  };
  if (!p.coordinator_address.empty())
    throw Error(ErrorCode::unsupported,
                at("coordinator_address") +
                    "provider.coordinator_address: raycluster drives on-prem machines itself; "
                    "list them in head_ip and worker_ips instead of a coordinator server");
  std::set<std::string> seen{p.head_ip};
  for (const auto& ip : p.worker_ips)
    if (!seen.insert(ip).second)
      throw Error(ErrorCode::config, at("worker_ips") + "provider.worker_ips: machine " + ip +
                                         " is listed twice (or is also the head_ip)");
  if (spec_.auth.ssh_private_key.empty())
    throw Error(ErrorCode::config,
                "auth.ssh_private_key: the local (on-prem) provider logs in with a key; "
                "add 'ssh_private_key: ~/.ssh/id_ed25519' under auth");
  make_dirs(identity_.state_dir, 0700);
}

std::vector<Node> OnpremProvider::create(const LaunchRequest& request) {
  if (!request.node_type) throw Error(ErrorCode::invalid_argument, "create: no node type");
  if (request.count <= 0) return {};
  return with_state([&](Value& machines, auto save) {
    LaunchBatch batch(request);
    // A retry of the same launch gets the machines of the first call.
    for (const auto& [ip, rec] : machines.as_object())
      if (const Value* tok = rec.find("token"); tok && batch.made_by_request(tok->as_string()))
        batch.add(to_node(ip, rec));
    std::vector<std::string> pool;
    if (request.kind == NodeKind::head)
      pool.push_back(spec_.provider.head_ip);
    else
      pool = spec_.provider.worker_ips;
    std::vector<std::string> free;
    for (const auto& ip : pool)
      if (!machines.find(ip)) free.push_back(ip);
    const auto wanted = static_cast<std::size_t>(batch.remaining());
    if (free.size() < wanted)
      throw Error(ErrorCode::capacity,
                  std::string("local provider: ") + std::to_string(wanted) + " " +
                      node_kind_name(request.kind) + " machine(s) wanted, " +
                      std::to_string(free.size()) + " free of " + std::to_string(pool.size()) +
                      (request.kind == NodeKind::head ? " (head_ip)" : " (worker_ips)"));
    for (std::size_t i = 0; i < wanted; ++i) {
      Value rec = Value::object();
      rec.set("kind", node_kind_name(request.kind));
      rec.set("node_type", request.node_type->name);
      rec.set("token", request.idempotency_token);
      rec.set("launch_time", to_ms(ctx_.now()));
      Value tags = Value::object();
      for (const auto& [k, v] : request.tags)
        if (!v.empty()) tags.set(k, v);
      tags.set(tags::node_name, free[i]);
      rec.set("tags", std::move(tags));
      batch.add(to_node(free[i], rec));
      machines.set(free[i], std::move(rec));
    }
    save();
    return batch.take();
  });
}

std::vector<Node> OnpremProvider::list(const Tags& filter) {
  return with_state([&](Value& machines, auto) {
    std::vector<Node> out;
    for (const auto& [ip, rec] : machines.as_object())
      if (rec.find("tags")) out.push_back(to_node(ip, rec));
    return select_nodes(std::move(out), filter);
  });
}

void OnpremProvider::set_tags(const std::vector<std::string>& node_ids, const Tags& tags) {
  tags_.set(node_ids, tags);
}

void OnpremProvider::commit_tags(const std::vector<TagBatcher::Update>& batch,
                                 std::vector<std::optional<Error>>& errors) {
  with_state([&](Value& machines, auto save) {
    for (std::size_t i = 0; i < batch.size(); ++i)
      for (const auto& id : batch[i].ids) {
        Value* rec = machines.find(id);
        if (!rec) {
          errors[i] = Error(ErrorCode::not_found, "local provider: no node " + id);
          continue;
        }
        Value* t = rec->find("tags");
        if (!t) t = &rec->set("tags", Value::object());
        for (const auto& [k, v] : batch[i].tags) {
          if (v.empty())
            erase_member(*t, k);
          else
            t->set(k, v);
        }
      }
    save();
    return 0;
  });
}

std::unique_ptr<CommandRunner> OnpremProvider::command_runner(const Node& node) {
  return make_ssh_runner(spec_, identity_,
                         node.external_ip.empty() || spec_.provider.use_internal_ips ? node.internal_ip
                                                                                     : node.external_ip,
                         ctx_.env);
}

void OnpremProvider::terminate(const std::vector<std::string>& node_ids) {
  std::vector<Node> nodes;
  with_state([&](Value& machines, auto) {
    for (const auto& id : node_ids)
      if (const Value* rec = machines.find(id)) nodes.push_back(to_node(id, *rec));
    return 0;
  });
  // Stop commands run outside the state lock: they take seconds per machine.
  auto stop = [this](const Node& node) -> std::string {
    try {
      auto runner = command_runner(node);
      for (const auto& cmd : spec_.provider.stop_commands) {
        CommandOptions o;
        o.timeout = kStopTimeout;
        CommandResult r = runner->run(cmd, o);
        if (!r.ok()) {
          std::string why = r.timed_out ? "timed out" : "exited " + std::to_string(r.exit_status);
          std::string tail = r.output_tail;
          while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
          if (auto nl = tail.rfind('\n'); nl != std::string::npos) tail = tail.substr(nl + 1);
          return "`" + cmd + "` " + why + (tail.empty() ? "" : " (" + tail + ")");
        }
      }
      return {};
    } catch (const Error& e) {
      return e.what();
    }
  };
  std::vector<std::string> failures(nodes.size());
  for (std::size_t begin = 0; begin < nodes.size(); begin += kParallelStops) {
    std::vector<std::future<std::string>> batch;
    std::size_t end = std::min(nodes.size(), begin + kParallelStops);
    for (std::size_t i = begin; i < end; ++i)
      batch.push_back(std::async(std::launch::async, stop, std::cref(nodes[i])));
    for (std::size_t i = begin; i < end; ++i) failures[i] = batch[i - begin].get();
  }
  std::string report;
  with_state([&](Value& machines, auto save) {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (failures[i].empty())
        erase_member(machines, nodes[i].id);
      else
        report += "\n  " + nodes[i].id + ": " + failures[i];
    }
    save();
    return 0;
  });
  if (!report.empty())
    throw Error(ErrorCode::command_failed,
                "local provider: Ray could not be stopped on these machines (they stay in the "
                "cluster; run `down` again once they are reachable):" +
                    report);
}

}  // namespace raycluster::detail
