// The RS256 assertion against tokens made by PyJWT (data/gcp_jwt_reference.txt,
// written by data/make_gcp_jwt_reference.py, which says how) and base64url
// against RFC 4648's test vectors.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <string>
#include <vector>

#include "auth/gcp_jwt.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

using namespace raycluster;

namespace {

std::string data_file(const std::string& name) {
  return detail::read_file(std::string(RC_AUTH_TEST_DATA) + "/" + name);
}

// A JSON string literal from the reference file, decoded.
std::string json_text(const std::string& literal) {
  rapidjson::Document d;
  d.Parse(literal.c_str());
  REQUIRE(d.IsString());
  return {d.GetString(), d.GetStringLength()};
}

struct Case {
  std::string kid, iss, scope, aud;
  long long iat;
  std::string token;
};

std::vector<Case> reference_cases() {
  std::vector<Case> out;
  for (const auto& line : detail::split(data_file("gcp_jwt_reference.txt"), '\n')) {
    if (line.empty()) continue;
    auto f = detail::split(line, '\t');
    REQUIRE(f.size() == 6);
    out.push_back({json_text(f[0]), json_text(f[1]), json_text(f[2]), json_text(f[3]),
                   std::stoll(f[4]), f[5]});
  }
  REQUIRE(out.size() == 3);
  return out;
}

std::string assertion_error(const std::string& pem) {
  GcpJwtRequest r;
  r.private_key_pem = pem;
  r.client_email = "sa@p.iam.gserviceaccount.com";
  r.audience = "https://oauth2.googleapis.com/token";
  try {
    make_gcp_jwt_assertion(r, "key file /keys/k.json");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::auth);
    return e.what();
  }
  FAIL("expected an auth error");
  return {};
}

}  // namespace

TEST_CASE("base64url: RFC 4648 test vectors, without padding") {
  CHECK(detail::base64url_encode("") == "");
  CHECK(detail::base64url_encode("f") == "Zg");
  CHECK(detail::base64url_encode("fo") == "Zm8");
  CHECK(detail::base64url_encode("foo") == "Zm9v");
  CHECK(detail::base64url_encode("foob") == "Zm9vYg");
  CHECK(detail::base64url_encode("fooba") == "Zm9vYmE");
  CHECK(detail::base64url_encode("foobar") == "Zm9vYmFy");
}

TEST_CASE("base64url: the URL-safe alphabet replaces + and /") {
  // Standard base64 of these bytes is "+/8=" and "/+A=".
  CHECK(detail::base64url_encode(std::string("\xfb\xff", 2)) == "-_8");
  CHECK(detail::base64url_encode(std::string("\xff\xe0", 2)) == "_-A");
  CHECK(detail::base64url_encode(std::string("\x00\x00\x00", 3)) == "AAAA");
}

TEST_CASE("json_quote escapes as Python's json.dumps does") {
  CHECK(detail::json_quote("plain@x.com") == "\"plain@x.com\"");
  CHECK(detail::json_quote("a\"b\\c/d") == "\"a\\\"b\\\\c/d\"");
  CHECK(detail::json_quote("\n\r\t\b\f") == "\"\\n\\r\\t\\b\\f\"");
  CHECK(detail::json_quote(std::string("\x01\x1f\x7f", 3)) == "\"\\u0001\\u001f\\u007f\"");
  CHECK(detail::json_quote("caf\xc3\xa9") == "\"caf\\u00e9\"");
  CHECK(detail::json_quote("\xf0\x9f\x98\x80") == "\"\\ud83d\\ude00\"");
  CHECK(detail::json_quote("\xff") == "\"\\ufffd\"");
}

TEST_CASE("gcp jwt: the assertion is byte for byte PyJWT's, for PKCS#8 and PKCS#1 keys") {
  for (const char* key_file : {"gcp_test_rsa_key.pem", "gcp_test_rsa_key_pkcs1.pem"}) {
    for (const auto& c : reference_cases()) {
      CAPTURE(key_file);
      CAPTURE(c.kid);
      GcpJwtRequest r;
      r.private_key_pem = data_file(key_file);
      r.key_id = c.kid;
      r.client_email = c.iss;
      r.scope = c.scope;
      r.audience = c.aud;
      // A fraction of a second is dropped, not rounded.
      r.now = std::chrono::system_clock::time_point(std::chrono::seconds(c.iat)) +
              std::chrono::milliseconds(999);
      CHECK(make_gcp_jwt_assertion(r, "test key") == c.token);
    }
  }
}

TEST_CASE("gcp jwt: without a key id the header has no kid") {
  GcpJwtRequest r;
  r.private_key_pem = data_file("gcp_test_rsa_key.pem");
  r.client_email = "a@b";
  r.audience = "https://oauth2.googleapis.com/token";
  auto token = make_gcp_jwt_assertion(r, "test key");
  CHECK(token.substr(0, token.find('.')) ==
        detail::base64url_encode("{\"alg\":\"RS256\",\"typ\":\"JWT\"}"));
}

TEST_CASE("gcp jwt: keys that are not usable RSA private keys are refused, naming the source") {
  const std::string ec = data_file("gcp_test_ec_key.pem");
  auto msg = assertion_error(ec);
  CHECK(msg.find("key file /keys/k.json") != std::string::npos);
  CHECK(msg.find("not an RSA key") != std::string::npos);
  CHECK(msg.find(ec.substr(40, 40)) == std::string::npos);

  const std::string encrypted = data_file("gcp_test_rsa_key_encrypted.pem");
  msg = assertion_error(encrypted);
  CHECK(msg.find("key file /keys/k.json") != std::string::npos);
  CHECK(msg.find("passphrase") != std::string::npos);

  const std::string whole = data_file("gcp_test_rsa_key.pem");
  const std::string damaged = whole.substr(0, 300) + "\n-----END PRIVATE KEY-----\n";
  msg = assertion_error(damaged);
  CHECK(msg.find("cannot be read") != std::string::npos);
  CHECK(msg.find(damaged.substr(150, 30)) == std::string::npos);

  msg = assertion_error("not a key at all");
  CHECK(msg.find("not a PEM private key") != std::string::npos);
}
