#include "providers/common/ssh_key.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdint>
#include <cstdio>
#include <fcntl.h>
#include <unistd.h>
#include <memory>

#include "providers/common/base64.hpp"
#include "util/error.hpp"

namespace raycluster::detail {
namespace {

[[noreturn]] void bad(const std::string& name, const std::string& why) {
  throw Error(ErrorCode::invalid_argument, "SSH key " + name + ": " + why);
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out += static_cast<char>((v >> s) & 0xff);
}

void put_string(std::string& out, const std::string& s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out += s;
}

// SSH mpint: big-endian, a leading zero byte when the top bit is set.
void put_mpint(std::string& out, const BIGNUM* bn) {
  std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  if (!bytes.empty() && (static_cast<unsigned char>(bytes[0]) & 0x80)) bytes.insert(0, 1, '\0');
  put_string(out, bytes);
}

struct Reader {
  const std::string& s;
  std::size_t pos = 0;
  bool u32(std::uint32_t& v) {
    if (s.size() - pos < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[pos++]);
    return true;
  }
  bool str(std::string& out) {
    std::uint32_t n = 0;
    if (!u32(n) || s.size() - pos < n) return false;
    out = s.substr(pos, n);
    pos += n;
    return true;
  }
};

std::string between(const std::string& text, const std::string& begin, const std::string& end) {
  auto b = text.find(begin);
  auto e = text.find(end);
  if (b == std::string::npos || e == std::string::npos || e < b) return {};
  return text.substr(b + begin.size(), e - b - begin.size());
}

std::string from_openssh(const std::string& text, const std::string& name) {
  auto raw = base64_decode(between(text, "-----BEGIN OPENSSH PRIVATE KEY-----",
                                   "-----END OPENSSH PRIVATE KEY-----"));
  static const std::string magic("openssh-key-v1\0", 15);
  if (!raw || raw->compare(0, magic.size(), magic) != 0) bad(name, "not an OpenSSH private key");
  Reader r{*raw, magic.size()};
  std::string cipher, kdf, kdf_options, blob;
  std::uint32_t count = 0;
  if (!r.str(cipher) || !r.str(kdf) || !r.str(kdf_options) || !r.u32(count) || count < 1 ||
      !r.str(blob))
    bad(name, "truncated OpenSSH private key");
  Reader b{blob};
  std::string type;
  if (!b.str(type)) bad(name, "malformed public key in the OpenSSH private key");
  if (type != "ssh-rsa" && type != "ssh-ed25519")
    bad(name, "EC2 imports RSA and Ed25519 keys only, this one is " + type);
  return type + " " + base64_encode(blob);
}

std::string from_pem(const std::string& text, const std::string& name) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), BIO_free);
  if (!bio) bad(name, "out of memory");
  // A callback that refuses, so OpenSSL never prompts on the terminal.
  auto no_passphrase = [](char*, int, int, void*) -> int { return -1; };
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr), EVP_PKEY_free);
  if (!key) bad(name, "cannot read the PEM private key (encrypted or malformed)");
  std::string blob;
  if (EVP_PKEY_is_a(key.get(), "RSA")) {
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    if (!EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N, &n) ||
        !EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E, &e)) {
      BN_free(n);
      BN_free(e);
      bad(name, "cannot read the RSA key's parameters");
    }
    put_string(blob, "ssh-rsa");
    put_mpint(blob, e);
    put_mpint(blob, n);
    BN_free(n);
    BN_free(e);
    return "ssh-rsa " + base64_encode(blob);
  }
  if (EVP_PKEY_is_a(key.get(), "ED25519")) {
    unsigned char pub[32];
    std::size_t len = sizeof pub;
    if (!EVP_PKEY_get_raw_public_key(key.get(), pub, &len) || len != sizeof pub)
      bad(name, "cannot read the Ed25519 public key");
    put_string(blob, "ssh-ed25519");
    put_string(blob, std::string(reinterpret_cast<char*>(pub), len));
    return "ssh-ed25519 " + base64_encode(blob);
  }
  bad(name, "only RSA and Ed25519 keys are supported");
}

}  // namespace

std::string ssh_public_key(const std::string& text, const std::string& name) {
  if (text.find("-----BEGIN OPENSSH PRIVATE KEY-----") != std::string::npos)
    return from_openssh(text, name);
  if (text.find("PRIVATE KEY-----") != std::string::npos) return from_pem(text, name);
  bad(name, "not a private key in OpenSSH or PEM format");
}

void generate_ssh_key(const std::string& path) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_RSA_gen(3072), EVP_PKEY_free);
  if (!key) throw Error(ErrorCode::internal, "cannot generate an RSA key");
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || !PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr))
    throw Error(ErrorCode::internal, "cannot encode the new RSA key");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(ErrorCode::io, "cannot create " + tmp);
  bool ok = ::write(fd, data, static_cast<std::size_t>(len)) == len;
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(ErrorCode::io, "cannot write the private key " + path);
  }
}

}  // namespace raycluster::detail
