// The head's /api/v0/tasks answer (Ray's state API), as a malicious dashboard
// could send it: parsed, folded into the per-shape estimates and described.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "monitor/task_durations.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto page = raycluster::detail::parse_ray_tasks(text);
  raycluster::detail::TaskDurationTracker tracker;
  tracker.add(page);
  tracker.add(page);
  (void)raycluster::detail::describe_durations(tracker.estimates());
  (void)tracker.planner_estimates();
  return 0;
}
