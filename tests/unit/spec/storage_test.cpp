// The `storage:` section and the flat dialect's disk_size_gb.
#include "spec_helpers.hpp"

using namespace raycluster;
using spec_test::errors_of;

namespace {

std::string aws(const std::string& storage, const std::string& worker_max = "1") {
  return "cluster_name: s\n"
         "provider: {type: aws, region: us-east-1}\n"
         "head_node_type: h\n"
         "available_node_types:\n"
         "  h:\n"
         "    node_config: {InstanceType: m5.large}\n"
         "  w:\n"
         "    node_config: {InstanceType: m5.large}\n"
         "    max_workers: " + worker_max + "\n" + storage;
}

const Value& F(const Value& v, std::string_view key) {
  const Value* p = v.find(key);
  REQUIRE(p != nullptr);
  return *p;
}

bool has_key(const std::vector<Diagnostic>& d, const std::string& key) {
  for (const auto& x : d)
    if (x.key_path == key) return true;
  return false;
}

}  // namespace

TEST_CASE("storage: volumes are read in file order with per-cloud defaults") {
  auto s = load_spec_string(aws("storage:\n"
                                "  data:\n"
                                "    size_gb: 100\n"
                                "    mount_path: /data\n"
                                "  fast:\n"
                                "    size_gb: 20\n"
                                "    type: io2\n"
                                "    mount_path: ~/scratch\n"
                                "    node_types: [w]\n"));
  REQUIRE(s.storage.size() == 2);
  CHECK(s.storage[0].name == "data");
  CHECK(s.storage[0].size_gb == 100);
  CHECK(s.storage[0].type == "gp3");
  CHECK(s.storage[0].mount_path == "/data");
  CHECK(s.storage[0].node_types == std::vector<std::string>{"h"});
  CHECK(s.storage[1].type == "io2");
  CHECK(s.storage[1].node_types == std::vector<std::string>{"w"});
  Value v = spec_to_value(s);
  CHECK(F(v, "storage").as_array().size() == 2);
  CHECK(F(F(v, "storage").as_array()[1], "mount_path").as_string() == "~/scratch");
}

TEST_CASE("storage: GCP defaults to pd-balanced; no storage is an empty list") {
  auto s = load_spec_string(
      "provider: gcp\nregion: us-central1\nzone: us-central1-a\nproject_id: p\n"
      "storage: {data: {size_gb: 10, mount_path: /data}}\n");
  REQUIRE(s.storage.size() == 1);
  CHECK(s.storage[0].type == "pd-balanced");
  CHECK(s.storage[0].node_types == std::vector<std::string>{s.head_node_type});
  auto none = load_spec_string("provider: {type: localhost}\n");
  CHECK(none.storage.empty());
  CHECK(F(spec_to_value(none), "storage").as_array().empty());
}

TEST_CASE("storage: a type with several possible nodes is refused on a single-attach cloud") {
  auto d = errors_of(aws("storage:\n  data:\n    size_gb: 10\n    mount_path: /data\n"
                         "    node_types: [w]\n",
                         "3"),
                     "st.yaml");
  REQUIRE(d.size() == 1);
  CHECK(d[0].key_path == "storage.data.node_types");
  CHECK(d[0].where.line == 14);
  CHECK(d[0].message.find("up to 3 nodes") != std::string::npos);
  CHECK(d[0].message.find("attaches to one instance") != std::string::npos);
  // On localhost a volume is one folder every node of the type sees.
  auto s = load_spec_string(
      "provider: {type: localhost}\nhead_node_type: h\navailable_node_types:\n"
      "  h: {resources: {CPU: 1}}\n  w: {resources: {CPU: 1}, max_workers: 3}\n"
      "storage: {data: {mount_path: /tmp/x, node_types: [w]}}\n");
  CHECK(s.storage.at(0).node_types == std::vector<std::string>{"w"});
}

TEST_CASE("storage: bad values name file, line and key") {
  auto d = errors_of(aws("storage:\n"
                         "  Data: {size_gb: 1, mount_path: /a}\n"        // line 11
                         "  a:\n"
                         "    size_gb: 0\n"                              // line 13
                         "    type: gp9\n"                               // line 14
                         "    mount_path: relative/path\n"               // line 15
                         "    node_types: [wx]\n"                        // line 16
                         "    sise_gb: 3\n"                              // line 17
                         "  b: {mount_path: /b}\n"                       // line 18: no size
                         "  c: {size_gb: 1, mount_path: /b}\n"),         // line 19: same path
                     "bad.yaml");
  for (const auto& x : d) CHECK(x.where.file == "bad.yaml");
  CHECK(has_key(d, "storage.Data"));
  CHECK(has_key(d, "storage.a.size_gb"));
  CHECK(has_key(d, "storage.a.type"));
  CHECK(has_key(d, "storage.a.mount_path"));
  CHECK(has_key(d, "storage.a.node_types"));
  CHECK(has_key(d, "storage.a.sise_gb"));
  CHECK(has_key(d, "storage.b.size_gb"));
  CHECK(has_key(d, "storage.c.mount_path"));
  for (const auto& x : d) {
    if (x.key_path == "storage.a.type") {
      CHECK(x.where.line == 14);
      CHECK(x.hint.find("gp3") != std::string::npos);
    }
    if (x.key_path == "storage.a.node_types") CHECK(x.hint.find("'w'") != std::string::npos);
    if (x.key_path == "storage.a.sise_gb") CHECK(x.hint.find("size_gb") != std::string::npos);
  }
  auto shape = errors_of("provider: {type: localhost}\nstorage: [a, b]\n");
  REQUIRE(shape.size() == 1);
  CHECK(shape[0].key_path == "storage");
  CHECK(shape[0].where.line == 2);
}

TEST_CASE("storage: cloud-only keys are warnings on localhost") {
  auto s = load_spec_string(
      "provider: {type: localhost}\nstorage: {d: {size_gb: 5, type: gp3, mount_path: /tmp/d}}\n");
  CHECK(s.warnings.size() == 2);
  CHECK(s.storage.at(0).type == "gp3");
}

TEST_CASE("storage: not part of a node type's node_config") {
  auto a = load_spec_string(aws(""));
  auto b = load_spec_string(aws("storage: {data: {size_gb: 10, mount_path: /data}}\n"));
  CHECK(a.head_type().node_config.to_json() == b.head_type().node_config.to_json());
}

TEST_CASE("flat: disk_size_gb sizes the root disk on AWS and GCP") {
  auto a = load_spec_string(
      "provider: aws\nregion: us-east-1\ninstance_type: m5.large\ndisk_size_gb: 200\n");
  for (const auto& t : a.node_types) {
    const Value& m = F(t.node_config, "BlockDeviceMappings").as_array().at(0);
    CHECK(F(m, "DeviceName").as_string() == "/dev/sda1");
    CHECK(F(F(m, "Ebs"), "VolumeSize").as_int() == 200);
    CHECK(F(F(m, "Ebs"), "VolumeType").as_string() == "gp3");
  }
  auto g = load_spec_string(
      "provider: gcp\nregion: us-central1\nzone: us-central1-a\nproject_id: p\n"
      "image: projects/x/global/images/y\ndisk_size_gb: 80\n");
  for (const auto& t : g.node_types) {
    const Value& d = F(t.node_config, "disks").as_array().at(0);
    CHECK(F(d, "boot").as_bool());
    CHECK(F(F(d, "initializeParams"), "diskSizeGb").as_int() == 80);
    CHECK(F(F(d, "initializeParams"), "sourceImage").as_string() == "projects/x/global/images/y");
  }
  auto bad = errors_of("provider: aws\nregion: us-east-1\ndisk_size_gb: 2\n", "f.yaml");
  REQUIRE(bad.size() == 1);
  CHECK(bad[0].key_path == "disk_size_gb");
  CHECK(bad[0].where.line == 3);
  auto neg = errors_of("provider: aws\nregion: us-east-1\ndisk_size_gb: lots\n");
  CHECK(neg.at(0).key_path == "disk_size_gb");
}

TEST_CASE("Ray's schema: root disk settings in node_config pass through untouched") {
  auto s = load_spec_string(
      "provider: {type: aws, region: us-east-1}\nhead_node_type: h\navailable_node_types:\n"
      "  h:\n    node_config:\n      InstanceType: m5.large\n      BlockDeviceMappings:\n"
      "        - DeviceName: /dev/xvda\n          Ebs: {VolumeSize: 256, VolumeType: gp3}\n");
  const Value& m = F(s.head_type().node_config, "BlockDeviceMappings").as_array().at(0);
  CHECK(F(m, "DeviceName").as_string() == "/dev/xvda");
  CHECK(F(F(m, "Ebs"), "VolumeSize").as_int() == 256);
}
