// creds_tool: resolves AWS credentials once through make_aws_credentials_source()
// with this process's environment, $HOME and a libcurl transport, and prints
// what came out as JSON, for tests/reference/imds_credentials.py to compare
// with botocore.
//
//   creds_tool
//
// Output (one line): {"ok": true, "access_key_id": "...", "has_secret": true,
// "has_token": true, "expires_at": <unix seconds or null>, "source": "..."}
// or {"ok": false, "code": "auth", "error": "..."}. Never the secret or token.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "auth/aws_credentials_source.hpp"
#include "auth/refreshing_credentials.hpp"
#include "http/http.hpp"
#include "util/error.hpp"

using namespace raycluster;

int main() {
  AwsEnvironment env;
  env.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
  const char* home = std::getenv("HOME");
  env.home = home ? home : "/nonexistent";

  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  w.StartObject();
  try {
    auto transport = make_curl_transport();
    auto source = make_aws_credentials_source(env, *transport, real_wall_clock());
    auto* refreshing = dynamic_cast<RefreshingCredentials<AwsCredentials>*>(source.get());
    if (!refreshing) throw Error(ErrorCode::internal, "the source is not a RefreshingCredentials");
    auto c = refreshing->current();
    w.Key("ok");
    w.Bool(true);
    w.Key("access_key_id");
    w.String(c.value.access_key_id.c_str());
    w.Key("has_secret");
    w.Bool(!c.value.secret_access_key.empty());
    w.Key("has_token");
    w.Bool(!c.value.session_token.empty());
    w.Key("expires_at");
    if (c.expires_at)
      w.Int64(std::chrono::duration_cast<std::chrono::seconds>(c.expires_at->time_since_epoch()).count());
    else
      w.Null();
    w.Key("source");
    w.String(c.value.source.c_str());
  } catch (const Error& e) {
    w.Key("ok");
    w.Bool(false);
    w.Key("code");
    w.String(error_code_name(e.code()));
    w.Key("error");
    w.String(e.what());
  }
  w.EndObject();
  std::cout << out.GetString() << "\n";
  return 0;
}
