// request-resources' input (the CLI's --cpus/--bundles, rc_request_resources):
// the first 8 bytes are num_cpus, the rest the bundles JSON. Whatever parses
// stays within the limits, and survives being written and read back.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "monitor/resource_request.hpp"
#include "util/error.hpp"


namespace {
const std::string& state_dir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/rc-fuzz-request-XXXXXX";
    const char* d = mkdtemp(tmpl);
    if (!d) std::abort();
    return std::string(d);
  }();
  return dir;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::int64_t num_cpus = 0;
  if (size >= sizeof num_cpus) {
    std::memcpy(&num_cpus, data, sizeof num_cpus);
    data += sizeof num_cpus;
    size -= sizeof num_cpus;
  }
  std::string_view json(reinterpret_cast<const char*>(data), size);
  std::vector<raycluster::ResourceDemand> got;
  try {
    got = raycluster::parse_resource_request(size ? std::optional<std::string_view>(json)
                                                  : std::nullopt,
                                             num_cpus);
  } catch (const raycluster::Error&) {
    return 0;
  }
  std::int64_t total = 0;
  for (const auto& d : got) {
    if (d.count < 1) std::abort();
    total += d.count;
  }
  if (total > raycluster::kMaxRequestedBundles) std::abort();
  raycluster::write_resource_request(state_dir(), got);
  auto back = raycluster::read_resource_request(state_dir());
  if (back.size() != got.size()) std::abort();
  return 0;
}
