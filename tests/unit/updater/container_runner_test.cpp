// container_config(): which image and options a node gets; ContainerRunner:
// what it asks of the host runner it wraps.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "updater/container_commands.hpp"
#include "updater/container_runner.hpp"

using namespace raycluster;
using namespace raycluster::detail;

namespace {

ClusterSpec spec_with(const std::string& docker) {
  return load_spec_string(
      "cluster_name: c1\n"
      "provider: {type: local, head_ip: 10.0.0.1, worker_ips: [10.0.0.2]}\n"
      "auth: {ssh_user: u}\n"
      "file_mounts: {'~/code': /tmp, '/opt/data': /tmp, '~/ray_bootstrap_config.yaml': /etc/hostname}\n" +
          docker,
      "t.yaml");
}

// Records the commands; answers `inspect` with what `inspect_answer` holds.
class FakeHost : public CommandRunner {
 public:
  std::vector<std::string> commands;
  std::vector<std::map<std::string, std::string>> envs;
  std::string inspect_answer;
  CommandResult run(const std::string& command, const CommandOptions& options) override {
    commands.push_back(command);
    envs.push_back(options.env);
    if (command.find(" inspect -f '{{.State.Running}}") != std::string::npos && options.on_line)
      options.on_line(inspect_answer, false);
    CommandResult r;
    r.exit_status = 0;
    return r;
  }
  void upload(const std::string&, const std::string&) override {}
  void download(const std::string&, const std::string&) override {}
  std::string describe() const override { return "fake"; }
};

}  // namespace

TEST_CASE("container_config picks the node's image and joins run options") {
  auto spec = spec_with(
      "docker: {image: img:1, worker_image: wimg:2, container_name: ctr, use_podman: true,\n"
      "  run_options: [--a], head_run_options: [--h], worker_run_options: [--w],\n"
      "  pull_before_run: false}\n");
  const auto& type = spec.node_types.front();
  auto head = container_config(spec, type, NodeKind::head);
  REQUIRE(head);
  CHECK(head->image == "img:1");
  CHECK(head->runtime == "podman");
  CHECK(head->container_name == "ctr");
  CHECK_FALSE(head->pull_before_run);
  CHECK(head->run_options == std::vector<std::string>{"--a", "--h"});
  CHECK(head->host_mount_prefix == "/tmp/ray_tmp_mount/c1");
  // Ray's bootstrap files are copied in, not bound.
  CHECK(head->mount_targets == std::vector<std::string>{"/opt/data", "~/code"});
  CHECK(head->copied_in == std::vector<std::string>{"~/ray_bootstrap_config.yaml"});
  auto worker = container_config(spec, type, NodeKind::worker);
  REQUIRE(worker);
  CHECK(worker->image == "wimg:2");
  CHECK(worker->run_options == std::vector<std::string>{"--a", "--w"});
}

TEST_CASE("no image, no container; docker is the default runtime") {
  auto none = spec_with("");
  CHECK_FALSE(container_config(none, none.node_types.front(), NodeKind::head));
  auto docker = spec_with("docker: {image: img:1}\n");
  auto c = container_config(docker, docker.node_types.front(), NodeKind::head);
  REQUIRE(c);
  CHECK(c->runtime == "docker");
  CHECK(c->container_name == "ray_container");
  CHECK(c->pull_before_run);
}

TEST_CASE("commands run in the container with the node's variables exported there") {
  auto spec = spec_with("docker: {image: img:1, container_name: ctr, use_podman: true}\n");
  auto host = std::make_unique<FakeHost>();
  auto* fake = host.get();
  ContainerRunner runner(std::move(host),
                         *container_config(spec, spec.node_types.front(), NodeKind::head));
  CommandOptions o;
  o.env["RAY_HEAD_IP"] = "10.0.0.1";
  o.env["ODD"] = "it's";
  runner.run("ray start --head", o);
  REQUIRE(fake->commands.size() == 1);
  CHECK(fake->envs[0].empty());  // not exported on the host
  CHECK(fake->commands[0] ==
        container_exec_command(
            "podman", "ctr",
            login_shell_command("export ODD='it'\\''s'; export RAY_HEAD_IP='10.0.0.1'; "
                                "ray start --head")));
  // Runtime commands run on the host, as in Ray.
  runner.run("podman ps", o);
  CHECK(fake->commands[1] == "podman ps");
  CHECK(fake->envs[1].size() == 2);
  o.env.clear();
  o.env["BAD NAME"] = "x";
  CHECK_THROWS_AS(runner.run("true", o), Error);
}

TEST_CASE("a container made with other settings is stale; a missing one absent") {
  auto spec = spec_with("docker: {image: img:1, container_name: ctr}\n");
  auto cfg = *container_config(spec, spec.node_types.front(), NodeKind::head);
  auto host = std::make_unique<FakeHost>();
  auto* fake = host.get();
  ContainerRunner runner(std::move(host), cfg);
  fake->inspect_answer = "";
  CHECK(runner.state({}) == ContainerRunner::State::absent);
  fake->inspect_answer = "false abc";
  CHECK(runner.state({}) == ContainerRunner::State::absent);
  fake->inspect_answer = "true 0123456789abcdef";
  CHECK(runner.state({}) == ContainerRunner::State::stale);
  CHECK(runner.remove_if_stale({}));
  CHECK(fake->commands.back() == "docker rm -f ctr");
}
