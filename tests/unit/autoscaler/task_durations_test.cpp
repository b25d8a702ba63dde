// Task durations from Ray's state API (lib/monitor/task_durations): answers
// of GET /api/v0/tasks recorded from real Ray 2.60 by record_ray_tasks.py
// (data/ray_tasks/), then edited copies of them for missing fields. The
// expected figures are worked out here from the recorded rows themselves.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>

#include "monitor/load.hpp"
#include "monitor/task_durations.hpp"
#include "util/fs.hpp"
#include "util/value.hpp"

using namespace raycluster;
using namespace raycluster::detail;

namespace {

std::string recorded(const std::string& name) {
  return read_file(std::string(RC_RAY_TASKS_DIR) + "/" + name);
}

// Straight from the JSON: shape (as compact JSON) -> durations in ms.
std::map<std::string, std::vector<double>> durations_in(const std::string& body) {
  std::map<std::string, std::vector<double>> out;
  Value doc = Value::parse_json(body);
  for (const auto& row : doc.find("data")->find("result")->find("result")->as_array()) {
    ResourceMap shape;
    for (const auto& [k, v] : row.find("required_resources")->as_object()) shape.set(k, v.as_number());
    out[shape.to_json()].push_back(row.find("end_time_ms")->as_number() -
                                   row.find("start_time_ms")->as_number());
  }
  return out;
}

double mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

const ShapeDuration* find(const std::vector<ShapeDuration>& ds, const ResourceMap& shape) {
  for (const auto& d : ds)
    if (d.shape == shape) return &d;
  return nullptr;
}

const ResourceMap kShort{{"CPU", 1}};
const ResourceMap kLong{{"CPU", 0.5}, {"slot", 1}};

// The first row of finished.json with `edit` applied, as a one-row answer.
std::string one_row(const std::function<void(Value&)>& edit) {
  Value doc = Value::parse_json(recorded("finished.json"));
  Value& result = *doc.find("data")->find("result");
  Value row = result.find("result")->as_array().at(0);
  edit(row);
  Value rows = Value::array();
  rows.push(row);
  result.set("result", rows);
  return doc.to_json();
}

}  // namespace

TEST_CASE("task durations: a recorded answer of two shapes parses into its finished tasks") {
  const std::string body = recorded("finished.json");
  TaskPage p = parse_ray_tasks(body);
  REQUIRE(p.ok);
  CHECK(p.rows == 7);
  CHECK(p.unusable == 0);
  CHECK_FALSE(p.sampled());
  CHECK(p.warning.empty());
  REQUIRE(p.tasks.size() == 7);
  int shorts = 0, longs = 0;
  for (const auto& t : p.tasks) {
    CHECK(t.end_ms > t.start_ms);
    CHECK(t.key.size() > 2);
    if (t.shape == kShort) {
      ++shorts;
      CHECK(t.end_ms - t.start_ms >= 400);  // the task sleeps 0.4 s
    } else {
      REQUIRE(t.shape == kLong);
      ++longs;
      CHECK(t.end_ms - t.start_ms >= 800);
    }
  }
  CHECK(shorts == 4);
  CHECK(longs == 3);
}

TEST_CASE("task durations: the shape is the one the head's load report gives for the same tasks") {
  // Ray's report lists the pending demand of these tasks as [shape, count].
  auto load = parse_cluster_status(
      R"({"data":{"clusterStatus":{"loadMetricsReport":{"resourceDemand":[[{"CPU":1.0},4],[{"CPU":0.5,"slot":1.0},3]]}}}})");
  REQUIRE(load.ok);
  REQUIRE(load.demands.size() == 2);
  TaskDurationTracker tr;
  tr.add(parse_ray_tasks(recorded("finished.json")));
  auto planner = tr.planner_estimates();
  REQUIRE(planner.size() == 2);
  for (const auto& d : load.demands)
    CHECK(std::any_of(planner.begin(), planner.end(), [&](const TaskDurationEstimate& e) { return e.shape == d.shape; }));
}

TEST_CASE("task durations: per-shape mean and p90 follow the recorded durations") {
  const std::string body = recorded("finished.json");
  auto expect = durations_in(body);
  TaskDurationTracker tr;
  CHECK(tr.add(parse_ray_tasks(body)) == 7);
  auto ds = tr.estimates();
  REQUIRE(ds.size() == 2);
  for (const auto& shape : {kShort, kLong}) {
    const ShapeDuration* d = find(ds, shape);
    REQUIRE(d);
    const auto& xs = expect.at(shape.to_json());
    CHECK(d->tasks == static_cast<std::int64_t>(xs.size()));
    // The tasks ended within seconds of each other: their weights differ by
    // under 1% (half-life 10 minutes), so the mean is the plain one within 1%.
    CHECK(std::fabs(d->mean_ms - mean(xs)) <= 0.01 * mean(xs));
    // p90 of three or four values is the largest.
    CHECK(d->p90_ms == *std::max_element(xs.begin(), xs.end()));
  }
  auto planner = tr.planner_estimates();
  REQUIRE(planner.size() == 2);
  for (const auto& e : planner)
    CHECK(std::fabs(static_cast<double>(e.mean.count()) - find(ds, e.shape)->mean_ms) <= 0.5);
  const std::string text = describe_durations(ds);
  CHECK(text.find(R"({"CPU":1}: )") != std::string::npos);
  CHECK(text.find("4 tasks") != std::string::npos);
}

TEST_CASE("task durations: a task read twice counts once") {
  const std::string body = recorded("finished.json");
  TaskDurationTracker tr;
  CHECK(tr.add(parse_ray_tasks(body)) == 7);
  CHECK(tr.add(parse_ray_tasks(body)) == 0);
  CHECK(find(tr.estimates(), kShort)->tasks == 4);
}

TEST_CASE("task durations: an answer cut at the limit is a sample and says so") {
  TaskPage p = parse_ray_tasks(recorded("limited.json"));
  REQUIRE(p.ok);
  CHECK(p.rows == 3);
  CHECK(p.matched == 7);
  CHECK(p.sampled());
  TaskDurationTracker tr;
  CHECK(tr.add(p) == 3);
  std::int64_t counted = 0;
  for (const auto& d : tr.estimates()) counted += d.tasks;
  CHECK(counted == 3);
}

TEST_CASE("task durations: when Ray dropped task events the rest still count, and the drop shows") {
  TaskDurationTracker tr;
  tr.add(parse_ray_tasks(recorded("finished.json")));
  const std::string body = recorded("dropped.json");
  TaskPage p = parse_ray_tasks(body);
  REQUIRE(p.ok);
  CHECK(p.total > p.kept);  // the GCS kept only RAY_task_events_max_num_task_in_gcs
  CHECK(p.sampled());
  // Rows the first answer had already are not counted again.
  const auto before = parse_ray_tasks(recorded("finished.json"));
  std::size_t fresh = 0;
  for (const auto& t : p.tasks)
    fresh += std::none_of(before.tasks.begin(), before.tasks.end(),
                          [&](const FinishedTask& o) { return o.key == t.key; });
  CHECK(fresh > 0);
  CHECK(tr.add(p) == static_cast<int>(fresh));
  std::int64_t counted = 0;
  for (const auto& d : tr.estimates()) counted += d.tasks;
  CHECK(counted == static_cast<std::int64_t>(7 + fresh));
}

TEST_CASE("task durations: Ray's refusal is an error with its reason") {
  TaskPage p = parse_ray_tasks(recorded("bad_limit.json"));
  CHECK_FALSE(p.ok);
  CHECK(p.error.find("exceeds the supported limit") != std::string::npos);
}

TEST_CASE("task durations: rows missing what a duration needs are skipped and counted") {
  const char* fields[] = {"start_time_ms", "end_time_ms", "required_resources", "task_id", "type"};
  for (const char* field : fields) {
    CAPTURE(field);
    TaskPage p = parse_ray_tasks(one_row([&](Value& row) {
      Value::Object kept;
      for (auto& m : row.as_object())
        if (m.first != field) kept.push_back(m);
      row = Value(kept);
    }));
    REQUIRE(p.ok);
    CHECK(p.rows == 1);
    CHECK(p.unusable == 1);
    CHECK(p.tasks.empty());
  }
  auto with = [](const char* key, Value v) {
    return parse_ray_tasks(one_row([&](Value& row) { row.set(key, v); }));
  };
  CHECK(with("type", "ACTOR_CREATION_TASK").tasks.empty());
  CHECK(with("start_time_ms", nullptr).tasks.empty());
  CHECK(with("start_time_ms", 9e18).tasks.empty());
  CHECK(with("end_time_ms", 1.0).tasks.empty());  // ends before it starts
  CHECK(with("required_resources", Value::object()).tasks.empty());  // num_cpus=0: nothing to place
  Value neg = Value::object();
  neg.set("CPU", -1);
  CHECK(with("required_resources", neg).tasks.empty());
  Value zero = Value::object();
  zero.set("CPU", 1);
  zero.set("GPU", 0);
  auto z = with("required_resources", zero);
  REQUIRE(z.tasks.size() == 1);
  CHECK(z.tasks[0].shape == kShort);  // zero amounts dropped, as in the load report
  // No attempt number: attempt 0.
  auto a = parse_ray_tasks(one_row([](Value& row) { row.set("attempt_number", nullptr); }));
  REQUIRE(a.tasks.size() == 1);
  CHECK(a.tasks[0].key.size() > 2);
}

TEST_CASE("task durations: answers that are not a task list are errors, counts may be missing") {
  for (const char* bad : {"<html>", "[]", "{}", R"({"result":true,"data":{}})",
                          R"({"result":true,"data":{"result":{"result":{}}}})"}) {
    CAPTURE(bad);
    TaskPage p = parse_ray_tasks(bad);
    CHECK_FALSE(p.ok);
    CHECK_FALSE(p.error.empty());
  }
  TaskPage bare = parse_ray_tasks(one_row([](Value&) {}));
  REQUIRE(bare.ok);
  Value doc = Value::parse_json(one_row([](Value&) {}));
  Value& result = *doc.find("data")->find("result");
  Value only = Value::object();
  only.set("result", *result.find("result"));
  result = only;
  TaskPage p = parse_ray_tasks(doc.to_json());
  REQUIRE(p.ok);
  CHECK(p.tasks.size() == 1);
  CHECK_FALSE(p.sampled());
  CHECK(parse_ray_tasks(std::string(kMaxTasksAnswerBytes + 1, ' ')).error.find("limit") != std::string::npos);
}

namespace {

TaskPage page_of(std::vector<FinishedTask> tasks) {
  TaskPage p;
  p.ok = true;
  p.rows = p.matched = p.kept = p.total = static_cast<std::int64_t>(tasks.size());
  p.tasks = std::move(tasks);
  return p;
}

FinishedTask task(const std::string& id, std::int64_t end_ms, std::int64_t ms) {
  return FinishedTask{id, kShort, end_ms - ms, end_ms};
}

}  // namespace

TEST_CASE("task durations: older tasks weigh less, by half per half-life") {
  const std::int64_t t0 = 1'700'000'000'000;
  const std::int64_t h = TaskDurationTracker::kHalfLife.count();
  TaskDurationTracker tr;
  tr.add(page_of({task("a", t0, 1000)}));
  tr.add(page_of({task("b", t0 + h, 3000)}));
  // a weighs 1/2 when b is new: (0.5 * 1000 + 1 * 3000) / 1.5
  CHECK(find(tr.estimates(), kShort)->mean_ms == doctest::Approx(3500.0 / 1.5));
  CHECK(find(tr.estimates(), kShort)->tasks == 2);
}

TEST_CASE("task durations: a late task is taken, an old one after the first read is not") {
  const std::int64_t t0 = 1'700'000'000'000;
  TaskDurationTracker tr;
  // The first read takes everything Ray still has, however old.
  CHECK(tr.add(page_of({task("old", t0 - 3'600'000, 500), task("a", t0, 1000)})) == 2);
  // Events reach the GCS late: a task that ended 30 s before the newest counts.
  CHECK(tr.add(page_of({task("late", t0 - 30'000, 1000)})) == 1);
  // One that ended long before is taken as read already (the answer is a
  // sample by task id, so an unread old task may show up later).
  CHECK(tr.add(page_of({task("older", t0 - 2 * TaskDurationTracker::kLateMs, 1000)})) == 0);
  CHECK(find(tr.estimates(), kShort)->tasks == 3);
}

TEST_CASE("task durations: shapes are bounded; the least weighty goes") {
  const std::int64_t t0 = 1'700'000'000'000;
  TaskDurationTracker tr;
  std::vector<FinishedTask> many;
  for (std::size_t i = 0; i <= TaskDurationTracker::kMaxShapes; ++i) {
    FinishedTask t = task("t" + std::to_string(i), t0 + static_cast<std::int64_t>(i), 100);
    t.shape = ResourceMap{{"CPU", 1}, {"s" + std::to_string(i), 1}};
    many.push_back(t);
  }
  tr.add(page_of(many));
  auto ds = tr.estimates();
  CHECK(ds.size() == TaskDurationTracker::kMaxShapes);
  // The first (oldest, so lightest) shape made room for the last.
  CHECK_FALSE(find(ds, many.front().shape));
  CHECK(find(ds, many.back().shape));
}
