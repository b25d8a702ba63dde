// raycluster for C++: a header-only layer over the C ABI of raycluster.h.
//
// This header and libraycluster.so.0 are all a C++ program needs: every call
// below goes through an rc_* function, so a program built against it depends
// on the stable C ABI only, never on the library's C++ internals (which the
// shared library does not export).
//
//   c++ -std=c++17 app.cpp $(pkg-config --cflags --libs raycluster)
//   or, with CMake: find_package(raycluster CONFIG REQUIRED)
//                   target_link_libraries(app PRIVATE raycluster::raycluster)
//
// Names live in `raycluster::v0`, an inline namespace: write
// raycluster::Cluster. The library's own C++ core also uses the namespace
// raycluster (raycluster::Cluster is its internal class, compiled into the
// shared library with hidden visibility); the inline namespace gives this
// layer's symbols distinct mangled names (raycluster::v0::Cluster), so the
// two can never be mixed up at link time, e.g. in a program that also links
// the core statically. A program including both sets of headers in one
// translation unit names this layer raycluster::v0::Cluster. `v0` follows
// RC_ABI_VERSION: an incompatible ABI would come with a v1.
//
// Contract, in C++ terms (the C header has the details of each call):
//   - Errors are exceptions: raycluster::Error carries everything rc_error
//     does (code, category, message, request id, retryable, and for config
//     errors file, line, column and key); raycluster::ConfigError, derived
//     from it, is thrown for RC_E_CONFIG.
//   - Spec, Cluster, Operation, Tunnel and Autoscaler own one C handle each:
//     move-only, freed with the matching rc_*_free() by the destructor. A
//     moved-from or default-constructed object is empty (operator bool is
//     false); on an empty object, every member but the destructor, the
//     assignments, operator bool, get() and release() throws
//     Error(RC_E_INVALID_ARGUMENT).
//   - Threads: the same as the C ABI's. A Spec may be shared between
//     threads; a Cluster may be used from several threads at once (status
//     while an up runs); an Operation may be waited for, polled and
//     cancelled from several threads, and destroyed last.
//   - Events reach std::function callbacks (EventCallback). They are called
//     on a thread of the library: an operation's event thread, or for the
//     autoscaler its loop's thread and the threads setting nodes up; never
//     two callbacks of one cluster at once. The Event they get is borrowed:
//     copy what you keep. Inside a callback, do not wait for an operation of
//     the same cluster (wait(), the blocking forms), nor destroy the Cluster,
//     an Operation or the Autoscaler; reading the status, poll(), cancel()
//     and starting operations are fine.
//   - A callback should not throw. An exception cannot cross the C library,
//     so it is caught there: the first one an operation's callback threw is
//     rethrown by that operation's result() (and so by wait() and the
//     blocking forms); the first one the cluster's callback threw is
//     rethrown by the next result() of any operation of the cluster (the
//     one whose event it was, unless several run at once); the first one
//     the autoscaler's callback threw by Autoscaler::stop(). The operation
//     itself runs on.
//   - The callbacks are kept alive as long as the library may call them:
//     operations and the autoscaler share the cluster's callback, so a
//     Cluster may be destroyed before them.
#ifndef RAYCLUSTER_HPP
#define RAYCLUSTER_HPP

#include <chrono>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "raycluster/raycluster.h"

namespace raycluster {
inline namespace v0 {

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

// A failed call: the rc_status it returned and rc_last_error()'s detail,
// copied. what() is the library's message (a config error's names the file,
// line and column of each problem).
class Error : public std::runtime_error {
 public:
  Error(rc_status code, std::string category, std::string message, std::string request_id = {},
        bool retryable = false, std::string file = {}, int line = 0, int column = 0,
        std::string key = {})
      : std::runtime_error(message),
        code_(code),
        category_(std::move(category)),
        request_id_(std::move(request_id)),
        retryable_(retryable),
        file_(std::move(file)),
        line_(line),
        column_(column),
        key_(std::move(key)) {}

  rc_status code() const noexcept { return code_; }
  // rc_status_name() of the code, or a finer name ("wait_timeout", "running").
  const std::string& category() const noexcept { return category_; }
  // The cloud's request id, or "".
  const std::string& request_id() const noexcept { return request_id_; }
  // Repeating the call may succeed.
  bool retryable() const noexcept { return retryable_; }
  // RC_E_CONFIG: where the first problem is ("" and 0 otherwise).
  const std::string& file() const noexcept { return file_; }
  int line() const noexcept { return line_; }
  int column() const noexcept { return column_; }
  const std::string& key() const noexcept { return key_; }

 private:
  rc_status code_;
  std::string category_;
  std::string request_id_;
  bool retryable_;
  std::string file_;
  int line_;
  int column_;
  std::string key_;
};

// RC_E_CONFIG: a config that does not load; file(), line(), column(), key()
// name the first problem, message() lists all of them.
class ConfigError : public Error {
 public:
  using Error::Error;
};

namespace detail {

inline std::string str(const char* s) { return s ? std::string(s) : std::string(); }

// Builds the exception of `status` from rc_last_error(): call it before any
// other rc_ call on this thread.
inline std::exception_ptr last_error(rc_status status) {
  const rc_error* e = rc_last_error();
  std::string category = e->code == status ? str(e->category) : str(rc_status_name(status));
  if (status == RC_E_CONFIG)
    return std::make_exception_ptr(ConfigError(status, std::move(category), str(e->message),
                                               str(e->request_id), e->retryable != 0,
                                               str(e->file), e->line, e->column, str(e->key)));
  return std::make_exception_ptr(Error(status, std::move(category), str(e->message),
                                       str(e->request_id), e->retryable != 0, str(e->file),
                                       e->line, e->column, str(e->key)));
}

inline void check(rc_status status) {
  if (status != RC_OK) std::rethrow_exception(last_error(status));
}

[[noreturn]] inline void empty_handle(const char* what) {
  throw Error(RC_E_INVALID_ARGUMENT, "invalid_argument",
              std::string("empty raycluster::") + what + " (moved from)");
}

template <class T>
T* live(const std::unique_ptr<T, void (*)(T*)>& h, const char* what) {
  if (!h) empty_handle(what);
  return h.get();
}

// Takes a string the library returned and frees it.
inline std::string take(char* s) {
  std::unique_ptr<char, void (*)(char*)> owned(s, rc_string_free);
  return s ? std::string(s) : std::string();
}

// A C string for an optional text: NULL for "", meaning the default.
inline const char* or_null(const std::string& s) { return s.empty() ? nullptr : s.c_str(); }

}  // namespace detail

// ---------------------------------------------------------------------------
// Versions
// ---------------------------------------------------------------------------

// The loaded library's version, e.g. "0.1.0".
inline std::string version() { return rc_version(); }
// The loaded library's ABI version; this header needs RC_ABI_VERSION.
inline int abi_version() { return rc_abi_version(); }
// The stable name of a status ("ok", "config", ...).
inline std::string status_name(rc_status status) { return rc_status_name(status); }

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

enum class EventKind : int {
  node_status = RC_EVENT_NODE_STATUS,  // Event::status() changed
  progress = RC_EVENT_PROGRESS,        // Event::progress()
  log = RC_EVENT_LOG,                  // a message or a line of command output
};

enum class LogLevel : int {
  debug = RC_LOG_DEBUG,
  info = RC_LOG_INFO,
  warning = RC_LOG_WARNING,
  error = RC_LOG_ERROR,
};

// One event, borrowed: it and the views it returns are valid only during the
// callback that received it (copy into std::string what you keep).
class Event {
 public:
  explicit Event(const rc_event* event) noexcept : e_(event) {}

  EventKind kind() const noexcept { return static_cast<EventKind>(rc_event_kind_of(e_)); }
  LogLevel level() const noexcept { return static_cast<LogLevel>(rc_event_level(e_)); }
  // The node the event is about; "" for cluster-wide events.
  const char* node_id() const noexcept { return rc_event_node_id(e_); }
  // The node's user node type, or "".
  const char* node_type() const noexcept { return rc_event_node_type(e_); }
  // node_status: Ray's status name ("waiting-for-ssh", "up-to-date", ...).
  const char* status() const noexcept { return rc_event_status(e_); }
  // The log line, or a description of the event.
  const char* message() const noexcept { return rc_event_message(e_); }
  // Command output: "stdout" or "stderr"; otherwise "".
  const char* stream() const noexcept { return rc_event_stream(e_); }
  // When it happened.
  std::chrono::system_clock::time_point time() const noexcept {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::milliseconds(rc_event_time_ms(e_))));
  }
  struct Progress {
    int done;
    int total;
  };
  // progress: `done` of `total` steps ({0, 0} for other kinds).
  Progress progress() const noexcept {
    Progress p{0, 0};
    rc_event_progress(e_, &p.done, &p.total);
    return p;
  }
  // The C event, for the rc_event_* accessors.
  const rc_event* get() const noexcept { return e_; }

 private:
  const rc_event* e_;
};

// Called on a library thread (see the top of this header).
using EventCallback = std::function<void(const Event&)>;

namespace detail {

// A callback as the C library calls it: `user_data` points at this, which
// the handles that may lead to calls share (std::shared_ptr) so it outlives
// the last call. Keeps the first exception the callback threw.
class Callback {
 public:
  explicit Callback(EventCallback fn) : fn_(std::move(fn)) {}

  static void trampoline(const rc_event* event, void* user_data) noexcept {
    auto* self = static_cast<Callback*>(user_data);
    try {
      self->fn_(Event(event));
    } catch (...) {
      std::lock_guard<std::mutex> lock(self->mu_);
      if (!self->error_) self->error_ = std::current_exception();
    }
  }

  // For an options struct: NULL when there is no callback.
  rc_event_callback c_function() const noexcept { return fn_ ? &Callback::trampoline : nullptr; }
  void* user_data() noexcept { return this; }

  // Rethrows (once) the first exception the callback threw.
  void rethrow() {
    std::exception_ptr e;
    {
      std::lock_guard<std::mutex> lock(mu_);
      e = std::exchange(error_, nullptr);
    }
    if (e) std::rethrow_exception(e);
  }

 private:
  EventCallback fn_;
  std::mutex mu_;
  std::exception_ptr error_;
};

}  // namespace detail

// ---------------------------------------------------------------------------
// Spec
// ---------------------------------------------------------------------------

// A validated, normalised cluster config; immutable, shareable between
// threads.
class Spec {
 public:
  // A config file in any dialect. Throws ConfigError (its place in file(),
  // line(), ...) or Error (RC_E_IO when the file cannot be read).
  static Spec load_file(const std::string& path) {
    rc_spec* out = nullptr;
    detail::check(rc_spec_load_file(&out, path.c_str()));
    return Spec(out);
  }
  // Config text; `name` stands for the file in messages.
  static Spec load_string(const std::string& yaml, const std::string& name = {}) {
    rc_spec* out = nullptr;
    detail::check(rc_spec_load_string(&out, yaml.c_str(), detail::or_null(name)));
    return Spec(out);
  }

  // An empty spec (operator bool is false).
  Spec() noexcept : Spec(nullptr) {}
  // Takes over a handle (may be NULL).
  explicit Spec(rc_spec* handle) noexcept : h_(handle, rc_spec_free) {}

  // The normalised spec as JSON text.
  std::string to_json() const {
    char* out = nullptr;
    detail::check(rc_spec_to_json(&out, detail::live(h_, "Spec")));
    return detail::take(out);
  }

  explicit operator bool() const noexcept { return h_ != nullptr; }
  const rc_spec* get() const noexcept { return h_.get(); }
  rc_spec* release() noexcept { return h_.release(); }

 private:
  std::unique_ptr<rc_spec, void (*)(rc_spec*)> h_;
};

// ---------------------------------------------------------------------------
// Options (the C structs' fields; "" and 0 mean the defaults)
// ---------------------------------------------------------------------------

struct ClusterOptions {
  std::string state_root;                      // "": $RAYCLUSTER_HOME, else ~/.raycluster
  int parallelism = 0;                         // nodes set up at once; 0: 128
  std::chrono::milliseconds command_timeout{0};  // per setup/start command; 0: none
  int setup_attempts = 0;                      // tries of a failing setup step; 0: 2
  LogLevel min_log_level = LogLevel::debug;    // log events below it are dropped
  EventCallback on_event;                      // every event of every operation
};

struct UpOptions {
  bool force_setup = false;  // re-run setup even on up-to-date nodes
  EventCallback on_event;    // this operation's events
};

struct ScaleOptions {
  int workers = 0;        // the new number of workers of node_type; >= 0
  std::string node_type;  // "": the config's only worker type
  EventCallback on_event;
};

struct DownOptions {
  bool workers_only = false;      // keep the head
  bool keep_min_workers = false;  // keep the head and each type's min_workers
  EventCallback on_event;
  bool delete_storage = false;    // also delete the cluster's volumes and their data
};

struct ExecOptions {
  std::string node;                      // node id or address; "": the head
  std::chrono::milliseconds timeout{0};  // 0: none; else the result is RC_E_TIMEOUT
  EventCallback on_event;                // also gets the output lines (stream set)
};

struct AutoscalerOptions {
  std::chrono::milliseconds interval{0};  // between ticks; 0: 5 s
  std::string dashboard_url;              // "": the provider's, or an SSH tunnel
  EventCallback on_event;                 // the loop's decisions, as JSON messages
};

// What an exec ended with. A non-zero exit status is not an error.
struct ExecResult {
  int exit_status = -1;
  std::string out;  // captured stdout
  std::string err;  // captured stderr
};

// ---------------------------------------------------------------------------
// Operation
// ---------------------------------------------------------------------------

// A running up, scale, down or exec. Destroying a running operation cancels
// it and waits for its end (typically well under a second).
class Operation {
 public:
  // An empty operation (operator bool is false).
  Operation() noexcept : Operation(nullptr, nullptr, nullptr) {}
  // Takes over a handle; `own` and `cluster` are the callbacks it may call.
  Operation(rc_operation* handle, std::shared_ptr<detail::Callback> own,
            std::shared_ptr<detail::Callback> cluster) noexcept
      : own_(std::move(own)), cluster_(std::move(cluster)), h_(handle, rc_operation_free) {}

  Operation(Operation&&) noexcept = default;
  // The handle goes first, then the callbacks the library may still call.
  Operation& operator=(Operation&& other) noexcept {
    h_ = std::move(other.h_);
    own_ = std::move(other.own_);
    cluster_ = std::move(other.cluster_);
    return *this;
  }

  // True once it ended and its events were delivered.
  bool poll() const {
    int done = 0;
    detail::check(rc_operation_poll(detail::live(h_, "Operation"), &done));
    return done != 0;
  }

  // Asks it to stop and returns at once; it then ends with RC_E_CANCELLED
  // unless it finished first. Cancelling twice, or after the end, is fine.
  void cancel() { detail::check(rc_operation_cancel(detail::live(h_, "Operation"))); }

  // Waits up to `timeout` for the end: false if it still runs. Does not
  // throw the operation's failure (result() does).
  bool wait_for(std::chrono::milliseconds timeout) {
    long long ms = timeout.count() < 0 ? 0 : static_cast<long long>(timeout.count());
    return wait_ms(ms);
  }

  // Waits for the end without limit, then result().
  void wait() {
    wait_ms(RC_WAIT_FOREVER);
    result();
  }

  // Throws how the ended operation failed: the first exception its callback
  // (or the cluster's) threw, else the operation's Error. Throws
  // Error(RC_E_UNAVAILABLE, "running") while it runs.
  void result() const {
    rc_operation* op = detail::live(h_, "Operation");
    rc_status s = rc_operation_result(op);
    if (s == RC_E_UNAVAILABLE && std::strcmp(rc_last_error()->category, "running") == 0)
      detail::check(s);
    std::exception_ptr failure = s == RC_OK ? nullptr : detail::last_error(s);
    if (own_) own_->rethrow();
    if (cluster_) cluster_->rethrow();
    if (failure) std::rethrow_exception(failure);
  }

  // An ended exec's exit status and output; throws as result() does when the
  // command could not run.
  ExecResult exec_result() const {
    result();
    ExecResult r;
    char* out = nullptr;
    char* err = nullptr;
    detail::check(rc_operation_exec_result(&r.exit_status, &out, &err, h_.get()));
    r.out = detail::take(out);
    r.err = detail::take(err);
    return r;
  }

  explicit operator bool() const noexcept { return h_ != nullptr; }
  rc_operation* get() const noexcept { return h_.get(); }

 private:
  bool wait_ms(long long ms) {
    rc_operation* op = detail::live(h_, "Operation");
    rc_status s = rc_operation_wait(op, ms);
    if (s == RC_OK) return true;
    std::exception_ptr failure = detail::last_error(s);
    if (s == RC_E_TIMEOUT && std::strcmp(rc_last_error()->category, "wait_timeout") == 0)
      return false;
    if (poll()) return true;  // it ended, in failure: result() says how
    std::rethrow_exception(failure);  // e.g. waiting inside its own callback
  }

  // Declared before the handle: destroyed after it, once the library stopped
  // calling them.
  std::shared_ptr<detail::Callback> own_;
  std::shared_ptr<detail::Callback> cluster_;
  std::unique_ptr<rc_operation, void (*)(rc_operation*)> h_;
};

// ---------------------------------------------------------------------------
// Tunnel
// ---------------------------------------------------------------------------

// A port of the head reached from this machine (Cluster::tunnel); closed by
// the destructor.
class Tunnel {
 public:
  // An empty tunnel (operator bool is false).
  Tunnel() noexcept : Tunnel(nullptr) {}
  // Takes over a handle (may be NULL).
  explicit Tunnel(rc_tunnel* handle) noexcept : h_(handle, rc_tunnel_free) {}

  // Where to connect: "127.0.0.1" for a tunnel, else the head's address.
  std::string host() const { return rc_tunnel_host(detail::live(h_, "Tunnel")); }
  int port() const { return rc_tunnel_port(detail::live(h_, "Tunnel")); }
  // The head's port is reached directly, without a tunnel.
  bool direct() const { return rc_tunnel_direct(detail::live(h_, "Tunnel")) != 0; }

  explicit operator bool() const noexcept { return h_ != nullptr; }
  rc_tunnel* get() const noexcept { return h_.get(); }

 private:
  std::unique_ptr<rc_tunnel, void (*)(rc_tunnel*)> h_;
};

// ---------------------------------------------------------------------------
// Autoscaler
// ---------------------------------------------------------------------------

// The cluster's reconcile loop on a thread of the library
// (Cluster::start_autoscaler); stopped and freed by the destructor.
class Autoscaler {
 public:
  // An empty autoscaler (operator bool is false).
  Autoscaler() noexcept : Autoscaler(nullptr, nullptr, nullptr) {}
  // Takes over a handle; `own` and `cluster` are the callbacks it may call.
  Autoscaler(rc_autoscaler* handle, std::shared_ptr<detail::Callback> own,
             std::shared_ptr<detail::Callback> cluster) noexcept
      : own_(std::move(own)), cluster_(std::move(cluster)), h_(handle, rc_autoscaler_free) {}

  Autoscaler(Autoscaler&&) noexcept = default;
  // The handle goes first, then the callbacks the library may still call.
  Autoscaler& operator=(Autoscaler&& other) noexcept {
    h_ = std::move(other.h_);
    own_ = std::move(other.own_);
    cluster_ = std::move(other.cluster_);
    return *this;
  }

  // Stops the loop and joins its threads; idempotent. Then rethrows the first
  // exception the autoscaler's callback threw, if any.
  void stop() {
    detail::check(rc_autoscaler_stop(detail::live(h_, "Autoscaler")));
    if (own_) own_->rethrow();
  }

  explicit operator bool() const noexcept { return h_ != nullptr; }
  rc_autoscaler* get() const noexcept { return h_.get(); }

 private:
  std::shared_ptr<detail::Callback> own_;
  std::shared_ptr<detail::Callback> cluster_;  // setups report through it
  std::unique_ptr<rc_autoscaler, void (*)(rc_autoscaler*)> h_;
};

// ---------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------

// One cluster: a spec bound to its provider and its state folder. Opening
// changes nothing in the cloud. Usable from several threads at once.
//
// Each operation comes in a blocking form (up(), ...: start, wait, throw the
// failure) and an async one (up_async(), ...: returns the running
// Operation). Only one of up, scale and down runs at a time per cluster:
// starting another throws Error(RC_E_CONFLICT).
class Cluster {
 public:
  // An empty cluster (operator bool is false); assign it an opened one.
  Cluster() noexcept : Cluster(nullptr, nullptr) {}

  // Throws Error: RC_E_INVALID_ARGUMENT (bad options), RC_E_UNSUPPORTED (a
  // provider that cannot run yet), RC_E_IO (the state folder).
  static Cluster open(const Spec& spec, ClusterOptions options = {}) {
    auto callback = options.on_event
                        ? std::make_shared<detail::Callback>(std::move(options.on_event))
                        : nullptr;
    rc_cluster_options o = RC_CLUSTER_OPTIONS_INIT;
    o.state_root = detail::or_null(options.state_root);
    o.parallelism = options.parallelism;
    o.command_timeout_ms = static_cast<long long>(options.command_timeout.count());
    o.setup_attempts = options.setup_attempts;
    o.min_log_level = static_cast<rc_log_level>(options.min_log_level);
    if (callback) {
      o.on_event = callback->c_function();
      o.user_data = callback->user_data();
    }
    if (!spec) detail::empty_handle("Spec");
    rc_cluster* out = nullptr;
    detail::check(rc_cluster_open(&out, spec.get(), &o));
    return Cluster(out, std::move(callback));
  }
  // Loads the config file, then opens it.
  static Cluster open(const std::string& config_path, ClusterOptions options = {}) {
    return open(Spec::load_file(config_path), std::move(options));
  }

  Cluster(Cluster&&) noexcept = default;
  // The handle goes first, then the callbacks the library may still call.
  Cluster& operator=(Cluster&& other) noexcept {
    h_ = std::move(other.h_);
    callback_ = std::move(other.callback_);
    return *this;
  }

  // -- queries (they do not wait for a running operation) --

  // The cluster's nodes as JSON (the schema is in raycluster.h).
  std::string status_json() const {
    char* out = nullptr;
    detail::check(rc_cluster_status(&out, live()));
    return detail::take(out);
  }
  // The head's address; Error(RC_E_NOT_FOUND) without a head.
  std::string head_ip() const {
    char* out = nullptr;
    detail::check(rc_cluster_head_ip(&out, live()));
    return detail::take(out);
  }
  // The workers' addresses as a JSON array of strings.
  std::string worker_ips_json() const {
    char* out = nullptr;
    detail::check(rc_cluster_worker_ips(&out, live()));
    return detail::take(out);
  }

  // -- operations --

  Operation up_async(UpOptions options = {}) {
    auto cb = callback(std::move(options.on_event));
    rc_up_options o = RC_UP_OPTIONS_INIT;
    o.force_setup = options.force_setup ? 1 : 0;
    wire(o, cb);
    rc_operation* out = nullptr;
    detail::check(rc_cluster_up_async(&out, live(), &o));
    return Operation(out, std::move(cb), callback_);
  }
  void up(UpOptions options = {}) { up_async(std::move(options)).wait(); }

  Operation scale_async(ScaleOptions options) {
    auto cb = callback(std::move(options.on_event));
    rc_scale_options o = RC_SCALE_OPTIONS_INIT;
    o.workers = options.workers;
    o.node_type = detail::or_null(options.node_type);
    wire(o, cb);
    rc_operation* out = nullptr;
    detail::check(rc_cluster_scale_async(&out, live(), &o));
    return Operation(out, std::move(cb), callback_);
  }
  void scale(ScaleOptions options) { scale_async(std::move(options)).wait(); }
  // The only worker type to `workers` workers.
  void scale(int workers) {
    ScaleOptions o;
    o.workers = workers;
    scale(std::move(o));
  }

  Operation down_async(DownOptions options = {}) {
    auto cb = callback(std::move(options.on_event));
    rc_down_options o = RC_DOWN_OPTIONS_INIT;
    o.workers_only = options.workers_only ? 1 : 0;
    o.keep_min_workers = options.keep_min_workers ? 1 : 0;
    o.delete_storage = options.delete_storage ? 1 : 0;
    wire(o, cb);
    rc_operation* out = nullptr;
    detail::check(rc_cluster_down_async(&out, live(), &o));
    return Operation(out, std::move(cb), callback_);
  }
  void down(DownOptions options = {}) { down_async(std::move(options)).wait(); }

  // Runs a shell command on a node (the head by default).
  Operation exec_async(const std::string& command, ExecOptions options = {}) {
    auto cb = callback(std::move(options.on_event));
    rc_exec_options o = RC_EXEC_OPTIONS_INIT;
    o.node = detail::or_null(options.node);
    o.timeout_ms = static_cast<long long>(options.timeout.count());
    wire(o, cb);
    rc_operation* out = nullptr;
    detail::check(rc_cluster_exec_async(&out, live(), command.c_str(), &o));
    return Operation(out, std::move(cb), callback_);
  }
  ExecResult exec(const std::string& command, ExecOptions options = {}) {
    Operation op = exec_async(command, std::move(options));
    op.wait();
    return op.exec_result();
  }

  // -- the head's ports and autoscaling --

  // Reaches `remote_port` on the head (0: its Ray dashboard) on
  // 127.0.0.1:`local_port` (0: a free port), or directly. Blocks while it
  // connects (up to 10 s).
  Tunnel tunnel(int remote_port = 0, int local_port = 0) {
    rc_tunnel* out = nullptr;
    detail::check(rc_cluster_tunnel(&out, live(), remote_port, local_port));
    return Tunnel(out);
  }

  // Ray's request_resources(): a JSON list of bundles, e.g.
  // R"([{"CPU": 1}, {"GPU": 1}])"; "[]" withdraws the request.
  void request_resources(const std::string& bundles_json) {
    detail::check(rc_request_resources(live(), bundles_json.c_str()));
  }

  // Starts the cluster's reconcile loop.
  Autoscaler start_autoscaler(AutoscalerOptions options = {}) {
    auto cb = callback(std::move(options.on_event));
    rc_autoscaler_options o = RC_AUTOSCALER_OPTIONS_INIT;
    o.interval_ms = static_cast<long long>(options.interval.count());
    o.dashboard_url = detail::or_null(options.dashboard_url);
    wire(o, cb);
    rc_autoscaler* out = nullptr;
    detail::check(rc_autoscaler_start(&out, live(), &o));
    return Autoscaler(out, std::move(cb), callback_);
  }

  explicit operator bool() const noexcept { return h_ != nullptr; }
  rc_cluster* get() const noexcept { return h_.get(); }

 private:
  Cluster(rc_cluster* handle, std::shared_ptr<detail::Callback> callback) noexcept
      : callback_(std::move(callback)), h_(handle, rc_cluster_free) {}

  rc_cluster* live() const { return detail::live(h_, "Cluster"); }

  static std::shared_ptr<detail::Callback> callback(EventCallback fn) {
    return fn ? std::make_shared<detail::Callback>(std::move(fn)) : nullptr;
  }
  template <class Options>
  static void wire(Options& o, const std::shared_ptr<detail::Callback>& cb) noexcept {
    if (!cb) return;
    o.on_event = cb->c_function();
    o.user_data = cb->user_data();
  }

  std::shared_ptr<detail::Callback> callback_;  // shared with operations, the autoscaler
  std::unique_ptr<rc_cluster, void (*)(rc_cluster*)> h_;
};

}  // namespace v0
}  // namespace raycluster

#endif  // RAYCLUSTER_HPP
