// gcp_auth_tool: make_gcp_credentials_source() with this process's
// environment and $HOME and a libcurl transport, driven from stdin, for
// tests/gcp/test_auth.py.
//
//   gcp_auth_tool [--key-file PATH] [--gcp-credentials JSON]
//
// Reads one command a line and answers each with one JSON line:
//   get      the source's token          {"ok": true, "token": "..."}
//   refresh  refresh(last token handed out), as after a 401
//   fetch    the chain once, with expiry  {"ok": true, "token": "...", "expires_at": <unix s or null>}
// Errors: {"ok": false, "code": "auth", "error": "..."}. Building the source
// may fail too: then that error is the first line, and every command repeats it.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include "auth/gcp_credentials.hpp"
#include "http/http.hpp"
#include "util/error.hpp"

using namespace raycluster;

namespace {

void print(bool ok, const std::string& token_or_error, const char* code = nullptr,
           std::optional<std::optional<long long>> expires_at = std::nullopt) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("ok");
  w.Bool(ok);
  if (ok) {
    w.Key("token");
    w.String(token_or_error.c_str());
    if (expires_at) {
      w.Key("expires_at");
      if (*expires_at) w.Int64(**expires_at);
      else w.Null();
    }
  } else {
    w.Key("code");
    w.String(code);
    w.Key("error");
    w.String(token_or_error.c_str());
  }
  w.EndObject();
  std::cout << buf.GetString() << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  GcpCredentialsConfig config;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--key-file") == 0) {
      config.key_file = argv[i + 1];
    } else if (std::strcmp(argv[i], "--gcp-credentials") == 0) {
      config.gcp_credentials = Value::parse_json(argv[i + 1]);
    } else {
      std::cerr << "usage: gcp_auth_tool [--key-file PATH] [--gcp-credentials JSON]\n";
      return 2;
    }
  }
  GcpEnvironment env;
  env.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
  if (const char* home = std::getenv("HOME")) env.home = home;
  auto transport = make_curl_transport();
  std::shared_ptr<CredentialsSource<std::string>> source;
  std::optional<Error> build_error;
  try {
    source = make_gcp_credentials_source(config, env, *transport, {});
  } catch (const Error& e) {
    build_error = e;
    print(false, e.what(), error_code_name(e.code()));
  }
  std::string last, line;
  while (std::getline(std::cin, line)) {
    try {
      if (build_error) throw *build_error;
      if (line == "get") {
        last = source->get();
        print(true, last);
      } else if (line == "refresh") {
        last = source->refresh(last);
        print(true, last);
      } else if (line == "fetch") {
        auto t = fetch_gcp_access_token(config, env, *transport, {}, {});
        std::optional<long long> at;
        if (t.expires_at)
          at = std::chrono::duration_cast<std::chrono::seconds>(t.expires_at->time_since_epoch())
                   .count();
        print(true, t.value, nullptr, at);
      } else if (!line.empty()) {
        print(false, "unknown command " + line, "invalid_argument");
      }
    } catch (const Error& e) {
      print(false, e.what(), error_code_name(e.code()));
    }
  }
  return 0;
}
