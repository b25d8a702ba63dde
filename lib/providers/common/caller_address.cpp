#include "providers/common/caller_address.hpp"

#include <cstdio>

#include "util/error.hpp"
#include "util/strings.hpp"

namespace raycluster::detail {
namespace {

constexpr const char* kDefaultCheckIp = "https://checkip.amazonaws.com";

bool valid_ipv4(std::string_view s) {
  unsigned a, b, c, d;
  char tail;
  std::string t(s);
  if (std::sscanf(t.c_str(), "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &tail) != 4) return false;
  return a < 256 && b < 256 && c < 256 && d < 256;
}

}  // namespace

std::vector<std::string> caller_ssh_cidrs(const ClusterSpec& spec, const Environment& env,
                                          HttpTransport& transport, const CancelToken& cancel) {
  if (!spec.provider.ssh_allowed_cidrs.empty()) return spec.provider.ssh_allowed_cidrs;
  // Only this machine may reach port 22: ask what address it has outside.
  std::string url = kDefaultCheckIp;
  if (auto v = env.get("RAYCLUSTER_CHECKIP_URL"); v && !v->empty()) url = *v;
  HttpRequest req;
  req.method = "GET";
  req.url = url;
  HttpResponse resp;
  try {
    resp = transport.send(req, cancel);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::cancelled) throw;
    throw Error(ErrorCode::unavailable,
                "cannot learn this machine's address from " + url + " (" + e.what() +
                    "): set provider.ssh_allowed_cidrs to the addresses allowed to reach SSH",
                true);
  }
  std::string ip(trim(resp.body));
  if (resp.status != 200 || !valid_ipv4(ip) || ip == "0.0.0.0")
    throw Error(ErrorCode::unavailable,
                url + " answered HTTP " + std::to_string(resp.status) +
                    " without an IPv4 address: set provider.ssh_allowed_cidrs to the addresses "
                    "allowed to reach SSH",
                true);
  return {ip + "/32"};
}

}  // namespace raycluster::detail
