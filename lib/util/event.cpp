#include "util/event.hpp"

#include "util/error.hpp"

namespace raycluster {

void CancelToken::throw_if_cancelled() const {
  if (cancelled()) throw Error(ErrorCode::cancelled, "operation cancelled");
}

}  // namespace raycluster
