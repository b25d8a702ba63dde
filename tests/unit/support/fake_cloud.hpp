// An in-memory cloud for unit tests of the lifecycle and the reconcile loop:
// a Provider whose nodes live in a map and a CommandRunner that records the
// commands it is given instead of running them.
#pragma once

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "util/error.hpp"
#include "providers/common/provider.hpp"

namespace raycluster::testing {

struct FakeCloud {
  std::mutex mu;
  std::map<std::string, Node> nodes;
  std::vector<std::pair<std::string, std::string>> commands;       // node id, command
  std::map<std::string, std::map<std::string, std::string>> envs;  // node id -> last env
  std::vector<std::string> terminated;
  std::vector<std::string> tokens;
  std::set<std::string> failing;  // commands that exit 1
  std::map<std::string, std::chrono::milliseconds> slow;  // commands that take this long
  bool refuse_create = false;     // create() throws a capacity error
  int next = 0;
  int creates = 0, lists = 0, terminates = 0;
};

class FakeRunner : public CommandRunner {
 public:
  FakeRunner(FakeCloud& c, std::string id) : c_(c), id_(std::move(id)) {}
  CommandResult run(const std::string& command, const CommandOptions& o) override {
    std::unique_lock<std::mutex> lock(c_.mu);
    CommandResult r;
    r.exit_status = 0;
    if (command == "uptime") return r;  // the default readiness probe
    c_.commands.emplace_back(id_, command);  // in the order they start
    c_.envs[id_] = o.env;
    if (c_.failing.count(command)) {
      r.exit_status = 1;
      r.output_tail = "boom\n";
    }
    if (auto it = c_.slow.find(command); it != c_.slow.end()) {
      auto d = it->second;
      lock.unlock();
      std::this_thread::sleep_for(d);
    }
    return r;
  }
  void upload(const std::string&, const std::string&) override {}
  void download(const std::string&, const std::string&) override {}
  std::string describe() const override { return id_; }

 private:
  FakeCloud& c_;
  std::string id_;
};

class FakeProvider : public Provider {
 public:
  explicit FakeProvider(FakeCloud& c) : c_(c) {}
  std::string name() const override { return "fake"; }
  void bootstrap(const EventSink&, const CancelToken&) override {}
  std::vector<Node> create(const LaunchRequest& r) override {
    std::lock_guard<std::mutex> lock(c_.mu);
    ++c_.creates;
    if (c_.refuse_create) throw Error(ErrorCode::capacity, "no capacity in zone-a", true);
    c_.tokens.push_back(r.idempotency_token);
    std::vector<Node> out;
    for (int i = 0; i < r.count; ++i) {
      Node n;
      n.id = "n" + std::to_string(c_.next++);
      n.kind = r.kind;
      n.node_type = r.node_type->name;
      n.state = CloudState::running;
      n.internal_ip = "10.0.0." + std::to_string(c_.next);
      n.tags = r.tags;
      n.launch_time = std::chrono::system_clock::time_point(std::chrono::seconds(c_.next));
      c_.nodes[n.id] = n;
      out.push_back(n);
    }
    return out;
  }
  std::vector<Node> list(const Tags& filter) override {
    std::lock_guard<std::mutex> lock(c_.mu);
    ++c_.lists;
    std::vector<Node> out;
    for (const auto& [id, n] : c_.nodes) {
      bool ok = true;
      for (const auto& [k, v] : filter)
        if (!n.tags.count(k) || n.tags.at(k) != v) ok = false;
      if (ok) out.push_back(n);
    }
    std::sort(out.begin(), out.end(),
              [](const Node& a, const Node& b) { return a.launch_time < b.launch_time; });
    return out;
  }
  void terminate(const std::vector<std::string>& ids) override {
    std::lock_guard<std::mutex> lock(c_.mu);
    ++c_.terminates;
    for (const auto& id : ids) {
      c_.nodes.erase(id);
      c_.terminated.push_back(id);
    }
  }
  void set_tags(const std::vector<std::string>& ids, const Tags& tags) override {
    std::lock_guard<std::mutex> lock(c_.mu);
    for (const auto& id : ids) {
      auto it = c_.nodes.find(id);
      if (it == c_.nodes.end()) continue;
      for (const auto& [k, v] : tags) {
        if (v.empty())
          it->second.tags.erase(k);
        else
          it->second.tags[k] = v;
      }
    }
  }
  std::unique_ptr<CommandRunner> command_runner(const Node& n) override {
    return std::make_unique<FakeRunner>(c_, n.id);
  }

 private:
  FakeCloud& c_;
};

}  // namespace raycluster::testing
