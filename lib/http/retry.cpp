// The one retry loop: exponential backoff with full jitter, Retry-After
// honoured, a budget of attempts and of waiting time per operation.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <random>

#include "util/error.hpp"
#include "http/http.hpp"
#include "util/strings.hpp"

namespace raycluster {

using std::chrono::milliseconds;

Sleeper real_sleeper() {
  return [](milliseconds d, const CancelToken& cancel) { return cancel.sleep_for(d); };
}

RandomSource real_random() {
  struct State {
    std::mutex mu;
    std::mt19937_64 rng{std::random_device{}()};
    std::uniform_real_distribution<double> dist{0.0, 1.0};
  };
  auto s = std::make_shared<State>();
  return [s] {
    std::lock_guard<std::mutex> lock(s->mu);
    return s->dist(s->rng);
  };
}

WallClock real_wall_clock() {
  return [] { return std::chrono::system_clock::now(); };
}

namespace {

int month_index(std::string_view m) {
  static constexpr const char* names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
  std::string l = detail::ascii_lower(m);
  for (int i = 0; i < 12; ++i)
    if (l == names[i]) return i;
  return -1;
}

// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), RFC 850 ("Sunday,
// 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37 1994").
std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view s) {
  std::string text(detail::trim(s));
  std::vector<std::string> words;
  std::string cur;
  for (char c : text) {
    if (c == ' ' || c == ',' || c == '-') {
      if (!cur.empty()) words.push_back(cur), cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) words.push_back(cur);
  int day = -1, mon = -1, year = -1, hh = -1, mm = -1, ss = -1;
  auto parse_time = [&](const std::string& t) {
    return std::sscanf(t.c_str(), "%2d:%2d:%2d", &hh, &mm, &ss) == 3;
  };
  auto num = [](const std::string& w, int& out) {
    if (w.empty() || !std::all_of(w.begin(), w.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return false;
    out = std::stoi(w);
    return true;
  };
  if (words.size() == 6 && words[5] == "GMT") {  // IMF-fixdate or RFC 850
    if (!num(words[1], day) || (mon = month_index(words[2])) < 0 || !num(words[3], year) ||
        !parse_time(words[4]))
      return std::nullopt;
    if (words[3].size() == 2) year += year < 70 ? 2000 : 1900;
  } else if (words.size() == 5) {  // asctime
    if ((mon = month_index(words[1])) < 0 || !num(words[2], day) || !parse_time(words[3]) ||
        !num(words[4], year))
      return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon;
  tm.tm_mday = day;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  time_t t = ::timegm(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t);
}

bool retryable_status(int status) {
  return status == 429 || status == 503 || (status >= 500 && status <= 599 && status != 501);
}

}  // namespace

std::optional<milliseconds> parse_retry_after(std::string_view value,
                                              std::chrono::system_clock::time_point now) {
  auto v = detail::trim(value);
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    if (v.size() > 9) return milliseconds(999999999LL * 1000);
    return milliseconds(std::stoll(std::string(v)) * 1000);
  }
  auto when = parse_http_date(v);
  if (!when) return std::nullopt;
  auto d = std::chrono::duration_cast<milliseconds>(*when - now);
  return std::max(d, milliseconds(0));
}

RetryingTransport::RetryingTransport(HttpTransport& inner, RetryPolicy policy, Deps deps)
    : inner_(inner), policy_(std::move(policy)), deps_(std::move(deps)) {
  if (!deps_.sleep) deps_.sleep = real_sleeper();
  if (!deps_.random) deps_.random = real_random();
  if (!deps_.now) deps_.now = real_wall_clock();
  policy_.max_attempts = std::max(1, policy_.max_attempts);
}

HttpResponse RetryingTransport::send(const HttpRequest& request, const CancelToken& cancel) {
  milliseconds waited{0};
  for (int attempt = 1;; ++attempt) {
    cancel.throw_if_cancelled();
    // What an earlier attempt streamed (part of a 2xx body whose connection
    // dropped, say) is void: the consumer starts over.
    if (attempt > 1 && request.body_sink.restart) request.body_sink.restart();
    RetryNotice notice;
    notice.attempt = attempt;
    std::optional<HttpResponse> response;
    std::optional<Error> failure;
    try {
      response = inner_.send(request, cancel);
      response->attempts = attempt;
    } catch (const Error& e) {
      if (e.code() == ErrorCode::cancelled || !e.retryable() || !policy_.retry_transport_errors)
        throw;
      failure = e;
    }
    std::optional<milliseconds> retry_after;
    if (response) {
      bool throttled = policy_.is_throttle && policy_.is_throttle(*response);
      if (!throttled && !retryable_status(response->status)) return std::move(*response);
      if (!throttled && policy_.is_final && policy_.is_final(*response))
        return std::move(*response);
      notice.status = response->status;
      notice.reason = throttled ? "throttled (HTTP " + std::to_string(response->status) + ")"
                                : "HTTP " + std::to_string(response->status);
      if (auto ra = response->header("Retry-After")) retry_after = parse_retry_after(*ra, deps_.now());
    } else {
      notice.reason = std::string(error_code_name(failure->code())) + ": " + redact(failure->what());
    }
    if (attempt >= policy_.max_attempts) {
      if (response) return std::move(*response);
      throw *failure;
    }
    milliseconds delay;
    if (retry_after) {
      delay = *retry_after;
      notice.from_retry_after = true;
    } else {
      // Full jitter: uniform in [0, min(max_delay, base * 2^(attempt-1))].
      double cap = std::min(static_cast<double>(policy_.max_delay.count()),
                            static_cast<double>(policy_.base_delay.count()) *
                                std::ldexp(1.0, std::min(attempt - 1, 30)));
      double r = std::clamp(deps_.random(), 0.0, 1.0);
      delay = milliseconds(static_cast<std::int64_t>(std::floor(r * cap)));
    }
    if (waited + delay > policy_.budget) {
      // Waiting that long would overrun the operation's budget: give up now.
      if (response) return std::move(*response);
      throw *failure;
    }
    notice.delay = delay;
    if (deps_.on_retry) deps_.on_retry(notice);
    if (!deps_.sleep(delay, cancel)) throw Error(ErrorCode::cancelled, "request cancelled");
    waited += delay;
  }
}

}  // namespace raycluster
