// The head's /api/cluster_status answer, as a malicious dashboard could send it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "monitor/load.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto load = raycluster::detail::parse_cluster_status(text, {"CPU", "GPU"});
  (void)load;
  return 0;
}
