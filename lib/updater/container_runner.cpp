#include "updater/container_runner.hpp"

#include <filesystem>

#include "updater/container_commands.hpp"
#include "util/error.hpp"
#include "util/hash.hpp"
#include "util/strings.hpp"

namespace raycluster::detail {
namespace {

// Ray copies these in after the start: a bind mount would pin the old file.
bool is_bootstrap_mount(const std::string& remote) {
  return remote == "~/ray_bootstrap_config.yaml" || remote == "~/ray_bootstrap_key.pem";
}

bool valid_env_name(const std::string& k) {
  if (k.empty() || (k[0] >= '0' && k[0] <= '9')) return false;
  for (char c : k)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

std::string strip_leading_slashes(const std::string& s) {
  auto at = s.find_first_not_of('/');
  return at == std::string::npos ? std::string() : s.substr(at);
}

std::string dirname_of(const std::string& p) {
  std::string s = p;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  auto at = s.rfind('/');
  if (at == std::string::npos) return ".";
  return at == 0 ? "/" : s.substr(0, at);
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  auto at = s.find_first_not_of(" \n\r");
  return at == std::string::npos ? std::string() : s.substr(at);
}

}  // namespace

std::optional<ContainerConfig> container_config(const ClusterSpec& spec, const NodeTypeSpec& type,
                                                NodeKind kind) {
  const DockerSpec* d = type.docker ? &*type.docker : (spec.docker ? &*spec.docker : nullptr);
  if (!d) return std::nullopt;
  const bool head = kind == NodeKind::head;
  const std::string& own = head ? d->head_image : d->worker_image;
  ContainerConfig c;
  c.image = own.empty() ? d->image : own;
  if (c.image.empty()) return std::nullopt;
  c.runtime = d->use_podman ? "podman" : "docker";
  c.container_name = d->container_name;
  c.pull_before_run = d->pull_before_run;
  c.run_options = d->run_options;
  const auto& node_options = head ? d->head_run_options : d->worker_run_options;
  c.run_options.insert(c.run_options.end(), node_options.begin(), node_options.end());
  c.disable_shm_size_detection = d->disable_shm_size_detection;
  c.detect_gpu_runtime = !d->disable_automatic_runtime_detection;
  c.host_mount_prefix = container_host_mount_prefix(spec.cluster_name);
  for (const auto& [remote, local] : spec.file_mounts)
    if (!is_bootstrap_mount(remote)) c.mount_targets.push_back(remote);
  for (const auto& [remote, local] : spec.file_mounts)
    if (is_bootstrap_mount(remote)) c.copied_in.push_back(remote);
  return c;
}

ContainerRunner::ContainerRunner(std::unique_ptr<CommandRunner> host, ContainerConfig config)
    : host_(std::move(host)), config_(std::move(config)) {}

CommandResult ContainerRunner::run(const std::string& command, const CommandOptions& options) {
  if (command.rfind(config_.runtime, 0) == 0) return host_->run(command, options);
  std::string inner;
  for (const auto& [k, v] : options.env) {
    if (!valid_env_name(k))
      throw Error(ErrorCode::invalid_argument, "invalid environment variable name: " + k);
    inner += "export " + k + "=" + shell_quote(v) + "; ";
  }
  inner += command;
  CommandOptions o = options;
  o.env.clear();
  return host_->run(container_exec_command(config_.runtime, config_.container_name,
                                           login_shell_command(inner)),
                    o);
}

CommandResult ContainerRunner::host_run(const std::string& command, const CommandOptions& options,
                                        const char* what) {
  CommandOptions o = options;
  o.env.clear();
  CommandResult r = host_->run(command, o);
  if (r.cancelled) throw Error(ErrorCode::cancelled, "cancelled while " + std::string(what));
  if (!r.ok())
    throw Error(ErrorCode::command_failed,
                describe() + ": " + what + ": `" + command + "` " +
                    (r.timed_out ? std::string("timed out")
                                 : "exited " + std::to_string(r.exit_status)) +
                    (r.output_tail.empty() ? "" : " (" + trim(r.output_tail) + ")"));
  return r;
}

std::string ContainerRunner::host_output(const std::string& command, const CommandOptions& options) {
  CommandOptions o;
  o.timeout = options.timeout;
  o.cancel = options.cancel;
  std::string out;
  o.on_line = [&out](std::string_view line, bool is_stderr) {
    if (!is_stderr) out.append(line).append("\n");
  };
  CommandResult r = host_->run(command, o);
  if (r.cancelled) throw Error(ErrorCode::cancelled, "cancelled while running `" + command + "`");
  if (!r.ok())
    throw Error(ErrorCode::command_failed,
                describe() + ": `" + command + "` exited " + std::to_string(r.exit_status) +
                    (r.output_tail.empty() ? "" : " (" + trim(r.output_tail) + ")"));
  return trim(out);
}

void ContainerRunner::upload_to_host(const std::string& local_path, const std::string& remote_path) {
  std::string dest = config_.host_mount_prefix + "/" + strip_leading_slashes(remote_path);
  host_run("mkdir -p " + shell_quote(dirname_of(dest)), {}, "making the host's mount folder");
  host_->upload(local_path, dest);
}

void ContainerRunner::upload(const std::string& local_path, const std::string& remote_path) {
  upload_to_host(local_path, remote_path);
  if (state({}) == State::absent) return;
  copy_in(remote_path, std::filesystem::is_directory(local_path), {});
}

void ContainerRunner::copy_in(const std::string& remote_path, bool folder,
                              const CommandOptions& options) {
  std::string src = config_.host_mount_prefix + "/" + strip_leading_slashes(remote_path);
  if (folder) src += "/.";
  std::string target = expand_in_container(remote_path, options);
  host_run(container_exec_command(config_.runtime, config_.container_name,
                                  "mkdir -p " + shell_quote(dirname_of(target))) +
               "&& " + config_.runtime + " cp " + shell_quote(src) + " " +
               config_.container_name + ":" + shell_quote(target),
           options, "copying into the container");
}

void ContainerRunner::download(const std::string& remote_path, const std::string& local_path) {
  std::string src = config_.host_mount_prefix + "/" + strip_leading_slashes(remote_path);
  host_run("mkdir -p " + shell_quote(dirname_of(src)) + " && " + config_.runtime + " cp " +
               config_.container_name + ":" + shell_quote(expand_in_container(remote_path, {})) +
               " " + shell_quote(src),
           {}, "copying out of the container");
  host_->download(src, local_path);
}

std::string ContainerRunner::describe() const {
  return host_->describe() + " (container " + config_.container_name + ")";
}

void ContainerRunner::wait_ready(std::chrono::steady_clock::time_point deadline,
                                 const CancelToken& cancel) {
  host_->wait_ready(deadline, cancel);
}

std::unique_ptr<PortForward> ContainerRunner::forward(int local_port, int remote_port,
                                                      const std::string& remote_host) {
  // The container shares the host's network (--net=host).
  return host_->forward(local_port, remote_port, remote_host);
}

std::string ContainerRunner::run_hash() const {
  return sha256_hex(config_.image + "\n" + join(config_.mount_targets, "\n") + "\n" +
                    join(config_.run_options, "\n"))
      .substr(0, 16);
}

ContainerRunner::State ContainerRunner::state(const CommandOptions& options) {
  std::string out = host_output(config_.runtime +
                                    " inspect -f '{{.State.Running}} {{index .Config.Labels "
                                    "\"raycluster-run\"}}' " +
                                    config_.container_name + " 2>/dev/null || true",
                                options);
  if (out.rfind("true ", 0) != 0) return State::absent;
  return trim(out.substr(5)) == run_hash() ? State::current : State::stale;
}

bool ContainerRunner::remove_if_stale(const CommandOptions& options) {
  if (state(options) != State::stale) return false;
  host_run(config_.runtime + " rm -f " + config_.container_name, options,
           "removing the container made with other settings");
  return true;
}

std::string ContainerRunner::home_in_image(const CommandOptions& options) {
  std::string env =
      host_output(config_.runtime + " inspect -f '{{json .Config.Env}}' " + config_.image, options);
  auto at = env.find("\"HOME=");
  if (at == std::string::npos) return "/root";
  at += 6;
  return env.substr(at, env.find('"', at) - at);
}

std::string ContainerRunner::expand_in_container(const std::string& path,
                                                 const CommandOptions& options) {
  if (path.empty() || path[0] != '~') return path;
  if (home_.empty())
    home_ = host_output(config_.runtime + " exec " + config_.container_name + " printenv HOME",
                        options);
  return expand_user(path, home_);
}

std::vector<std::string> ContainerRunner::start_options(const CommandOptions& options) {
  std::vector<std::string> opts = config_.run_options;
  bool sized = false;
  for (const auto& o : opts) sized = sized || o.find("--shm-size") != std::string::npos;
  if (!config_.disable_shm_size_detection && !sized) {
    std::string shm = shm_size_option(host_output("cat /proc/meminfo || true", options));
    if (!shm.empty()) opts.push_back(shm);
  }
  if (config_.detect_gpu_runtime) {
    std::string runtimes =
        host_output(config_.runtime + " info -f '{{.Runtimes}}' 2>/dev/null || true", options);
    if (runtimes.find("nvidia-container-runtime") != std::string::npos &&
        host_->run("nvidia-smi", options).ok())
      opts.push_back("--runtime=nvidia");
  }
  opts.push_back("--label raycluster-run=" + run_hash());
  return opts;
}

bool ContainerRunner::start(const CommandOptions& options) {
  const std::string& rt = config_.runtime;
  if (host_output("command -v " + rt + " || echo NoExist", options).find("NoExist") !=
      std::string::npos)
    throw Error(ErrorCode::not_found,
                describe() + ": " + rt + " is not installed on the host; install it with "
                "initialization_commands (e.g. `sudo apt-get -y install " + rt + "`)");
  if (config_.pull_before_run)
    host_run(rt + " pull " + config_.image, options, "pulling the image");
  else
    host_run(rt + " image inspect " + config_.image + " 1> /dev/null  2>&1 || " + rt + " pull " +
                 config_.image,
             options, "finding the image");
  bool started = false;
  if (state(options) != State::current) {
    const std::string home = home_in_image(options);
    host_run(rt + " rm -f " + config_.container_name + " >/dev/null 2>&1 || true", options,
             "removing the old container");
    host_run(container_run_command(rt, config_.image, config_.mount_targets,
                                   config_.container_name, start_options(options),
                                   config_.host_mount_prefix, home),
             options, "starting the container");
    home_.clear();
    started = true;
  }
  for (const auto& remote : config_.copied_in) copy_in(remote, false, options);
  return started;
}

void ContainerRunner::remove(const CommandOptions& options) {
  if (state(options) == State::absent) return;
  run("ray stop", options);  // best effort: the container goes next anyway
  host_run(config_.runtime + " rm -f " + config_.container_name, options,
           "removing the container");
}

std::string ContainerRunner::attach_command() const {
  return config_.runtime + " exec -it " + config_.container_name + " /bin/bash";
}

}  // namespace raycluster::detail
