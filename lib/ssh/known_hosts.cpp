#include "ssh/known_hosts.hpp"

#include <openssl/evp.h>

#include "ssh/ssh.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"
#include "util/strings.hpp"

namespace raycluster {

std::string ssh_fingerprint_sha256(const std::string& base64_blob) {
  std::string b64(detail::trim(base64_blob));
  if (b64.empty() || b64.size() % 4 != 0) return {};
  std::string raw(b64.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(raw.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0) return {};
  std::size_t len = static_cast<std::size_t>(n);
  if (b64.size() >= 1 && b64[b64.size() - 1] == '=') --len;
  if (b64.size() >= 2 && b64[b64.size() - 2] == '=') --len;
  raw.resize(len);
  std::string digest = detail::sha256_raw(raw);
  std::string out(4 * ((digest.size() + 2) / 3), '\0');
  int m = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(digest.data()),
                          static_cast<int>(digest.size()));
  out.resize(static_cast<std::size_t>(m));
  while (!out.empty() && out.back() == '=') out.pop_back();
  return "SHA256:" + out;
}

}  // namespace raycluster

namespace raycluster::detail {

std::string read_known_hosts(const std::string& path) {
  if (!path_exists(path)) return {};
  return read_file(path, 16 << 20);
}

std::string known_hosts_name(const std::string& host, int port) {
  if (port == 22) return host;
  return "[" + host + "]:" + std::to_string(port);
}

std::vector<PinnedKey> pinned_keys(const std::string& content, const std::string& host,
                                   int port) {
  std::vector<PinnedKey> out;
  const std::string want = known_hosts_name(host, port);
  for (const auto& raw_line : split(content, '\n')) {
    std::string_view line = trim(raw_line);
    if (line.empty() || line[0] == '#' || line[0] == '@') continue;
    std::vector<std::string> fields;
    for (const auto& f : split(line, ' '))
      if (!f.empty()) fields.push_back(f);
    if (fields.size() < 3) continue;
    bool match = false;
    for (const auto& name : split(fields[0], ','))
      if (name == want) match = true;
    if (!match) continue;
    out.push_back({fields[1], ssh_fingerprint_sha256(fields[2])});
  }
  return out;
}

std::string key_fingerprint(ssh_key key) {
  unsigned char* hash = nullptr;
  size_t hlen = 0;
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != SSH_OK) return {};
  char* fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
  ssh_clean_pubkey_hash(&hash);
  if (!fp) return {};
  std::string s = fp;
  ssh_string_free_char(fp);
  return s;
}

}  // namespace raycluster::detail
