// auth_tool: runs our SigV4 stages on cases given as JSON and prints them as
// JSON, for tests/reference/sigv4_cases.py to compare with botocore.
//
//   auth_tool [FILE]   (stdin when FILE is absent or "-")
//
// Input: one case object, or an array of them. A case:
//   {"id": 1, "method": "GET", "url": "https://host/p?q=1"            (or)
//    "host": "h", "path": "/p", "params": [["k", "v"], ...],
//    "headers": [["Name", "value"], ...], "body": "text", "body_sha256": "hex"?,
//    "service": "ec2", "region": "us-east-1", "access_key": "AKID",
//    "secret_key": "...", "token": "..."?, "time": 1440938160,
//    "normalize_path": true, "content_sha256_header": false,
//    "unsigned_payload": false, "presign_expires": 3600?}
// Output: for each case {"id", "canonical_request", "string_to_sign",
// "signature", "signing_key", "authorization", "query_string", "headers"}, or
// {"id", "error"} when signing threw; an array when the input was one.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "auth/sigv4.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

using namespace raycluster;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

namespace {

std::string str(const rapidjson::Value& obj, const char* key, std::string def = {}) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return def;
  return {it->value.GetString(), it->value.GetStringLength()};
}

bool flag(const rapidjson::Value& obj, const char* key, bool def) {
  auto it = obj.FindMember(key);
  return it != obj.MemberEnd() && it->value.IsBool() ? it->value.GetBool() : def;
}

std::vector<std::pair<std::string, std::string>> pairs(const rapidjson::Value& obj,
                                                       const char* key) {
  std::vector<std::pair<std::string, std::string>> out;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsArray()) return out;
  for (const auto& p : it->value.GetArray()) {
    const auto& a = p[0];
    const auto& b = p[1];
    out.emplace_back(std::string(a.GetString(), a.GetStringLength()),
                     std::string(b.GetString(), b.GetStringLength()));
  }
  return out;
}

void put(Writer& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void run_case(const rapidjson::Value& c, Writer& w) {
  w.StartObject();
  if (c.HasMember("id")) {
    w.Key("id");
    w.Int64(c["id"].GetInt64());
  }
  try {
    sigv4::Request req;
    auto url = str(c, "url");
    if (!url.empty()) {
      req = sigv4::request_from_url(str(c, "method"), url);
    } else {
      req.method = str(c, "method");
      req.host = str(c, "host");
      req.path = str(c, "path", "/");
    }
    for (auto& p : pairs(c, "params")) req.query.push_back(std::move(p));
    req.headers = pairs(c, "headers");
    req.body = str(c, "body");
    if (c.HasMember("body_sha256") && c["body_sha256"].IsString())
      req.body_sha256 = str(c, "body_sha256");

    AwsCredentials creds;
    creds.access_key_id = str(c, "access_key");
    creds.secret_access_key = str(c, "secret_key");
    creds.session_token = str(c, "token");

    sigv4::SigningOptions opt;
    opt.service = str(c, "service");
    opt.region = str(c, "region");
    opt.normalize_path = flag(c, "normalize_path", true);
    opt.content_sha256_header = flag(c, "content_sha256_header", false);
    opt.unsigned_payload = flag(c, "unsigned_payload", false);
    if (c.HasMember("presign_expires") && c["presign_expires"].IsInt64())
      opt.presign_expires = std::chrono::seconds(c["presign_expires"].GetInt64());

    auto now = sigv4::Clock::time_point(std::chrono::seconds(c["time"].GetInt64()));
    auto signed_req = sigv4::sign(req, creds, opt, now);
    auto key = sigv4::derive_signing_key(creds.secret_access_key, sigv4::amz_day(now),
                                         opt.region, opt.service);
    put(w, "canonical_request", signed_req.canonical_request);
    put(w, "string_to_sign", signed_req.string_to_sign);
    put(w, "signature", signed_req.signature);
    put(w, "signing_key", detail::hex(key));
    put(w, "authorization", signed_req.authorization);
    put(w, "query_string", signed_req.query_string);
    w.Key("headers");
    w.StartArray();
    for (const auto& [n, v] : signed_req.headers) {
      w.StartArray();
      w.String(n.data(), static_cast<rapidjson::SizeType>(n.size()));
      w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
      w.EndArray();
    }
    w.EndArray();
  } catch (const std::exception& e) {
    put(w, "error", e.what());
  }
  w.EndObject();
}

}  // namespace

int main(int argc, char** argv) {
  std::string input;
  try {
    if (argc > 1 && std::string(argv[1]) != "-") {
      input = detail::read_file(argv[1]);
    } else {
      input.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "auth_tool: %s\n", e.what());
    return 2;
  }
  rapidjson::Document doc;
  doc.Parse(input.data(), input.size());
  if (doc.HasParseError() || !(doc.IsObject() || doc.IsArray())) {
    std::fprintf(stderr, "auth_tool: input is not a JSON object or array\n");
    return 2;
  }
  rapidjson::StringBuffer buf;
  Writer w(buf);
  if (doc.IsArray()) {
    w.StartArray();
    for (const auto& c : doc.GetArray()) run_case(c, w);
    w.EndArray();
  } else {
    run_case(doc, w);
  }
  std::fwrite(buf.GetString(), 1, buf.GetSize(), stdout);
  std::fputc('\n', stdout);
  return 0;
}
