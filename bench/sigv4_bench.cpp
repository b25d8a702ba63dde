// sigv4-bench: SigV4 signatures per second on N generated EC2-style requests.
//
//   sigv4-bench [--n N] [--seconds S] [--dump FILE]
//
// The requests come from a fixed-seed generator (splitmix64), so every run and
// bench/sigv4_bench.py (botocore, given --dump's file) sign the same ones.
// --dump writes them in auth_tool's case format, each with our signature, so
// the Python side can also check that botocore agrees.
// Prints: "sigv4 header signing, N requests: X signatures/s (key cache), Y signatures/s (no cache)".
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "auth/sigv4.hpp"
#include "util/fs.hpp"

using namespace raycluster;
using SteadyClock = std::chrono::steady_clock;

namespace {

struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  std::string token(std::size_t len, const char* alphabet) {
    std::string out;
    std::size_t n = std::char_traits<char>::length(alphabet);
    for (std::size_t i = 0; i < len; ++i) out += alphabet[below(n)];
    return out;
  }
};

struct Case {
  std::string method, url, body, token;
  sigv4::Headers headers;
  std::int64_t time;
};

const char* kAlnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

// What the EC2 provider sends: form-encoded Query API calls, a few GETs.
std::vector<Case> generate(std::size_t n) {
  static const char* kActions[] = {"DescribeInstances", "RunInstances", "TerminateInstances",
                                   "CreateTags", "DescribeSubnets", "DescribeSecurityGroups"};
  static const char* kRegions[] = {"us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"};
  Rng rng{20251125};
  std::vector<Case> cases;
  cases.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    Case c;
    std::string region = kRegions[rng.below(4)];
    std::string host = "https://ec2." + region + ".amazonaws.com/";
    std::string params = "Action=" + std::string(kActions[rng.below(6)]) + "&Version=2016-11-15";
    for (std::size_t f = 0, nf = rng.below(4); f < nf; ++f)
      params += "&Filter." + std::to_string(f + 1) + ".Name=tag%3Aray-cluster-name&Filter." +
                std::to_string(f + 1) + ".Value.1=" + rng.token(12, kAlnum);
    if (rng.below(4) == 0) {
      c.method = "GET";
      c.url = host + "?" + params;
    } else {
      c.method = "POST";
      c.url = host;
      c.body = params;
      c.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
    }
    c.headers.emplace_back("User-Agent", "raycluster/0.1 " + rng.token(8, kAlnum));
    if (rng.below(4) == 0) c.token = rng.token(300, kAlnum);
    c.time = 1764000000 + static_cast<std::int64_t>(rng.below(86400 * 3));
    cases.push_back(std::move(c));
  }
  return cases;
}

const char* region_of(const std::string& url) {
  static const char* kRegions[] = {"us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"};
  for (const char* r : kRegions)
    if (url.find(r) != std::string::npos) return r;
  return "us-east-1";
}

AwsCredentials credentials(const Case& c) {
  return {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", c.token, "bench"};
}

struct Prepared {
  sigv4::Request request;
  sigv4::SigningOptions options;
  AwsCredentials creds;
  sigv4::Clock::time_point now;
};

double run(const std::vector<Prepared>& reqs, double min_seconds, bool cache_keys,
           std::size_t& sink) {
  sigv4::SigningKeyCache cache;
  std::size_t signed_count = 0;
  auto start = SteadyClock::now();
  double elapsed = 0;
  do {
    for (const auto& p : reqs) {
      auto s = sigv4::sign(p.request, p.creds, p.options, p.now, cache_keys ? &cache : nullptr);
      sink += static_cast<unsigned char>(s.signature[0]);
    }
    signed_count += reqs.size();
    elapsed = std::chrono::duration<double>(SteadyClock::now() - start).count();
  } while (elapsed < min_seconds);
  return static_cast<double>(signed_count) / elapsed;
}

void dump(const std::vector<Case>& cases, const std::vector<Prepared>& reqs,
          const std::string& path) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto put = [&](const char* k, const std::string& v) {
    w.Key(k);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  };
  w.StartArray();
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const auto& p = reqs[i];
    w.StartObject();
    w.Key("id");
    w.Int64(static_cast<std::int64_t>(i));
    put("method", c.method);
    put("url", c.url);
    put("body", c.body);
    w.Key("headers");
    w.StartArray();
    for (const auto& [n, v] : c.headers) {
      w.StartArray();
      w.String(n.c_str());
      w.String(v.c_str());
      w.EndArray();
    }
    w.EndArray();
    put("service", p.options.service);
    put("region", p.options.region);
    put("access_key", p.creds.access_key_id);
    put("secret_key", p.creds.secret_access_key);
    if (!c.token.empty()) put("token", c.token);
    w.Key("time");
    w.Int64(c.time);
    put("signature", sigv4::sign(p.request, p.creds, p.options, p.now).signature);
    w.EndObject();
  }
  w.EndArray();
  detail::write_file_atomic(path, std::string(buf.GetString(), buf.GetSize()));
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = 20000;
  double seconds = 2.0;
  std::string dump_path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--n" && i + 1 < argc) {
      n = std::strtoul(argv[++i], nullptr, 10);
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::strtod(argv[++i], nullptr);
    } else if (a == "--dump" && i + 1 < argc) {
      dump_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: sigv4-bench [--n N] [--seconds S] [--dump FILE]\n");
      return 2;
    }
  }
  auto cases = generate(n);
  std::vector<Prepared> reqs;
  reqs.reserve(cases.size());
  for (const auto& c : cases) {
    Prepared p;
    p.request = sigv4::request_from_url(c.method, c.url);
    p.request.headers = c.headers;
    p.request.body = c.body;
    p.options.service = "ec2";
    p.options.region = region_of(c.url);
    p.creds = credentials(c);
    p.now = sigv4::Clock::time_point(std::chrono::seconds(c.time));
    reqs.push_back(std::move(p));
  }
  if (!dump_path.empty()) dump(cases, reqs, dump_path);
  std::size_t sink = 0;
  double cached = run(reqs, seconds, true, sink);
  double uncached = run(reqs, seconds, false, sink);
  std::printf("sigv4 header signing, %zu requests: %.0f signatures/s (key cache), "
              "%.0f signatures/s (no cache)%s\n",
              n, cached, uncached, sink == 0 ? " " : "");
  return 0;
}
