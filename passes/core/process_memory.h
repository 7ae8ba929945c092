#pragma once

#include <cstddef>
#include <optional>

namespace tsopt {

/// The process's resident memory now and its peak so far, in bytes, from
/// /proc/self/status (VmRSS, VmHWM). Unset where the system does not say.
struct ProcessMemory {
  std::optional<size_t> resident;
  std::optional<size_t> peak;
};

ProcessMemory processMemory();

} // namespace tsopt
