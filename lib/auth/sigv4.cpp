#include "auth/sigv4.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <ctime>

#include "util/error.hpp"
#include "util/strings.hpp"
#include "util/hash.hpp"

namespace raycluster::sigv4 {

namespace {

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_' || c == '.' || c == '~';
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

constexpr char kHexUpper[] = "0123456789ABCDEF";

void append_pct(std::string& out, unsigned char c) {
  out += '%';
  out += kHexUpper[c >> 4];
  out += kHexUpper[c & 15];
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

std::string trim_name(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return detail::ascii_lower(s);
}

bool has_header(const Headers& headers, std::string_view lower_name) {
  for (const auto& [name, value] : headers)
    if (trim_name(name) == lower_name) return true;
  return false;
}

void remove_header(Headers& headers, std::string_view lower_name) {
  std::erase_if(headers, [&](const auto& h) { return trim_name(h.first) == lower_name; });
}

std::optional<std::string> header_value(const Headers& headers, std::string_view lower_name) {
  for (const auto& [name, value] : headers)
    if (trim_name(name) == lower_name) return value;
  return std::nullopt;
}

// RFC 3986 5.2.4 plus what AWS services also expect: empty segments go too.
std::string remove_dot_segments(std::string_view path) {
  if (path.empty()) return "/";
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    auto seg = path.substr(start, end - start);
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
    } else if (!seg.empty() && seg != ".") {
      out.push_back(seg);
    }
    start = end + 1;
  }
  std::string result = path.front() == '/' ? "/" : "";
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (i) result += '/';
    result += out[i];
  }
  if (path.back() == '/' && !out.empty()) result += '/';
  return result;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len))
    throw Error(ErrorCode::internal, "HMAC-SHA256 failed");
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::tm utc(Clock::time_point t) {
  auto secs = std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
  auto tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return tm;
}

std::string two(int v) {
  return {static_cast<char>('0' + v / 10 % 10), static_cast<char>('0' + v % 10)};
}

std::string format_day(const std::tm& tm) {
  int y = tm.tm_year + 1900;
  return std::to_string(y) + two(tm.tm_mon + 1) + two(tm.tm_mday);
}

void require(bool ok, const char* what) {
  if (!ok) throw Error(ErrorCode::invalid_argument, std::string("SigV4: ") + what);
}

}  // namespace

std::string uri_encode(std::string_view s, bool keep_slash) {
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (unsigned char c : s) {
    if (is_unreserved(c) || (keep_slash && c == '/'))
      out += static_cast<char>(c);
    else
      append_pct(out, c);
  }
  return out;
}

std::string uri_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string amz_day(Clock::time_point t) { return format_day(utc(t)); }

std::string amz_date(Clock::time_point t) {
  auto tm = utc(t);
  return format_day(tm) + 'T' + two(tm.tm_hour) + two(tm.tm_min) + two(tm.tm_sec) + 'Z';
}

std::string canonical_uri(std::string_view path, bool normalize) {
  if (normalize) return uri_encode(remove_dot_segments(path), true);
  if (path.empty()) return "/";
  // S3: the path is already encoded once; keep it, but encode what a sender
  // left raw, so the result is the once-encoded form the service computes.
  std::string out;
  out.reserve(path.size());
  for (std::size_t i = 0; i < path.size(); ++i) {
    auto c = static_cast<unsigned char>(path[i]);
    if (c == '%' && i + 2 < path.size() && is_hex(path[i + 1]) && is_hex(path[i + 2])) {
      out += '%';
      out += upper(path.substr(i + 1, 2));
      i += 2;
    } else if (is_unreserved(c) || c == '/') {
      out += static_cast<char>(c);
    } else {
      append_pct(out, c);
    }
  }
  return out;
}

std::string canonical_query_string(const QueryParams& query) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(query.size());
  std::size_t total = 0;
  for (const auto& [k, v] : query) {
    enc.emplace_back(uri_encode(k, false), uri_encode(v, false));
    total += enc.back().first.size() + enc.back().second.size() + 2;
  }
  std::sort(enc.begin(), enc.end());  // by encoded key, then encoded value
  std::string out;
  out.reserve(total);
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

std::string canonical_header_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool pending_space = false;
  for (char c : value) {
    if (is_space(c)) {
      pending_space = !out.empty();
    } else {
      if (pending_space) out += ' ';
      pending_space = false;
      out += c;
    }
  }
  return out;
}

bool is_unsigned_header(std::string_view n) {
  static constexpr std::array<std::string_view, 14> kNames = {
      "baggage",           "connection", "expect",      "keep-alive", "proxy-authenticate",
      "proxy-authorization", "te",       "traceparent", "tracestate", "trailer",
      "transfer-encoding", "upgrade",    "user-agent",  "x-amzn-trace-id"};
  return std::find(kNames.begin(), kNames.end(), n) != kNames.end();
}

CanonicalHeaders canonical_headers(const Headers& headers, std::string_view host) {
  // name -> values in the order given; std::map sorts names bytewise.
  std::map<std::string, std::vector<std::string>> byname;
  for (const auto& [name, value] : headers) {
    auto n = trim_name(name);
    if (is_unsigned_header(n)) continue;
    byname[n].push_back(canonical_header_value(value));
  }
  if (!byname.count("host")) byname["host"].push_back(std::string(host));
  CanonicalHeaders out;
  for (const auto& [name, values] : byname) {
    out.text += name;
    out.text += ':';
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i) out.text += ',';
      out.text += values[i];
    }
    out.text += '\n';
    if (!out.signed_headers.empty()) out.signed_headers += ';';
    out.signed_headers += name;
  }
  return out;
}

std::string credential_scope(std::string_view day, std::string_view region,
                             std::string_view service) {
  std::string s;
  s.reserve(day.size() + region.size() + service.size() + 16);
  s.append(day).append("/").append(region).append("/").append(service).append("/aws4_request");
  return s;
}

Request prepare_request(const Request& request, const AwsCredentials& credentials,
                        const SigningOptions& options, Clock::time_point now) {
  require(!request.method.empty(), "empty method");
  require(!request.host.empty() || has_header(request.headers, "host"), "no host");
  require(!options.region.empty(), "empty region");
  require(!options.service.empty(), "empty service");
  require(!credentials.access_key_id.empty(), "empty access key id");
  Request r = request;
  auto date = amz_date(now);
  if (options.presign_expires) {
    auto secs = options.presign_expires->count();
    require(secs >= 1 && secs <= 604800, "presign expiry must be 1..604800 seconds");
    auto hdrs = canonical_headers(r.headers, r.host);
    r.query.emplace_back("X-Amz-Algorithm", std::string(kAlgorithm));
    r.query.emplace_back("X-Amz-Credential",
                         credentials.access_key_id + "/" +
                             credential_scope(date.substr(0, 8), options.region, options.service));
    r.query.emplace_back("X-Amz-Date", date);
    r.query.emplace_back("X-Amz-Expires", std::to_string(secs));
    r.query.emplace_back("X-Amz-SignedHeaders", hdrs.signed_headers);
    if (!credentials.session_token.empty())
      r.query.emplace_back("X-Amz-Security-Token", credentials.session_token);
    return r;
  }
  remove_header(r.headers, "authorization");
  remove_header(r.headers, "x-amz-date");
  r.headers.emplace_back("X-Amz-Date", date);
  if (!credentials.session_token.empty()) {
    remove_header(r.headers, "x-amz-security-token");
    r.headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  if (options.content_sha256_header || options.unsigned_payload) {
    std::string hash = options.unsigned_payload ? std::string(kUnsignedPayload)
                       : r.body_sha256          ? *r.body_sha256
                                                : detail::sha256_hex(r.body);
    remove_header(r.headers, "x-amz-content-sha256");
    r.headers.emplace_back("X-Amz-Content-SHA256", std::move(hash));
  }
  return r;
}

std::string payload_hash(const Request& prepared, const SigningOptions& options) {
  // A hash the request already declares is the one the service checks.
  if (auto declared = header_value(prepared.headers, "x-amz-content-sha256")) return *declared;
  if (options.unsigned_payload) return std::string(kUnsignedPayload);
  if (prepared.body_sha256) return *prepared.body_sha256;
  if (prepared.body.empty()) return std::string(kEmptySha256);
  return detail::sha256_hex(prepared.body);
}

namespace {
std::string build_canonical_request(const Request& prepared, const SigningOptions& options,
                                    const CanonicalHeaders& hdrs) {
  std::string out = upper(prepared.method);
  out += '\n';
  out += canonical_uri(prepared.path, options.normalize_path);
  out += '\n';
  out += canonical_query_string(prepared.query);
  out += '\n';
  out += hdrs.text;
  out += '\n';
  out += hdrs.signed_headers;
  out += '\n';
  out += payload_hash(prepared, options);
  return out;
}
}  // namespace

std::string canonical_request(const Request& prepared, const SigningOptions& options) {
  return build_canonical_request(prepared, options,
                                 canonical_headers(prepared.headers, prepared.host));
}

std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request) {
  std::string s(kAlgorithm);
  s += '\n';
  s.append(amz_date).append("\n").append(scope).append("\n");
  s += detail::sha256_hex(canonical_request);
  return s;
}

std::string derive_signing_key(std::string_view secret_access_key, std::string_view day,
                               std::string_view region, std::string_view service) {
  std::string k = "AWS4";
  k.append(secret_access_key);
  auto k_date = hmac_sha256(k, day);
  auto k_region = hmac_sha256(k_date, region);
  auto k_service = hmac_sha256(k_region, service);
  return hmac_sha256(k_service, "aws4_request");
}

std::string compute_signature(std::string_view signing_key, std::string_view sts) {
  return detail::hex(hmac_sha256(signing_key, sts));
}

std::string SigningKeyCache::get(const AwsCredentials& credentials, std::string_view day,
                                 std::string_view region, std::string_view service) {
  auto owner = credentials.access_key_id + "\n" + detail::sha256_raw(credentials.secret_access_key);
  auto key = std::make_tuple(std::string(day), std::string(region), std::string(service));
  {
    std::lock_guard lock(mu_);
    if (owner == owner_) {
      if (auto it = keys_.find(key); it != keys_.end()) {
        ++hits_;
        return it->second;
      }
    }
  }
  // Derive outside the lock; two threads racing on a miss both derive the same key.
  auto derived = derive_signing_key(credentials.secret_access_key, day, region, service);
  std::lock_guard lock(mu_);
  ++misses_;
  if (owner != owner_) {
    keys_.clear();
    owner_ = std::move(owner);
  }
  if (keys_.size() >= capacity_) keys_.clear();
  keys_.emplace(std::move(key), derived);
  return derived;
}

std::size_t SigningKeyCache::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}

std::size_t SigningKeyCache::misses() const {
  std::lock_guard lock(mu_);
  return misses_;
}

SignedRequest sign(const Request& request, const AwsCredentials& credentials,
                   const SigningOptions& options, Clock::time_point now,
                   SigningKeyCache* cache) {
  auto prepared = prepare_request(request, credentials, options, now);
  SignedRequest out;
  auto hdrs = canonical_headers(prepared.headers, prepared.host);
  out.canonical_request = build_canonical_request(prepared, options, hdrs);
  auto date = amz_date(now);
  auto day = date.substr(0, 8);
  auto scope = credential_scope(day, options.region, options.service);
  out.string_to_sign = string_to_sign(date, scope, out.canonical_request);
  auto key = cache ? cache->get(credentials, day, options.region, options.service)
                   : derive_signing_key(credentials.secret_access_key, day, options.region,
                                        options.service);
  out.signature = compute_signature(key, out.string_to_sign);
  out.query_string = canonical_query_string(prepared.query);
  if (options.presign_expires) {
    out.query_string += (out.query_string.empty() ? "" : "&");
    out.query_string += "X-Amz-Signature=" + out.signature;
    out.headers = std::move(prepared.headers);
    return out;
  }
  out.authorization = std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                      scope + ", SignedHeaders=" + hdrs.signed_headers +
                      ", Signature=" + out.signature;
  out.headers = std::move(prepared.headers);
  out.headers.emplace_back("Authorization", out.authorization);
  return out;
}

}  // namespace raycluster::sigv4
