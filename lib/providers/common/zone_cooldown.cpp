#include "providers/common/zone_cooldown.hpp"

namespace raycluster::detail {

void ZoneCooldown::mark(const std::string& zone, const std::string& type) {
  const auto until = now_() + period_;
  std::lock_guard<std::mutex> lock(mu_);
  until_[{zone, type}] = until;
}

ZoneCooldown::time_point ZoneCooldown::until(const std::string& zone, const std::string& type) const {
  const auto now = now_();
  std::lock_guard<std::mutex> lock(mu_);
  return until_locked(zone, type, now);
}

ZoneCooldown::time_point ZoneCooldown::until_locked(const std::string& zone, const std::string& type,
                                                    time_point now) const {
  auto it = until_.find({zone, type});
  return it == until_.end() || it->second <= now ? time_point{} : it->second;
}

}  // namespace raycluster::detail
