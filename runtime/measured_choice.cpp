#include "runtime/measured_choice.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace tsopt::runtime {
namespace {

const char* measureSetting() {
  const char* setting = std::getenv("TSOPT_MEASURE");
  return setting == nullptr ? "" : setting;
}

double secondsOf(const std::function<void()>& computation) {
  const auto start = std::chrono::steady_clock::now();
  computation();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

bool measuringEnabled() {
  static const bool enabled = std::string(measureSetting()) != "0";
  return enabled;
}

Measurement challengerMeasuredFaster(const std::function<void()>& incumbent, const std::function<void()>& challenger,
                                     int rounds, double margin) {
  incumbent();
  challenger();
  Measurement measurement;
  measurement.incumbentSeconds = std::numeric_limits<double>::infinity();
  measurement.challengerSeconds = std::numeric_limits<double>::infinity();
  for (int round = 0; round < rounds; ++round) {
    measurement.incumbentSeconds = std::min(measurement.incumbentSeconds, secondsOf(incumbent));
    measurement.challengerSeconds = std::min(measurement.challengerSeconds, secondsOf(challenger));
  }
  measurement.challengerFaster = measurement.challengerSeconds < margin * measurement.incumbentSeconds;
  return measurement;
}

void logMeasurement(const std::string& what, const Measurement& measurement, const char* incumbentName,
                    const char* challengerName) {
  static const bool logging = std::string(measureSetting()) == "log";
  if (!logging) {
    return;
  }
  std::fprintf(stderr, "tsopt measure: %s: %s %.3f ms, %s %.3f ms: %s\n", what.c_str(), incumbentName,
               measurement.incumbentSeconds * 1e3, challengerName, measurement.challengerSeconds * 1e3,
               measurement.challengerFaster ? challengerName : incumbentName);
}

} // namespace tsopt::runtime
