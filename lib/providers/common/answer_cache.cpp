#include "providers/common/answer_cache.hpp"

#include <exception>

#include "util/fs.hpp"

namespace raycluster::detail {
namespace {

// A cache file is small; anything bigger is not one of ours.
constexpr std::size_t kMaxCacheBytes = 1 << 20;

Value load(const std::string& path) {
  if (!path_exists(path)) return Value::object();
  try {
    Value v = Value::parse_json(read_file(path, kMaxCacheBytes));
    if (v.is_object()) return v;
  } catch (const std::exception&) {
    // unreadable: asked again and rewritten
  }
  return Value::object();
}

}  // namespace

std::optional<Value> cached_answer(const std::string& path, const std::string& key) {
  Value all = load(path);
  if (const Value* v = all.find(key)) return *v;
  return std::nullopt;
}

void store_answer(const std::string& path, const std::string& key, Value value) {
  Value all = load(path);
  all.set(key, std::move(value));
  write_file_atomic(path, all.to_json(2) + "\n", 0600);
}

}  // namespace raycluster::detail
