// A node whose Ray runs in a container (the config's `docker:` with an image),
// as Ray's DockerCommandRunner does it: a CommandRunner that wraps the node's
// own (SSH, or local processes) and runs each command inside the container
// with `<docker|podman> exec`, in a login shell. The updater uses the host
// side for the initialization commands and file mounts, and start() to
// (re)create the container between them.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "spec/spec.hpp"
#include "util/command_runner.hpp"
#include "util/node.hpp"

namespace raycluster::detail {

struct ContainerConfig {
  std::string runtime;  // "docker" or "podman"
  std::string image;    // head_image / worker_image when set, else image
  std::string container_name;
  bool pull_before_run = true;
  std::vector<std::string> run_options;  // run_options then head_/worker_run_options
  bool disable_shm_size_detection = false;
  bool detect_gpu_runtime = true;  // --runtime=nvidia when the host has it and a GPU
  std::string host_mount_prefix;  // where file mounts land on the host
  std::vector<std::string> mount_targets;  // file mounts' remote paths, bound into the container
  std::vector<std::string> copied_in;      // Ray's bootstrap files: copied, not bound
};

// The container a node of `type` and `kind` runs in: the type's `docker:`
// when it has one, else the cluster's; nullopt when neither names an image.
std::optional<ContainerConfig> container_config(const ClusterSpec& spec, const NodeTypeSpec& type,
                                                NodeKind kind);

class ContainerRunner : public CommandRunner {
 public:
  ContainerRunner(std::unique_ptr<CommandRunner> host, ContainerConfig config);

  // Commands run in the container, except those that start with the runtime's
  // name (`podman ...`), which run on the host as in Ray.
  CommandResult run(const std::string& command, const CommandOptions& options) override;
  // To the host's mount folder, then copied into the container when it runs.
  void upload(const std::string& local_path, const std::string& remote_path) override;
  void download(const std::string& remote_path, const std::string& local_path) override;
  std::string describe() const override;
  void wait_ready(std::chrono::steady_clock::time_point deadline,
                  const CancelToken& cancel) override;
  std::unique_ptr<PortForward> forward(int local_port, int remote_port,
                                       const std::string& remote_host) override;

  CommandRunner& host() { return *host_; }
  const ContainerConfig& config() const { return config_; }

  // To the host's mount folder only: the container binds it (file mounts).
  void upload_to_host(const std::string& local_path, const std::string& remote_path);
  // Whether the container runs, with the image and options it was made with.
  enum class State { absent, current, stale };
  State state(const CommandOptions& options);
  // Removes a stale container; returns whether one was removed.
  bool remove_if_stale(const CommandOptions& options);
  // Checks the runtime, pulls when asked (else only when the image is
  // missing), and starts the container unless it runs current. Throws Error
  // naming the node and the failing command. Returns whether it started one.
  bool start(const CommandOptions& options);
  // Stops Ray in the container (`ray stop`) and removes the container.
  void remove(const CommandOptions& options);
  // The command a terminal runs on the host to enter the container.
  std::string attach_command() const;

 private:
  CommandResult host_run(const std::string& command, const CommandOptions& options,
                         const char* what);
  std::string host_output(const std::string& command, const CommandOptions& options);
  std::string run_hash() const;
  std::vector<std::string> start_options(const CommandOptions& options);
  void copy_in(const std::string& remote_path, bool folder, const CommandOptions& options);
  std::string home_in_image(const CommandOptions& options);
  std::string expand_in_container(const std::string& path, const CommandOptions& options);

  std::unique_ptr<CommandRunner> host_;
  ContainerConfig config_;
  std::string home_;  // $HOME in the container, once asked
};

}  // namespace raycluster::detail
