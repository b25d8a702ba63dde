#include "auth/gcp_credentials.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "auth/gcp_jwt.hpp"
#include "auth/sigv4.hpp"  // uri_encode
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace raycluster {

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;
constexpr std::size_t kMaxAnswerBytes = 64 * 1024;
constexpr std::size_t kMaxTokenBytes = 16 * 1024;
constexpr std::size_t kMaxDescriptionChars = 300;
constexpr long long kMaxExpiresIn = 366LL * 24 * 3600;
const char* const kGoogleTokenUri = "https://oauth2.googleapis.com/token";
const char* const kMetadataTokenPath = "/computeMetadata/v1/instance/service-accounts/default/token";
const char* const kRayKey = "provider.gcp_credentials";

// What every fetch needs besides the config.
struct Fetcher {
  HttpTransport& transport;
  WallClock now;
  Sleeper sleep;
  const CancelToken& cancel;
};

std::optional<std::string> env_value(const GcpEnvironment& env, const std::string& name) {
  if (!env.getenv) return std::nullopt;
  auto v = env.getenv(name);
  if (!v || v->empty()) return std::nullopt;
  return v;
}

std::string json_string(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

// Text from a server, safe to show: secrets redacted (also those we sent, should
// the server echo them), no control characters, bounded.
std::string shown(const std::string& text, const std::vector<std::string>& sent = {}) {
  std::string s = text;
  for (const auto& secret : sent) {
    if (secret.size() < 4) continue;
    for (auto pos = s.find(secret); pos != std::string::npos; pos = s.find(secret, pos))
      s.replace(pos, secret.size(), "[REDACTED]");
  }
  s = detail::terminal_safe(redact(s));
  if (s.size() > kMaxDescriptionChars) s = s.substr(0, kMaxDescriptionChars) + "...";
  return s;
}

bool header_safe(const std::string& token) {
  return std::none_of(token.begin(), token.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x21 || u == 0x7F;
  });
}

[[noreturn]] void unsupported_type(const std::string& type, const std::string& source) {
  std::string why;
  if (type == "external_account" || type == "external_account_authorized_user")
    why = "workload identity federation (" + type + ") is not supported yet";
  else if (type == "impersonated_service_account")
    why = "service-account impersonation (impersonated_service_account) is not supported yet";
  else if (type == "gdch_service_account")
    why = "Google Distributed Cloud Hosted keys (gdch_service_account) are not supported";
  else
    why = "type \"" + detail::terminal_safe(type.substr(0, 64)) + "\" is not a credentials type";
  throw Error(ErrorCode::auth, source + ": " + why +
                                   "; use a service-account key (type service_account) or "
                                   "gcloud's application default credentials (authorized_user)");
}

void require_fields(const rapidjson::Value& doc, std::initializer_list<const char*> names,
                    const std::string& type, const std::string& source) {
  std::vector<std::string> missing;
  for (const char* n : names)
    if (json_string(doc, n).empty()) missing.push_back(std::string("\"") + n + "\"");
  if (!missing.empty())
    throw Error(ErrorCode::auth, source + ": this " + type + " file lacks " +
                                     detail::join(missing, ", ") + " (or it is not a string)");
}

}  // namespace

GcpCredentialsFile parse_gcp_credentials_json(const std::string& text, const std::string& source) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(text.data(),
                                                                                   text.size());
  if (doc.HasParseError())
    throw Error(ErrorCode::auth, source + ": not valid JSON (" +
                                     rapidjson::GetParseError_En(doc.GetParseError()) +
                                     " at byte " + std::to_string(doc.GetErrorOffset()) + ")");
  if (!doc.IsObject()) throw Error(ErrorCode::auth, source + ": not a JSON object");
  auto type_it = doc.FindMember("type");
  if (type_it == doc.MemberEnd() || !type_it->value.IsString())
    throw Error(ErrorCode::auth, source + ": has no \"type\" (expected \"service_account\" or "
                                          "\"authorized_user\")");
  const std::string type = json_string(doc, "type");
  if (type == "service_account") {
    require_fields(doc, {"private_key", "client_email", "token_uri"}, type, source);
    GcpServiceAccountKey key;
    key.private_key = json_string(doc, "private_key");
    key.private_key_id = json_string(doc, "private_key_id");
    key.client_email = json_string(doc, "client_email");
    key.token_uri = json_string(doc, "token_uri");
    key.project_id = json_string(doc, "project_id");
    return key;
  }
  if (type == "authorized_user") {
    require_fields(doc, {"client_id", "client_secret", "refresh_token"}, type, source);
    GcpAuthorizedUser user;
    user.client_id = json_string(doc, "client_id");
    user.client_secret = json_string(doc, "client_secret");
    user.refresh_token = json_string(doc, "refresh_token");
    user.token_uri = json_string(doc, "token_uri");
    if (user.token_uri.empty()) user.token_uri = kGoogleTokenUri;
    return user;
  }
  unsupported_type(type, source);
}

namespace {

void check_token_uri(const std::string& uri, const std::string& source) {
  const std::string lower = detail::ascii_lower(uri.substr(0, 8));
  const std::string host = url_host(uri);
  const bool clean = header_safe(uri) && uri.find('@') == std::string::npos && !host.empty();
  if (clean && lower.rfind("https://", 0) == 0) return;
  if (clean && lower.rfind("http://", 0) == 0 && is_loopback_address(host)) return;
  throw Error(ErrorCode::auth, source + ": token_uri " + detail::terminal_safe(uri.substr(0, 200)) +
                                   " is refused: tokens are fetched over https, or over http only "
                                   "from a loopback address (127.0.0.0/8, ::1)");
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += sigv4::uri_encode(k, false) + "=" + sigv4::uri_encode(v, false);
  }
  return out;
}

// An answer {"access_token", "expires_in", "token_type"}; never quotes the body.
Expiring<std::string> parse_token_answer(const std::string& body, const Fetcher& f,
                                         const std::string& where) {
  if (body.size() > kMaxAnswerBytes)
    throw Error(ErrorCode::auth, where + ": answer larger than " +
                                     std::to_string(kMaxAnswerBytes) + " bytes");
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject())
    throw Error(ErrorCode::auth, where + ": the answer is not a JSON object");
  Expiring<std::string> out;
  out.value = json_string(doc, "access_token");
  if (out.value.empty()) throw Error(ErrorCode::auth, where + ": the answer has no access_token");
  if (out.value.size() > kMaxTokenBytes || !header_safe(out.value))
    throw Error(ErrorCode::auth, where + ": the access_token is not a usable header value");
  auto it = doc.FindMember("expires_in");
  if (it == doc.MemberEnd()) return out;  // as google-auth: valid until refused
  long long expires_in = -1;
  if (it->value.IsInt64()) {
    expires_in = it->value.GetInt64();
  } else if (it->value.IsNumber()) {
    expires_in = static_cast<long long>(it->value.GetDouble());
  } else if (it->value.IsString()) {
    std::string s = json_string(doc, "expires_in");
    if (!s.empty() && s.size() < 12 &&
        std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      expires_in = std::stoll(s);
  }
  if (expires_in < 0 || expires_in > kMaxExpiresIn)
    throw Error(ErrorCode::auth, where + ": expires_in is not a number of seconds");
  out.expires_at = f.now() + seconds(expires_in);
  return out;
}

enum class Grant { service_account, authorized_user };

[[noreturn]] void token_refused(const HttpResponse& resp, const std::string& uri, Grant grant,
                                const std::string& source, const std::vector<std::string>& sent) {
  std::string error, description;
  if (resp.body.size() <= kMaxAnswerBytes) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(resp.body.data(), resp.body.size());
    if (!doc.HasParseError() && doc.IsObject()) {
      error = json_string(doc, "error");
      description = json_string(doc, "error_description");
    }
  }
  const std::string where = source + ": the token endpoint " + uri;
  const std::string what =
      error.empty() ? std::string()
                    : shown(error, sent) + (description.empty() ? "" : ": " + shown(description, sent));
  if (error == "invalid_grant" && grant == Grant::service_account)
    throw Error(ErrorCode::auth,
                where + " refused the key's signed assertion (invalid_grant: " + shown(description, sent) +
                    "). Usual causes: this machine's clock is off (check NTP), or the key was "
                    "deleted or its service account disabled");
  if (error == "invalid_grant")
    throw Error(ErrorCode::auth, where + " refused the refresh token (invalid_grant: " +
                                     shown(description, sent) +
                                     "); it was revoked or has expired: run `gcloud auth "
                                     "application-default login` again");
  const bool transient = resp.status == 429 || resp.status >= 500;
  throw Error(ErrorCode::auth,
              where + " answered HTTP " + std::to_string(resp.status) +
                  (what.empty() ? "" : " (" + what + ")") +
                  (resp.attempts > 1 ? " after " + std::to_string(resp.attempts) + " attempts" : ""),
              transient);
}

// POSTs `form` (whose values `sent` are secrets) to the token endpoint `uri`.
Expiring<std::string> post_token_request(const Fetcher& f, const std::string& uri,
                                         const std::string& form, Grant grant,
                                         const std::string& source,
                                         const std::vector<std::string>& sent) {
  HttpRequest req;
  req.method = "POST";
  req.url = uri;
  req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  req.headers.emplace_back("Accept", "application/json");
  req.body = form;
  req.timeout = seconds(10);
  req.connect_timeout = seconds(5);
  RetryPolicy policy;
  policy.max_attempts = 3;
  policy.base_delay = milliseconds(500);
  policy.max_delay = seconds(2);
  policy.budget = seconds(10);
  RetryingTransport::Deps deps;
  deps.sleep = f.sleep;
  deps.now = f.now;
  RetryingTransport retrying(f.transport, policy, deps);
  HttpResponse resp;
  try {
    resp = retrying.send(req, f.cancel);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::cancelled) throw;
    throw Error(ErrorCode::auth, source + ": the token endpoint " + uri + " could not be reached: " +
                                     shown(e.what(), sent),
                e.retryable());
  }
  if (resp.status != 200) token_refused(resp, uri, grant, source, sent);
  return parse_token_answer(resp.body, f, source + ": the token endpoint " + uri);
}

Expiring<std::string> token_for(const GcpServiceAccountKey& key, const Fetcher& f,
                                const std::string& source) {
  check_token_uri(key.token_uri, source);
  GcpJwtRequest jwt;
  jwt.private_key_pem = key.private_key;
  jwt.key_id = key.private_key_id;
  jwt.client_email = key.client_email;
  jwt.audience = key.token_uri;
  jwt.now = f.now();
  const std::string assertion = make_gcp_jwt_assertion(jwt, source);
  std::string form = form_encode({{"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
                                  {"assertion", assertion}});
  return post_token_request(f, key.token_uri, form, Grant::service_account, source,
                            {assertion, assertion.substr(assertion.rfind('.') + 1)});
}

Expiring<std::string> token_for(const GcpAuthorizedUser& user, const Fetcher& f,
                                const std::string& source) {
  check_token_uri(user.token_uri, source);
  std::string form = form_encode({{"grant_type", "refresh_token"},
                                  {"client_id", user.client_id},
                                  {"client_secret", user.client_secret},
                                  {"refresh_token", user.refresh_token}});
  return post_token_request(f, user.token_uri, form, Grant::authorized_user, source,
                            {user.client_secret, user.refresh_token});
}

// A token from credentials JSON text; `service_account_only` refuses authorized_user.
Expiring<std::string> token_from_json(const std::string& text, bool service_account_only,
                                      const Fetcher& f, const std::string& source) {
  auto creds = parse_gcp_credentials_json(text, source);
  if (auto* key = std::get_if<GcpServiceAccountKey>(&creds)) return token_for(*key, f, source);
  if (service_account_only)
    throw Error(ErrorCode::auth, source + ": an authorized_user file, not a service-account key "
                                          "(type service_account); give it through "
                                          "GOOGLE_APPLICATION_CREDENTIALS instead");
  return token_for(std::get<GcpAuthorizedUser>(creds), f, source);
}

std::string read_credentials_file(const std::string& path, const std::string& source) {
  try {
    return detail::read_file(path, kMaxKeyFileBytes);
  } catch (const Error& e) {
    throw Error(ErrorCode::auth, source + ": cannot be read (" + e.what() + ")");
  }
}

// Step 1: Ray's provider.gcp_credentials; nullopt when absent.
std::optional<Expiring<std::string>> from_ray_config(const Value& c, const GcpEnvironment& env,
                                                     const Fetcher& f) {
  if (c.is_null()) return std::nullopt;
  const std::string kTypes = "(type service_account or credentials_token)";
  const Value* type = c.is_object() ? c.find("type") : nullptr;
  const Value* value = c.is_object() ? c.find("credentials") : nullptr;
  if (!type || !type->is_string())
    throw Error(ErrorCode::auth,
                std::string(kRayKey) + " must be a mapping with \"type\" " + kTypes +
                    " and \"credentials\"");
  const std::string& t = type->as_string();
  if (t != "service_account" && t != "credentials_token")
    throw Error(ErrorCode::auth, std::string(kRayKey) + ".type \"" +
                                     detail::terminal_safe(t.substr(0, 64)) + "\" is not " + kTypes);
  const bool empty = !value || (value->is_string() && detail::trim(value->as_string()).empty());
  if (empty || !(value->is_string() || (t == "service_account" && value->is_object())))
    throw Error(ErrorCode::auth, std::string(kRayKey) + ".credentials is missing or empty (type " +
                                     t + " needs " +
                                     (t == "credentials_token" ? "an access token)"
                                                               : "the key's JSON or its path)"));
  if (t == "credentials_token") {
    std::string token(detail::trim(value->as_string()));
    if (token.size() > kMaxTokenBytes || !header_safe(token))
      throw Error(ErrorCode::auth, std::string(kRayKey) +
                                       ".credentials (credentials_token) is not a usable access "
                                       "token: it contains spaces or control characters");
    return Expiring<std::string>{token, std::nullopt};
  }
  if (value->is_object())
    return token_from_json(value->to_json(), true, f, std::string(kRayKey) + " (key JSON)");
  const std::string text(detail::trim(value->as_string()));
  if (text.front() == '{')
    return token_from_json(text, true, f, std::string(kRayKey) + " (key JSON)");
  const std::string path = detail::expand_user(text, env.home);
  const std::string source = std::string(kRayKey) + " key file " + path;
  return token_from_json(read_credentials_file(path, source), true, f, source);
}

std::string metadata_host(const GcpEnvironment& env) {
  auto host = env_value(env, "GCE_METADATA_HOST").value_or("169.254.169.254");
  if (!header_safe(host) || host.find_first_of("/@?#") != std::string::npos)
    throw Error(ErrorCode::auth, "GCE_METADATA_HOST=" + detail::terminal_safe(host.substr(0, 100)) +
                                     " is not host[:port]");
  return host;
}

// Step 5: the metadata server; nullopt (and why) when it has no token for us.
std::optional<Expiring<std::string>> from_metadata(const GcpEnvironment& env, const Fetcher& f,
                                                   std::string& why) {
  if (detail::ascii_lower(env_value(env, "NO_GCE_CHECK").value_or("")) == "true") {
    why = "skipped: NO_GCE_CHECK is true";
    return std::nullopt;
  }
  const std::string url = "http://" + metadata_host(env) + kMetadataTokenPath;
  HttpRequest req;
  req.method = "GET";
  req.url = url;
  req.headers.emplace_back("Metadata-Flavor", "Google");
  req.timeout = seconds(3);
  req.connect_timeout = seconds(1);
  RetryPolicy policy;
  policy.max_attempts = 3;
  policy.base_delay = milliseconds(200);
  policy.max_delay = seconds(1);
  policy.budget = seconds(5);
  RetryingTransport::Deps deps;
  deps.sleep = f.sleep;
  deps.now = f.now;
  RetryingTransport retrying(f.transport, policy, deps);
  try {
    HttpResponse resp = retrying.send(req, f.cancel);
    if (resp.status != 200) {
      why = url + " answered HTTP " + std::to_string(resp.status) +
            (resp.status == 404 ? " (no service account attached to this machine?)" : "");
      return std::nullopt;
    }
    return parse_token_answer(resp.body, f, "GCE metadata server " + url);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::cancelled) throw;
    why = url + ": " + shown(e.what());
    return std::nullopt;
  }
}

std::string adc_path(const GcpEnvironment& env) {
  if (auto dir = env_value(env, "CLOUDSDK_CONFIG")) return *dir + "/application_default_credentials.json";
  if (env.home.empty()) return {};
  return env.home + "/.config/gcloud/application_default_credentials.json";
}

}  // namespace

Expiring<std::string> fetch_gcp_access_token(const GcpCredentialsConfig& config,
                                             const GcpEnvironment& env, HttpTransport& transport,
                                             WallClock now, Sleeper sleep,
                                             const CancelToken& cancel) {
  if (!now) now = real_wall_clock();
  const Fetcher f{transport, now, std::move(sleep), cancel};
  std::vector<std::string> tried;
  if (auto t = from_ray_config(config.gcp_credentials, env, f)) return *t;
  tried.push_back(std::string(kRayKey) + " (not set)");
  if (!config.key_file.empty()) {
    const std::string source = "service-account key file " + config.key_file;
    return token_from_json(read_credentials_file(config.key_file, source), true, f, source);
  }
  tried.push_back("service_account_key (not set)");
  if (auto path = env_value(env, "GOOGLE_APPLICATION_CREDENTIALS")) {
    const std::string file = detail::expand_user(*path, env.home);
    const std::string source = "GOOGLE_APPLICATION_CREDENTIALS file " + file;
    return token_from_json(read_credentials_file(file, source), false, f, source);
  }
  tried.push_back("GOOGLE_APPLICATION_CREDENTIALS (not set)");
  const std::string adc = adc_path(env);
  if (!adc.empty() && detail::path_exists(adc)) {
    const std::string source = "gcloud application default credentials " + adc;
    return token_from_json(read_credentials_file(adc, source), false, f, source);
  }
  tried.push_back("gcloud application default credentials (" +
                  (adc.empty() ? std::string("no home folder") : adc + " does not exist") + ")");
  std::string why;
  if (auto t = from_metadata(env, f, why)) return *t;
  tried.push_back("GCE metadata server (" + why + ")");
  throw Error(ErrorCode::auth,
              "no GCP credentials found; tried: " + detail::join(tried, "; ") +
                  ". Set provider.gcp_credentials or GOOGLE_APPLICATION_CREDENTIALS, or run "
                  "`gcloud auth application-default login`");
}

namespace {

class StaticToken final : public CredentialsSource<std::string> {
 public:
  explicit StaticToken(std::string token) : token_(std::move(token)) {}
  std::string get(const CancelToken&) override { return token_; }
  std::string refresh(const std::string&, const CancelToken&) override {
    throw Error(ErrorCode::auth,
                "GCP refused the access token of provider.gcp_credentials "
                "(type credentials_token); such a token cannot be refreshed: give a fresh token "
                "or a service-account key");
  }

 private:
  std::string token_;
};

}  // namespace

std::shared_ptr<CredentialsSource<std::string>> make_gcp_credentials_source(
    const GcpCredentialsConfig& config, const GcpEnvironment& env, HttpTransport& transport,
    WallClock now, Sleeper sleep, RefreshOptions refresh) {
  if (!now) now = real_wall_clock();
  const Value& c = config.gcp_credentials;
  if (const Value* type = c.is_object() ? c.find("type") : nullptr;
      type && type->is_string() && type->as_string() == "credentials_token") {
    // No I/O: the config alone; its errors come now rather than at the first get().
    auto token = fetch_gcp_access_token(config, env, transport, now, sleep);
    return std::make_shared<StaticToken>(std::move(token.value));
  }
  auto fetch = [config, env, &transport, now, sleep = std::move(sleep)](const CancelToken& cancel) {
    return fetch_gcp_access_token(config, env, transport, now, sleep, cancel);
  };
  return std::make_shared<RefreshingCredentials<std::string>>(std::move(fetch), now, refresh);
}

}  // namespace raycluster
