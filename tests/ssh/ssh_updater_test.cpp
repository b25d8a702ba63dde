// The updater's per-node state machine driving a node over real SSH.
#include <doctest/doctest.h>

#include <mutex>

#include "providers/common/provider.hpp"
#include "ssh/ssh.hpp"
#include "sshd_fixture.hpp"
#include "updater/updater.hpp"
#include "util/fs.hpp"
#include "util/ids.hpp"

namespace rd = raycluster::detail;
using namespace raycluster;

namespace {

// Records the status tags the updater writes; has no nodes of its own.
class StatusRecorder : public Provider {
 public:
  std::string name() const override { return "stub"; }
  void bootstrap(const EventSink&, const CancelToken&) override {}
  std::vector<Node> create(const LaunchRequest&) override { return {}; }
  std::vector<Node> list(const Tags&) override { return {}; }
  void terminate(const std::vector<std::string>&) override {}
  void set_tags(const std::vector<std::string>&, const Tags& tags) override {
    std::lock_guard<std::mutex> lock(mu);
    auto it = tags.find(raycluster::tags::node_status);
    if (it != tags.end()) statuses.push_back(it->second);
  }
  std::unique_ptr<CommandRunner> command_runner(const Node&) override { return nullptr; }

  std::mutex mu;
  std::vector<std::string> statuses;
};

}  // namespace

TEST_CASE("updater over SSH: waits, syncs files, retries a command that fails once") {
  rctest::Sshd sshd;
  rctest::TempDir state, local;
  SshRunner runner(sshd.options(state.path));
  rd::make_dirs(local.path + "/mount");
  rd::write_file_atomic(local.path + "/mount/a.txt", "payload\n");
  std::string dir = "rc-ssh-upd-" + rd::random_hex(6);

  rd::SetupPlan plan;
  plan.file_mounts = {{"~/" + dir + "/mount", local.path + "/mount"}};
  plan.setup_commands = {
      "if [ -f ~/" + dir + "/once ]; then echo ok; else touch ~/" + dir + "/once; exit 4; fi",
      "grep -q payload ~/" + dir + "/mount/a.txt"};
  plan.start_commands = {"echo \"head at $RAY_HEAD_IP\""};
  plan.env = {{"RAY_HEAD_IP", "10.0.0.1"}};
  rd::UpdaterOptions options;
  options.attempts = 2;
  options.retry_backoff = std::chrono::milliseconds(100);
  options.ready_deadline = std::chrono::seconds(60);
  Node node;
  node.id = "node-1";
  StatusRecorder provider;
  std::mutex mu;
  std::vector<std::string> lines;
  EventSink events = [&](const Event& e) {
    std::lock_guard<std::mutex> lock(mu);
    lines.push_back(e.message);
  };
  auto result = rd::update_node(node, plan, provider, runner, options, events, CancelToken{});
  INFO(result.summary());
  CHECK(result.ok);
  bool retried = false, head = false;
  for (const auto& l : lines) {
    if (l.find("retrying") != std::string::npos) retried = true;
    if (l == "head at 10.0.0.1") head = true;
  }
  CHECK(retried);
  CHECK(head);
  REQUIRE(!provider.statuses.empty());
  CHECK(provider.statuses.front() == "waiting-for-ssh");
  CHECK(runner.transfer_stats().files_sent == 1);
  runner.run("rm -rf ~/" + dir, {});
}
