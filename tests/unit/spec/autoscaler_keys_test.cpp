// raycluster's own autoscaler keys: available_node_types.<type>.startup_seconds
// and the top-level idle_release_after_startups.
#include "spec_helpers.hpp"

using namespace raycluster;
using spec_test::errors_of;

namespace {

// A config with `top` added at the top level and `worker` into the worker type.
std::string config_with(const std::string& top, const std::string& worker) {
  return "cluster_name: k\n"
         "provider: {type: localhost}\n" +
         top +
         "head_node_type: h\n"
         "available_node_types:\n"
         "  h:\n"
         "    resources: {CPU: 1}\n"
         "  w:\n"
         "    resources: {CPU: 2}\n"
         "    max_workers: 3\n" +
         worker;
}

}  // namespace

TEST_CASE("autoscaler keys: absent means unknown startup and Ray's plain idle timeout") {
  ClusterSpec s = load_spec_string(config_with("", ""), "k.yaml");
  CHECK(s.idle_release_after_startups == 0);
  REQUIRE(s.find_node_type("w"));
  CHECK_FALSE(s.find_node_type("w")->startup_seconds.has_value());
  CHECK_FALSE(s.find_node_type("h")->startup_seconds.has_value());
  Value v = spec_to_value(s);
  CHECK(v.find("idle_release_after_startups")->as_number() == 0);
  CHECK(v.find("node_types")->as_array()[1].find("startup_seconds")->is_null());
}

TEST_CASE("autoscaler keys: startup_seconds per type and idle_release_after_startups are read") {
  ClusterSpec s = load_spec_string(
      config_with("idle_release_after_startups: 0.5\n", "    startup_seconds: 90.5\n"), "k.yaml");
  CHECK(s.idle_release_after_startups == 0.5);
  REQUIRE(s.find_node_type("w"));
  REQUIRE(s.find_node_type("w")->startup_seconds.has_value());
  CHECK(*s.find_node_type("w")->startup_seconds == 90.5);
  CHECK_FALSE(s.find_node_type("h")->startup_seconds.has_value());
  // Where they came from, for later messages.
  CHECK(s.origin("idle_release_after_startups").line == 3);
  CHECK(s.origin("available_node_types.w.startup_seconds").line == 11);
  Value v = spec_to_value(s);
  CHECK(v.find("idle_release_after_startups")->as_number() == 0.5);
  CHECK(v.find("node_types")->as_array()[1].find("startup_seconds")->as_number() == 90.5);
  // 0 is allowed for both (0 startup: a node is usable at once).
  ClusterSpec z = load_spec_string(
      config_with("idle_release_after_startups: 0\n", "    startup_seconds: 0\n"), "k.yaml");
  CHECK(z.idle_release_after_startups == 0);
  CHECK(*z.find_node_type("w")->startup_seconds == 0);
}

TEST_CASE("autoscaler keys: the legacy dialect takes idle_release_after_startups too") {
  ClusterSpec legacy = load_spec_string(
      "provider: {type: localhost}\nhead_node: {resources: {CPU: 1}}\n"
      "worker_nodes: {resources: {CPU: 1}}\n"
      "idle_release_after_startups: 2\n",
      "l.yaml");
  CHECK(legacy.dialect == Dialect::ray_legacy);
  CHECK(legacy.idle_release_after_startups == 2);
}

TEST_CASE("autoscaler keys: negative values are rejected with file, line and key") {
  auto d = errors_of(
      config_with("idle_release_after_startups: -1\n", "    startup_seconds: -30\n"), "bad.yaml");
  REQUIRE(d.size() == 2);
  CHECK(d[0].key_path == "idle_release_after_startups");
  CHECK(d[0].where.file == "bad.yaml");
  CHECK(d[0].where.line == 3);
  CHECK(d[0].message == "must be at least 0, got -1");
  CHECK(d[0].to_string().rfind("bad.yaml:3:", 0) == 0);
  CHECK(d[0].to_string().find(": idle_release_after_startups: ") != std::string::npos);
  CHECK(d[1].key_path == "available_node_types.w.startup_seconds");
  CHECK(d[1].where.file == "bad.yaml");
  CHECK(d[1].where.line == 11);
  CHECK(d[1].message == "must be at least 0, got -30");
  CHECK(d[1].to_string().rfind("bad.yaml:11:", 0) == 0);
}

TEST_CASE("autoscaler keys: a non-number is rejected with file, line and key") {
  auto d = errors_of(
      config_with("idle_release_after_startups: soon\n", "    startup_seconds: \"60\"\n"),
      "bad.yaml");
  REQUIRE(d.size() == 2);
  CHECK(d[0].key_path == "idle_release_after_startups");
  CHECK(d[0].where.line == 3);
  CHECK(d[0].message == "expected a number, got 'soon'");
  CHECK(d[1].key_path == "available_node_types.w.startup_seconds");
  CHECK(d[1].where.line == 11);
  CHECK(d[1].message.rfind("expected a number", 0) == 0);
  auto l = errors_of(config_with("", "    startup_seconds:\n      - 60\n"), "bad.yaml");
  REQUIRE(l.size() == 1);
  CHECK(l[0].key_path == "available_node_types.w.startup_seconds");
  CHECK(l[0].where.file == "bad.yaml");
  CHECK(l[0].where.line == 11);
}

TEST_CASE("autoscaler keys: a misspelling gets a did-you-mean") {
  auto d = errors_of(
      config_with("idle_release_after_startup: 1\n", "    startup_second: 60\n"), "bad.yaml");
  REQUIRE(d.size() == 2);
  CHECK(d[0].key_path == "idle_release_after_startup");
  CHECK(d[0].where.line == 3);
  CHECK(d[0].hint == "did you mean 'idle_release_after_startups'?");
  CHECK(d[1].key_path == "available_node_types.w.startup_second");
  CHECK(d[1].where.line == 11);
  CHECK(d[1].hint == "did you mean 'startup_seconds'?");
}

TEST_CASE("autoscaler key: where the autoscaler runs, head by default") {
  CHECK(load_spec_string(config_with("", ""), "k.yaml").autoscaler == "head");
  for (std::string site : {"head", "local", "off"}) {
    ClusterSpec s = load_spec_string(config_with("autoscaler: " + site + "\n", ""), "k.yaml");
    CHECK(s.autoscaler == site);
    CHECK(spec_to_value(s).find("autoscaler")->as_string() == site);
  }
}

TEST_CASE("autoscaler key: another value is an error naming file, line and key") {
  auto d = errors_of(config_with("autoscaler: haed\n", ""), "bad.yaml");
  REQUIRE(d.size() == 1);
  CHECK(d[0].key_path == "autoscaler");
  CHECK(d[0].where.file == "bad.yaml");
  CHECK(d[0].where.line == 3);
  CHECK(d[0].message.find("'haed'") != std::string::npos);
  CHECK(d[0].hint == "did you mean 'head'?");
}

TEST_CASE("autoscaler key: launch_payback, off by default, read with its origin") {
  ClusterSpec none = load_spec_string(config_with("", ""), "k.yaml");
  CHECK(none.launch_payback == 0);
  CHECK(spec_to_value(none).find("launch_payback")->as_number() == 0);
  ClusterSpec s = load_spec_string(config_with("launch_payback: 1.5\n", ""), "k.yaml");
  CHECK(s.launch_payback == 1.5);
  CHECK(s.origin("launch_payback").line == 3);
  CHECK(spec_to_value(s).find("launch_payback")->as_number() == 1.5);
  ClusterSpec legacy = load_spec_string(
      "provider: {type: localhost}\nhead_node: {resources: {CPU: 1}}\n"
      "worker_nodes: {resources: {CPU: 1}}\nlaunch_payback: 2\n",
      "l.yaml");
  CHECK(legacy.launch_payback == 2);
}

TEST_CASE("autoscaler key: a bad or misspelt launch_payback names file, line and key") {
  auto neg = errors_of(config_with("launch_payback: -1\n", ""), "bad.yaml");
  REQUIRE(neg.size() == 1);
  CHECK(neg[0].key_path == "launch_payback");
  CHECK(neg[0].where.file == "bad.yaml");
  CHECK(neg[0].where.line == 3);
  CHECK(neg[0].message == "must be at least 0, got -1");
  auto word = errors_of(config_with("launch_payback: often\n", ""), "bad.yaml");
  REQUIRE(word.size() == 1);
  CHECK(word[0].message == "expected a number, got 'often'");
  auto typo = errors_of(config_with("launch_paybak: 1\n", ""), "bad.yaml");
  REQUIRE(typo.size() == 1);
  CHECK(typo[0].hint == "did you mean 'launch_payback'?");
}
