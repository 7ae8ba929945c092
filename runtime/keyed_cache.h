//===- keyed_cache.h - A value computed once per key, shared by threads ----===//
///
/// The runtime computes some things once per problem and keeps them for every
/// later call: oneDNN primitives with their packed weights (PrimitiveCache,
/// onednn_common.h) and measured choices between two kernels (conv_packed.cpp).
/// One key is computed once; other callers of it wait for the value.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>

namespace tsopt::runtime {

template <typename Value, typename Key, typename KeyHash> class KeyedCache {
public:
  /// The value for `key`, made by `create()` on the first request.
  template <typename Create> std::shared_ptr<const Value> get(const Key& key, Create&& create) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = entries_.find(key);
    if (found != entries_.end()) {
      return found->second;
    }
    auto value = std::make_shared<const Value>(create());
    entries_.emplace(key, value);
    return value;
  }

  /// The value for `key` if one was made; null otherwise. Makes none.
  std::shared_ptr<const Value> find(const Key& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = entries_.find(key);
    return found == entries_.end() ? nullptr : found->second;
  }

private:
  std::mutex mutex_;
  std::unordered_map<Key, std::shared_ptr<const Value>, KeyHash> entries_;
};

} // namespace tsopt::runtime
