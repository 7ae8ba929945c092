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
#include <string>

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

} // namespace tsopt::runtime
