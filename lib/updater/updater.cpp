#include "updater/updater.hpp"

#include <thread>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace raycluster::detail {
namespace {

void emit_status(const EventSink& events, const Node& node, const char* st) {
  if (!events) return;
  Event e;
  e.kind = EventKind::node_status;
  e.node_id = node.id;
  e.node_type = node.node_type;
  e.status = st;
  e.message = node.id + " " + st;
  events(e);
}

void emit_log(const EventSink& events, const Node& node, LogLevel level, std::string message,
              const char* stream = "") {
  if (!events) return;
  Event e;
  e.kind = EventKind::log;
  e.level = level;
  e.node_id = node.id;
  e.node_type = node.node_type;
  e.message = std::move(message);
  e.stream = stream;
  events(e);
}

struct Step {
  const char* name;
  const std::vector<std::string>* commands;
};

}  // namespace

std::string UpdateResult::summary() const {
  if (ok) return "ok";
  if (cancelled) return "cancelled during " + failed_step;
  std::string s = failed_step + " failed";
  if (!command.empty())
    s += ": `" + command + "` " +
         (exit_status < 0 ? std::string("failed") : "exited " + std::to_string(exit_status));
  // Last non-empty output line, the usual place of the reason.
  std::string last;
  std::size_t end = output_tail.size();
  while (end > 0) {
    auto start = output_tail.rfind('\n', end - 1);
    std::size_t b = start == std::string::npos ? 0 : start + 1;
    std::string line = output_tail.substr(b, end - b);
    if (!line.empty() && line.find_first_not_of(" \t\r") != std::string::npos) {
      last = line;
      break;
    }
    if (b == 0) break;
    end = b - 1;
  }
  if (!last.empty()) s += " (" + last + ")";
  return s;
}

UpdateResult update_node(const Node& node, const SetupPlan& plan, Provider& provider,
                         CommandRunner& runner, const UpdaterOptions& options,
                         const EventSink& events, const CancelToken& cancel) {
  UpdateResult result;
  // The statuses on the way are progress reports (posted: the provider may
  // write them with others a little later); up-to-date and update-failed
  // are written before the update returns.
  auto set_status = [&](const char* st, Tags extra = {}) {
    extra[tags::node_status] = st;
    const bool final = st == status::up_to_date || st == status::update_failed;
    if (final)
      provider.set_tags({node.id}, extra);
    else
      provider.post_tags({node.id}, extra);
    emit_status(events, node, st);
  };
  auto fail = [&](UpdateResult r) {
    if (r.cancelled) return r;  // a cancelled update leaves the node for the next run
    Tags t;
    std::string why = r.summary();
    if (why.size() > 250) why = why.substr(0, 247) + "...";
    t["raycluster-failure"] = why;
    set_status(status::update_failed, t);
    emit_log(events, node, LogLevel::error, node.id + ": " + r.summary());
    if (!r.output_tail.empty())
      emit_log(events, node, LogLevel::error, "last output of " + node.id + ":\n" + r.output_tail);
    return r;
  };

  CommandOptions copts;
  copts.env = plan.env;
  copts.timeout = options.command_timeout;
  copts.cancel = cancel;
  copts.on_line = [&](std::string_view line, bool is_stderr) {
    emit_log(events, node, LogLevel::info, std::string(line), is_stderr ? "stderr" : "stdout");
  };

  // 1. Wait until the node runs commands.
  set_status(status::waiting_for_ssh);
  try {
    runner.wait_ready(std::chrono::steady_clock::now() + options.ready_deadline, cancel);
  } catch (const Error& e) {
    UpdateResult r;
    r.failed_step = "waiting for the node";
    if (e.code() == ErrorCode::cancelled || cancel.cancelled()) {
      r.cancelled = true;
      return r;
    }
    r.output_tail = e.what();
    return fail(r);
  }

  // 2. File mounts.
  set_status(status::syncing_files);
  for (const auto& [remote, local] : plan.file_mounts) {
    for (int attempt = 1;; ++attempt) {
      try {
        runner.upload(local, remote);
        emit_log(events, node, LogLevel::info, "synced " + local + " -> " + remote);
        break;
      } catch (const Error& e) {
        if (attempt >= options.attempts || cancel.cancelled()) {
          UpdateResult r;
          r.failed_step = "file mounts";
          r.command = "upload " + local + " -> " + remote;
          r.exit_status = -1;
          r.output_tail = e.what();
          r.cancelled = cancel.cancelled();
          return fail(r);
        }
        cancel.sleep_for(options.retry_backoff * attempt);
      }
    }
  }

  // 3. Commands.
  set_status(status::setting_up);
  const Step steps[] = {{"initialization commands", &plan.initialization_commands},
                        {"setup commands", &plan.setup_commands},
                        {"start commands", &plan.start_commands}};
  std::unique_ptr<FileLock> start_lock;
  for (const auto& step : steps) {
    const bool is_start = step.commands == &plan.start_commands;
    if (is_start && plan.before_start && !plan.before_start(cancel)) {
      UpdateResult u;
      u.cancelled = true;
      u.failed_step = "waiting for the head";
      return u;
    }
    if (is_start && !plan.start_lock_path.empty() && !step.commands->empty()) {
      while (!start_lock) {
        try {
          start_lock = std::make_unique<FileLock>(plan.start_lock_path, false);
        } catch (const Error& e) {
          if (e.code() != ErrorCode::conflict) throw;
          if (!cancel.sleep_for(std::chrono::milliseconds(100))) {
            UpdateResult u;
            u.cancelled = true;
            u.failed_step = step.name;
            return u;
          }
        }
      }
    }
    int step_attempt = 1;
    for (std::size_t i = 0; i < step.commands->size(); ++i) {
      const std::string& cmd = (*step.commands)[i];
      for (int attempt = 1;; ++attempt) {
        emit_log(events, node, LogLevel::info, "$ " + cmd);
        CommandResult r;
        try {
          r = runner.run(cmd, copts);
        } catch (const Error& e) {
          r.exit_status = -1;
          r.output_tail = e.what();
        }
        if (r.ok()) break;
        if (r.cancelled || cancel.cancelled()) {
          UpdateResult u;
          u.cancelled = true;
          u.failed_step = step.name;
          u.command = cmd;
          return u;
        }
        int& tries = is_start ? step_attempt : attempt;
        if (tries >= options.attempts) {
          UpdateResult u;
          u.failed_step = step.name;
          u.command = cmd;
          u.exit_status = r.exit_status;
          u.output_tail = r.timed_out ? r.output_tail + "(timed out after " +
                                            std::to_string(options.command_timeout.count()) +
                                            " ms)\n"
                                      : r.output_tail;
          return fail(u);
        }
        emit_log(events, node, LogLevel::warning,
                 "`" + cmd + "` " +
                     (r.timed_out ? std::string("timed out")
                                  : "exited " + std::to_string(r.exit_status)) +
                     "; retrying (" + std::to_string(tries + 1) + "/" +
                     std::to_string(options.attempts) + ")");
        if (!cancel.sleep_for(options.retry_backoff * tries)) {
          UpdateResult u;
          u.cancelled = true;
          u.failed_step = step.name;
          return u;
        }
        if (is_start) {
          // A half-started runtime would make the next start fail too: end
          // it and run the start commands again from the first.
          ++step_attempt;
          provider.reset_runtime(node);
          i = static_cast<std::size_t>(-1);
          break;
        }
      }
    }
  }

  start_lock.reset();
  Tags done;
  done[tags::runtime_config] = plan.runtime_hash;
  if (!plan.file_mounts_hash.empty()) done[tags::file_mounts_contents] = plan.file_mounts_hash;
  // Clear an earlier failure, only where there is one (a call less per node).
  if (node.tags.count("raycluster-failure")) done["raycluster-failure"] = "";
  set_status(status::up_to_date, done);
  result.ok = true;
  return result;
}

}  // namespace raycluster::detail
