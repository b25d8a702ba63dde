// request_from_url: URL -> Request, plus HTTP dates for the clock-skew helper.
#include <ctime>

#include "util/error.hpp"
#include "util/strings.hpp"
#include "auth/sigv4.hpp"

namespace raycluster::sigv4 {

namespace {


[[noreturn]] void bad_url(std::string_view why) {
  throw Error(ErrorCode::invalid_argument, "SigV4: malformed URL: " + std::string(why));
}

}  // namespace

Request request_from_url(std::string method, std::string_view url) {
  Request r;
  r.method = std::move(method);
  auto colon = url.find("://");
  if (colon == std::string_view::npos || colon == 0) bad_url("no scheme");
  auto scheme = detail::ascii_lower(url.substr(0, colon));
  auto rest = url.substr(colon + 3);
  if (auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  auto auth_end = rest.find_first_of("/?");
  auto authority = rest.substr(0, auth_end);
  rest = auth_end == std::string_view::npos ? std::string_view{} : rest.substr(auth_end);
  if (auto at = authority.rfind('@'); at != std::string_view::npos)
    authority = authority.substr(at + 1);
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) bad_url("unterminated IPv6 literal");
    host = authority.substr(0, close + 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') bad_url("junk after IPv6 literal");
      port = after.substr(1);
    }
  } else if (auto c = authority.rfind(':'); c != std::string_view::npos) {
    host = authority.substr(0, c);
    port = authority.substr(c + 1);
  }
  if (host.empty()) bad_url("no host");
  for (char c : port)
    if (c < '0' || c > '9') bad_url("port is not a number");
  r.host = detail::ascii_lower(host);
  bool default_port = port.empty() || (scheme == "https" && port == "443") ||
                      (scheme == "http" && port == "80");
  if (!default_port) r.host += ":" + std::string(port);

  auto q = rest.find('?');
  r.path = std::string(rest.substr(0, q));
  if (r.path.empty()) r.path = "/";
  if (q != std::string_view::npos) {
    auto query = rest.substr(q + 1);
    std::size_t start = 0;
    while (start <= query.size()) {
      auto end = query.find('&', start);
      if (end == std::string_view::npos) end = query.size();
      auto pair = query.substr(start, end - start);
      if (!pair.empty()) {
        auto eq = pair.find('=');
        if (eq == std::string_view::npos)
          r.query.emplace_back(uri_decode(pair), "");
        else
          r.query.emplace_back(uri_decode(pair.substr(0, eq)), uri_decode(pair.substr(eq + 1)));
      }
      start = end + 1;
    }
  }
  return r;
}

std::optional<Clock::time_point> parse_http_date(std::string_view v) {
  // "Sun, 06 Nov 1994 08:49:37 GMT": fixed layout after the comma.
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  auto comma = v.find(", ");
  if (comma != 3) return std::nullopt;
  v.remove_prefix(5);
  if (v.size() != 24 || v.substr(20) != " GMT") return std::nullopt;
  auto num = [&](std::size_t pos, std::size_t len) -> int {
    int n = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (v[i] < '0' || v[i] > '9') return -1;
      n = n * 10 + (v[i] - '0');
    }
    return n;
  };
  // "06 Nov 1994 08:49:37 GMT"
  if (v[2] != ' ' || v[6] != ' ' || v[11] != ' ' || v[14] != ':' || v[17] != ':')
    return std::nullopt;
  int mon = -1;
  for (int i = 0; i < 12; ++i)
    if (v.substr(3, 3) == kMonths[i]) mon = i;
  std::tm tm{};
  tm.tm_mday = num(0, 2);
  tm.tm_year = num(7, 4) - 1900;
  tm.tm_hour = num(12, 2);
  tm.tm_min = num(15, 2);
  tm.tm_sec = num(18, 2);
  tm.tm_mon = mon;
  if (mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_year < 70 || tm.tm_hour < 0 ||
      tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60)
    return std::nullopt;
  auto t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return Clock::from_time_t(t);
}

std::optional<std::chrono::seconds> clock_skew(std::string_view date_header,
                                               Clock::time_point now) {
  auto server = parse_http_date(date_header);
  if (!server) return std::nullopt;
  auto ours = std::chrono::floor<std::chrono::seconds>(now);
  return std::chrono::duration_cast<std::chrono::seconds>(*server - ours);
}

}  // namespace raycluster::sigv4
