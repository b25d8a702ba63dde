// What the autoscaler on the head leaves for `raycluster status` in
// status.json: the last decision and the task duration estimates behind it.
#include <doctest/doctest.h>
#include <stdlib.h>

#include "monitor/head_status.hpp"
#include "util/fs.hpp"
#include "util/value.hpp"

using namespace raycluster;

TEST_CASE("head status: the last durations event and decision are in status.json") {
  char tmpl[] = "/tmp/rc-head-status-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  auto status = [&] { return Value::parse_json(detail::read_file(dir + "/status.json")); };
  {
    detail::HeadStatusWriter w(dir);
    CHECK(status().find("task_durations")->is_null());
    AutoscalerEvent d;
    d.type = "durations";
    d.detail = R"({"CPU":1}: 1.50 s (p90 1.60 s, 4 tasks))";
    w.on_event(d);
    AutoscalerEvent l;
    l.type = "launch";
    l.node_type = "worker";
    l.count = 2;
    l.reason = "demand";
    l.detail = "launch_payback 1, task durations: " + d.detail;
    w.on_event(l);
    Value v = status();
    CHECK(v.find("task_durations")->as_string() == d.detail);
    const std::string decision = v.find("last_decision")->as_string();
    CHECK(decision.rfind("launch 2 worker (demand)", 0) == 0);
    CHECK(decision.find(d.detail) != std::string::npos);
  }
  detail::remove_tree(dir);
}
