// The volume mount script, run by sh against stand-ins for blkid, mkfs.ext4,
// mount, mountpoint and findmnt that keep their state in files: it must find
// the device by its stable name, format only a blank device, mount it and
// write one fstab entry with nofail.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "updater/volume_mount.hpp"

namespace fs = std::filesystem;
using namespace raycluster::detail;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_exe(const fs::path& p, const std::string& body) {
  std::ofstream(p) << "#!/bin/sh\n" << body;
  fs::permissions(p, fs::perms::owner_all);
}

struct Sandbox {
  fs::path root;
  Sandbox() {
    char tmpl[] = "/tmp/rc-volmount-XXXXXX";
    root = mkdtemp(tmpl);
    fs::create_directories(root / "bin");
    fs::create_directories(root / "by-id");
    const std::string st = root.string();
    // A device's file system is the file <device>.fs ("TYPE UUID").
    write_exe(root / "bin/blkid",
              "for d; do :; done\n"
              "[ -f \"$d.fs\" ] || exit 2\n"
              "case \"$*\" in *TYPE*) cut -d' ' -f1 \"$d.fs\";; *UUID*) cut -d' ' -f2 \"$d.fs\";; esac\n");
    write_exe(root / "bin/mkfs.ext4",
              "for d; do :; done\necho \"ext4 1111-2222\" > \"$d.fs\"\necho \"$d\" >> " + st +
                  "/formatted\n");
    write_exe(root / "bin/mount", "echo \"$1 $2\" >> " + st + "/mounts\n");
    write_exe(root / "bin/mountpoint", "grep -qs \" $2\\$\" " + st + "/mounts\n");
    write_exe(root / "bin/findmnt",
              "for d; do :; done\ngrep -s \" $d\\$\" " + st + "/mounts | cut -d' ' -f1\n");
    std::ofstream(root / "dev0") << "";
    fs::create_symlink(root / "dev0", root / "by-id/nvme-Amazon_Elastic_Block_Store_vol0abc");
  }
  ~Sandbox() { fs::remove_all(root); }

  int run(const std::string& script, std::string* out = nullptr) {
    std::ofstream(root / "script.sh") << script;
    std::string cmd = "PATH=" + (root / "bin").string() + ":$PATH sh " + (root / "script.sh").string() +
                      " > " + (root / "out").string() + " 2>&1";
    int rc = std::system(cmd.c_str());
    if (out) *out = slurp(root / "out");
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }

  VolumeMount mount() {
    VolumeMount m;
    m.name = "data";
    m.mount_path = (root / "mnt/data").string();
    m.devices = {(root / "by-id/nvme-Amazon_Elastic_Block_Store_vol0abc").string(),
                 (root / "sdf").string()};
    m.wait_seconds = 1;
    m.fstab = (root / "fstab").string();
    return m;
  }
};

}  // namespace

TEST_CASE("a blank device is formatted once, mounted, and written to fstab with nofail") {
  Sandbox sb;
  auto m = sb.mount();
  std::string out;
  REQUIRE(sb.run(volume_mount_script(m), &out) == 0);
  CHECK(out.find("blank") != std::string::npos);
  CHECK(slurp(sb.root / "formatted") == (sb.root / "dev0").string() + "\n");
  CHECK(slurp(sb.root / "mounts") == (sb.root / "dev0").string() + " " + m.mount_path + "\n");
  CHECK(fs::is_directory(m.mount_path));
  CHECK(slurp(sb.root / "fstab") ==
        "UUID=1111-2222 " + m.mount_path + " ext4 defaults,nofail 0 2\n");

  // Again while mounted: nothing changes.
  REQUIRE(sb.run(volume_mount_script(m), &out) == 0);
  CHECK(slurp(sb.root / "mounts").size() == (sb.root / "dev0").string().size() + m.mount_path.size() + 2);

  // Unmounted (a detach, a reboot): mounted again, not formatted, one fstab line.
  fs::remove(sb.root / "mounts");
  REQUIRE(sb.run(volume_mount_script(m), &out) == 0);
  CHECK(out.find("has a ext4 file system") != std::string::npos);
  CHECK(slurp(sb.root / "formatted") == (sb.root / "dev0").string() + "\n");
  CHECK(slurp(sb.root / "fstab") ==
        "UUID=1111-2222 " + m.mount_path + " ext4 defaults,nofail 0 2\n");
}

TEST_CASE("a device with a file system is never formatted") {
  Sandbox sb;
  std::ofstream(sb.root / "dev0.fs") << "xfs 9999-0000";
  auto m = sb.mount();
  REQUIRE(sb.run(volume_mount_script(m)) == 0);
  CHECK_FALSE(fs::exists(sb.root / "formatted"));
  CHECK(slurp(sb.root / "fstab").find(" xfs defaults,nofail") != std::string::npos);
}

TEST_CASE("blkid failing otherwise than 'nothing found' stops before mkfs") {
  Sandbox sb;
  write_exe(sb.root / "bin/blkid", "exit 4\n");
  std::string out;
  CHECK(sb.run(volume_mount_script(sb.mount()), &out) == 1);
  CHECK(out.find("volume data: blkid could not read") != std::string::npos);
  CHECK_FALSE(fs::exists(sb.root / "formatted"));
}

TEST_CASE("the legacy device name is found when the NVMe name is absent") {
  Sandbox sb;
  fs::remove(sb.root / "by-id/nvme-Amazon_Elastic_Block_Store_vol0abc");
  std::ofstream(sb.root / "sdf") << "";
  REQUIRE(sb.run(volume_mount_script(sb.mount())) == 0);
  CHECK(slurp(sb.root / "formatted") == (sb.root / "sdf").string() + "\n");
}

TEST_CASE("no device: a clear error naming the volume") {
  Sandbox sb;
  fs::remove(sb.root / "by-id/nvme-Amazon_Elastic_Block_Store_vol0abc");
  std::string out;
  CHECK(sb.run(volume_mount_script(sb.mount()), &out) == 1);
  CHECK(out.find("volume data: no device among") != std::string::npos);
}

TEST_CASE("another device mounted at the path is an error") {
  Sandbox sb;
  auto m = sb.mount();
  std::ofstream(sb.root / "mounts") << "/dev/other " << m.mount_path << "\n";
  std::string out;
  CHECK(sb.run(volume_mount_script(m), &out) == 1);
  CHECK(out.find("is already a mount of /dev/other") != std::string::npos);
}

TEST_CASE("a folder volume: a symlink at the mount path, kept data, refuses a full folder") {
  Sandbox sb;
  const std::string dir = (sb.root / "vol/data").string();
  const std::string mp = (sb.root / "m/data").string();
  REQUIRE(sb.run(folder_volume_script("data", dir, mp)) == 0);
  CHECK(fs::read_symlink(mp) == dir);
  std::ofstream(mp + "/f") << "kept";
  REQUIRE(sb.run(folder_volume_script("data", dir, mp)) == 0);
  CHECK(slurp(dir + "/f") == "kept");
  fs::remove(mp);
  fs::create_directories(mp);
  REQUIRE(sb.run(folder_volume_script("data", dir, mp)) == 0);  // an empty folder is replaced
  CHECK(fs::is_symlink(mp));
  fs::remove(mp);
  fs::create_directories(mp);
  std::ofstream(mp + "/x") << "x";
  std::string out;
  CHECK(sb.run(folder_volume_script("data", dir, mp), &out) == 1);
  CHECK(out.find("volume data: ") != std::string::npos);
}
