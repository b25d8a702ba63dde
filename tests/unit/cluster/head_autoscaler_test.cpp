// The pieces of the autoscaler `up` runs on the head: where it runs, the
// rewrite of Ray's --autoscaling-config, the bundle's file list, the spec the
// head gets, and the worker targets `scale` leaves for it.
#include <doctest/doctest.h>
#include <stdlib.h>

#include "cluster/hashes.hpp"
#include "cluster/head_autoscaler.hpp"
#include "cluster/worker_targets.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace raycluster;
using namespace raycluster::detail;

namespace {

std::string config(const std::string& provider, const std::string& top, const std::string& head_config,
                   int worker_min, int worker_max, const std::string& worker_config = "") {
  return "cluster_name: h\nprovider: " + provider + "\n" + top +
         "head_node_type: head\n"
         "available_node_types:\n"
         "  head:\n"
         "    resources: {CPU: 1}\n"
         "    node_config: {" + head_config + "}\n"
         "  worker:\n"
         "    resources: {CPU: 2}\n"
         "    node_config: {" + worker_config + "}\n"
         "    min_workers: " + std::to_string(worker_min) + "\n"
         "    max_workers: " + std::to_string(worker_max) + "\n";
}

ClusterSpec spec_of(const std::string& yaml) { return load_spec_string(yaml, "h.yaml"); }

const std::string kLocal = "{type: localhost}";
const std::string kAws = "{type: aws, region: us-east-1}";
const std::string kGcp = "{type: gcp, region: us-central1, availability_zone: us-central1-a, project_id: p}";

}  // namespace

TEST_CASE("placement: head by default when a type can scale, nowhere when none can") {
  auto p = place_autoscaler(spec_of(config(kLocal, "", "", 0, 3)), false);
  CHECK(p.site == AutoscalerSite::head);
  CHECK(p.warning.empty());
  // min == max everywhere: nothing to scale, unless a resource request is in use.
  CHECK(place_autoscaler(spec_of(config(kLocal, "max_workers: 2\n", "", 2, 2)), false).site ==
        AutoscalerSite::off);
  CHECK(place_autoscaler(spec_of(config(kLocal, "max_workers: 2\n", "", 2, 2)), true).site ==
        AutoscalerSite::head);
}

TEST_CASE("placement: the autoscaler key decides") {
  CHECK(place_autoscaler(spec_of(config(kLocal, "autoscaler: local\n", "", 0, 3)), false).site ==
        AutoscalerSite::local);
  CHECK(place_autoscaler(spec_of(config(kLocal, "autoscaler: off\n", "", 0, 3)), true).site ==
        AutoscalerSite::off);
}

TEST_CASE("placement: on AWS, head only with cloud rights on the head, else local and why; GCP makes them") {
  const std::string m5 = "InstanceType: m5.large";
  auto no_role = place_autoscaler(spec_of(config(kAws, "", m5, 0, 3, m5)), false);
  CHECK(no_role.site == AutoscalerSite::local);
  CHECK(no_role.warning.find("IamInstanceProfile") != std::string::npos);
  CHECK(no_role.warning.find("available_node_types.head.node_config") != std::string::npos);
  CHECK(no_role.warning.find("autoscaler: local") != std::string::npos);
  const std::string profile = "IamInstanceProfile: {Arn: 'arn:aws:iam::1:instance-profile/x'}";
  auto role = place_autoscaler(spec_of(config(kAws, "", m5 + ", " + profile, 0, 3, m5)), false);
  CHECK(role.site == AutoscalerSite::head);
  CHECK(role.warning.empty());
  // A role on a worker type gives the head nothing.
  CHECK(place_autoscaler(spec_of(config(kAws, "", m5, 0, 3, m5 + ", " + profile)), false).site ==
        AutoscalerSite::local);
  // GCP: the provider makes the head a service account of its own (its
  // makes_head_identity() is true); without that, local and why.
  const std::string n1 = "machineType: n1-standard-2";
  auto gcp = place_autoscaler(spec_of(config(kGcp, "", n1, 0, 3, n1)), false, true);
  CHECK(gcp.site == AutoscalerSite::head);
  CHECK(gcp.warning.empty());
  auto gcp_none = place_autoscaler(spec_of(config(kGcp, "", n1, 0, 3, n1)), false);
  CHECK(gcp_none.site == AutoscalerSite::local);
  CHECK(gcp_none.warning.find("serviceAccounts") != std::string::npos);
  // `local` asked for: no warning.
  CHECK(place_autoscaler(spec_of(config(kAws, "autoscaler: local\n", m5, 0, 3, m5)), false).warning.empty());
}

TEST_CASE("placement: a provider that makes the head's identity runs it on the head without one") {
  const std::string m5 = "InstanceType: m5.large";
  auto made = place_autoscaler(spec_of(config(kAws, "", m5, 0, 3, m5)), false, true);
  CHECK(made.site == AutoscalerSite::head);
  CHECK(made.warning.empty());
  CHECK_FALSE(head_names_cloud_identity(spec_of(config(kAws, "", m5, 0, 3, m5))));
  const std::string profile = "IamInstanceProfile: {Name: mine}";
  CHECK(head_names_cloud_identity(spec_of(config(kAws, "", m5 + ", " + profile, 0, 3, m5))));
  // The config still decides: local stays local, off stays off.
  CHECK(place_autoscaler(spec_of(config(kAws, "autoscaler: local\n", m5, 0, 3, m5)), false, true).site ==
        AutoscalerSite::local);
  CHECK(place_autoscaler(spec_of(config(kAws, "autoscaler: off\n", m5, 0, 3, m5)), false, true).site ==
        AutoscalerSite::off);
}

TEST_CASE("rewrite: --autoscaling-config goes, in both forms, with a warning naming the command") {
  std::vector<std::string> cmds = {
      "ray stop",
      "ray start --head --port=6379 --autoscaling-config=~/ray_bootstrap_config.yaml --disable-usage-stats",
      "ray start --head --autoscaling-config ~/ray_bootstrap_config.yaml",
      "echo --autoscaling-configs-are-not-this-flag",
  };
  const auto original = cmds;
  auto warnings = strip_autoscaling_config(cmds);
  CHECK(cmds[0] == "ray stop");
  CHECK(cmds[1] == "ray start --head --port=6379 --disable-usage-stats");
  CHECK(cmds[2] == "ray start --head");
  CHECK(cmds[3] == original[3]);
  REQUIRE(warnings.size() == 2);
  CHECK(warnings[0].find(original[1]) != std::string::npos);
  CHECK(warnings[1].find(original[2]) != std::string::npos);
  CHECK(warnings[0].find("head_start_ray_commands") == 0);
  // Nothing to do: nothing changes, no warning.
  std::vector<std::string> plain = {"ray start --head"};
  CHECK(strip_autoscaling_config(plain).empty());
  CHECK(plain[0] == "ray start --head");
}

TEST_CASE("bundle: the binary, then every resolved library but the base system's") {
  const std::string ldd =
      "\tlinux-vdso.so.1 (0x00007ffd)\n"
      "\tlibyaml-cpp.so.0.7 => /lib/x86_64-linux-gnu/libyaml-cpp.so.0.7 (0x00007f01)\n"
      "\tlibcurl.so.4 => /lib/x86_64-linux-gnu/libcurl.so.4 (0x00007f02)\n"
      "\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f03)\n"
      "\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f04)\n"
      "\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f05)\n"
      "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f06)\n"
      "\tlibssh.so.4 => /lib/x86_64-linux-gnu/libssh.so.4 (0x00007f07)\n"
      "\t/lib64/ld-linux-x86-64.so.2 (0x00007f08)\n"
      "\tlibcurl.so.4 => /lib/x86_64-linux-gnu/libcurl.so.4 (0x00007f02)\n";
  auto files = bundle_files_from_ldd("/opt/rc/raycluster", ldd);
  REQUIRE(files.size() == 4);
  CHECK(files[0].name == "raycluster");
  CHECK(files[0].local_path == "/opt/rc/raycluster");
  CHECK(files[1].name == "lib/libcurl.so.4");
  CHECK(files[1].local_path == "/lib/x86_64-linux-gnu/libcurl.so.4");
  CHECK(files[2].name == "lib/libssh.so.4");
  CHECK(files[3].name == "lib/libyaml-cpp.so.0.7");
  // A library ldd cannot find is named.
  try {
    bundle_files_from_ldd("/opt/rc/raycluster", "\tlibnope.so.1 => not found\n");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    CHECK(std::string(e.what()).find("libnope.so.1") != std::string::npos);
  }
}

TEST_CASE("bundle: the manifest is sha256sum's format") {
  char dir[] = "/tmp/rc-bundle-XXXXXX";
  REQUIRE(mkdtemp(dir));
  write_file_atomic(std::string(dir) + "/a", "abc");
  auto m = bundle_manifest({{std::string(dir) + "/a", "raycluster"}});
  // sha256("abc"), as sha256sum prints it.
  CHECK(m == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  raycluster\n");
  remove_tree(dir);
}

TEST_CASE("head spec: read back, it is the same cluster, with the key and mounts of the head") {
  char dir[] = "/tmp/rc-headspec-XXXXXX";
  REQUIRE(mkdtemp(dir));
  const std::string d = dir;
  write_file_atomic(d + "/key", "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n");
  write_file_atomic(d + "/data.txt", "payload");
  ClusterSpec s = spec_of(config("{type: local, head_ip: 10.0.0.1, worker_ips: [10.0.0.2]}",
                                 "auth: {ssh_user: u, ssh_private_key: " + d + "/key}\n"
                                 "idle_release_after_startups: 0.5\n"
                                 "file_mounts: {/srv/data.txt: " + d + "/data.txt}\n",
                                 "", 0, 1));
  write_file_atomic(d + "/head.yaml", head_spec_value(s, d + "/key2", false).to_json(2));
  write_file_atomic(d + "/key2", read_file(d + "/key"));
  ClusterSpec back = load_spec_file(d + "/head.yaml");
  CHECK(back.cluster_name == s.cluster_name);
  CHECK(back.provider.head_ip == "10.0.0.1");
  CHECK(back.auth.ssh_private_key == d + "/key2");
  CHECK(back.idle_release_after_startups == 0.5);
  for (const auto& t : s.node_types) {
    const auto* b = back.find_node_type(t.name);
    REQUIRE(b);
    CHECK(b->min_workers == t.min_workers);
    CHECK(b->max_workers == t.max_workers);
    CHECK(b->resources == t.resources);
    // The same launch and runtime hashes: neither side takes the other's
    // workers for outdated ones.
    for (auto kind : {NodeKind::head, NodeKind::worker}) {
      CHECK(launch_hash(back, *b, kind) == launch_hash(s, t, kind));
      CHECK(runtime_hash(back, *b, kind) == runtime_hash(s, t, kind));
    }
  }
  CHECK(head_spec_value(s, d + "/key2", false).to_json().find("secret") == std::string::npos);
  // On a remote head the mounts come from its own copies.
  CHECK(head_spec_value(s, "", true).find("file_mounts")->find("/srv/data.txt")->as_string() ==
        "/srv/data.txt");
  remove_tree(dir);
}

TEST_CASE("head spec: a type's own initialization_commands and docker's use_podman reach the head") {
  // The head's spec comes from the one config writer (spec_to_config): what
  // a node type carries of its own is read back on the head, so the head
  // computes the same hashes and commands for the workers it sets up.
  ClusterSpec s = spec_of(
      "cluster_name: h\nprovider: {type: localhost}\n"
      "docker: {image: rayproject/ray, use_podman: true}\n"
      "head_node_type: head\n"
      "available_node_types:\n"
      "  head: {resources: {CPU: 1}}\n"
      "  worker:\n"
      "    resources: {CPU: 2}\n"
      "    max_workers: 2\n"
      "    initialization_commands: [echo worker-init]\n");
  ClusterSpec back = load_spec_string(head_spec_value(s, "", false).to_json(2), "head.yaml");
  REQUIRE(back.docker);
  CHECK(back.docker->use_podman);
  const auto& t = *s.find_node_type("worker");
  const auto* b = back.find_node_type("worker");
  REQUIRE(b);
  REQUIRE(b->initialization_commands);
  CHECK(*b->initialization_commands == std::vector<std::string>{"echo worker-init"});
  CHECK(node_commands(back, *b, false).initialization == node_commands(s, t, false).initialization);
  CHECK(runtime_hash(back, *b, NodeKind::worker) == runtime_hash(s, t, NodeKind::worker));
  CHECK(back.autoscaler == "head");
}

TEST_CASE("worker targets: scale's count becomes the type's floor, within its max") {
  char dir[] = "/tmp/rc-targets-XXXXXX";
  REQUIRE(mkdtemp(dir));
  CHECK(read_worker_targets(dir).empty());
  write_worker_target(dir, "worker", 2);
  write_worker_target(dir, "other", 9);
  auto t = read_worker_targets(dir);
  CHECK(t.at("worker") == 2);
  ClusterSpec s = spec_of(config(kLocal, "", "", 1, 3));
  auto raised = with_worker_targets(s, t);
  CHECK(raised.find_node_type("worker")->min_workers == 2);
  CHECK(with_worker_targets(s, {{"worker", 7}}).find_node_type("worker")->min_workers == 3);
  CHECK(with_worker_targets(s, {{"worker", 0}}).find_node_type("worker")->min_workers == 1);
  write_file_atomic(std::string(dir) + "/worker_targets.json", "{\"worker\": -1}");
  CHECK_THROWS_AS(read_worker_targets(dir), Error);
  clear_worker_targets(dir);
  CHECK(read_worker_targets(dir).empty());
  remove_tree(dir);
}
