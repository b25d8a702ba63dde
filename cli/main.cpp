// raycluster: the command line, built on the public C++ API.
//
// Exit codes: 0 success, 1 the operation failed, 2 bad usage or an invalid
// config, 130 interrupted.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "monitor/autoscaler_loop.hpp"
#include "monitor/head_status.hpp"
#include "cluster/cluster.hpp"
#include "util/error.hpp"
#include "http/http.hpp"
#include "spec/spec.hpp"
#include "ssh/ssh.hpp"
#include "updater/container_runner.hpp"
#include "util/strings.hpp"
#include "render.hpp"

using namespace raycluster;

namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 130;

const char* kUsage = R"(usage: raycluster COMMAND CONFIG [options]

commands:
  validate CONFIG [--json]            check a config; print the normalised spec
  up CONFIG [-y] [--force-setup]      launch the head and initial workers, set them up
  status CONFIG [--json]              list the cluster's nodes
  scale CONFIG --workers N [--node-type TYPE] [-y]
                                      set the number of workers now (also --num-workers)
  exec CONFIG [--node ID] [--timeout SECONDS] -- CMD...
                                      run a command on the head (or a node)
  get-head-ip CONFIG                  print the head's address
  get-worker-ips CONFIG               print the workers' addresses, one a line
  attach CONFIG [--node ID]           an interactive shell on the head (or a node)
  dashboard CONFIG [--port N] [--remote-port P]
                                      reach the head's dashboard (or port P) from
                                      127.0.0.1:N through SSH until Ctrl-C
  down CONFIG [-y] [--workers-only] [--keep-min-workers] [--delete-storage]
                                      terminate the cluster's nodes (volumes are
                                      kept; --delete-storage deletes them too)
  monitor CONFIG [--interval S] [--once] [--json] [--dashboard-url URL]
                                      run the autoscaler in the foreground (Ctrl-C stops)
  monitor CONFIG --follow | --log     the head autoscaler's log (--follow: until Ctrl-C)
  request-resources CONFIG [--cpus N] [--bundles JSON]
                                      ask the autoscaler for at least this capacity
                                      (replaces the previous request; --cpus 0 withdraws it)

options:
  -y, --yes        do not ask for confirmation
  -v, --verbose    show every output line of setup commands
  --json           print data as JSON
  --parallel N     nodes set up at once (default 128)
  --command-timeout SECONDS
                   limit for each setup or start command (default none)

State lives in ~/.raycluster/<cluster_name>/ (or $RAYCLUSTER_HOME/<cluster_name>/).
)";

std::atomic<int> g_signals{0};

void on_signal(int) { g_signals.fetch_add(1); }

struct Args {
  std::string command;
  std::string config;
  std::vector<std::string> rest;  // after --, or the exec command
  bool yes = false;
  bool json = false;
  bool verbose = false;
  bool force_setup = false;
  bool workers_only = false;
  bool keep_min_workers = false;
  bool delete_storage = false;
  int workers = -1;
  std::string node_type;
  std::string node;
  int parallel = 128;
  double timeout_s = 0;
  double command_timeout_s = 0;
  double interval_s = 5;
  bool once = false;
  long long cpus = -1;  // -1: not given
  std::optional<std::string> bundles;  // --bundles JSON
  std::string dashboard_url;
  std::string on_head;  // monitor --on-head DIR: the autoscaler `up` runs on the head
  bool follow = false;
  bool log = false;
  int port = 0;
  int remote_port = 0;
};

// What came from a config, a node, a cloud or Ray, as the terminal may show it.
std::string safe(std::string_view text, bool keep_newlines = false) {
  return detail::terminal_safe(text, keep_newlines);
}

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "raycluster: %s\n\n%s", safe(msg, true).c_str(), kUsage);
  std::exit(kExitUsage);
}

int parse_int(const std::string& flag, const std::string& v) {
  try {
    std::size_t pos = 0;
    long n = std::stol(v, &pos);
    if (pos != v.size() || n < 0 || n > 1000000) throw std::invalid_argument(v);
    return static_cast<int>(n);
  } catch (const std::exception&) {
    usage_error(flag + " takes a whole number >= 0, not '" + v + "'");
  }
}

// A count whose bound the library checks (and names): only its form here.
long long parse_count(const std::string& flag, const std::string& v) {
  try {
    std::size_t pos = 0;
    long long n = std::stoll(v, &pos);
    if (pos != v.size() || n < 0) throw std::invalid_argument(v);
    return n;
  } catch (const std::exception&) {
    usage_error(flag + " takes a whole number >= 0, not '" + v + "'");
  }
}

double parse_seconds(const std::string& flag, const std::string& v) {
  try {
    std::size_t pos = 0;
    double d = std::stod(v, &pos);
    if (pos != v.size() || d < 0) throw std::invalid_argument(v);
    return d;
  } catch (const std::exception&) {
    usage_error(flag + " takes a number of seconds, not '" + v + "'");
  }
}

Args parse(int argc, char** argv) {
  Args a;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::fputs(kUsage, stdout);
    std::exit(0);
  }
  if (args[0] == "--version") {
    std::puts("raycluster 0.1.0");
    std::exit(0);
  }
  a.command = args[0];
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& s = args[i];
    auto value = [&](const std::string& flag) -> std::string {
      if (i + 1 >= args.size()) usage_error(flag + " needs a value");
      return args[++i];
    };
    if (s == "--") {
      a.rest.assign(args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    } else if (s == "-y" || s == "--yes") {
      a.yes = true;
    } else if (s == "--json") {
      a.json = true;
    } else if (s == "-v" || s == "--verbose") {
      a.verbose = true;
    } else if (s == "--force-setup") {
      a.force_setup = true;
    } else if (s == "--workers-only") {
      a.workers_only = true;
    } else if (s == "--keep-min-workers") {
      a.keep_min_workers = true;
    } else if (s == "--delete-storage") {
      a.delete_storage = true;
    } else if (s == "--workers" || s == "--num-workers") {
      a.workers = parse_int(s, value(s));
    } else if (s.rfind("--workers=", 0) == 0 || s.rfind("--num-workers=", 0) == 0) {
      a.workers = parse_int(s.substr(0, s.find('=')), s.substr(s.find('=') + 1));
    } else if (s == "--node-type") {
      a.node_type = value(s);
    } else if (s == "--node") {
      a.node = value(s);
    } else if (s == "--parallel") {
      a.parallel = std::max(1, parse_int(s, value(s)));
    } else if (s == "--timeout") {
      a.timeout_s = parse_seconds(s, value(s));
    } else if (s == "--interval") {
      a.interval_s = parse_seconds(s, value(s));
    } else if (s == "--once") {
      a.once = true;
    } else if (s == "--cpus") {
      a.cpus = parse_count(s, value(s));
    } else if (s == "--bundles") {
      a.bundles = value(s);
    } else if (s == "--port") {
      a.port = parse_int(s, value(s));
    } else if (s == "--remote-port") {
      a.remote_port = parse_int(s, value(s));
    } else if (s == "--on-head") {
      a.on_head = value(s);
    } else if (s == "--follow") {
      a.follow = true;
    } else if (s == "--log") {
      a.log = true;
    } else if (s == "--dashboard-url") {
      a.dashboard_url = value(s);
    } else if (s == "--command-timeout") {
      a.command_timeout_s = parse_seconds(s, value(s));
    } else if (!s.empty() && s[0] == '-') {
      usage_error("unknown option " + s);
    } else if (a.config.empty()) {
      a.config = s;
    } else if (a.command == "exec") {
      a.rest.assign(args.begin() + static_cast<long>(i), args.end());
      break;
    } else {
      usage_error("unexpected argument '" + s + "'");
    }
  }
  if (a.config.empty()) usage_error(a.command + " needs a CONFIG file");
  return a;
}

bool confirm(const Args& a, const std::string& question) {
  if (a.yes) return true;
  if (!::isatty(0)) {
    std::fprintf(stderr,
                 "raycluster: %s\nrefusing to go on without confirmation: standard input is not a "
                 "terminal (pass -y)\n",
                 safe(question, true).c_str());
    return false;
  }
  std::fprintf(stderr, "%s [y/N] ", safe(question, true).c_str());
  std::fflush(stderr);
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes";
}

void print_config_error(const ConfigError& e, bool json) {
  if (json) {
    Value out = Value::object();
    Value list = Value::array();
    for (const auto& d : e.diagnostics()) {
      Value o = Value::object();
      o.set("file", d.where.file);
      o.set("line", d.where.line);
      o.set("column", d.where.column);
      o.set("key", d.key_path);
      o.set("message", d.message);
      o.set("hint", d.hint);
      list.push(o);
    }
    out.set("errors", list);
    std::puts(out.to_json(2).c_str());
    return;
  }
  for (const auto& d : e.diagnostics())
    std::fprintf(stderr, "%s\n", safe(d.to_string(), true).c_str());
  std::fprintf(stderr, "%zu problem(s) found\n", e.diagnostics().size());
}

// Keys Ray accepts that do nothing here: one "warning:" line each, on stderr.
void print_config_warnings(const ClusterSpec& spec) {
  for (const auto& d : spec.warnings)
    std::fprintf(stderr, "warning: %s\n", safe(d.to_string(), true).c_str());
}

// `monitor --json`: the lifecycle's own events, one JSON line each (node
// status changes only; command output stays out of the event stream).
void print_cluster_event_json(const Event& e) {
  if (e.kind != EventKind::node_status) return;
  Value v = Value::object();
  v.set("time", std::chrono::duration<double>(e.time.time_since_epoch()).count());
  v.set("event", "node_status");
  v.set("node_ids", Value(Value::Array{Value(e.node_id)}));
  v.set("node_type", e.node_type);
  v.set("status", e.status);
  v.set("detail", redact(e.message));
  std::string line = v.to_json() + "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

void print_autoscaler_status(const AutoscalerStatus& a) {
  if (a.site != "head") {
    std::printf("autoscaler: %s\n", a.site == "local" ? "local (runs where `raycluster monitor` runs)"
                                                       : "off");
    return;
  }
  if (!a.error.empty()) {
    std::printf("autoscaler: head, unknown (%s)\n", safe(a.error).c_str());
    return;
  }
  if (!a.installed) {
    std::printf("autoscaler: head, not installed (run `raycluster up`)\n");
    return;
  }
  std::printf("autoscaler: head %s, %s (%s)\n", safe(a.where).c_str(), a.alive ? "alive" : "NOT RUNNING",
              safe(a.service).c_str());
  const Value* tick = a.report.is_object() ? a.report.find("last_tick") : nullptr;
  if (tick && tick->is_number()) {
    const double ago = std::chrono::duration<double>(
                           std::chrono::system_clock::now().time_since_epoch()).count() - tick->as_number();
    std::printf("  last tick %.0f s ago\n", ago < 0 ? 0 : ago);
  } else {
    std::printf("  no tick yet\n");
  }
  const Value* d = a.report.is_object() ? a.report.find("last_decision") : nullptr;
  std::printf("  last decision: %s\n", d && d->is_string() ? safe(d->as_string()).c_str() : "none");
  const Value* td = a.report.is_object() ? a.report.find("task_durations") : nullptr;
  if (td && td->is_string()) std::printf("  task durations: %s\n", safe(td->as_string()).c_str());
}

void print_status(const ClusterStatus& st) {
  std::printf("cluster %s (%s, id %s)\n", safe(st.cluster_name).c_str(),
              safe(st.provider).c_str(), safe(st.cluster_id).c_str());
  if (st.nodes.empty()) {
    std::printf("no nodes\n");
    return;
  }
  std::printf("%-20s %-7s %-20s %-10s %-15s %s\n", "NODE", "KIND", "TYPE", "STATE", "STATUS", "IP");
  for (const auto& n : st.nodes) {
    std::printf("%-20s %-7s %-20s %-10s %-15s %s\n", safe(n.id).c_str(), node_kind_name(n.kind),
                safe(n.node_type).c_str(), cloud_state_name(n.state),
                safe(n.setup_status()).c_str(),
                safe(n.external_ip.empty() ? n.internal_ip : n.external_ip).c_str());
    auto f = n.tags.find("raycluster-failure");
    if (f != n.tags.end() && !f->second.empty())
      std::printf("    %s\n", safe(f->second, true).c_str());
  }
  if (!st.dashboard.empty()) std::printf("dashboard: %s\n", safe(st.dashboard).c_str());
  print_autoscaler_status(st.autoscaler);
}

// The node named by --node (its id or an address), else the head.
Node pick_node(Cluster& cluster, const std::string& which) {
  for (const auto& n : cluster.nodes())
    if (which.empty() ? n.kind == NodeKind::head
                      : n.id == which || n.internal_ip == which || n.external_ip == which)
      return n;
  const std::string& name = cluster.spec().cluster_name;
  throw Error(ErrorCode::not_found,
              which.empty() ? "cluster " + name + " has no head node: run `raycluster up` first"
                            : "no node " + which + " in cluster " + name);
}

int attach(Cluster& cluster, const Args& a) {
  Node node = pick_node(cluster, a.node);
  auto runner = cluster.command_runner(node);
  // Ctrl-C belongs to the shell on the node (the PTY carries it), not to us.
  ::signal(SIGINT, SIG_IGN);
  // A node whose Ray runs in a container: a shell in the container, as
  // Ray's `attach` opens one.
  std::string in_container;
  CommandRunner* host = runner.get();
  if (auto* c = dynamic_cast<detail::ContainerRunner*>(runner.get())) {
    in_container = c->attach_command();
    host = &c->host();
  }
  if (auto* ssh = dynamic_cast<SshRunner*>(host)) {
    AttachOptions options;
    options.command = in_container;
    return ssh->attach(STDIN_FILENO, STDOUT_FILENO, options);
  }
  // A node that is processes on this machine (localhost provider): a local
  // shell with the node's environment, as its commands get it.
  auto env = cluster.node_environment(node);
  pid_t pid = ::fork();
  if (pid < 0) throw Error(ErrorCode::io, std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGPIPE, SIG_DFL);
    if (!in_container.empty())
      ::execl("/bin/bash", "bash", "-c", in_container.c_str(), static_cast<char*>(nullptr));
    ::execl("/bin/bash", "bash", "-i", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int dashboard(Cluster& cluster, const Args& a) {
  auto t = a.remote_port > 0 ? cluster.tunnel(a.remote_port, a.port) : cluster.dashboard(a.port);
  std::printf("%s\n", t->url().c_str());
  std::fflush(stdout);
  if (t->direct()) {
    std::fprintf(stderr, "raycluster: the head's port is reached directly; no tunnel needed\n");
    return 0;
  }
  std::fprintf(stderr, "raycluster: tunnel to the head open on %s; Ctrl-C closes it\n",
               t->url().c_str());
  while (g_signals.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::fprintf(stderr, "raycluster: tunnel closed after %llu connection(s)\n",
               static_cast<unsigned long long>(t->connections()));
  return 0;
}

int run_validate(const Args& a) {
  try {
    auto spec = load_spec_file(a.config);
    if (!a.json) print_config_warnings(spec);
    if (a.json)
      std::puts(spec_to_value(spec).to_json(2).c_str());
    else
      std::printf("%s: valid (%s dialect, provider %s, %zu node types, head %s)\n",
                  safe(a.config).c_str(), dialect_name(spec.dialect),
                  provider_kind_name(spec.provider.kind), spec.node_types.size(),
                  safe(spec.head_node_type).c_str());
    return 0;
  } catch (const ConfigError& e) {
    print_config_error(e, a.json);
    return kExitUsage;
  }
}

ClusterOptions cluster_options(const Args& a, cli::Renderer& renderer) {
  ClusterOptions opts;
  opts.parallelism = a.parallel;
  opts.command_timeout =
      std::chrono::milliseconds(static_cast<long long>(a.command_timeout_s * 1000));
  bool quiet_events = a.command == "status" || a.command == "get-head-ip" ||
                      a.command == "get-worker-ips" || a.command == "exec" ||
                      a.command == "request-resources" || a.command == "attach" ||
                      a.command == "dashboard";
  if (a.command == "monitor" && a.json)
    opts.events = [](const Event& e) { print_cluster_event_json(e); };
  else if (!quiet_events)
    opts.events = [&](const Event& e) { renderer.on_event(e); };
  else  // warnings still reach the user, on stderr
    opts.events = [&](const Event& e) {
      if (e.kind == EventKind::log && e.level >= LogLevel::warning) renderer.on_event(e);
    };
  return opts;
}

// Ctrl-C cancels the operation; a second one exits at once. Watches from a
// thread of its own until destroyed.
class InterruptWatcher {
 public:
  InterruptWatcher(cli::Renderer& renderer, const CancelToken& cancel)
      : thread_([this, &renderer, &cancel] { watch(renderer, cancel); }) {}
  ~InterruptWatcher() {
    stop_ = true;
    thread_.join();
  }
  InterruptWatcher(const InterruptWatcher&) = delete;
  InterruptWatcher& operator=(const InterruptWatcher&) = delete;

 private:
  void watch(cli::Renderer& renderer, const CancelToken& cancel) {
    int seen = 0;
    while (!stop_.load()) {
      int n = g_signals.load();
      if (n > seen) {
        seen = n;
        if (n == 1) {
          renderer.line("interrupted: stopping cleanly (press Ctrl-C again to quit now)", true);
          cancel.cancel();
        } else {
          std::_Exit(kExitInterrupted);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  std::atomic<bool> stop_{false};
  std::thread thread_;
};

int run_up(Cluster& cluster, const Args& a, const CancelToken& cancel, cli::Renderer& renderer) {
  const auto& sp = cluster.spec();
  if (!confirm(a, "This will create or update cluster " + sp.cluster_name + " (" +
                      provider_kind_name(sp.provider.kind) + "). Go on?"))
    return kExitFailed;
  UpOptions uo;
  uo.force_setup = a.force_setup;
  cluster.up(uo, cancel);
  renderer.finish();
  print_status(cluster.status());
  return 0;
}

int run_status(Cluster& cluster, const Args& a) {
  auto st = cluster.status();
  if (a.json)
    std::puts(st.to_value().to_json(2).c_str());
  else
    print_status(st);
  return 0;
}

int run_scale(Cluster& cluster, const Args& a, const CancelToken& cancel) {
  if (a.workers < 0) usage_error("scale needs --workers N (or --num-workers N)");
  if (!confirm(a, "This will set cluster " + cluster.spec().cluster_name + " to " +
                      std::to_string(a.workers) + " worker(s). Go on?"))
    return kExitFailed;
  ScaleOptions so;
  so.workers = a.workers;
  so.node_type = a.node_type;
  cluster.scale(so, cancel);
  return 0;
}

int run_exec(Cluster& cluster, const Args& a, const CancelToken& cancel) {
  if (a.rest.empty()) usage_error("exec needs a command");
  std::string cmd;
  for (const auto& r : a.rest) cmd += (cmd.empty() ? "" : " ") + r;
  ExecOptions eo;
  eo.node_id = a.node;
  eo.timeout = std::chrono::milliseconds(static_cast<long long>(a.timeout_s * 1000));
  // Byte for byte into a pipe or file; shown safely on a terminal.
  const bool out_tty = ::isatty(1), err_tty = ::isatty(2);
  eo.on_output = [out_tty, err_tty](std::string_view raw, bool is_stderr) {
    std::FILE* f = is_stderr ? stderr : stdout;
    const std::string shown = (is_stderr ? err_tty : out_tty) ? safe(raw) : std::string(raw);
    std::string_view line = shown;
    std::fwrite(line.data(), 1, line.size(), f);
    std::fputc('\n', f);
    std::fflush(f);
  };
  return cluster.exec(cmd, eo, cancel);
}

int run_get_worker_ips(Cluster& cluster, const Args& a) {
  auto ips = cluster.worker_ips();
  if (a.json) {
    Value v = Value::array();
    for (const auto& ip : ips) v.push(ip);
    std::puts(v.to_json().c_str());
  } else {
    for (const auto& ip : ips) std::puts(safe(ip).c_str());
  }
  return 0;
}

// Ray's request_resources(num_cpus=N, bundles=[...]), parsed as rc_request_resources parses it.
int run_request_resources(Cluster& cluster, const Args& a) {
  if (a.cpus < 0 && !a.bundles)
    usage_error("request-resources needs --cpus N or --bundles JSON");
  const std::vector<ResourceDemand> requested = parse_resource_request(
      a.bundles ? std::optional<std::string_view>(*a.bundles) : std::nullopt, std::max(0LL, a.cpus));
  std::int64_t total = 0;
  for (const auto& d : requested) total += d.count;
  write_resource_request(cluster.state_dir(), requested);
  cluster.share_with_head_autoscaler("requested_resources.json");
  std::printf("requested %lld bundle(s) for cluster %s\n", static_cast<long long>(total),
              safe(cluster.spec().cluster_name).c_str());
  return 0;
}

void print_autoscaler_event(const AutoscalerEvent& e, const Args& a, cli::Renderer& renderer) {
  if (a.json) {
    if (e.type == "tick" && !a.verbose) return;
    std::string line = e.to_json() + "\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
    return;
  }
  if (e.type == "tick" && !a.verbose) return;
  std::string msg = "autoscaler: " + e.type;
  if (e.count) msg += " " + std::to_string(e.count);
  if (!e.node_type.empty()) msg += " " + e.node_type;
  if (!e.reason.empty()) msg += " (" + e.reason + ")";
  for (const auto& id : e.node_ids) msg += " " + id;
  if (!e.detail.empty()) msg += ": " + redact(e.detail);
  renderer.line(msg, e.type == "launch_failed" || e.type == "setup_failed" ||
                         e.type == "load_error");
}

// `monitor --log/--follow`: the head autoscaler's log, from the head.
int run_autoscaler_log(Cluster& cluster, const Args& a, const CancelToken& cancel) {
  ExecOptions eo;
  const bool out_tty = ::isatty(1);
  eo.on_output = [out_tty](std::string_view raw, bool is_stderr) {
    std::FILE* f = is_stderr ? stderr : stdout;
    const std::string shown = out_tty ? safe(raw) : std::string(raw);
    std::fwrite(shown.data(), 1, shown.size(), f);
    std::fputc('\n', f);
    std::fflush(f);
  };
  int rc = cluster.autoscaler_log(a.follow, eo, cancel);
  if (cancel.cancelled()) return 0;
  return rc == 0 ? 0 : kExitFailed;
}

int run_monitor(Cluster& cluster, const Args& a, const CancelToken& cancel, cli::Renderer& renderer) {
  if (a.follow || a.log) return run_autoscaler_log(cluster, a, cancel);
  AutoscalerOptions ao;
  ao.interval = std::chrono::milliseconds(static_cast<long long>(a.interval_s * 1000));
  ao.dashboard_url = a.dashboard_url;
  std::unique_ptr<detail::HeadStatusWriter> head_status;
  if (!a.on_head.empty()) {
    ao.on_head = true;
    head_status = std::make_unique<detail::HeadStatusWriter>(a.on_head);
  } else if (auto st = cluster.status(); st.autoscaler.site == "head" && st.autoscaler.alive) {
    std::fprintf(stderr,
                 "raycluster: the autoscaler of cluster %s runs on the head (%s); a second one here "
                 "would fight it. Watch it with `raycluster monitor %s --follow`, or set "
                 "`autoscaler: local` in the config and run `up` again.\n",
                 safe(cluster.spec().cluster_name).c_str(), safe(st.autoscaler.where).c_str(),
                 safe(a.config).c_str());
    return kExitUsage;
  }
  ao.on_event = [&](const AutoscalerEvent& e) {
    if (head_status) head_status->on_event(e);
    print_autoscaler_event(e, a, renderer);
  };
  Autoscaler autoscaler(cluster, ao);
  if (a.once) {
    autoscaler.tick(cancel);
    autoscaler.drain();
    autoscaler.stop();
  } else {
    autoscaler.run(cancel);
  }
  renderer.finish();
  if (cancel.cancelled()) return kExitInterrupted;
  return 0;
}

int run_down(Cluster& cluster, const Args& a, const CancelToken& cancel) {
  std::string what = a.workers_only || a.keep_min_workers ? "the workers of" : "every node of";
  if (a.delete_storage && (a.workers_only || a.keep_min_workers))
    usage_error("--delete-storage needs a full down (not --workers-only or --keep-min-workers)");
  std::string volumes;
  for (const auto& v : cluster.spec().storage) volumes += (volumes.empty() ? "" : ", ") + v.name;
  std::string storage = a.delete_storage
                            ? " and DELETE its volumes" +
                                  (volumes.empty() ? std::string() : " (" + volumes + ")") +
                                  " with all their data"
                            : "";
  if (!confirm(a, "This will terminate " + what + " cluster " + cluster.spec().cluster_name +
                      storage + ". Go on?"))
    return kExitFailed;
  DownOptions d;
  d.workers_only = a.workers_only;
  d.keep_min_workers = a.keep_min_workers;
  d.delete_storage = a.delete_storage;
  cluster.down(d, cancel);
  return 0;
}

int run_command(Cluster& cluster, const Args& a, const CancelToken& cancel, cli::Renderer& renderer) {
  if (a.command == "up") return run_up(cluster, a, cancel, renderer);
  if (a.command == "status") return run_status(cluster, a);
  if (a.command == "scale") return run_scale(cluster, a, cancel);
  if (a.command == "exec") return run_exec(cluster, a, cancel);
  if (a.command == "get-head-ip") {
    std::puts(safe(cluster.head_ip()).c_str());
    return 0;
  }
  if (a.command == "get-worker-ips") return run_get_worker_ips(cluster, a);
  if (a.command == "request-resources") return run_request_resources(cluster, a);
  if (a.command == "monitor") return run_monitor(cluster, a, cancel, renderer);
  if (a.command == "down") return run_down(cluster, a, cancel);
  return kExitUsage;
}

int run(const Args& a) {
  if (a.command == "validate") return run_validate(a);

  static const std::vector<std::string> known = {
      "up",   "status",  "scale",   "exec",      "get-head-ip",      "get-worker-ips",
      "down", "monitor", "attach",  "dashboard", "request-resources"};
  if (std::find(known.begin(), known.end(), a.command) == known.end())
    usage_error("unknown command '" + a.command + "'");

  ClusterSpec spec;
  try {
    spec = load_spec_file(a.config);
    if (a.command == "up") print_config_warnings(spec);
  } catch (const ConfigError& e) {
    print_config_error(e, false);
    return kExitUsage;
  }

  bool tty = ::isatty(2) && !a.json;
  cli::Renderer renderer(tty, a.verbose);
  auto cluster = Cluster::open(std::move(spec), cluster_options(a, renderer));
  // These two hold the terminal (or the tunnel) until the user ends them.
  if (a.command == "attach") return attach(*cluster, a);
  if (a.command == "dashboard") return dashboard(*cluster, a);

  CancelToken cancel;
  InterruptWatcher watcher(renderer, cancel);
  return run_command(*cluster, a, cancel, renderer);
}

}  // namespace

int main(int argc, char** argv) {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  Args args = parse(argc, argv);
  try {
    return run(args);
  } catch (const ConfigError& e) {
    print_config_error(e, false);
    return kExitUsage;
  } catch (const Error& e) {
    if (e.code() == ErrorCode::cancelled) {
      std::fprintf(stderr, "raycluster: cancelled; run the same command again to resume, or "
                           "`raycluster down` to clean up\n");
      return kExitInterrupted;
    }
    std::fprintf(stderr, "raycluster: %s error: %s\n", error_code_name(e.code()),
                 safe(redact(e.what()), true).c_str());
    return e.code() == ErrorCode::invalid_argument ? kExitUsage : kExitFailed;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "raycluster: internal error: %s\n", safe(redact(e.what()), true).c_str());
    return kExitFailed;
  }
}
