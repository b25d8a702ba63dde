#include "updater/updater.hpp"

#include <memory>
#include <optional>
#include <thread>

#include "updater/container_runner.hpp"
#include "updater/rsync_rules.hpp"
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

UpdateResult cancelled_during(std::string step, std::string command = {}) {
  UpdateResult u;
  u.cancelled = true;
  u.failed_step = std::move(step);
  u.command = std::move(command);
  return u;
}

// One node's update: wait until it runs commands, sync the file mounts, run
// the initialization, setup and start commands, tag the result. Each stage
// returns the update's result when the update ends there.
class NodeUpdate {
 public:
  NodeUpdate(const Node& node, const SetupPlan& plan, Provider& provider, CommandRunner& runner,
             const UpdaterOptions& options, const EventSink& events, const CancelToken& cancel)
      : node_(node), plan_(plan), provider_(provider), runner_(runner), options_(options),
        events_(events), cancel_(cancel), container_(dynamic_cast<ContainerRunner*>(&runner)) {
    copts_.env = plan.env;
    copts_.timeout = options.command_timeout;
    copts_.cancel = cancel;
    copts_.on_line = [this](std::string_view line, bool is_stderr) {
      emit_log(events_, node_, LogLevel::info, std::string(line), is_stderr ? "stderr" : "stdout");
    };
  }

  UpdateResult run() {
    if (auto r = wait_ready()) return *r;
    if (plan_.files_only) {
      if (auto r = sync_file_mounts()) return *r;
      return succeed();
    }
    if (auto r = drop_stale_container()) return *r;
    if (auto r = sync_file_mounts()) return *r;
    if (auto r = run_commands()) return *r;
    return succeed();
  }

 private:
  // The statuses on the way are progress reports (posted: the provider may
  // write them with others a little later); up-to-date and update-failed
  // are written before the update returns.
  void set_status(const char* st, Tags extra = {}) {
    extra[tags::node_status] = st;
    const bool final = st == status::up_to_date || st == status::update_failed;
    if (final)
      provider_.set_tags({node_.id}, extra);
    else
      provider_.post_tags({node_.id}, extra);
    emit_status(events_, node_, st);
  }

  UpdateResult fail(UpdateResult r) {
    if (r.cancelled) return r;  // a cancelled update leaves the node for the next run
    Tags t;
    std::string why = r.summary();
    if (why.size() > 250) why = why.substr(0, 247) + "...";
    t["raycluster-failure"] = why;
    set_status(status::update_failed, t);
    emit_log(events_, node_, LogLevel::error, node_.id + ": " + r.summary());
    if (!r.output_tail.empty())
      emit_log(events_, node_, LogLevel::error, "last output of " + node_.id + ":\n" + r.output_tail);
    return r;
  }

  std::optional<UpdateResult> wait_ready() {
    set_status(status::waiting_for_ssh);
    try {
      runner_.wait_ready(std::chrono::steady_clock::now() + options_.ready_deadline, cancel_);
    } catch (const Error& e) {
      UpdateResult r;
      r.failed_step = "waiting for the node";
      if (e.code() == ErrorCode::cancelled || cancel_.cancelled()) {
        r.cancelled = true;
        return r;
      }
      r.output_tail = e.what();
      return fail(r);
    }
    return std::nullopt;
  }

  std::optional<UpdateResult> sync_file_mounts() {
    set_status(status::syncing_files);
    std::optional<RsyncRules> rules;
    try {
      rules.emplace(plan_.rsync_exclude, plan_.rsync_filter);
    } catch (const Error& e) {
      UpdateResult r;
      r.failed_step = "file mounts";
      r.exit_status = -1;
      r.output_tail = std::string("rsync_exclude / rsync_filter: ") + e.what();
      return fail(r);
    }
    auto all = plan_.file_mounts;
    all.insert(all.end(), plan_.synced_files.begin(), plan_.synced_files.end());
    for (const auto& [remote, local] : all) {
      for (int attempt = 1;; ++attempt) {
        try {
          upload(*rules, local, remote);
          break;
        } catch (const Error& e) {
          if (attempt >= options_.attempts || cancel_.cancelled()) {
            UpdateResult r;
            r.failed_step = "file mounts";
            r.command = "upload " + local + " -> " + remote;
            r.exit_status = -1;
            r.output_tail = e.what();
            r.cancelled = cancel_.cancelled();
            return fail(r);
          }
          cancel_.sleep_for(options_.retry_backoff * attempt);
        }
      }
    }
    return std::nullopt;
  }

  // One file mount, without what the rsync rules leave out.
  void upload(const RsyncRules& rules, const std::string& local, const std::string& remote) {
    std::optional<FilteredTree> filtered;
    std::string source = local;
    if (!rules.empty()) {
      if (is_directory(local)) {
        filtered.emplace(local, rules);
        source = filtered->path();
      } else {
        std::string name = local.substr(local.rfind('/') + 1);
        if (!rules.keeps_file(name)) {
          emit_log(events_, node_, LogLevel::info, "not synced (rsync_exclude): " + local);
          return;
        }
      }
    }
    if (container_)
      container_->upload_to_host(source, remote);  // the container binds it
    else
      runner_.upload(source, remote);
    emit_log(events_, node_, LogLevel::info, "synced " + local + " -> " + remote);
  }

  std::optional<UpdateResult> run_commands() {
    set_status(status::setting_up);
    const Step steps[] = {{"initialization commands", &plan_.initialization_commands},
                          {"setup commands", &plan_.setup_commands},
                          {"start commands", &plan_.start_commands}};
    for (const auto& step : steps) {
      const bool is_start = step.commands == &plan_.start_commands;
      if (is_start && plan_.before_start && !plan_.before_start(cancel_))
        return cancelled_during("waiting for the head");
      if (is_start && !plan_.start_lock_path.empty() && !step.commands->empty())
        if (auto r = lock_start(step)) return r;
      if (auto r = run_step(step, is_start)) return r;
      if (step.commands == &plan_.initialization_commands)
        if (auto r = start_container()) return r;
    }
    return std::nullopt;
  }

  // Ray's order: a container made with other settings goes before the file
  // mounts are synced; the new one starts after the initialization commands
  // (which may install the runtime), on the host.
  std::optional<UpdateResult> drop_stale_container() {
    if (!container_) return std::nullopt;
    return container_step("checking the container", [this] {
      if (container_->remove_if_stale(copts_))
        emit_log(events_, node_, LogLevel::info,
                 node_.id + ": the image or run options of container " +
                     container_->config().container_name + " changed: removed it to start anew");
    });
  }

  std::optional<UpdateResult> start_container() {
    if (!container_) return std::nullopt;
    return container_step("starting the container", [this] {
      if (container_->start(copts_))
        emit_log(events_, node_, LogLevel::info,
                 node_.id + ": started container " + container_->config().container_name + " (" +
                     container_->config().image + ")");
    });
  }

  template <typename F>
  std::optional<UpdateResult> container_step(const char* name, F&& body) {
    try {
      body();
      return std::nullopt;
    } catch (const Error& e) {
      if (e.code() == ErrorCode::cancelled || cancel_.cancelled()) return cancelled_during(name);
      UpdateResult r;
      r.failed_step = name;
      r.exit_status = -1;
      r.output_tail = e.what();
      return fail(r);
    }
  }

  std::optional<UpdateResult> lock_start(const Step& step) {
    while (!start_lock_) {
      try {
        start_lock_ = std::make_unique<FileLock>(plan_.start_lock_path, false);
      } catch (const Error& e) {
        if (e.code() != ErrorCode::conflict) throw;
        if (!cancel_.sleep_for(std::chrono::milliseconds(100))) return cancelled_during(step.name);
      }
    }
    return std::nullopt;
  }

  std::optional<UpdateResult> run_step(const Step& step, bool is_start) {
    int step_attempt = 1;
    for (std::size_t i = 0; i < step.commands->size(); ++i) {
      const std::string& cmd = (*step.commands)[i];
      for (int attempt = 1;; ++attempt) {
        emit_log(events_, node_, LogLevel::info, "$ " + cmd);
        CommandResult r;
        try {
          // Initialization commands run on the host, the rest in the container.
          const bool on_host = container_ && step.commands == &plan_.initialization_commands;
          r = on_host ? container_->host().run(cmd, copts_) : runner_.run(cmd, copts_);
        } catch (const Error& e) {
          r.exit_status = -1;
          r.output_tail = e.what();
        }
        if (r.ok()) break;
        if (r.cancelled || cancel_.cancelled()) return cancelled_during(step.name, cmd);
        int& tries = is_start ? step_attempt : attempt;
        if (tries >= options_.attempts) return fail(command_failure(step, cmd, r));
        emit_log(events_, node_, LogLevel::warning,
                 "`" + cmd + "` " +
                     (r.timed_out ? std::string("timed out")
                                  : "exited " + std::to_string(r.exit_status)) +
                     "; retrying (" + std::to_string(tries + 1) + "/" +
                     std::to_string(options_.attempts) + ")");
        if (!cancel_.sleep_for(options_.retry_backoff * tries)) return cancelled_during(step.name);
        if (is_start) {
          // A half-started runtime would make the next start fail too: end
          // it and run the start commands again from the first.
          ++step_attempt;
          provider_.reset_runtime(node_);
          i = static_cast<std::size_t>(-1);
          break;
        }
      }
    }
    return std::nullopt;
  }

  UpdateResult command_failure(const Step& step, const std::string& cmd, const CommandResult& r) const {
    UpdateResult u;
    u.failed_step = step.name;
    u.command = cmd;
    u.exit_status = r.exit_status;
    u.output_tail = r.timed_out ? r.output_tail + "(timed out after " +
                                      std::to_string(options_.command_timeout.count()) + " ms)\n"
                                : r.output_tail;
    return u;
  }

  UpdateResult succeed() {
    start_lock_.reset();
    Tags done;
    done[tags::runtime_config] = plan_.runtime_hash;
    if (!plan_.file_mounts_hash.empty()) done[tags::file_mounts_contents] = plan_.file_mounts_hash;
    // Clear an earlier failure, only where there is one (a call less per node).
    if (node_.tags.count("raycluster-failure")) done["raycluster-failure"] = "";
    set_status(status::up_to_date, done);
    UpdateResult result;
    result.ok = true;
    return result;
  }

  const Node& node_;
  const SetupPlan& plan_;
  Provider& provider_;
  CommandRunner& runner_;
  const UpdaterOptions& options_;
  const EventSink& events_;
  const CancelToken& cancel_;
  CommandOptions copts_;
  std::unique_ptr<FileLock> start_lock_;
  ContainerRunner* container_;  // the runner, when the node's Ray runs in a container
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
  return NodeUpdate(node, plan, provider, runner, options, events, cancel).run();
}

}  // namespace raycluster::detail
