#include "cluster/head_service.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"
#include "util/process.hpp"
#include "util/strings.hpp"

namespace raycluster::detail {
namespace {

// ctl.sh: the service around `raycluster monitor --on-head`. `start loop`
// keeps it in the caller's session (a localhost node's process); `start
// auto` prefers systemd (a system unit as root, else a user unit when the
// user's manager runs and lingering is on), else a detached sh loop.
constexpr const char* kControlScript = R"CTL(#!/bin/sh
# The raycluster autoscaler of cluster @NAME@ on this head.
#   ctl.sh start [loop|auto] | stop | alive | status | supervise
DIR=$(cd "$(dirname "$0")" && pwd)
UNIT=raycluster-autoscaler-@NAME@.service
log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) supervisor: $*" >> "$DIR/monitor.log"; }
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
service() { cat "$DIR/service" 2>/dev/null || echo none; }
sctl() { if [ "$(service)" = systemd-user ]; then systemctl --user "$@"; else systemctl "$@"; fi; }
unit_dir() {
  if [ "$1" = user ]; then echo "${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"; else echo /etc/systemd/system; fi
}

supervise() {
  echo $$ > "$DIR/supervisor.pid"
  child=
  trap '[ -n "$child" ] && kill "$child" 2>/dev/null; rm -f "$DIR/supervisor.pid"; exit 0' TERM INT HUP
  delay=1
  while :; do
    if [ -f "$DIR/monitor.log" ] && [ "$(wc -c < "$DIR/monitor.log")" -gt 10485760 ]; then
      mv -f "$DIR/monitor.log" "$DIR/monitor.log.1"
    fi
    started=$(date +%s)
    "$DIR/start.sh" >> "$DIR/monitor.log" 2>&1 < /dev/null &
    child=$!
    echo "$child" > "$DIR/monitor.pid"
    wait "$child"
    code=$?
    child=
    if [ $(( $(date +%s) - started )) -ge 60 ]; then delay=1; fi
    log "autoscaler exited with status $code; restarting in ${delay}s"
    sleep "$delay"
    delay=$(( delay * 2 ))
    if [ "$delay" -gt 60 ]; then delay=60; fi
  done
}

start_systemd() {
  d=$(unit_dir "$1")
  if [ "$1" = user ]; then want=default.target; else want=multi-user.target; fi
  mkdir -p "$d" || return 1
  cat > "$d/$UNIT" <<UNIT || return 1
[Unit]
Description=raycluster autoscaler of cluster @NAME@
[Service]
ExecStart=$DIR/start.sh
Restart=always
RestartSec=2
StandardOutput=append:$DIR/monitor.log
StandardError=append:$DIR/monitor.log
[Install]
WantedBy=$want
UNIT
  echo "systemd-$1" > "$DIR/service"
  sctl daemon-reload && sctl enable "$UNIT" > /dev/null 2>&1 && sctl restart "$UNIT" && return 0
  rm -f "$d/$UNIT" "$DIR/service"
  return 1
}

start() {
  stop > /dev/null 2>&1
  if [ "${1:-auto}" = auto ] && command -v systemctl > /dev/null 2>&1 && [ -d /run/systemd/system ]; then
    if [ "$(id -u)" = 0 ]; then
      start_systemd system && { echo systemd-system; return 0; }
    elif systemctl --user show-environment > /dev/null 2>&1 &&
         { loginctl show-user "$(id -un)" -p Linger 2>/dev/null | grep -q yes ||
           loginctl enable-linger "$(id -un)" > /dev/null 2>&1; }; then
      start_systemd user && { echo systemd-user; return 0; }
    fi
  fi
  echo loop > "$DIR/service"
  if [ "${1:-auto}" = auto ] && command -v setsid > /dev/null 2>&1; then
    nohup setsid "$0" supervise > /dev/null 2>&1 < /dev/null &
  else
    nohup "$0" supervise > /dev/null 2>&1 < /dev/null &
  fi
  i=0
  while [ ! -s "$DIR/supervisor.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  echo loop
}

stop() {
  case "$(service)" in
    systemd-*)
      s=$(service)
      sctl disable --now "$UNIT" > /dev/null 2>&1
      rm -f "$(unit_dir "${s#systemd-}")/$UNIT"
      sctl daemon-reload > /dev/null 2>&1 ;;
  esac
  for f in supervisor monitor; do
    if pid_alive "$DIR/$f.pid"; then kill -TERM "$(cat "$DIR/$f.pid")" 2>/dev/null; fi
  done
  i=0
  while { pid_alive "$DIR/supervisor.pid" || pid_alive "$DIR/monitor.pid"; } && [ $i -lt 100 ]; do
    sleep 0.1; i=$((i + 1))
  done
  for f in supervisor monitor; do
    if pid_alive "$DIR/$f.pid"; then kill -KILL "$(cat "$DIR/$f.pid")" 2>/dev/null; fi
  done
  rm -f "$DIR/supervisor.pid" "$DIR/monitor.pid" "$DIR/service"
  echo stopped
}

alive() {
  case "$(service)" in
    systemd-*) sctl is-active --quiet "$UNIT" ;;
    loop) pid_alive "$DIR/supervisor.pid" ;;
    *) return 1 ;;
  esac
}

status() {
  a=false; m=false
  if alive; then a=true; fi
  if pid_alive "$DIR/monitor.pid"; then m=true; fi
  printf '{"service":"%s","alive":%s,"monitor_alive":%s,"status":' "$(service)" "$a" "$m"
  if [ -s "$DIR/status.json" ]; then cat "$DIR/status.json"; else printf null; fi
  printf '}\n'
}

case "$1" in
  start) start "$2" ;;
  stop) stop ;;
  alive) alive ;;
  status) status ;;
  supervise) supervise ;;
  *) echo "usage: $0 start [loop|auto] | stop | alive | status" >&2; exit 2 ;;
esac
)CTL";

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

std::string this_machine() {
  utsname u{};
  return ::uname(&u) == 0 ? u.machine : "";
}

// A copy of the binary without its debug sections (most of its size), when
// `strip` is there; else the binary itself.
std::string without_debug_info(const std::string& bin, const std::string& out) {
  ProcessSpec ps;
  ps.argv = {"strip", "--strip-debug", "-o", out, bin};
  ps.timeout = std::chrono::seconds(60);
  try {
    if (run_process(ps).ok()) return out;
  } catch (const Error&) {
    // No strip on this machine.
  }
  return bin;
}

}  // namespace

std::string head_control_script(const std::string& cluster_name) {
  return replace_all(kControlScript, "@NAME@", cluster_name);
}

HeadAutoscalerService::HeadAutoscalerService(const ClusterSpec& spec, std::string cluster_id,
                                             std::string state_root, std::string state_dir, Info info)
    : spec_(spec),
      cluster_id_(std::move(cluster_id)),
      state_root_(std::move(state_root)),
      state_dir_(std::move(state_dir)),
      stage_(state_dir_ + "/head-autoscaler"),
      info_(std::move(info)) {}

std::string HeadAutoscalerService::remote_dir(bool local_node) const {
  return local_node ? "~/autoscaler" : "~/.raycluster/autoscaler/" + spec_.cluster_name;
}

std::string HeadAutoscalerService::shell_dir(bool local_node) const {
  return (local_node ? "\"$RAYCLUSTER_NODE_DIR\"" : "\"$HOME\"") + remote_dir(local_node).substr(1);
}

CommandResult HeadAutoscalerService::run(HeadAccess& head, const std::string& command, std::string* out) {
  CommandOptions o;
  o.env = head.env;
  o.timeout = std::chrono::seconds(60);
  if (out)
    o.on_line = [out](std::string_view line, bool is_stderr) {
      if (!is_stderr) *out += std::string(line) + "\n";
    };
  return head.runner.run(command, o);
}

// Writes what the head gets into the staging folder; returns the inputs hash.
std::string HeadAutoscalerService::stage_files(bool local_node, std::string& manifest,
                                               std::vector<BundleFile>& bundle) {
  make_dirs(stage_, 0700);
  const std::string bin = raycluster_binary();
  std::string start = "#!/bin/sh\nDIR=$(cd \"$(dirname \"$0\")\" && pwd)\n";
  std::string key_on_head;
  if (local_node) {
    start += "export RAYCLUSTER_HOME=" + shell_quote(state_root_) + "\nexec " + shell_quote(bin);
  } else {
    bundle = bundle_files(bin);
    bundle.front().local_path = without_debug_info(bin, stage_ + "/raycluster");
    manifest = bundle_manifest(bundle);
    start += "export RAYCLUSTER_HOME=\"$DIR/home\"\nexport LD_LIBRARY_PATH=\"$DIR/bundle/lib\"\n"
             "exec \"$DIR/bundle/raycluster\"";
    if (!spec_.auth.ssh_private_key.empty()) {
      key_on_head = remote_dir(false) + "/ssh_key";
      write_file_atomic(stage_ + "/ssh_key", read_file(spec_.auth.ssh_private_key, 1 << 20), 0600);
    }
    make_dirs(stage_ + "/home/" + spec_.cluster_name, 0700);
    Value id = Value::object();
    id.set("cluster_name", spec_.cluster_name);
    id.set("cluster_id", cluster_id_);
    id.set("provider", provider_kind_name(spec_.provider.kind));
    write_file_atomic(stage_ + "/home/" + spec_.cluster_name + "/cluster.json", id.to_json(2) + "\n", 0600);
  }
  start += " monitor \"$DIR/cluster.yaml\" --on-head \"$DIR\" --json\n";
  Value head_spec = head_spec_value(spec_, key_on_head, !local_node);
  if (adjust_spec) adjust_spec(head_spec);
  const std::string yaml = head_spec.to_json(2) + "\n";
  const std::string ctl = head_control_script(spec_.cluster_name);
  write_file_atomic(stage_ + "/cluster.yaml", yaml, 0600);
  write_file_atomic(stage_ + "/start.sh", start, 0700);
  write_file_atomic(stage_ + "/ctl.sh", ctl, 0700);
  std::string key_hash = local_node || spec_.auth.ssh_private_key.empty()
                             ? std::string()
                             : sha256_hex(read_file(stage_ + "/ssh_key"));
  return sha256_hex(manifest + "\n" + yaml + "\n" + start + "\n" + ctl + "\n" + key_hash);
}

bool HeadAutoscalerService::bundle_current(HeadAccess& head, const std::string& manifest) {
  std::string out;
  auto r = run(head, "cd " + shell_dir(false) + "/bundle 2>/dev/null && sha256sum -c --quiet MANIFEST "
                     ">/dev/null 2>&1 && cat MANIFEST", &out);
  return r.ok() && out == manifest;
}

void HeadAutoscalerService::send_bundle(HeadAccess& head, const std::vector<BundleFile>& bundle,
                                        const std::string& manifest) {
  const std::string dir = remote_dir(false) + "/bundle/";
  std::uint64_t bytes = 0;
  for (const auto& f : bundle) {
    head.runner.upload(f.local_path, dir + f.name);
    bytes += read_file(f.local_path).size();
  }
  write_file_atomic(stage_ + "/MANIFEST", manifest, 0600);
  head.runner.upload(stage_ + "/MANIFEST", dir + "MANIFEST");
  char size[32];
  std::snprintf(size, sizeof size, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  info_("head autoscaler: bundle sent (" + std::to_string(bundle.size()) + " files, " + size + ")",
        LogLevel::info);
}

void HeadAutoscalerService::install(HeadAccess& head, const CancelToken& cancel) {
  std::string manifest;
  std::vector<BundleFile> bundle;
  const std::string inputs = stage_files(head.local_node, manifest, bundle);
  const std::string dir = shell_dir(head.local_node);
  std::string probe;
  run(head, "uname -m; cat " + dir + "/inputs.sha256 2>/dev/null; echo; sh " + dir +
                "/ctl.sh alive 2>/dev/null && echo alive",
      &probe);
  auto lines = split(probe, '\n');
  const std::string arch = lines.empty() ? "" : std::string(trim(lines[0]));
  if (!head.local_node && arch != this_machine())
    throw Error(ErrorCode::unsupported,
                "the head is " + (arch.empty() ? std::string("of an unknown architecture") : arch) +
                    " and this machine " + this_machine() +
                    ": raycluster cannot send the head a binary it runs (set `autoscaler: local`)");
  const bool alive = probe.find("\nalive") != std::string::npos;
  if (lines.size() > 1 && trim(lines[1]) == inputs && alive) {
    info_("head autoscaler unchanged (inputs " + inputs.substr(0, 12) + "), running on the head",
          LogLevel::info);
    return;
  }
  cancel.throw_if_cancelled();
  run(head, "[ -f " + dir + "/ctl.sh ] && sh " + dir + "/ctl.sh stop; mkdir -p " + dir +
                "/home && chmod 700 " + dir);
  const std::string rdir = remote_dir(head.local_node);
  if (!head.local_node) {
    if (bundle_current(head, manifest))
      info_("head autoscaler: bundle unchanged on the head", LogLevel::info);
    else
      send_bundle(head, bundle, manifest);
    const std::string id_file = "/home/" + spec_.cluster_name + "/cluster.json";
    head.runner.upload(stage_ + id_file, rdir + id_file);
    if (!spec_.auth.ssh_private_key.empty()) head.runner.upload(stage_ + "/ssh_key", rdir + "/ssh_key");
    // What the cluster's folder here keeps that the provider on the head
    // reads from its own: pinned host keys, a key pair `up` made (*.pem),
    // the image chosen for the cluster (images.json).
    for (const auto& f : list_dir(state_dir_)) {
      const bool pem = f.size() > 4 && f.compare(f.size() - 4, 4, ".pem") == 0;
      if (pem || f == "known_hosts" || f == "images.json")
        head.runner.upload(state_dir_ + "/" + f, rdir + "/home/" + spec_.cluster_name + "/" + f);
    }
  }
  for (const char* f : {"cluster.yaml", "start.sh", "ctl.sh"}) head.runner.upload(stage_ + "/" + f, rdir + "/" + f);
  cancel.throw_if_cancelled();
  std::string started;
  auto r = run(head, "chmod 700 " + dir + "/ctl.sh " + dir + "/start.sh && echo " + inputs + " > " + dir +
                         "/inputs.sha256 && sh " + dir + "/ctl.sh start " +
                         (head.local_node ? "loop" : "auto"),
               &started);
  if (!r.ok())
    throw Error(ErrorCode::command_failed, "head autoscaler: could not start it on the head: " + r.output_tail);
  write_file_atomic(stage_ + "/installed", inputs + "\n", 0600);
  info_("head autoscaler started on the head (" + std::string(trim(started)) + "), log " + rdir +
            "/monitor.log",
        LogLevel::info);
}

bool HeadAutoscalerService::installed_from_here() const { return path_exists(stage_ + "/installed"); }

bool HeadAutoscalerService::stop(HeadAccess& head) {
  const std::string dir = shell_dir(head.local_node);
  std::string out;
  auto r = run(head, "if [ -f " + dir + "/ctl.sh ] && sh " + dir + "/ctl.sh alive; then sh " + dir +
                         "/ctl.sh stop; fi",
               &out);
  if (!r.ok() && r.exit_status != 1)
    throw Error(ErrorCode::command_failed, "head autoscaler: could not stop it: " + r.output_tail);
  ::unlink((stage_ + "/installed").c_str());
  return out.find("stopped") != std::string::npos;
}

HeadAutoscalerState HeadAutoscalerService::read(HeadAccess& head) {
  HeadAutoscalerState st;
  st.dir = remote_dir(head.local_node);
  const std::string dir = shell_dir(head.local_node);
  std::string out;
  auto r = run(head, "[ -f " + dir + "/ctl.sh ] && sh " + dir + "/ctl.sh status", &out);
  if (!r.ok()) return st;
  st.installed = true;
  try {
    Value v = Value::parse_json(out);
    if (const Value* s = v.find("service"); s && s->is_string()) st.service = s->as_string();
    if (const Value* a = v.find("alive"); a && a->is_bool()) st.alive = a->as_bool();
    if (const Value* m = v.find("monitor_alive"); m && m->is_bool()) st.monitor_alive = m->as_bool();
    if (const Value* s = v.find("status")) st.status = *s;
  } catch (const Error&) {
    st.service = "unreadable";
  }
  return st;
}

void HeadAutoscalerService::push_state_file(HeadAccess& head, const std::string& name) {
  if (head.local_node || !path_exists(state_dir_ + "/" + name)) return;
  const std::string rel = "/home/" + spec_.cluster_name + "/" + name;
  head.runner.upload(state_dir_ + "/" + name, remote_dir(false) + rel + ".new");
  const std::string dir = shell_dir(false);
  run(head, "mv -f " + dir + rel + ".new " + dir + rel);
}

void HeadAutoscalerService::pull_state_file(HeadAccess& head, const std::string& name) {
  if (head.local_node) return;
  std::string out;
  auto r = run(head, "cat " + shell_dir(false) + "/home/" + spec_.cluster_name + "/" + name, &out);
  if (!r.ok() || out.empty()) return;
  Value::parse_json(out);  // only a whole file replaces ours
  FileLock lock(state_dir_ + "/" + name.substr(0, name.rfind('.')) + ".lock", true);
  write_file_atomic(state_dir_ + "/" + name, out, 0600);
}

void HeadAutoscalerService::drop_state_file(HeadAccess& head, const std::string& name) {
  if (head.local_node) return;
  run(head, "rm -f " + shell_dir(false) + "/home/" + spec_.cluster_name + "/" + name);
}

std::string HeadAutoscalerService::log_command(bool local_node, bool follow) const {
  const std::string log = shell_dir(local_node) + "/monitor.log";
  return "[ -f " + log + " ] || { echo 'no head autoscaler log at " + remote_dir(local_node) +
         "/monitor.log' >&2; exit 1; }; tail -n 200 " + (follow ? "-F " : "") + log;
}

}  // namespace raycluster::detail
