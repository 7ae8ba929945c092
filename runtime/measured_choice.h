//===- measured_choice.h - Choosing between two computations by timing them -===//
///
/// Where a layer can compute its result two ways and no rule tells which is
/// faster on this machine for this problem (tsopt's oneDNN 2.6 kernel or
/// LibTorch's own convolution, whose oneDNN may be newer, or may have kernels
/// for an ISA 2.6 lacks), the runtime times both on the problem's first call
/// and keeps the faster for every later call of the same problem.
///
/// TSOPT_MEASURE=0 turns measuring off (the rules alone choose: the same
/// choice on every run and machine); TSOPT_MEASURE=log also prints each
/// decision on stderr, one line each. The two computations differ only in
/// float32 rounding, so a measured choice never changes what a graph computes
/// beyond that.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace tsopt::runtime {

/// Whether layers may time their alternatives (TSOPT_MEASURE is not "0").
bool measuringEnabled();

/// What challengerMeasuredFaster found: each computation's fastest call, in seconds.
struct Measurement {
  double incumbentSeconds = 0.0;
  double challengerSeconds = 0.0;
  bool challengerFaster = false;
};

/// Runs `incumbent` and `challenger` once each untimed (first-call costs:
/// primitive creation, caches), then `rounds` times each, alternately, and
/// compares their fastest calls: the challenger wins only when it takes under
/// `margin` times the incumbent's time, so noise keeps the incumbent.
Measurement challengerMeasuredFaster(const std::function<void()>& incumbent, const std::function<void()>& challenger,
                                     int rounds = 3, double margin = 0.95);

/// One line on stderr for a decision, when TSOPT_MEASURE=log: `what` names the problem.
void logMeasurement(const std::string& what, const Measurement& measurement, const char* incumbentName,
                    const char* challengerName);

/// Per problem key, whether the challenger was measured faster. Thread-safe:
/// a problem is measured once, other callers of it wait for the answer.
template <typename Key, typename Hash> class MeasuredChoices {
public:
  bool challengerFaster(const Key& key, const std::function<Measurement()>& measure) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = choices_.find(key);
    if (found == choices_.end()) {
      found = choices_.emplace(key, measure().challengerFaster).first;
    }
    return found->second;
  }
  /// The choice already made for `key`: 1 challenger, 0 incumbent, -1 not measured yet.
  int decided(const Key& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = choices_.find(key);
    return found == choices_.end() ? -1 : static_cast<int>(found->second);
  }

private:
  std::mutex mutex_;
  std::unordered_map<Key, bool, Hash> choices_;
};

} // namespace tsopt::runtime
