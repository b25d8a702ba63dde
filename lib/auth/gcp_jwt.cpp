#include "auth/gcp_jwt.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include <cstdio>
#include <memory>

#include "util/error.hpp"

namespace raycluster {

namespace detail {

std::string base64url_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    unsigned v = byte(i) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

namespace {

// The next code point of UTF-8 `s` at `i` (advancing i); U+FFFD for a
// malformed sequence (one byte consumed).
char32_t next_code_point(std::string_view s, std::size_t& i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  int extra = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
  if (extra < 0 || i + extra >= s.size()) {
    ++i;
    return 0xFFFD;
  }
  char32_t cp = extra == 0 ? c : c & (0x3F >> extra);
  for (int k = 1; k <= extra; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return 0xFFFD;
  }
  i += extra + 1;
  return cp;
}

void append_u_escape(std::string& out, unsigned unit) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\u%04x", unit);
  out += buf;
}

}  // namespace

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp = next_code_point(text, i);
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (cp >= 0x20 && cp < 0x7F) {
      out += static_cast<char>(cp);
    } else if (cp < 0x10000) {
      append_u_escape(out, static_cast<unsigned>(cp));
    } else {
      char32_t v = cp - 0x10000;
      append_u_escape(out, static_cast<unsigned>(0xD800 + (v >> 10)));
      append_u_escape(out, static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
    }
  }
  out += '"';
  return out;
}

}  // namespace detail

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

// Never prompts for a passphrase: an encrypted key fails to load.
int no_passphrase(char*, int, int, void*) { return -1; }

std::unique_ptr<EVP_PKEY, PkeyFree> load_rsa_key(const std::string& pem, const std::string& source) {
  if (pem.find("-----BEGIN") == std::string::npos)
    throw Error(ErrorCode::auth, source + ": private_key is not a PEM private key");
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw Error(ErrorCode::internal, "out of memory reading " + source);
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  ERR_clear_error();
  if (!key)
    throw Error(ErrorCode::auth, source +
                                     ": private_key cannot be read as a PEM private key (damaged, "
                                     "or encrypted with a passphrase)");
  if (int id = EVP_PKEY_get_base_id(key.get()); id != EVP_PKEY_RSA) {
    const char* name = OBJ_nid2sn(id);
    throw Error(ErrorCode::auth, source + ": private_key is not an RSA key (it is " +
                                     std::string(name ? name : "another type") +
                                     "); Google service-account keys are RSA, signed with RS256");
  }
  return key;
}

std::string rs256_sign(EVP_PKEY* key, std::string_view data, const std::string& source) {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  std::size_t len = 0;
  auto bytes = reinterpret_cast<const unsigned char*>(data.data());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, bytes, data.size()) != 1) {
    ERR_clear_error();
    throw Error(ErrorCode::auth, source + ": cannot sign with private_key (RS256)");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, bytes,
                     data.size()) != 1) {
    ERR_clear_error();
    throw Error(ErrorCode::auth, source + ": cannot sign with private_key (RS256)");
  }
  sig.resize(len);
  return sig;
}

}  // namespace

std::string make_gcp_jwt_assertion(const GcpJwtRequest& r, const std::string& source) {
  auto key = load_rsa_key(r.private_key_pem, source);
  const long long iat = std::chrono::floor<std::chrono::seconds>(r.now.time_since_epoch()).count();
  const long long exp = iat + kGcpAssertionLifetime.count();
  std::string header = "{\"alg\":\"RS256\",";
  if (!r.key_id.empty()) header += "\"kid\":" + detail::json_quote(r.key_id) + ",";
  header += "\"typ\":\"JWT\"}";
  std::string claims = "{\"iss\":" + detail::json_quote(r.client_email) +
                       ",\"scope\":" + detail::json_quote(r.scope) +
                       ",\"aud\":" + detail::json_quote(r.audience) +
                       ",\"iat\":" + std::to_string(iat) + ",\"exp\":" + std::to_string(exp) + "}";
  std::string signing_input =
      detail::base64url_encode(header) + "." + detail::base64url_encode(claims);
  std::string sig = rs256_sign(key.get(), signing_input, source);
  return signing_input + "." + detail::base64url_encode(sig);
}

}  // namespace raycluster
