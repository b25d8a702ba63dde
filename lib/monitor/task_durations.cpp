#include "monitor/task_durations.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "util/error.hpp"
#include "util/value.hpp"

namespace raycluster::detail {

using Clock = std::chrono::system_clock;
using std::chrono::milliseconds;

namespace {

// Times past year 2100 or before 1970 are no times (and keep the sums finite).
constexpr double kMaxUnixMs = 4102444800000.0;

std::optional<std::int64_t> unix_ms(const Value* v) {
  if (!v || !v->is_number()) return std::nullopt;
  const double d = v->as_number();
  if (!std::isfinite(d) || d <= 0 || d >= kMaxUnixMs) return std::nullopt;
  return static_cast<std::int64_t>(d);
}

std::int64_t count_of(const Value* v) {
  if (!v || !v->is_number()) return 0;
  const double d = v->as_number();
  if (!std::isfinite(d) || d < 0) return 0;
  return d >= 9e15 ? std::int64_t{9'000'000'000'000'000} : static_cast<std::int64_t>(d);
}

// {"CPU": 1.0, ...} -> shape; nullopt when not an object of finite amounts >= 0.
std::optional<ResourceMap> shape_of(const Value* v) {
  if (!v || !v->is_object()) return std::nullopt;
  ResourceMap m;
  for (const auto& [name, amount] : v->as_object()) {
    if (!amount.is_number()) return std::nullopt;
    const double d = amount.as_number();
    if (!std::isfinite(d) || d < 0) return std::nullopt;
    m.set(name, d);
  }
  return m;
}

std::optional<FinishedTask> task_of(const Value& row) {
  if (!row.is_object()) return std::nullopt;
  const Value* type = row.find("type");
  // Actor creation "finishes" when the actor is up, not when it lets go of
  // its resources; actor tasks run on the actor's. Drivers hold nothing.
  if (!type || !type->is_string() || type->as_string() != "NORMAL_TASK") return std::nullopt;
  const Value* state = row.find("state");
  if (state && state->is_string() && state->as_string() != "FINISHED") return std::nullopt;
  const Value* id = row.find("task_id");
  if (!id || !id->is_string() || id->as_string().empty() || id->as_string().size() > 256)
    return std::nullopt;
  auto start = unix_ms(row.find("start_time_ms"));
  auto end = unix_ms(row.find("end_time_ms"));
  auto shape = shape_of(row.find("required_resources"));
  if (!start || !end || *end < *start || !shape || shape->empty()) return std::nullopt;
  FinishedTask t;
  t.key = id->as_string() + "/" + std::to_string(count_of(row.find("attempt_number")));
  t.shape = std::move(*shape);
  t.start_ms = *start;
  t.end_ms = *end;
  return t;
}

std::string warnings_of(const Value& result) {
  std::string out;
  if (const Value* w = result.find("partial_failure_warning"); w && w->is_string())
    out = w->as_string();
  if (const Value* ws = result.find("warnings"); ws && ws->is_array())
    for (const auto& w : ws->as_array())
      if (w.is_string() && !w.as_string().empty())
        out += (out.empty() ? "" : "; ") + w.as_string();
  if (out.size() > 300) out = out.substr(0, 300) + "...";
  return out;
}

std::string seconds(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, ms < 10000 ? "%.2f s" : "%.0f s", ms / 1000);
  return buf;
}

}  // namespace

std::string ray_tasks_query(int limit) {
  // exclude_driver: drivers are no work to place. timeout: the dashboard's
  // own deadline for the GCS (seconds).
  return "/api/v0/tasks?detail=true&exclude_driver=true&timeout=5"
         "&filter_keys=state&filter_predicates=%3D&filter_values=FINISHED"
         "&filter_keys=type&filter_predicates=%3D&filter_values=NORMAL_TASK&limit=" +
         std::to_string(limit);
}

TaskPage parse_ray_tasks(std::string_view json) {
  TaskPage page;
  if (json.size() > kMaxTasksAnswerBytes) {
    page.error = "the answer is larger than " + std::to_string(kMaxTasksAnswerBytes >> 20) +
                 " MiB (the limit)";
    return page;
  }
  Value doc;
  try {
    doc = Value::parse_json(json);
  } catch (const Error& e) {
    page.error = std::string("the answer is not JSON: ") + e.what();
    return page;
  }
  if (!doc.is_object()) {
    page.error = "the answer is not a JSON object";
    return page;
  }
  if (const Value* r = doc.find("result"); r && r->is_bool() && !r->as_bool()) {
    const Value* msg = doc.find("msg");
    page.error = "Ray refused: " + (msg && msg->is_string() ? msg->as_string().substr(0, 300)
                                                          : std::string("no reason given"));
    return page;
  }
  const Value* data = doc.find("data");
  const Value* result = data && data->is_object() ? data->find("result") : nullptr;
  const Value* rows = result && result->is_object() ? result->find("result") : nullptr;
  if (!rows || !rows->is_array()) {
    page.error = "the answer has no data.result.result list";
    return page;
  }
  page.ok = true;
  page.rows = static_cast<std::int64_t>(rows->size());
  page.total = count_of(result->find("total"));
  page.kept = count_of(result->find("num_after_truncation"));
  page.matched = count_of(result->find("num_filtered"));
  page.warning = warnings_of(*result);
  // Older answers may leave the counts out: then the rows are all there is.
  page.matched = std::max(page.matched, page.rows);
  page.kept = std::max(page.kept, page.matched);
  page.total = std::max(page.total, page.kept);
  for (const auto& row : rows->as_array()) {
    if (auto t = task_of(row))
      page.tasks.push_back(std::move(*t));
    else
      ++page.unusable;
  }
  return page;
}

void TaskDurationTracker::decay_to(std::int64_t end_ms) {
  if (end_ms <= newest_end_) return;
  if (newest_end_ > 0) {
    const double f = std::exp2(-static_cast<double>(end_ms - newest_end_) /
                               static_cast<double>(kHalfLife.count()));
    for (auto it = shapes_.begin(); it != shapes_.end();) {
      it->second.sum *= f, it->second.weight *= f;
      // Not seen for about seven half-lives of the cluster's activity: gone.
      it = it->second.weight < 0.01 ? shapes_.erase(it) : std::next(it);
    }
  }
  newest_end_ = end_ms;
  for (auto it = seen_.begin(); it != seen_.end();)
    it = it->second < newest_end_ - kLateMs ? seen_.erase(it) : std::next(it);
}

int TaskDurationTracker::add(const TaskPage& page) {
  std::int64_t newest = newest_end_;
  for (const auto& t : page.tasks) newest = std::max(newest, t.end_ms);
  const std::int64_t horizon = newest_end_ > 0 ? newest_end_ - kLateMs : 0;
  decay_to(newest);
  int added = 0;
  for (const auto& t : page.tasks) {
    if (t.end_ms < horizon || !seen_.emplace(t.key, t.end_ms).second) continue;
    auto it = shapes_.find(t.shape);
    if (it == shapes_.end()) {
      if (shapes_.size() >= kMaxShapes) {
        // Room for the new shape: the one with the least weight goes.
        auto least = std::min_element(shapes_.begin(), shapes_.end(), [](const auto& a, const auto& b) {
          return a.second.weight < b.second.weight;
        });
        shapes_.erase(least);
      }
      it = shapes_.emplace(t.shape, Shape{}).first;
    }
    Shape& s = it->second;
    const auto d = static_cast<double>(t.end_ms - t.start_ms);
    const double w = std::exp2(-static_cast<double>(newest_end_ - t.end_ms) /
                               static_cast<double>(kHalfLife.count()));
    s.sum += w * d, s.weight += w, ++s.tasks;
    if (s.recent.size() < kRecentPerShape)
      s.recent.push_back(d);
    else
      s.recent[s.next] = d;
    s.next = (s.next + 1) % kRecentPerShape;
    ++added;
  }
  return added;
}

std::vector<ShapeDuration> TaskDurationTracker::estimates() const {
  std::vector<ShapeDuration> out;
  for (const auto& [shape, s] : shapes_) {
    if (!(s.weight > 0)) continue;
    ShapeDuration e;
    e.shape = shape;
    e.mean_ms = s.sum / s.weight;
    e.tasks = s.tasks;
    std::vector<double> r = s.recent;
    const auto k = static_cast<std::size_t>(std::ceil(0.9 * static_cast<double>(r.size()))) - 1;
    std::nth_element(r.begin(), r.begin() + static_cast<std::ptrdiff_t>(k), r.end());
    e.p90_ms = r[k];
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<TaskDurationEstimate> TaskDurationTracker::planner_estimates() const {
  std::vector<TaskDurationEstimate> out;
  for (const auto& e : estimates())
    out.push_back({e.shape, milliseconds(static_cast<std::int64_t>(std::llround(e.mean_ms)))});
  return out;
}

std::string describe_durations(const std::vector<ShapeDuration>& ds) {
  std::string out;
  for (const auto& e : ds)
    out += (out.empty() ? "" : "; ") + e.shape.to_json() + ": " + seconds(e.mean_ms) + " (p90 " +
           seconds(e.p90_ms) + ", " + std::to_string(e.tasks) + " task" + (e.tasks == 1 ? "" : "s") + ")";
  return out.empty() ? "none" : out;
}

// ---- the background reader --------------------------------------------------

namespace {

TaskPage fetch(const std::string& base_url, const std::shared_ptr<HttpTransport>& transport,
               const CancelToken& cancel) {
  HttpRequest req;
  req.url = base_url + ray_tasks_query(kTaskRowsPerRead);
  req.timeout = milliseconds(15000);
  req.connect_timeout = milliseconds(2000);
  TaskPage page;
  try {
    HttpResponse r = transport->send(req, cancel);
    if (r.status != 200) {
      page = parse_ray_tasks(r.body);
      page.ok = false;
      page.error = "GET /api/v0/tasks: HTTP " + std::to_string(r.status) +
                   (page.error.rfind("Ray refused", 0) == 0 ? " (" + page.error + ")" : "");
      return page;
    }
    return parse_ray_tasks(r.body);
  } catch (const std::exception& e) {
    page.error = std::string("GET /api/v0/tasks: ") + e.what();
  }
  return page;
}

// What the read covered, when it was not everything.
std::string coverage(const TaskPage& p) {
  std::string out;
  if (p.matched > p.rows)
    out = "read " + std::to_string(p.rows) + " of " + std::to_string(p.matched) + " finished tasks";
  if (p.total > p.kept)
    out += (out.empty() ? "" : "; ") + std::string("Ray dropped the events of ") +
           std::to_string(p.total - p.kept) + " of " + std::to_string(p.total) + " tasks";
  if (!p.warning.empty()) out += (out.empty() ? "" : "; ") + p.warning;
  return out;
}

// Shapes and means to two significant digits: a change worth an event.
std::string signature(const std::vector<ShapeDuration>& ds) {
  std::string out;
  char buf[32];
  for (const auto& e : ds) {
    std::snprintf(buf, sizeof buf, "%.2g", e.mean_ms);
    out += e.shape.to_json() + "=" + buf + ";";
  }
  return out;
}

}  // namespace

TaskDurationReader::~TaskDurationReader() {
  cancel_.cancel();
  if (inflight_.valid()) inflight_.wait();
}

void TaskDurationReader::poll(const std::string& base_url, std::shared_ptr<HttpTransport> transport,
                              Clock::time_point now) {
  if (inflight_.valid()) {
    if (inflight_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
    take(inflight_.get(), now);
  }
  if (now < next_read_ || base_url.empty() || !transport) return;
  std::string base = base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  inflight_ = std::async(std::launch::async, [base, transport, cancel = cancel_] {
    return fetch(base, transport, cancel);
  });
  // The next read is due an interval after this one starts (or later on failures).
  next_read_ = now + interval_;
}

void TaskDurationReader::take(TaskPage page, Clock::time_point now) {
  if (!page.ok) {
    backoff_ = std::clamp(backoff_ * 2, std::max(interval_, milliseconds(10000)), milliseconds(300000));
    next_read_ = now + backoff_;
    const std::string why = "task durations: " + page.error + " (the last estimates stay; next read in " +
                            std::to_string(backoff_.count() / 1000) + " s)";
    if (page.error != last_error_) events_.emit("load_error", why);
    last_error_ = page.error;
    return;
  }
  backoff_ = milliseconds(0);
  last_error_.clear();
  tracker_.add(page);
  const auto ds = tracker_.estimates();
  planner_ = tracker_.planner_estimates();
  description_ = describe_durations(ds);
  const std::string cov = coverage(page);
  if (!cov.empty()) description_ += " [" + cov + "]";
  const std::string sig = signature(ds) + (page.sampled() ? "sampled" : "");
  if (sig == last_signature_) return;
  last_signature_ = sig;
  events_.emit("durations", description_);
}

}  // namespace raycluster::detail
