// The setup hashes and file mounts (lib/cluster/hashes.*): what a change of
// a mount's contents does with and without file_mounts_sync_continuously,
// and that left-out files do not count.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "cluster/hashes.hpp"
#include "spec/spec.hpp"

using namespace raycluster;
namespace fs = std::filesystem;

namespace {

struct Mount {
  fs::path dir;
  Mount() {
    char tmpl[] = "/tmp/rc_hashes_test_XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    write("src/main.py", "v1\n");
    write("src/run.log", "a\n");
    write("src/pkg/.gitignore", "*.tmp\n");
    write("src/pkg/x.tmp", "t\n");
  }
  ~Mount() { fs::remove_all(dir); }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((dir / rel).parent_path());
    std::ofstream(dir / rel) << text;
  }
  ClusterSpec spec(bool continuously) const {
    std::string yaml = "cluster_name: h\nprovider: {type: local, head_ip: 10.0.0.1}\n"
                       "auth: {ssh_user: u}\nfile_mounts: {~/src: " + (dir / "src").string() + "}\n"
                       "rsync_exclude: ['*.log']\nrsync_filter: [.gitignore]\n"
                       "file_mounts_sync_continuously: " + (continuously ? "true" : "false") + "\n";
    return load_spec_string(yaml);
  }
};

}  // namespace

TEST_CASE("hashes: files left out by rsync_exclude or rsync_filter do not count") {
  Mount m;
  auto spec = m.spec(false);
  const std::string before = detail::file_mounts_hash(spec);
  m.write("src/run.log", "b\n");
  m.write("src/pkg/x.tmp", "changed\n");
  m.write("src/pkg/y.tmp", "new\n");
  CHECK(detail::file_mounts_hash(spec) == before);
  m.write("src/main.py", "v2\n");
  CHECK(detail::file_mounts_hash(spec) != before);
}

TEST_CASE("hashes: with file_mounts_sync_continuously contents leave the runtime hash alone") {
  Mount m;
  for (bool continuously : {false, true}) {
    auto spec = m.spec(continuously);
    const auto& head = spec.head_type();
    const std::string runtime = detail::runtime_hash(spec, head, NodeKind::head);
    const std::string contents = detail::file_mounts_hash(spec);
    m.write("src/main.py", continuously ? "v3\n" : "v2\n");
    CHECK(detail::file_mounts_hash(spec) != contents);
    CHECK((detail::runtime_hash(spec, head, NodeKind::head) == runtime) == continuously);
  }
}
