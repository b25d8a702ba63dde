#include "updater/volume_mount.hpp"

#include "util/strings.hpp"

namespace raycluster::detail {

namespace {

// "~/x" becomes "$HOME"/x (the node's home, not this machine's).
std::string path_word(const std::string& p) {
  if (p.starts_with("~/")) return "\"$HOME\"/" + shell_quote(p.substr(2));
  return shell_quote(p);
}

}  // namespace

std::string volume_mount_script(const VolumeMount& m) {
  std::string candidates;
  for (const auto& d : m.devices) candidates += " " + shell_quote(d);
  const std::string label = m.name.substr(0, 16);
  std::string s;
  s += "set -e\n";
  s += "name=" + shell_quote(m.name) + "; mp=" + path_word(m.mount_path) +
       "; fstab=" + shell_quote(m.fstab) + "\n";
  s += "S=; [ \"$(id -u)\" = 0 ] || S=sudo\n";
  s += "dev=; i=0\n";
  s += "while :; do\n";
  s += "  for c in" + candidates + "; do if [ -e \"$c\" ]; then dev=$(readlink -f \"$c\"); break; fi; done\n";
  s += "  [ -z \"$dev\" ] || break\n";
  s += "  i=$((i+1)); if [ $i -gt " + std::to_string(m.wait_seconds) + " ]; then\n";
  s += "    echo \"volume $name: no device among" + candidates + " after " +
       std::to_string(m.wait_seconds) + " s\" >&2; exit 1; fi\n";
  s += "  sleep 1\n";
  s += "done\n";
  s += "if mountpoint -q \"$mp\" 2>/dev/null; then\n";
  s += "  src=$(findmnt -n -o SOURCE --mountpoint \"$mp\" || true)\n";
  s += "  if [ \"$(readlink -f \"$src\")\" = \"$dev\" ]; then echo \"volume $name: mounted at $mp\"; exit 0; fi\n";
  s += "  echo \"volume $name: $mp is already a mount of $src\" >&2; exit 1\n";
  s += "fi\n";
  // blkid exits 2 when it finds nothing on the device: only then is it blank.
  s += "rc=0; fs=$($S blkid -p -o value -s TYPE \"$dev\") || rc=$?\n";
  s += "fresh=\n";
  s += "if [ $rc -eq 2 ]; then\n";
  s += "  echo \"volume $name: $dev is blank: making an ext4 file system\"\n";
  s += "  $S mkfs.ext4 -q -F -L " + shell_quote(label) + " \"$dev\"; fs=ext4; fresh=1\n";
  s += "elif [ $rc -ne 0 ]; then\n";
  s += "  echo \"volume $name: blkid could not read $dev (exit $rc)\" >&2; exit 1\n";
  s += "else echo \"volume $name: $dev has a $fs file system\"; fi\n";
  s += "$S mkdir -p \"$mp\"\n";
  s += "$S mount \"$dev\" \"$mp\"\n";
  s += "[ -z \"$fresh\" ] || $S chown \"$(id -u):$(id -g)\" \"$mp\"\n";
  s += "uuid=$($S blkid -p -o value -s UUID \"$dev\" || true)\n";
  s += "if [ -n \"$uuid\" ] && ! grep -qs \"^UUID=$uuid \" \"$fstab\"; then\n";
  s += "  echo \"UUID=$uuid $mp $fs defaults,nofail 0 2\" | $S tee -a \"$fstab\" >/dev/null\n";
  s += "fi\n";
  s += "echo \"volume $name: mounted at $mp\"\n";
  return s;
}

std::string folder_volume_script(const std::string& name, const std::string& folder,
                                 const std::string& mount_path) {
  std::string s;
  s += "set -e\n";
  s += "name=" + shell_quote(name) + "; dir=" + path_word(folder) + "; mp=" +
       path_word(mount_path) + "\n";
  s += "mkdir -p \"$dir\"\n";
  s += "if [ -L \"$mp\" ] && [ \"$(readlink \"$mp\")\" = \"$dir\" ]; then echo \"volume $name: at $mp\"; exit 0; fi\n";
  s += "if [ -d \"$mp\" ] && [ ! -L \"$mp\" ]; then rmdir \"$mp\" 2>/dev/null || {\n";
  s += "  echo \"volume $name: $mp is a folder that is not empty\" >&2; exit 1; }; fi\n";
  s += "if [ -e \"$mp\" ] || [ -L \"$mp\" ]; then echo \"volume $name: $mp is in the way\" >&2; exit 1; fi\n";
  s += "mkdir -p \"$(dirname \"$mp\")\"\n";
  s += "ln -s \"$dir\" \"$mp\"\n";
  s += "echo \"volume $name: at $mp\"\n";
  return s;
}

}  // namespace raycluster::detail
