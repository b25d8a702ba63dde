// Secrets never reach logs: redact() rewrites free text (headers, query
// strings, JSON, XML, INI lines, PEM blocks) before anything is printed.
// A hand-written scanner rather than std::regex: linear time, no backtracking
// on hostile input, and cheap enough for every log line.
#include <algorithm>
#include <array>
#include <cctype>

#include "http/http.hpp"
#include "util/strings.hpp"

namespace raycluster {
namespace {

constexpr std::string_view kMask = "[REDACTED]";

bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

// Field names whose values are secrets, lower case without '-' and '_'.
bool secret_name(std::string_view ident) {
  std::string n;
  for (char c : ident)
    if (c != '-' && c != '_') n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static constexpr std::array<std::string_view, 24> names = {
      "authorization", "proxyauthorization", "xamzsecuritytoken", "xamzsignature",
      "xamzcredential", "xgoogsignature",    "xgoogcredential",   "awssecretaccesskey",
      "secretaccesskey", "secretkey",        "awssessiontoken",   "sessiontoken",
      "securitytoken",  "accesstoken",       "refreshtoken",      "idtoken",
      "clientsecret",   "privatekey",        "privatekeyid",      "password",
      "passwd",         "apikey",            "token",             "assertion"};
  return std::find(names.begin(), names.end(), n) != names.end() || n == "signature";
}

bool starts_with_icase(std::string_view s, std::size_t at, std::string_view word) {
  if (at + word.size() > s.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[at + i])) != word[i]) return false;
  return true;
}

// Masks PEM private key blocks (a block cut off at the end is masked to the end).
std::string redact_pem(std::string_view in) {
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    std::size_t begin = in.find("-----BEGIN ", pos);
    if (begin == std::string_view::npos) break;
    std::size_t label_end = in.find("-----", begin + 11);
    if (label_end == std::string_view::npos) break;
    std::string_view label = in.substr(begin + 11, label_end - begin - 11);
    if (label.size() < 11 || label.substr(label.size() - 11) != "PRIVATE KEY") {
      out.append(in.substr(pos, label_end + 5 - pos));
      pos = label_end + 5;
      continue;
    }
    out.append(in.substr(pos, label_end + 5 - pos));
    std::string end_marker = "-----END " + std::string(label) + "-----";
    std::size_t end = in.find(end_marker, label_end + 5);
    out.append(kMask);
    if (end == std::string_view::npos) return out;
    out.append(end_marker);
    pos = end + end_marker.size();
  }
  out.append(in.substr(pos));
  return out;
}

}  // namespace

std::string redact(std::string_view text) {
  std::string s = redact_pem(text);
  std::string out;
  out.reserve(s.size());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    // Bearer and Basic credentials, wherever they appear.
    if ((i == 0 || !ident_char(s[i - 1])) &&
        (starts_with_icase(s, i, "bearer ") || starts_with_icase(s, i, "basic "))) {
      std::size_t v = i + (starts_with_icase(s, i, "bearer ") ? 6 : 5);
      while (v < n && s[v] == ' ') ++v;
      std::size_t e = v;
      while (e < n && (std::isalnum(static_cast<unsigned char>(s[e])) ||
                       std::string_view("._~+/=-").find(s[e]) != std::string_view::npos))
        ++e;
      if (e > v) {
        out.append(s, i, v - i);
        out.append(kMask);
        i = e;
        continue;
      }
    }
    if (!ident_char(s[i]) || (i > 0 && ident_char(s[i - 1]))) {
      out += s[i++];
      continue;
    }
    // An identifier starts here.
    std::size_t e = i;
    while (e < n && ident_char(s[e])) ++e;
    std::string_view ident(s.data() + i, e - i);
    out.append(ident);
    std::size_t next = e;
    if (!secret_name(ident)) {
      i = next;
      continue;
    }
    const bool quoted = i > 0 && s[i - 1] == '"' && e < n && s[e] == '"';
    const bool xml = i > 0 && s[i - 1] == '<' && e < n && s[e] == '>';
    if (xml) {
      // <SessionToken>value</SessionToken>
      std::size_t close = s.find('<', e + 1);
      if (close == std::string::npos) close = n;
      out += '>';
      if (close > e + 1) out.append(kMask);
      i = close;
      continue;
    }
    std::size_t p = quoted ? e + 1 : e;
    std::size_t sep = p;
    while (sep < n && (s[sep] == ' ' || s[sep] == '\t')) ++sep;
    if (sep >= n || (s[sep] != ':' && s[sep] != '=')) {
      i = next;
      continue;
    }
    std::size_t v = sep + 1;
    while (v < n && (s[v] == ' ' || s[v] == '\t')) ++v;
    out.append(s, e, v - e);  // closing quote, separator and spaces as they were
    if (v < n && s[v] == '"') {
      // A JSON string: mask what is inside the quotes.
      std::size_t q = v + 1;
      while (q < n && s[q] != '"') q += s[q] == '\\' ? 2 : 1;
      out += '"';
      out.append(kMask);
      if (q < n) out += '"';
      i = std::min(q + 1, n);
      continue;
    }
    std::size_t end = v;
    if (s[sep] == ':' && !quoted) {
      while (end < n && s[end] != '\r' && s[end] != '\n') ++end;  // a header: to the end of the line
    } else if (s[sep] == ':') {
      while (end < n && s[end] != ',' && s[end] != '}' && !std::isspace(static_cast<unsigned char>(s[end]))) ++end;
    } else {
      while (end < n && s[end] != '&' && s[end] != ';' && s[end] != '"' &&
             !std::isspace(static_cast<unsigned char>(s[end])))
        ++end;
    }
    if (end > v) out.append(kMask);
    i = end;
  }
  return out;
}

namespace {
bool sensitive_header(std::string_view name) {
  std::string n = detail::ascii_lower(name);
  for (char& c : n)
    if (c == '_') c = '-';
  static constexpr std::array<std::string_view, 9> names = {
      "authorization", "proxy-authorization", "x-amz-security-token", "cookie", "set-cookie",
      "x-goog-api-key", "x-api-key", "x-aws-ec2-metadata-token", "x-amz-signature"};
  if (std::find(names.begin(), names.end(), n) != names.end()) return true;
  return n.find("secret") != std::string::npos || n.find("token") != std::string::npos ||
         n.find("password") != std::string::npos;
}
}  // namespace

HttpHeaders redact(const HttpHeaders& headers) {
  HttpHeaders out;
  out.reserve(headers.size());
  for (const auto& [k, v] : headers)
    out.emplace_back(k, sensitive_header(k) ? std::string(kMask) : redact(v));
  return out;
}

std::string describe(const HttpRequest& request) {
  return request.method + " " + redact(request.url);
}

}  // namespace raycluster
