// Internal: how the reconcile loop's parts report an AutoscalerEvent.
#pragma once

#include <mutex>
#include <string>

#include "monitor/autoscaler_loop.hpp"

namespace raycluster::detail {

// Stamps events with options.now() and hands them to options.on_event, one
// at a time (setup threads and the tick emit concurrently). A callback that
// throws does not stop the loop. `options` must outlive the emitter.
class EventEmitter {
 public:
  explicit EventEmitter(const AutoscalerOptions& options) : options_(options) {}

  void emit(AutoscalerEvent e);
  void emit(std::string type, std::string detail_text);

 private:
  const AutoscalerOptions& options_;
  std::mutex mu_;
};

}  // namespace raycluster::detail
