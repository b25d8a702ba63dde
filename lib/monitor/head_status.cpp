#include "monitor/head_status.hpp"

#include <unistd.h>

#include "http/http.hpp"
#include "util/fs.hpp"

namespace raycluster::detail {
namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double unix_of(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// "launch 2 worker (demand): local-1, local-2"
std::string describe(const AutoscalerEvent& e) {
  std::string d = e.type;
  if (e.count) d += " " + std::to_string(e.count);
  if (!e.node_type.empty()) d += " " + e.node_type;
  if (!e.reason.empty()) d += " (" + e.reason + ")";
  for (std::size_t i = 0; i < e.node_ids.size(); ++i) d += (i ? ", " : ": ") + e.node_ids[i];
  if (!e.detail.empty()) d += (e.node_ids.empty() ? ": " : " - ") + redact(e.detail);
  return d;
}

}  // namespace

HeadStatusWriter::HeadStatusWriter(std::string dir) : dir_(std::move(dir)), started_(unix_now()) {
  make_dirs(dir_, 0700);
  write_file_atomic(dir_ + "/monitor.pid", std::to_string(::getpid()) + "\n", 0600);
  write();
}

void HeadStatusWriter::on_event(const AutoscalerEvent& e) {
  if (e.type == "tick") {
    ++ticks_;
    last_tick_ = unix_of(e.time);
    last_tick_detail_ = e.detail;
  } else if (e.type == "durations") {
    task_durations_ = e.detail;
  } else if (e.type == "launch" || e.type == "terminate" || e.type == "launch_failed" ||
             e.type == "infeasible" || e.type == "target") {
    last_decision_ = describe(e);
    last_decision_time_ = unix_of(e.time);
  } else {
    return;
  }
  write();
}

void HeadStatusWriter::write() {
  Value v = Value::object();
  v.set("pid", static_cast<std::int64_t>(::getpid()));
  v.set("started", started_);
  v.set("ticks", ticks_);
  v.set("last_tick", ticks_ ? Value(last_tick_) : Value());
  v.set("last_tick_detail", last_tick_detail_);
  v.set("last_decision", last_decision_.empty() ? Value() : Value(last_decision_));
  v.set("last_decision_time", last_decision_.empty() ? Value() : Value(last_decision_time_));
  v.set("task_durations", task_durations_.empty() ? Value() : Value(redact(task_durations_)));
  try {
    write_file_atomic(dir_ + "/status.json", v.to_json() + "\n", 0600);
  } catch (const Error&) {
    // A full disk must not stop the autoscaler; the log still says what it does.
  }
}

}  // namespace raycluster::detail
