#include "util/ids.hpp"

#include <openssl/rand.h>

#include <vector>

#include "util/error.hpp"
#include "util/hash.hpp"

namespace raycluster::detail {

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1)
    throw Error(ErrorCode::internal, "the random number generator failed");
  return hex(std::string_view(reinterpret_cast<const char*>(buf.data()), buf.size()));
}

}  // namespace raycluster::detail
