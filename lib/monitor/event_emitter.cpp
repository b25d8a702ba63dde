#include "monitor/event_emitter.hpp"

namespace raycluster::detail {

void EventEmitter::emit(AutoscalerEvent e) {
  if (e.time == std::chrono::system_clock::time_point{}) e.time = options_.now();
  if (!options_.on_event) return;
  std::lock_guard<std::mutex> lock(mu_);
  try {
    options_.on_event(e);
  } catch (...) {
    // A throwing callback must not stop the loop.
  }
}

void EventEmitter::emit(std::string type, std::string detail_text) {
  AutoscalerEvent e;
  e.type = std::move(type);
  e.detail = std::move(detail_text);
  emit(std::move(e));
}

}  // namespace raycluster::detail
