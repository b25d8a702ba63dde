// Cloud answers that do not change (what a machine type has), kept in one
// JSON object file in the cluster's state folder so that later commands ask
// the cloud no more. Keys name the answer's scope ("region/type",
// "project/zone/type"); values are the provider's own small form of it.
// Not thread-safe: callers hold their own lock around lookup and store.
#pragma once

#include <optional>
#include <string>

#include "util/value.hpp"

namespace raycluster::detail {

// The value stored under `key` in the file at `path`; nullopt when the file,
// or the key, is missing, or the file is unreadable (it is then rewritten by
// the next store()).
std::optional<Value> cached_answer(const std::string& path, const std::string& key);

// Adds (or replaces) `key` in the file at `path`, written atomically, 0600.
void store_answer(const std::string& path, const std::string& key, Value value);

}  // namespace raycluster::detail
