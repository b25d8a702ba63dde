// The GCP credential chain over a fake transport and a fake clock: which
// source wins, the requests each grant sends, caching and refresh, and the
// errors (each naming its file or source, none quoting a secret).
#include <doctest/doctest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <deque>
#include <map>
#include <mutex>

#include "auth/gcp_credentials.hpp"
#include "auth/sigv4.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

using namespace raycluster;
using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

namespace {

const Clock::time_point kT0 = Clock::from_time_t(1767225600);  // 2026-01-01T00:00:00Z
const std::string kTokenUri = "https://oauth2.googleapis.com/token";
const std::string kEmail = "raycluster@my-project.iam.gserviceaccount.com";
const std::string kClientSecret = "d-FL95Q19q7MQmFpd7hHD0Ty";
const std::string kRefreshToken = "1//0gEXAMPLErefreshTOKENxyz";
const std::string kAccessToken = "ya29.a0AfH6SMExampleAccessToken";

std::string data_file(const std::string& name) {
  return detail::read_file(std::string(RC_AUTH_TEST_DATA) + "/" + name);
}

std::string to_json(const std::map<std::string, std::string>& fields) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  for (const auto& [k, v] : fields) {
    w.Key(k.c_str());
    w.String(v.c_str());
  }
  w.EndObject();
  return buf.GetString();
}

std::map<std::string, std::string> service_account_fields(const std::string& token_uri = kTokenUri) {
  return {{"type", "service_account"},
          {"project_id", "my-project"},
          {"private_key_id", "0123456789abcdef"},
          {"private_key", data_file("gcp_test_rsa_key.pem")},
          {"client_email", kEmail},
          {"client_id", "1234567890"},
          {"token_uri", token_uri}};
}

std::string user_json(const std::string& token_uri = "") {
  std::map<std::string, std::string> f{{"type", "authorized_user"},
                                       {"client_id", "764086051850-x.apps.googleusercontent.com"},
                                       {"client_secret", kClientSecret},
                                       {"refresh_token", kRefreshToken}};
  if (!token_uri.empty()) f["token_uri"] = token_uri;
  return to_json(f);
}

std::string b64url_decode(std::string_view s) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned bits = 0, value = 0;
  for (char c : s) {
    auto pos = kAlphabet.find(c);
    REQUIRE(pos != std::string::npos);
    value = (value << 6) | static_cast<unsigned>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((value >> bits) & 0xFF);
    }
  }
  return out;
}

// True when the assertion's signature verifies with the test key's public half.
bool signature_verifies(const std::string& assertion) {
  auto pem = data_file("gcp_test_rsa_key.pem");
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  REQUIRE(key != nullptr);
  auto dot = assertion.rfind('.');
  std::string sig = b64url_decode(std::string_view(assertion).substr(dot + 1));
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(assertion.data()), dot) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

std::map<std::string, std::string> parse_form(const std::string& body) {
  std::map<std::string, std::string> out;
  for (const auto& pair : detail::split(body, '&')) {
    auto eq = pair.find('=');
    out[sigv4::uri_decode(pair.substr(0, eq))] = sigv4::uri_decode(pair.substr(eq + 1));
  }
  return out;
}

rapidjson::Document parse_json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  REQUIRE(d.IsObject());
  return d;
}

HttpResponse answer(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

std::string token_answer(const std::string& token, int expires_in = 3599) {
  return "{\"access_token\":\"" + token + "\",\"expires_in\":" + std::to_string(expires_in) +
         ",\"token_type\":\"Bearer\"}";
}

// Answers by "METHOD url" from queues (the last answer of a queue repeats);
// records every request; throws Error(unavailable) for unknown ones.
struct FakeGoogle : HttpTransport {
  std::mutex mu;
  std::map<std::string, std::deque<HttpResponse>> answers;
  std::vector<HttpRequest> requests;

  void on(const std::string& key, HttpResponse r) { answers[key].push_back(std::move(r)); }
  HttpResponse send(const HttpRequest& req, const CancelToken&) override {
    std::lock_guard<std::mutex> lock(mu);
    requests.push_back(req);
    auto it = answers.find(req.method + " " + req.url);
    if (it == answers.end() || it->second.empty())
      throw Error(ErrorCode::unavailable, "connection refused: " + req.url, true);
    HttpResponse r = it->second.front();
    if (it->second.size() > 1) it->second.pop_front();
    return r;
  }
};

std::optional<std::string> header(const HttpRequest& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return std::nullopt;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

struct Fixture {
  std::string home;
  std::map<std::string, std::string> vars;
  GcpCredentialsConfig config;
  FakeGoogle http;
  Clock::time_point t = kT0;
  std::vector<std::string> messages;  // every error message seen, for the secrets check

  Fixture() {
    char tmpl[] = "/tmp/rc-gcp-creds-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    home = tmpl;
    // Never the real link-local metadata address: a refused loopback port.
    vars["GCE_METADATA_HOST"] = "127.0.0.1:9";
  }
  ~Fixture() {
    detail::remove_tree(home);
    // No message ever carried a secret.
    const std::string pem = data_file("gcp_test_rsa_key.pem");
    for (const auto& m : messages) {
      CAPTURE(m);
      for (std::size_t i = 40; i + 32 < pem.size(); i += 32) CHECK(!contains(m, pem.substr(i, 32)));
      CHECK(!contains(m, kClientSecret));
      CHECK(!contains(m, kRefreshToken));
      CHECK(!contains(m, kAccessToken));
      CHECK(!contains(m, "eyJhbGciOiJSUzI1NiIs"));  // the start of every assertion
    }
  }

  std::string write(const std::string& name, const std::string& content) {
    std::string path = home + "/" + name;
    detail::make_dirs(path.substr(0, path.rfind('/')));
    detail::write_file_atomic(path, content, 0600);
    return path;
  }
  GcpEnvironment env() const {
    return {[this](const std::string& name) -> std::optional<std::string> {
              auto it = vars.find(name);
              if (it == vars.end()) return std::nullopt;
              return it->second;
            },
            home};
  }
  WallClock clock() const {
    return [this] { return t; };
  }
  Sleeper sleeper() {
    return [](std::chrono::milliseconds, const CancelToken&) { return true; };
  }
  Expiring<std::string> fetch() { return fetch_gcp_access_token(config, env(), http, clock(), sleeper()); }
  std::shared_ptr<CredentialsSource<std::string>> source() {
    return make_gcp_credentials_source(config, env(), http, clock(), sleeper());
  }
  template <class F>
  std::string error_of(F&& f) {
    try {
      f();
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::auth);
      messages.push_back(e.what());
      return e.what();
    }
    FAIL("expected an auth error");
    return {};
  }
  std::string fetch_error() {
    return error_of([&] { fetch(); });
  }
};

}  // namespace

TEST_CASE("gcp credentials: a service-account key file is exchanged with a signed jwt-bearer assertion") {
  Fixture f;
  f.config.key_file = f.write("keys/sa.json", to_json(service_account_fields()));
  f.http.on("POST " + kTokenUri, answer(200, token_answer(kAccessToken, 3599)));
  auto tok = f.fetch();
  CHECK(tok.value == kAccessToken);
  REQUIRE(tok.expires_at);
  CHECK(*tok.expires_at == kT0 + 3599s);

  REQUIRE(f.http.requests.size() == 1);
  const auto& req = f.http.requests[0];
  CHECK(header(req, "Content-Type") == "application/x-www-form-urlencoded");
  auto form = parse_form(req.body);
  CHECK(form.size() == 2);
  CHECK(form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer");
  const std::string assertion = form["assertion"];
  auto parts = detail::split(assertion, '.');
  REQUIRE(parts.size() == 3);
  auto head = parse_json(b64url_decode(parts[0]));
  CHECK(std::string(head["alg"].GetString()) == "RS256");
  CHECK(std::string(head["typ"].GetString()) == "JWT");
  CHECK(std::string(head["kid"].GetString()) == "0123456789abcdef");
  auto claims = parse_json(b64url_decode(parts[1]));
  CHECK(std::string(claims["iss"].GetString()) == kEmail);
  CHECK(std::string(claims["aud"].GetString()) == kTokenUri);
  CHECK(std::string(claims["scope"].GetString()) == "https://www.googleapis.com/auth/cloud-platform");
  CHECK(claims["iat"].GetInt64() == 1767225600);
  CHECK(claims["exp"].GetInt64() == 1767225600 + 3600);
  CHECK(signature_verifies(assertion));
}

TEST_CASE("gcp credentials: Ray's gcp_credentials as JSON text, as a mapping and as a path") {
  Fixture f;
  f.http.on("POST " + kTokenUri, answer(200, token_answer(kAccessToken)));
  const std::string text = to_json(service_account_fields());
  SUBCASE("JSON text") {
    f.config.gcp_credentials = Value::object();
    f.config.gcp_credentials.set("type", "service_account");
    f.config.gcp_credentials.set("credentials", "  " + text + "\n");
  }
  SUBCASE("a mapping in the YAML") {
    f.config.gcp_credentials = Value::object();
    f.config.gcp_credentials.set("type", "service_account");
    f.config.gcp_credentials.set("credentials", Value::parse_json(text));
  }
  SUBCASE("a path with ~") {
    f.write("keys/ray.json", text);
    f.config.gcp_credentials = Value::object();
    f.config.gcp_credentials.set("type", "service_account");
    f.config.gcp_credentials.set("credentials", "~/keys/ray.json");
  }
  // Ray's setting wins over the flat key and the environment.
  f.config.key_file = f.home + "/missing.json";
  f.vars["GOOGLE_APPLICATION_CREDENTIALS"] = f.home + "/missing.json";
  CHECK(f.fetch().value == kAccessToken);
  REQUIRE(f.http.requests.size() == 1);
  CHECK(parse_form(f.http.requests[0].body)["grant_type"] ==
        "urn:ietf:params:oauth:grant-type:jwt-bearer");
}

TEST_CASE("gcp credentials: a raw credentials_token is handed out as it is and cannot be refreshed") {
  Fixture f;
  f.config.gcp_credentials = Value::object();
  f.config.gcp_credentials.set("type", "credentials_token");
  f.config.gcp_credentials.set("credentials", kAccessToken);
  auto src = f.source();
  CHECK(src->get() == kAccessToken);
  CHECK(f.http.requests.empty());
  auto msg = f.error_of([&] { src->refresh(kAccessToken); });
  CHECK(contains(msg, "credentials_token"));
  CHECK(contains(msg, "cannot be refreshed"));
}

TEST_CASE("gcp credentials: malformed provider.gcp_credentials is refused before any request") {
  Fixture f;
  f.config.gcp_credentials = Value::object();
  SUBCASE("no type") {
    f.config.gcp_credentials.set("credentials", kAccessToken);
    CHECK(contains(f.fetch_error(), "provider.gcp_credentials must be a mapping with \"type\""));
  }
  SUBCASE("unknown type") {
    f.config.gcp_credentials.set("type", "oauth");
    f.config.gcp_credentials.set("credentials", kAccessToken);
    CHECK(contains(f.fetch_error(), "provider.gcp_credentials.type \"oauth\" is not"));
  }
  SUBCASE("empty credentials") {
    f.config.gcp_credentials.set("type", "credentials_token");
    f.config.gcp_credentials.set("credentials", " ");
    CHECK(contains(f.fetch_error(), "provider.gcp_credentials.credentials is missing or empty"));
  }
  SUBCASE("a token that cannot be a header value") {
    f.config.gcp_credentials.set("type", "credentials_token");
    f.config.gcp_credentials.set("credentials", kAccessToken + "\r\nX-Evil: 1");
    CHECK(contains(f.fetch_error(), "not a usable access token"));
  }
  CHECK(f.http.requests.empty());
}

TEST_CASE("gcp credentials: tokens are cached, fetched again before they expire, and refresh() forces one fetch") {
  Fixture f;
  f.config.key_file = f.write("sa.json", to_json(service_account_fields()));
  f.http.on("POST " + kTokenUri, answer(200, token_answer("ya29.first", 3600)));
  f.http.on("POST " + kTokenUri, answer(200, token_answer("ya29.second", 3600)));
  f.http.on("POST " + kTokenUri, answer(200, token_answer("ya29.third", 3600)));
  auto src = f.source();
  CHECK(f.http.requests.empty());  // resolved on the first get()
  CHECK(src->get() == "ya29.first");
  f.t = kT0 + 50min;
  CHECK(src->get() == "ya29.first");
  CHECK(f.http.requests.size() == 1);
  // Less than the 5 minute margin left: fetched anew, with a new iat.
  f.t = kT0 + 56min;
  CHECK(src->get() == "ya29.second");
  REQUIRE(f.http.requests.size() == 2);
  auto claims = parse_json(
      b64url_decode(detail::split(parse_form(f.http.requests[1].body)["assertion"], '.')[1]));
  CHECK(claims["iat"].GetInt64() == 1767225600 + 56 * 60);
  // Compute answered 401 to the second token: one forced fetch.
  CHECK(src->refresh("ya29.second") == "ya29.third");
  CHECK(f.http.requests.size() == 3);
  // A refresh for a token already replaced does not fetch again.
  CHECK(src->refresh("ya29.second") == "ya29.third");
  CHECK(f.http.requests.size() == 3);
}

TEST_CASE("gcp credentials: GOOGLE_APPLICATION_CREDENTIALS with an authorized_user file uses the refresh-token grant") {
  Fixture f;
  f.vars["GOOGLE_APPLICATION_CREDENTIALS"] = f.write("adc/user.json", user_json());
  f.http.on("POST " + kTokenUri, answer(200, token_answer(kAccessToken, 1200)));
  auto tok = f.fetch();
  CHECK(tok.value == kAccessToken);
  CHECK(*tok.expires_at == kT0 + 1200s);
  REQUIRE(f.http.requests.size() == 1);
  auto form = parse_form(f.http.requests[0].body);
  CHECK(form["grant_type"] == "refresh_token");
  CHECK(form["client_id"] == "764086051850-x.apps.googleusercontent.com");
  CHECK(form["client_secret"] == kClientSecret);
  CHECK(form["refresh_token"] == kRefreshToken);
}

TEST_CASE("gcp credentials: gcloud's ADC file under home, or under CLOUDSDK_CONFIG, with its token_uri") {
  Fixture f;
  const std::string uri = "http://127.0.0.1:8089/token";
  SUBCASE("home") { f.write(".config/gcloud/application_default_credentials.json", user_json(uri)); }
  SUBCASE("CLOUDSDK_CONFIG") {
    f.write("elsewhere/application_default_credentials.json", user_json(uri));
    f.vars["CLOUDSDK_CONFIG"] = f.home + "/elsewhere";
  }
  f.http.on("POST " + uri, answer(200, token_answer(kAccessToken)));
  CHECK(f.fetch().value == kAccessToken);
  CHECK(f.http.requests.size() == 1);
}

TEST_CASE("gcp credentials: the metadata server at GCE_METADATA_HOST, or 169.254.169.254") {
  Fixture f;
  std::string url = "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token";
  SUBCASE("GCE_METADATA_HOST") {
    f.vars["GCE_METADATA_HOST"] = "127.0.0.1:8090";
    url = "http://127.0.0.1:8090/computeMetadata/v1/instance/service-accounts/default/token";
  }
  SUBCASE("default") { f.vars.erase("GCE_METADATA_HOST"); }  // a fake transport: nothing is sent
  f.http.on("GET " + url, answer(200, token_answer(kAccessToken, 3000)));
  auto tok = f.fetch();
  CHECK(tok.value == kAccessToken);
  CHECK(*tok.expires_at == kT0 + 3000s);
  REQUIRE(f.http.requests.size() == 1);
  CHECK(header(f.http.requests[0], "Metadata-Flavor") == "Google");
  CHECK(f.http.requests[0].connect_timeout <= 1s);
}

TEST_CASE("gcp credentials: nothing found names every source tried") {
  Fixture f;
  auto msg = f.fetch_error();
  CHECK(contains(msg, "no GCP credentials found"));
  CHECK(contains(msg, "provider.gcp_credentials (not set)"));
  CHECK(contains(msg, "service_account_key (not set)"));
  CHECK(contains(msg, "GOOGLE_APPLICATION_CREDENTIALS (not set)"));
  CHECK(contains(msg, f.home + "/.config/gcloud/application_default_credentials.json does not exist"));
  CHECK(contains(msg, "GCE metadata server (http://127.0.0.1:9/computeMetadata"));
  CHECK(f.http.requests.size() == 3);  // the metadata server, three attempts

  f.http.on("GET http://127.0.0.1:9/computeMetadata/v1/instance/service-accounts/default/token",
            answer(404, "Not Found"));
  CHECK(contains(f.fetch_error(), "answered HTTP 404"));
  f.vars["NO_GCE_CHECK"] = "True";
  CHECK(contains(f.fetch_error(), "skipped: NO_GCE_CHECK"));
}

TEST_CASE("gcp credentials: bad key files are refused, naming the file") {
  Fixture f;
  auto key_with = [&](const std::string& field, const std::string& value) {
    auto fields = service_account_fields();
    if (value.empty()) fields.erase(field);
    else fields[field] = value;
    return to_json(fields);
  };
  std::string path, expect;
  SUBCASE("missing") {
    path = f.home + "/nope.json";
    expect = "cannot be read";
  }
  SUBCASE("a folder") {
    path = f.home;
    expect = "cannot be read";
  }
  SUBCASE("not JSON") {
    std::string text = to_json(service_account_fields());
    path = f.write("k.json", text.substr(0, text.size() - 1));
    expect = "not valid JSON";
  }
  SUBCASE("no type") {
    path = f.write("k.json", key_with("type", ""));
    expect = "has no \"type\"";
  }
  SUBCASE("missing fields") {
    auto fields = service_account_fields();
    fields.erase("client_email");
    fields.erase("private_key");
    path = f.write("k.json", to_json(fields));
    expect = "lacks \"private_key\", \"client_email\"";
  }
  SUBCASE("external_account") {
    path = f.write("k.json", to_json({{"type", "external_account"}, {"audience", "x"}}));
    expect = "workload identity federation (external_account) is not supported yet";
  }
  SUBCASE("authorized_user as a service-account key") {
    path = f.write("k.json", user_json());
    expect = ": an authorized_user file, not a service-account key";
  }
  SUBCASE("an EC key") {
    path = f.write("k.json", key_with("private_key", data_file("gcp_test_ec_key.pem")));
    expect = "private_key is not an RSA key";
  }
  SUBCASE("a damaged key") {
    path = f.write("k.json", key_with("private_key", data_file("gcp_test_rsa_key.pem").substr(0, 200)));
    expect = "private_key cannot be read";
  }
  f.config.key_file = path;
  auto msg = f.fetch_error();
  CHECK(contains(msg, "service-account key file " + path));
  CHECK(contains(msg, expect));
  CHECK(f.http.requests.empty());
}

TEST_CASE("gcp credentials: an unreadable GOOGLE_APPLICATION_CREDENTIALS file is an error, not skipped") {
  Fixture f;
  f.vars["GOOGLE_APPLICATION_CREDENTIALS"] = "~/gone.json";
  auto msg = f.fetch_error();
  CHECK(contains(msg, "GOOGLE_APPLICATION_CREDENTIALS file " + f.home + "/gone.json"));
  CHECK(contains(msg, "cannot be read"));
  CHECK(f.http.requests.empty());
}

TEST_CASE("gcp credentials: token URIs must be https, or http to a loopback address") {
  Fixture f;
  for (const std::string uri : {"http://oauth2.googleapis.com/token", "http://10.0.0.1/token",
                                "ftp://127.0.0.1/token", "http://user@127.0.0.1.evil/token"}) {
    CAPTURE(uri);
    f.config.key_file = f.write("k.json", to_json(service_account_fields(uri)));
    auto msg = f.fetch_error();
    CHECK(contains(msg, "token_uri " + uri + " is refused"));
    CHECK(contains(msg, f.config.key_file));
  }
  CHECK(f.http.requests.empty());
  for (const std::string uri : {"https://oauth2.googleapis.com/token", "http://127.0.0.1:5/token",
                                "http://[::1]:5/token"}) {
    f.config.key_file = f.write("k.json", to_json(service_account_fields(uri)));
    f.http.on("POST " + uri, answer(200, token_answer(kAccessToken)));
    CHECK(f.fetch().value == kAccessToken);
  }
}

TEST_CASE("gcp credentials: the token endpoint's refusals say why, without the secrets") {
  Fixture f;
  SUBCASE("invalid_grant for a service-account key: clock skew or a deleted key") {
    f.config.key_file = f.write("k.json", to_json(service_account_fields()));
    f.http.on("POST " + kTokenUri,
              answer(400, "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT: Token "
                          "must be a short-lived token (60 minutes) and in a reasonable timeframe.\"}"));
    auto msg = f.fetch_error();
    CHECK(contains(msg, "service-account key file " + f.config.key_file));
    CHECK(contains(msg, "invalid_grant: Invalid JWT: Token must be a short-lived token"));
    CHECK(contains(msg, "clock"));
    CHECK(contains(msg, "deleted"));
    CHECK(f.http.requests.size() == 1);  // a 400 is not retried
  }
  SUBCASE("invalid_grant for a refresh token, which the endpoint echoes") {
    f.vars["GOOGLE_APPLICATION_CREDENTIALS"] = f.write("u.json", user_json());
    f.http.on("POST " + kTokenUri, answer(400, "{\"error\":\"invalid_grant\",\"error_description\":"
                                               "\"Token " + kRefreshToken + " has been revoked.\"}"));
    auto msg = f.fetch_error();
    CHECK(contains(msg, "refused the refresh token"));
    CHECK(contains(msg, "gcloud auth application-default login"));
  }
  SUBCASE("another error, with its HTTP status") {
    f.config.key_file = f.write("k.json", to_json(service_account_fields()));
    f.http.on("POST " + kTokenUri,
              answer(401, "{\"error\":\"invalid_client\",\"error_description\":\"Unauthorized\"}"));
    auto msg = f.fetch_error();
    CHECK(contains(msg, "answered HTTP 401 (invalid_client: Unauthorized)"));
  }
  SUBCASE("5xx is retried, then reported with the attempts") {
    f.config.key_file = f.write("k.json", to_json(service_account_fields()));
    f.http.on("POST " + kTokenUri, answer(503, "backend error"));
    auto msg = f.fetch_error();
    CHECK(contains(msg, "answered HTTP 503 after 3 attempts"));
    CHECK(f.http.requests.size() == 3);
  }
  SUBCASE("an answer without a token") {
    f.config.key_file = f.write("k.json", to_json(service_account_fields()));
    f.http.on("POST " + kTokenUri, answer(200, "{\"expires_in\":3600}"));
    CHECK(contains(f.fetch_error(), "the answer has no access_token"));
  }
  SUBCASE("unreachable") {
    f.config.key_file = f.write("k.json", to_json(service_account_fields()));
    CHECK(contains(f.fetch_error(), "could not be reached"));
  }
}
