// Every rejected config: where, what and how to fix it.
#include <typeinfo>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "spec_helpers.hpp"
#include "util/fs.hpp"

using namespace raycluster;
using spec_test::errors_of;
using spec_test::file_errors_of;

TEST_CASE("malformed YAML reports the parser's line and column") {
  auto d = file_errors_of(spec_test::config("bad/malformed.yaml"));
  REQUIRE(d.size() == 1);
  CHECK(d[0].where.file == spec_test::config("bad/malformed.yaml"));
  CHECK(d[0].where.line == 4);  // "   region: us-east-1" is mis-indented
  CHECK(d[0].where.column == 10);
  CHECK(d[0].message.find("invalid YAML") != std::string::npos);
}

TEST_CASE("wrong type: max_workers: many") {
  auto d = errors_of("cluster_name: a\nmax_workers: many\nprovider: {type: localhost}\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].key_path == "max_workers");
  CHECK(d[0].where.line == 2);
  CHECK(d[0].where.column == 14);
  CHECK(d[0].message == "expected a whole number, got 'many'");
}

TEST_CASE("negative and fractional counts are rejected") {
  auto d = errors_of(
      "provider: {type: localhost}\n"
      "available_node_types:\n"
      "  h: {resources: {CPU: 1}}\n"
      "  w: {resources: {CPU: 1}, min_workers: -1, max_workers: 1.5}\n"
      "head_node_type: h\n");
  REQUIRE(d.size() == 2);
  CHECK(d[0].key_path == "available_node_types.w.min_workers");
  CHECK(d[0].message == "must be 0 or more, got -1");
  CHECK(d[0].where.line == 4);
  CHECK(d[1].key_path == "available_node_types.w.max_workers");
  CHECK(d[1].message == "expected a whole number, got '1.5'");
  CHECK(d[1].hint == "a count of nodes has no fraction; write e.g. 1");
}

TEST_CASE("a quoted number is not a count") {
  auto d = errors_of("provider: {type: localhost}\nmax_workers: \"3\"\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].key_path == "max_workers");
}

TEST_CASE("min_workers above max_workers of a type") {
  auto d = errors_of(
      "max_workers: 10\n"
      "provider: {type: localhost}\n"
      "available_node_types:\n"
      "  h: {resources: {CPU: 1}}\n"
      "  w:\n"
      "    resources: {CPU: 1}\n"
      "    min_workers: 3\n"
      "    max_workers: 2\n"
      "head_node_type: h\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].key_path == "available_node_types.w.min_workers");
  CHECK(d[0].where.line == 7);
  CHECK(d[0].message == "node type w: min_workers (3) is more than max_workers (2)");
}

TEST_CASE("sum of type minimums above the cluster max_workers") {
  auto d = errors_of(
      "max_workers: 3\n"
      "provider: {type: localhost}\n"
      "available_node_types:\n"
      "  h: {resources: {CPU: 1}}\n"
      "  a: {resources: {CPU: 1}, min_workers: 2, max_workers: 2}\n"
      "  b: {resources: {CPU: 1}, min_workers: 2, max_workers: 2}\n"
      "head_node_type: h\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].key_path == "max_workers");
  CHECK(d[0].where.line == 1);
  CHECK(d[0].message ==
        "the node types' min_workers add up to 4, more than the cluster's max_workers (3)");
  CHECK(d[0].hint == "raise max_workers to at least 4 or lower some min_workers");
}

TEST_CASE("head_node_type not among the types, with did-you-mean") {
  auto d = file_errors_of(spec_test::config("bad/typo-head-type.yaml"));
  REQUIRE(d.size() == 1);
  CHECK(d[0].key_path == "head_node_type");
  CHECK(d[0].where.line == 6);
  CHECK(d[0].hint == "did you mean 'ray.head.default'?");
}

TEST_CASE("head_node_type missing when node types are given") {
  auto d = errors_of("provider: {type: localhost}\navailable_node_types:\n  a: {resources: {CPU: 1}}\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].key_path == "head_node_type");
  CHECK(d[0].hint == "add 'head_node_type: <one of a>'");
}

TEST_CASE("unknown provider type") {
  auto d = errors_of("provider:\n  type: azure\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].key_path == "provider.type");
  CHECK(d[0].where.line == 2);
  CHECK(d[0].message == "unknown provider type 'azure'");
  auto t = errors_of("provider: {type: gpc, project_id: x}\n");
  REQUIRE(t.size() == 1);
  CHECK(t[0].hint == "did you mean 'gcp'?");
  auto f = errors_of("provider: azure\nregion: x\n");
  REQUIRE(f.size() == 1);
  CHECK(f[0].key_path == "provider");
  CHECK(f[0].message == "unknown provider 'azure' in the flat dialect");
}

TEST_CASE("missing region on AWS, missing project_id on GCP") {
  auto a = errors_of("provider: {type: aws}\n");
  REQUIRE(a.size() == 1);
  CHECK(a[0].key_path == "provider.region");
  CHECK(a[0].where.line == 1);
  CHECK(a[0].message == "AWS needs a region");
  auto fa = errors_of("provider: aws\ninstance_type: m5.large\n");
  REQUIRE(fa.size() == 1);
  CHECK(fa[0].key_path == "region");
  auto g = errors_of("provider: {type: gcp, region: us-west1, availability_zone: us-west1-a}\n");
  REQUIRE(g.size() == 1);
  CHECK(g[0].key_path == "provider.project_id");
  CHECK(g[0].message == "GCP needs a project id");
  auto fg = errors_of("provider: gcp\nregion: us-west1\nzone: us-west1-a\n");
  REQUIRE(fg.size() == 1);
  CHECK(fg[0].key_path == "project_id");
}

TEST_CASE("a node type with no resources on localhost") {
  auto d = file_errors_of(spec_test::config("bad/localhost-no-resources.yaml"));
  REQUIRE(d.size() == 1);
  CHECK(d[0].message ==
        "node type worker has no resources; the localhost provider cannot detect them");
  CHECK(d[0].key_path == "available_node_types.worker.resources");
  CHECK(d[0].where.line == 4);
  CHECK(d[0].hint == "add e.g. 'resources: {CPU: 1}'");
}

TEST_CASE("an empty file") {
  auto d = file_errors_of(spec_test::config("bad/empty.yaml"));
  REQUIRE(d.size() == 1);
  CHECK(d[0].message == "the config is empty");
  auto c = errors_of("# only a comment\n");
  REQUIRE(c.size() == 1);
  CHECK(c[0].message == "the config is empty");
}

TEST_CASE("a top level that is not a mapping") {
  auto d = errors_of("- a\n- b\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].message == "the config must be a mapping of keys (cluster_name: ...)");
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/rc_spec_test_XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

TEST_CASE("a binary file is a clear error, not a crash") {
  TempDir dir;
  std::string file = (dir.path / "ray.bin").string();
  {
    std::ofstream out(file, std::ios::binary);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>((i * 131 + 7) % 256));
  }
  auto d = file_errors_of(file);
  REQUIRE(d.size() == 1);
  CHECK(d[0].message == "the file is not text (it holds binary or non-UTF-8 bytes), so it is not YAML");
  CHECK(d[0].where.file == file);
}

TEST_CASE("a 50 MB file is refused by size before parsing") {
  TempDir dir;
  std::string file = (dir.path / "huge.yaml").string();
  {
    std::ofstream out(file);
    std::string line = "cluster_name: x  # padding padding padding padding padding padding\n";
    for (std::size_t written = 0; written < 50u << 20; written += line.size()) out << line;
  }
  auto d = file_errors_of(file);
  REQUIRE(d.size() == 1);
  // Refused by size, the one error: no parse happened (a parse would have
  // found other problems, or none).
  CHECK(d[0].message.find("more than the limit of 16777216") != std::string::npos);
  // The same text through load_spec_string is refused too.
  std::string text(17u << 20, ' ');
  auto s = errors_of(text);
  REQUIRE(s.size() == 1);
  CHECK(s[0].message.find("more than the limit") != std::string::npos);
}

TEST_CASE("deep nesting and alias bombs are refused, not recursed into") {
  auto deep = errors_of(std::string(100000, '[') + std::string(100000, ']'));
  REQUIRE(deep.size() == 1);
  CHECK(deep[0].message == "the YAML nests deeper than 64 levels");
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'i'; ++c)
    bomb += std::string(1, c) + ": &" + c + " [*" + char(c - 1) + ", *" + char(c - 1) + ", *" +
            char(c - 1) + ", *" + char(c - 1) + ", *" + char(c - 1) + ", *" + char(c - 1) +
            ", *" + char(c - 1) + ", *" + char(c - 1) + ", *" + char(c - 1) + ", *" +
            char(c - 1) + "]\n";
  bomb += "provider: {type: localhost}\n";
  auto b = errors_of(bomb);
  REQUIRE(b.size() >= 1);
  CHECK(b[0].message == "the config expands to more than 4 MiB of keys and values (the limit)");
}

TEST_CASE("an alias bomb of long strings is bounded by bytes, not by values") {
  // 1 MB of text whose few values each repeat a long string: once "valid"
  // while it took 2 GB; the limit counts bytes now.
  std::string text = "cluster_name: c\nprovider: {type: localhost}\n";
  text += "x-long: &s \"" + std::string(900000, 'x') + "\"\n";
  text += "x-l1: &l1 [*s, *s, *s, *s, *s, *s, *s, *s, *s, *s]\n";
  text += "x-l2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]\n";
  text += "setup_commands: [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]\n";
  // Unbounded, this would take 2 GB and outlast the suite's time limit.
  auto d = errors_of(text);
  REQUIRE_FALSE(d.empty());
  bool named = false;
  for (const auto& e : d)
    named = named || e.message == "the config expands to more than 4 MiB of keys and values (the limit)";
  CHECK(named);
}

TEST_CASE("block nesting by indentation is bounded before YAML is parsed") {
  // One level per line, no brackets: 450 levels once validated.
  std::string text = "cluster_name: c\nprovider: {type: localhost}\nx:\n";
  for (int i = 1; i <= 450; ++i) text += std::string(static_cast<std::size_t>(i) * 2, ' ') + "k:\n";
  auto d = errors_of(text);
  REQUIRE(d.size() == 1);
  CHECK(d[0].message == "the YAML nests deeper than 64 levels");
  CHECK(d[0].where.line == 3 + 64);
  // Sixty levels still read (and fail only for the unknown key).
  std::string ok = "cluster_name: c\nprovider: {type: localhost}\nx:\n";
  for (int i = 1; i <= 60; ++i) ok += std::string(static_cast<std::size_t>(i) * 2, ' ') + "k:\n";
  auto u = errors_of(ok);
  REQUIRE(u.size() == 1);
  CHECK(u[0].message.find("unknown key 'x'") != std::string::npos);
}

TEST_CASE("a count far outside any integer is an error, not undefined behaviour") {
  auto d = errors_of("cluster_name: c\nprovider: {type: localhost}\nmax_workers: 1e300\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].message == "expected a whole number, got '1e300'");
  CHECK(d[0].hint.find("1000000") != std::string::npos);
}

TEST_CASE("a missing file is Error(io), not ConfigError") {
  try {
    load_spec_file("/nonexistent/raycluster/cluster.yaml");
    FAIL("expected an error");
  } catch (const ConfigError&) {
    FAIL("a missing file is not a config problem");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::io);
  }
}

TEST_CASE("unknown key gets a suggestion, at every schema level") {
  auto d = errors_of(
      "cluster_nmae: a\n"
      "provider: {type: localhost, use_internal_ip: true}\n"
      "auth: {ssh_usr: me}\n"
      "available_node_types:\n"
      "  h:\n"
      "    resources: {CPU: 1}\n"
      "    min_worker: 0\n"
      "    node_config: {AnyThing: goes, here_too: 1}\n"
      "head_node_type: h\n"
      "docker: {imgae: x}\n");
  REQUIRE(d.size() == 5);
  CHECK(d[0].key_path == "cluster_nmae");
  CHECK(d[0].where.line == 1);
  CHECK(d[0].where.column == 1);
  CHECK(d[0].message == "unknown key 'cluster_nmae' at the top level");
  CHECK(d[0].hint == "did you mean 'cluster_name'?");
  CHECK(d[1].key_path == "provider.use_internal_ip");
  CHECK(d[1].hint == "did you mean 'use_internal_ips'?");
  CHECK(d[2].key_path == "auth.ssh_usr");
  CHECK(d[2].hint == "did you mean 'ssh_user'?");
  CHECK(d[3].key_path == "available_node_types.h.min_worker");
  CHECK(d[3].where.line == 7);
  CHECK(d[3].hint == "did you mean 'min_workers'?");
  CHECK(d[4].key_path == "docker.imgae");
  CHECK(d[4].hint == "did you mean 'image'?");
}

TEST_CASE("two errors in one file are both reported, in file order") {
  auto d = file_errors_of(spec_test::config("bad/two-errors.yaml"));
  REQUIRE(d.size() == 3);  // max_workers, the typo, and the region it hides
  CHECK(d[0].key_path == "max_workers");
  CHECK(d[0].where.line == 2);
  CHECK(d[1].key_path == "provider.region");  // missing: points at the provider
  CHECK(d[1].where.line == 3);
  CHECK(d[2].key_path == "provider.regoin");
  CHECK(d[2].where.line == 5);
  CHECK(d[2].hint == "did you mean 'region'?");
  try {
    load_spec_file(spec_test::config("bad/two-errors.yaml"));
  } catch (const ConfigError& e) {
    std::string what = e.what();
    CHECK(what.find("3 problems") != std::string::npos);
    CHECK(what.find("two-errors.yaml:2:14: max_workers: expected a whole number, got 'many'") !=
          std::string::npos);
  }
}

TEST_CASE("a key given twice") {
  auto d = errors_of("provider: {type: localhost}\ncluster_name: a\ncluster_name: b\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].where.line == 3);
  CHECK(d[0].message == "key 'cluster_name' is given twice");
}

TEST_CASE("flat dialect: the other cloud's keys and disagreeing idle times") {
  auto d = errors_of(
      "provider: aws\nregion: us-east-1\nlabels: {a: b}\n"
      "idle_timeout_minutes: 5\nupscaling_max_idle_time: 9\n");
  REQUIRE(d.size() == 2);
  CHECK(d[0].key_path == "labels");
  CHECK(d[0].message == "'labels' is a GCP setting but the provider is aws");
  CHECK(d[1].key_path == "upscaling_max_idle_time");
  CHECK(d[1].message == "upscaling_max_idle_time and idle_timeout_minutes disagree (9 vs 5)");
}

TEST_CASE("flat dialect: initial_workers above max_workers") {
  auto d = errors_of("provider: aws\nregion: us-east-1\ninitial_workers: 5\nmax_workers: 2\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].key_path == "initial_workers");
  CHECK(d[0].where.line == 3);
}

TEST_CASE("bad firewall rules") {
  auto d = errors_of(
      "provider: gcp\nregion: r\nzone: r-a\nproject_id: p\n"
      "firewall_rules:\n  - name: x\n    ports: [\"70000\"]\n    allowed_sources: [\"0.0.0.0/0\"]\n"
      "  - ports: [\"22\"]\n    allowed_sources: []\n");
  REQUIRE(d.size() == 2);
  CHECK(d[0].key_path == "firewall_rules[0].ports");
  CHECK(d[0].message == "'70000' is not a port or port range");
  CHECK(d[1].key_path == "firewall_rules[1].name");
}

TEST_CASE("on-prem needs head_ip and ssh_user; AWS node types need an InstanceType") {
  auto d = errors_of("provider: {type: local, worker_ips: [10.0.0.2]}\n");
  REQUIRE(d.size() == 2);
  CHECK(d[0].key_path == "provider.head_ip");
  CHECK(d[1].key_path == "auth.ssh_user");
  auto a = errors_of(
      "provider: {type: aws, region: r}\navailable_node_types:\n  h: {node_config: {ImageId: ami-1}}\n"
      "head_node_type: h\n");
  REQUIRE(a.size() == 1);
  CHECK(a[0].message == "node type h has no InstanceType in node_config");
}

TEST_CASE("Diagnostic::to_string") {
  Diagnostic d{SourceLocation{"c.yaml", 3, 7}, "provider.type", "unknown provider type 'x'",
               "did you mean 'aws'?"};
  CHECK(d.to_string() == "c.yaml:3:7: provider.type: unknown provider type 'x' (did you mean 'aws'?)");
  Diagnostic n{SourceLocation{"c.yaml", 0, 0}, "", "too big", ""};
  CHECK(n.to_string() == "c.yaml: too big");
}

TEST_CASE("a node type declared twice") {
  auto d = errors_of(
      "provider: {type: localhost}\navailable_node_types:\n  h: {resources: {CPU: 1}}\n"
      "  h: {resources: {CPU: 2}}\nhead_node_type: h\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].where.line == 4);
  CHECK(d[0].message == "node type 'h' is declared twice");
}

TEST_CASE("numbers out of range name the range") {
  auto d = errors_of(
      "provider: {type: localhost}\ntarget_utilization_fraction: 1.5\nupscaling_speed: -1\n"
      "autoscaling_mode: agressive\n");
  REQUIRE(d.size() == 3);
  CHECK(d[0].message == "must be between 0 and 1, got 1.5");
  CHECK(d[0].where.line == 2);
  CHECK(d[1].message == "must be at least 0, got -1");
  CHECK(d[2].message == "autoscaling_mode must be 'default' or 'aggressive'");
  CHECK(d[2].hint == "did you mean 'aggressive'?");
}

TEST_CASE("mutated configs fail cleanly (no crash, only ConfigError)") {
  // A deterministic mini-fuzz over the shipped configs: flip, drop and insert
  // bytes, and splice in YAML punctuation. Run under ASan/UBSan too.
  const char* sources[] = {"ray/aws-full.yaml", "flat/gcp-full.yaml", "legacy/autoscaling.yaml",
                           "ray/localhost.yaml", "ray/aws-security-group.yaml"};
  const char punct[] = ":-[]{}&*!|>'\"#%@`,? \n\t";
  std::uint32_t state = 12345;
  auto next = [&] {
    state = state * 1664525u + 1013904223u;
    return state >> 8;
  };
  int parsed = 0, rejected = 0;
  for (const char* src : sources) {
    std::string base = detail::read_file(spec_test::config(src));
    for (int round = 0; round < 300; ++round) {
      std::string text = base;
      int edits = 1 + static_cast<int>(next() % 4);
      for (int e = 0; e < edits && !text.empty(); ++e) {
        std::size_t at = next() % text.size();
        switch (next() % 4) {
          case 0: text[at] = punct[next() % (sizeof punct - 1)]; break;
          case 1: text.erase(at, 1 + next() % 8); break;
          case 2: text.insert(at, 1, punct[next() % (sizeof punct - 1)]); break;
          default: text[at] = static_cast<char>(next() % 256); break;
        }
      }
      try {
        load_spec_string(text, "fuzz.yaml");
        ++parsed;
      } catch (const ConfigError& e) {
        ++rejected;
        CHECK(!e.diagnostics().empty());
      } catch (const std::exception& e) {
        FAIL("unexpected exception " << typeid(e).name() << ": " << std::string(e.what()) << " for:\n" << text);
      }
    }
  }
  CHECK(parsed + rejected == 1500);
  CHECK(rejected > 0);
}

TEST_CASE("a config without provider is a diagnostic (regression: yaml-cpp InvalidNode escaped)") {
  auto d = errors_of("cluster_name: lonely\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].key_path == "provider");
  CHECK(d[0].message == "the config has no provider");
}

TEST_CASE("legacy config with head_node but no worker_nodes (regression: InvalidNode escaped)") {
  ClusterSpec s = load_spec_string(
      "provider: {type: aws, region: us-west-2}\nhead_node: {InstanceType: m5.xlarge}\n");
  CHECK(s.dialect == Dialect::ray_legacy);
  CHECK(s.find_node_type("ray-legacy-worker-node-type")->node_config.to_json() ==
        R"({"InstanceType":"m5.large"})");
}
