// The C ABI: a thin shim over the C++ API. Every fallible entry point runs
// inside guard() (guard.hpp), which resets the thread's last error and turns
// any exception into an rc_status, so nothing thrown ever crosses the
// boundary. Free functions and event accessors are noexcept and leave the
// last error alone.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "guard.hpp"
#include "operation.hpp"
#include "monitor/autoscaler_loop.hpp"
#include "cluster/cluster.hpp"
#include "util/error.hpp"
#include "raycluster/raycluster.h"
#include "spec/spec.hpp"
#include "util/value.hpp"

struct rc_spec {
  raycluster::ClusterSpec spec;
};

struct rc_cluster {
  std::shared_ptr<raycluster::capi::Core> core;
};

struct rc_tunnel {
  std::unique_ptr<raycluster::Tunnel> tunnel;
};

// The C ABI's autoscaler. Members are destroyed in reverse order: the loop
// (which holds a reference to core->cluster) goes before the Core.
struct rc_autoscaler {
  std::shared_ptr<raycluster::capi::Core> core;
  rc_event_callback on_event = nullptr;
  void* user_data = nullptr;
  std::mutex mu;  // serialises stop()
  std::unique_ptr<raycluster::Autoscaler> loop;
  bool stopped = false;
};

namespace {

using raycluster::capi::Core;
using raycluster::capi::guard;
using raycluster::capi::invalid;
using raycluster::capi::Operation;
using raycluster::capi::OpKind;
using raycluster::capi::OpState;

const char* str_or_empty(const std::string& s) { return s.c_str(); }

// The int in an enum a caller filled in. C lets any int through an enum
// type; in C++ loading one outside the enumerators' range is undefined, so
// the bytes are read as an int.
template <class E>
int enum_bits(const E& e) {
  static_assert(sizeof(E) == sizeof(int));
  int v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

bool valid_level(int level) { return level >= RC_LOG_DEBUG && level <= RC_LOG_ERROR; }

// The options a caller passed, or the defaults; nullptr after reporting a
// wrong version.
template <class T>
const T* options_or_default(const T* given, const T& defaults, int current_version,
                            const char* fn, rc_status* error) {
  if (!given) return &defaults;
  if (given->version < 1 || given->version > current_version) {
    *error = invalid(std::string(fn) + ": options version " + std::to_string(given->version) +
                     " is not supported (this library knows 1.." +
                     std::to_string(current_version) + "; use the RC_*_OPTIONS_INIT initialiser)");
    return nullptr;
  }
  return given;
}

rc_status finish(Operation op, rc_operation** out) {
  *out = new rc_operation{std::move(op)};
  return RC_OK;
}

rc_status op_result(const OpState& st) { return raycluster::capi::set_last_error(st.result); }

bool finished(OpState& st) {
  std::lock_guard<std::mutex> lock(st.mu);
  return st.finished;
}

rc_status start_up(rc_operation** out, rc_cluster* cluster, const rc_up_options* options,
                   const char* fn) {
  if (!out) return invalid(std::string(fn) + ": out is NULL");
  *out = nullptr;
  if (!cluster) return invalid(std::string(fn) + ": cluster is NULL");
  static const rc_up_options defaults = RC_UP_OPTIONS_INIT;
  rc_status err = RC_OK;
  const auto* o = options_or_default(options, defaults, RC_UP_OPTIONS_VERSION, fn, &err);
  if (!o) return err;
  raycluster::UpOptions up;
  up.force_setup = o->force_setup != 0;
  auto op = raycluster::capi::start_operation(
      cluster->core, OpKind::up, o->on_event, o->user_data,
      [up](OpState& st) { st.core->cluster->up(up, st.cancel); });
  return finish(std::move(op), out);
}

rc_status start_scale(rc_operation** out, rc_cluster* cluster, const rc_scale_options* options,
                      const char* fn) {
  if (!out) return invalid(std::string(fn) + ": out is NULL");
  *out = nullptr;
  if (!cluster) return invalid(std::string(fn) + ": cluster is NULL");
  if (!options) return invalid(std::string(fn) + ": options is NULL (the worker count is required)");
  rc_status err = RC_OK;
  const auto* o = options_or_default(options, *options, RC_SCALE_OPTIONS_VERSION, fn, &err);
  if (!o) return err;
  if (o->workers < 0) return invalid(std::string(fn) + ": workers is negative");
  raycluster::ScaleOptions sc;
  sc.workers = o->workers;
  if (o->node_type) sc.node_type = o->node_type;
  auto op = raycluster::capi::start_operation(
      cluster->core, OpKind::scale, o->on_event, o->user_data,
      [sc](OpState& st) {
        st.core->cluster->scale(sc, st.cancel);
      });
  return finish(std::move(op), out);
}

rc_status start_down(rc_operation** out, rc_cluster* cluster, const rc_down_options* options,
                     const char* fn) {
  if (!out) return invalid(std::string(fn) + ": out is NULL");
  *out = nullptr;
  if (!cluster) return invalid(std::string(fn) + ": cluster is NULL");
  static const rc_down_options defaults = RC_DOWN_OPTIONS_INIT;
  rc_status err = RC_OK;
  const auto* o = options_or_default(options, defaults, RC_DOWN_OPTIONS_VERSION, fn, &err);
  if (!o) return err;
  raycluster::DownOptions dn;
  dn.workers_only = o->workers_only != 0;
  dn.keep_min_workers = o->keep_min_workers != 0;
  dn.delete_storage = o->version >= 2 && o->delete_storage != 0;
  auto op = raycluster::capi::start_operation(
      cluster->core, OpKind::down, o->on_event, o->user_data,
      [dn](OpState& st) {
        st.core->cluster->down(dn, st.cancel);
      });
  return finish(std::move(op), out);
}

rc_status start_exec(rc_operation** out, rc_cluster* cluster, const char* command,
                     const rc_exec_options* options, const char* fn) {
  if (!out) return invalid(std::string(fn) + ": out is NULL");
  *out = nullptr;
  if (!cluster) return invalid(std::string(fn) + ": cluster is NULL");
  if (!command) return invalid(std::string(fn) + ": command is NULL");
  static const rc_exec_options defaults = RC_EXEC_OPTIONS_INIT;
  rc_status err = RC_OK;
  const auto* o = options_or_default(options, defaults, RC_EXEC_OPTIONS_VERSION, fn, &err);
  if (!o) return err;
  if (o->timeout_ms < 0) return invalid(std::string(fn) + ": timeout_ms is negative");
  std::string cmd = command;
  std::string node = o->node ? o->node : "";
  auto timeout = std::chrono::milliseconds(o->timeout_ms);
  auto op = raycluster::capi::start_operation(
      cluster->core, OpKind::exec, o->on_event, o->user_data,
      [cmd, node, timeout](OpState& st) {
        raycluster::ExecOptions ex;
        ex.node_id = node;
        ex.timeout = timeout;
        ex.on_output = [&st, &node](std::string_view line, bool is_stderr) {
          {
            std::lock_guard<std::mutex> lock(st.mu);
            (is_stderr ? st.err : st.out).append(line).append("\n");
          }
          raycluster::Event e;
          e.kind = raycluster::EventKind::log;
          e.level = raycluster::LogLevel::info;
          e.node_id = node;
          e.message = std::string(line);
          e.stream = is_stderr ? "stderr" : "stdout";
          st.push(std::move(e));
        };
        int status = st.core->cluster->exec(cmd, ex, st.cancel);
        std::lock_guard<std::mutex> lock(st.mu);
        st.exit_status = status;
      });
  return finish(std::move(op), out);
}

// Waits for the blocking forms; the operation's status with its detail.
rc_status run_blocking(rc_operation* op) {
  raycluster::capi::wait_for(*op->op.st, -1);
  rc_status s = op_result(*op->op.st);
  raycluster::capi::release(op->op);
  delete op;
  return s;
}

rc_status refuse_wait_in_callback(const char* fn) {
  return invalid(std::string(fn) +
                 ": called from an event callback of the same cluster, where waiting would "
                 "deadlock (poll instead, or wait from another thread)");
}


// The bundles of a request_resources() JSON text: a list of objects of
// amounts >= 0. Throws Error(invalid_argument) saying what is wrong.
raycluster::LogLevel autoscaler_event_level(const std::string& type) {
  if (type == "tick" || type == "skipped") return raycluster::LogLevel::debug;
  if (type == "launch_failed" || type == "setup_failed" || type == "load_error" ||
      type == "infeasible")
    return raycluster::LogLevel::warning;
  return raycluster::LogLevel::info;
}

// The running autoscalers of each Core (for rc_request_resources).
std::mutex g_autoscalers_mu;
std::vector<rc_autoscaler*> g_autoscalers;

void stop_autoscaler(rc_autoscaler* a) {
  std::lock_guard<std::mutex> lock(a->mu);
  if (a->stopped) return;
  a->loop->stop();
  a->stopped = true;
}

void forget_autoscaler(rc_autoscaler* a) noexcept {
  std::lock_guard<std::mutex> lock(g_autoscalers_mu);
  g_autoscalers.erase(std::remove(g_autoscalers.begin(), g_autoscalers.end(), a),
                      g_autoscalers.end());
}

void destroy_autoscaler(rc_autoscaler* a) noexcept {
  forget_autoscaler(a);
  try {
    stop_autoscaler(a);
  } catch (...) {
  }
  try {
    delete a;
  } catch (...) {
  }
}

}  // namespace

extern "C" {

const char* rc_version(void) { return "0.1.0"; }

int rc_abi_version(void) { return RC_ABI_VERSION; }

void rc_string_free(char* s) { std::free(s); }

const char* rc_status_name(rc_status status) {
  int code = enum_bits(status);
  if (code == RC_OK) return "ok";
  if (code < RC_E_CONFLICT || code > RC_OK) return "unknown";
  return raycluster::error_code_name(static_cast<raycluster::ErrorCode>(code));
}

rc_status rc_spec_load_file(rc_spec** out, const char* path) {
  return guard([&] {
    if (!out) return invalid("rc_spec_load_file: out is NULL");
    *out = nullptr;
    if (!path) return invalid("rc_spec_load_file: path is NULL");
    *out = new rc_spec{raycluster::load_spec_file(path)};
    return RC_OK;
  });
}

rc_status rc_spec_load_string(rc_spec** out, const char* yaml, const char* name) {
  return guard([&] {
    if (!out) return invalid("rc_spec_load_string: out is NULL");
    *out = nullptr;
    if (!yaml) return invalid("rc_spec_load_string: yaml is NULL");
    *out = new rc_spec{raycluster::load_spec_string(yaml, name ? name : "<string>")};
    return RC_OK;
  });
}

rc_status rc_spec_to_json(char** out, const rc_spec* spec) {
  return guard([&] {
    if (!out) return invalid("rc_spec_to_json: out is NULL");
    *out = nullptr;
    if (!spec) return invalid("rc_spec_to_json: spec is NULL");
    *out = raycluster::capi::dup_string(raycluster::spec_to_value(spec->spec).to_json(2));
    return RC_OK;
  });
}

void rc_spec_free(rc_spec* spec) { delete spec; }

/* Events */

rc_event_kind rc_event_kind_of(const rc_event* event) {
  return event ? static_cast<rc_event_kind>(event->event->kind) : static_cast<rc_event_kind>(0);
}

rc_log_level rc_event_level(const rc_event* event) {
  return event ? static_cast<rc_log_level>(event->event->level) : RC_LOG_INFO;
}

const char* rc_event_node_id(const rc_event* event) {
  return event ? str_or_empty(event->event->node_id) : "";
}

const char* rc_event_node_type(const rc_event* event) {
  return event ? str_or_empty(event->event->node_type) : "";
}

const char* rc_event_status(const rc_event* event) {
  return event ? str_or_empty(event->event->status) : "";
}

const char* rc_event_message(const rc_event* event) {
  return event ? str_or_empty(event->event->message) : "";
}

const char* rc_event_stream(const rc_event* event) {
  return event ? str_or_empty(event->event->stream) : "";
}

long long rc_event_time_ms(const rc_event* event) {
  if (!event) return 0;
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             event->event->time.time_since_epoch())
      .count();
}

rc_status rc_event_progress(const rc_event* event, int* done, int* total) {
  return guard([&] {
    if (done) *done = 0;
    if (total) *total = 0;
    if (!event) return invalid("rc_event_progress: event is NULL");
    if (event->event->kind == raycluster::EventKind::progress) {
      if (done) *done = event->event->done;
      if (total) *total = event->event->total;
    }
    return RC_OK;
  });
}

/* Clusters */

rc_status rc_cluster_open(rc_cluster** out, const rc_spec* spec, const rc_cluster_options* options) {
  return guard([&] {
    if (!out) return invalid("rc_cluster_open: out is NULL");
    *out = nullptr;
    if (!spec) return invalid("rc_cluster_open: spec is NULL");
    static const rc_cluster_options defaults = RC_CLUSTER_OPTIONS_INIT;
    rc_status err = RC_OK;
    const auto* o = options_or_default(options, defaults, RC_CLUSTER_OPTIONS_VERSION,
                                       "rc_cluster_open", &err);
    if (!o) return err;
    if (o->parallelism < 0) return invalid("rc_cluster_open: parallelism is negative");
    if (o->command_timeout_ms < 0) return invalid("rc_cluster_open: command_timeout_ms is negative");
    if (o->setup_attempts < 0) return invalid("rc_cluster_open: setup_attempts is negative");
    int level = enum_bits(o->min_log_level);
    if (!valid_level(level))
      return invalid("rc_cluster_open: min_log_level " + std::to_string(level) +
                     " is not an rc_log_level");
    auto core = std::make_shared<Core>();
    core->on_event = o->on_event;
    core->user_data = o->user_data;
    core->min_level = static_cast<raycluster::LogLevel>(level);
    raycluster::ClusterOptions co;
    Core* raw = core.get();  // the Cluster lives inside the Core: never dangles
    co.events = [raw](const raycluster::Event& e) { raw->route(e); };
    if (o->state_root) co.state_root = o->state_root;
    if (o->parallelism > 0) co.parallelism = o->parallelism;
    co.command_timeout = std::chrono::milliseconds(o->command_timeout_ms);
    if (o->setup_attempts > 0) co.setup_attempts = o->setup_attempts;
    core->cluster = raycluster::Cluster::open(spec->spec, std::move(co));
    *out = new rc_cluster{std::move(core)};
    return RC_OK;
  });
}

void rc_cluster_free(rc_cluster* cluster) {
  try {
    delete cluster;
  } catch (...) {
  }
}

rc_status rc_cluster_status(char** out_json, rc_cluster* cluster) {
  return guard([&] {
    if (!out_json) return invalid("rc_cluster_status: out_json is NULL");
    *out_json = nullptr;
    if (!cluster) return invalid("rc_cluster_status: cluster is NULL");
    *out_json = raycluster::capi::dup_string(cluster->core->cluster->status().to_value().to_json(2));
    return RC_OK;
  });
}

rc_status rc_cluster_head_ip(char** out, rc_cluster* cluster) {
  return guard([&] {
    if (!out) return invalid("rc_cluster_head_ip: out is NULL");
    *out = nullptr;
    if (!cluster) return invalid("rc_cluster_head_ip: cluster is NULL");
    *out = raycluster::capi::dup_string(cluster->core->cluster->head_ip());
    return RC_OK;
  });
}

rc_status rc_cluster_worker_ips(char** out_json, rc_cluster* cluster) {
  return guard([&] {
    if (!out_json) return invalid("rc_cluster_worker_ips: out_json is NULL");
    *out_json = nullptr;
    if (!cluster) return invalid("rc_cluster_worker_ips: cluster is NULL");
    raycluster::Value list = raycluster::Value::array();
    for (const auto& ip : cluster->core->cluster->worker_ips()) list.push(raycluster::Value(ip));
    *out_json = raycluster::capi::dup_string(list.to_json());
    return RC_OK;
  });
}

rc_status rc_cluster_tunnel(rc_tunnel** out, rc_cluster* cluster, int remote_port,
                            int local_port) {
  return guard([&] {
    if (!out) return invalid("rc_cluster_tunnel: out is NULL");
    *out = nullptr;
    if (!cluster) return invalid("rc_cluster_tunnel: cluster is NULL");
    if (remote_port < 0 || remote_port > 65535 || local_port < 0 || local_port > 65535)
      return invalid("rc_cluster_tunnel: ports must be within 0-65535");
    auto& c = *cluster->core->cluster;
    auto t = std::make_unique<rc_tunnel>();
    t->tunnel = remote_port == 0 ? c.dashboard(local_port) : c.tunnel(remote_port, local_port);
    *out = t.release();
    return RC_OK;
  });
}

const char* rc_tunnel_host(const rc_tunnel* tunnel) {
  return tunnel ? tunnel->tunnel->host().c_str() : nullptr;
}

int rc_tunnel_port(const rc_tunnel* tunnel) { return tunnel ? tunnel->tunnel->port() : 0; }

int rc_tunnel_direct(const rc_tunnel* tunnel) {
  return tunnel && tunnel->tunnel->direct() ? 1 : 0;
}

void rc_tunnel_free(rc_tunnel* tunnel) { delete tunnel; }

/* Operations */

rc_status rc_cluster_up_async(rc_operation** out, rc_cluster* cluster, const rc_up_options* options) {
  return guard([&] { return start_up(out, cluster, options, "rc_cluster_up_async"); });
}

rc_status rc_cluster_scale_async(rc_operation** out, rc_cluster* cluster,
                                 const rc_scale_options* options) {
  return guard([&] { return start_scale(out, cluster, options, "rc_cluster_scale_async"); });
}

rc_status rc_cluster_down_async(rc_operation** out, rc_cluster* cluster,
                                const rc_down_options* options) {
  return guard([&] { return start_down(out, cluster, options, "rc_cluster_down_async"); });
}

rc_status rc_cluster_exec_async(rc_operation** out, rc_cluster* cluster, const char* command,
                                const rc_exec_options* options) {
  return guard([&] { return start_exec(out, cluster, command, options, "rc_cluster_exec_async"); });
}

rc_status rc_cluster_up(rc_cluster* cluster, const rc_up_options* options) {
  return guard([&] {
    if (cluster && raycluster::capi::in_callback_of(cluster->core.get()))
      return refuse_wait_in_callback("rc_cluster_up");
    rc_operation* op = nullptr;
    rc_status s = start_up(&op, cluster, options, "rc_cluster_up");
    return s != RC_OK ? s : run_blocking(op);
  });
}

rc_status rc_cluster_scale(rc_cluster* cluster, const rc_scale_options* options) {
  return guard([&] {
    if (cluster && raycluster::capi::in_callback_of(cluster->core.get()))
      return refuse_wait_in_callback("rc_cluster_scale");
    rc_operation* op = nullptr;
    rc_status s = start_scale(&op, cluster, options, "rc_cluster_scale");
    return s != RC_OK ? s : run_blocking(op);
  });
}

rc_status rc_cluster_down(rc_cluster* cluster, const rc_down_options* options) {
  return guard([&] {
    if (cluster && raycluster::capi::in_callback_of(cluster->core.get()))
      return refuse_wait_in_callback("rc_cluster_down");
    rc_operation* op = nullptr;
    rc_status s = start_down(&op, cluster, options, "rc_cluster_down");
    return s != RC_OK ? s : run_blocking(op);
  });
}

rc_status rc_cluster_exec(int* out_exit_status, char** out_stdout, char** out_stderr,
                          rc_cluster* cluster, const char* command, const rc_exec_options* options) {
  return guard([&] {
    if (out_exit_status) *out_exit_status = -1;
    if (out_stdout) *out_stdout = nullptr;
    if (out_stderr) *out_stderr = nullptr;
    if (cluster && raycluster::capi::in_callback_of(cluster->core.get()))
      return refuse_wait_in_callback("rc_cluster_exec");
    rc_operation* op = nullptr;
    rc_status s = start_exec(&op, cluster, command, options, "rc_cluster_exec");
    if (s != RC_OK) return s;
    raycluster::capi::wait_for(*op->op.st, -1);
    s = op_result(*op->op.st);
    int exit_status = op->op.st->exit_status;  // finished: no writer left
    std::string out = std::move(op->op.st->out), err = std::move(op->op.st->err);
    raycluster::capi::release(op->op);
    delete op;
    if (s != RC_OK) return s;
    char* o = out_stdout ? raycluster::capi::dup_string(out) : nullptr;
    try {
      if (out_stderr) *out_stderr = raycluster::capi::dup_string(err);
    } catch (...) {
      rc_string_free(o);
      throw;
    }
    if (out_stdout) *out_stdout = o;
    if (out_exit_status) *out_exit_status = exit_status;
    return s;
  });
}

rc_status rc_operation_wait(rc_operation* op, long long timeout_ms) {
  return guard([&] {
    if (!op) return invalid("rc_operation_wait: op is NULL");
    if (timeout_ms < 0 && timeout_ms != RC_WAIT_FOREVER)
      return invalid("rc_operation_wait: timeout_ms " + std::to_string(timeout_ms) +
                     " is negative (use 0 to look, RC_WAIT_FOREVER for no limit)");
    auto& st = *op->op.st;
    if (timeout_ms != 0 && raycluster::capi::in_callback_of(st.core.get()) && !finished(st))
      return refuse_wait_in_callback("rc_operation_wait");
    if (!raycluster::capi::wait_for(st, timeout_ms))
      return raycluster::capi::set_error(
          RC_E_TIMEOUT, "wait_timeout",
          "the operation is still running after " + std::to_string(timeout_ms) + " ms");
    return op_result(st);
  });
}

rc_status rc_operation_poll(const rc_operation* op, int* done) {
  return guard([&] {
    if (done) *done = 0;
    if (!op) return invalid("rc_operation_poll: op is NULL");
    if (!done) return invalid("rc_operation_poll: done is NULL");
    *done = finished(*op->op.st) ? 1 : 0;
    return RC_OK;
  });
}

rc_status rc_operation_cancel(rc_operation* op) {
  return guard([&] {
    if (!op) return invalid("rc_operation_cancel: op is NULL");
    op->op.st->cancel.cancel();
    return RC_OK;
  });
}

rc_status rc_operation_result(const rc_operation* op) {
  return guard([&] {
    if (!op) return invalid("rc_operation_result: op is NULL");
    if (!finished(*op->op.st))
      return raycluster::capi::set_error(RC_E_UNAVAILABLE, "running",
                                         "the operation is still running");
    return op_result(*op->op.st);
  });
}

rc_status rc_operation_exec_result(int* out_exit_status, char** out_stdout, char** out_stderr,
                                   const rc_operation* op) {
  return guard([&] {
    if (out_exit_status) *out_exit_status = -1;
    if (out_stdout) *out_stdout = nullptr;
    if (out_stderr) *out_stderr = nullptr;
    if (!op) return invalid("rc_operation_exec_result: op is NULL");
    auto& st = *op->op.st;
    if (st.kind != OpKind::exec)
      return invalid("rc_operation_exec_result: not an exec operation");
    if (!finished(st))
      return raycluster::capi::set_error(RC_E_UNAVAILABLE, "running",
                                         "the operation is still running");
    rc_status s = op_result(st);
    if (s != RC_OK) return s;
    std::lock_guard<std::mutex> lock(st.mu);
    std::string out = st.out, err = st.err;
    char* o = out_stdout ? raycluster::capi::dup_string(out) : nullptr;
    char* e = nullptr;
    try {
      e = out_stderr ? raycluster::capi::dup_string(err) : nullptr;
    } catch (...) {
      rc_string_free(o);
      throw;
    }
    if (out_exit_status) *out_exit_status = st.exit_status;
    if (out_stdout) *out_stdout = o;
    if (out_stderr) *out_stderr = e;
    return RC_OK;
  });
}

void rc_operation_free(rc_operation* op) {
  if (!op) return;
  raycluster::capi::release(op->op);
  delete op;
}

/* Autoscaling */

rc_status rc_request_resources(rc_cluster* cluster, const char* bundles_json) {
  return guard([&] {
    if (!cluster) return invalid("rc_request_resources: cluster is NULL");
    if (!bundles_json) return invalid("rc_request_resources: bundles_json is NULL (\"[]\" withdraws)");
    auto bundles = raycluster::parse_resource_request(bundles_json);
    bool written = false;
    {
      std::lock_guard<std::mutex> lock(g_autoscalers_mu);
      for (rc_autoscaler* a : g_autoscalers)
        if (a->core == cluster->core) {
          a->loop->request_resources(bundles);  // persists it for the loop
          written = true;
          break;
        }
    }
    if (!written) raycluster::write_resource_request(cluster->core->cluster->state_dir(), bundles);
    return RC_OK;
  });
}

rc_status rc_autoscaler_start(rc_autoscaler** out, rc_cluster* cluster,
                              const rc_autoscaler_options* options) {
  return guard([&] {
    if (!out) return invalid("rc_autoscaler_start: out is NULL");
    *out = nullptr;
    if (!cluster) return invalid("rc_autoscaler_start: cluster is NULL");
    static const rc_autoscaler_options defaults = RC_AUTOSCALER_OPTIONS_INIT;
    rc_status err = RC_OK;
    const auto* o = options_or_default(options, defaults, RC_AUTOSCALER_OPTIONS_VERSION,
                                       "rc_autoscaler_start", &err);
    if (!o) return err;
    if (o->interval_ms < 0) return invalid("rc_autoscaler_start: interval_ms is negative");
    auto a = std::make_unique<rc_autoscaler>();
    a->core = cluster->core;
    a->on_event = o->on_event;
    a->user_data = o->user_data;
    raycluster::AutoscalerOptions ao;
    if (o->interval_ms > 0)
      ao.interval = std::chrono::milliseconds(std::min<long long>(o->interval_ms, 600000));
    if (o->dashboard_url) ao.dashboard_url = o->dashboard_url;
    if (a->on_event) {
      Core* core = a->core.get();  // outlives the loop (see rc_autoscaler)
      rc_event_callback cb = a->on_event;
      void* ud = a->user_data;
      ao.on_event = [core, cb, ud](const raycluster::AutoscalerEvent& ae) {
        raycluster::Event e;
        e.kind = raycluster::EventKind::log;
        e.level = autoscaler_event_level(ae.type);
        e.node_type = ae.node_type;
        if (ae.node_ids.size() == 1) e.node_id = ae.node_ids.front();
        e.message = ae.to_json();
        e.time = ae.time;
        raycluster::capi::deliver_direct(*core, e, cb, ud);
      };
    }
    a->loop = std::make_unique<raycluster::Autoscaler>(*a->core->cluster, std::move(ao));
    {
      std::lock_guard<std::mutex> lock(g_autoscalers_mu);
      g_autoscalers.push_back(a.get());
    }
    try {
      a->loop->start();
    } catch (...) {
      forget_autoscaler(a.get());
      throw;
    }
    *out = a.release();
    return RC_OK;
  });
}

rc_status rc_autoscaler_stop(rc_autoscaler* autoscaler) {
  return guard([&] {
    if (!autoscaler) return invalid("rc_autoscaler_stop: autoscaler is NULL");
    if (raycluster::capi::in_callback_of(autoscaler->core.get()))
      return invalid(
          "rc_autoscaler_stop: called from an event callback of the same cluster, where waiting "
          "for the loop would deadlock (call rc_autoscaler_free, or stop from another thread)");
    forget_autoscaler(autoscaler);
    stop_autoscaler(autoscaler);
    return RC_OK;
  });
}

void rc_autoscaler_free(rc_autoscaler* autoscaler) {
  if (!autoscaler) return;
  if (raycluster::capi::in_callback_of(autoscaler->core.get())) {
    // Joining here would wait for this very thread: a library thread does it.
    forget_autoscaler(autoscaler);
    try {
      std::thread([autoscaler] { destroy_autoscaler(autoscaler); }).detach();
      return;
    } catch (...) {
      return;  // no thread to be had: leak the handle rather than deadlock
    }
  }
  destroy_autoscaler(autoscaler);
}

}  // extern "C"
