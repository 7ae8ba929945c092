//===- compat.h - LibTorch version differences ----------------------------===//
///
/// Every difference between the LibTorch releases tsopt builds against (1.13 and
/// 2.x) lives here, so the rest of the tree is written once. Include this header
/// instead of spelling version checks anywhere else.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <torch/csrc/api/include/torch/version.h>

#include <optional>
#include <string>

#define TSOPT_TORCH_AT_LEAST(MAJOR, MINOR)                                    \
  (TORCH_VERSION_MAJOR > (MAJOR) ||                                           \
   (TORCH_VERSION_MAJOR == (MAJOR) && TORCH_VERSION_MINOR >= (MINOR)))

#define TSOPT_STRINGIFY_IMPL(X) #X
#define TSOPT_STRINGIFY(X) TSOPT_STRINGIFY_IMPL(X)

/// "MAJOR.MINOR" of the LibTorch this translation unit was compiled against.
/// Plugins record it so the driver can refuse one built for another LibTorch.
#define TSOPT_TORCH_VERSION_STRING                                            \
  TSOPT_STRINGIFY(TORCH_VERSION_MAJOR) "." TSOPT_STRINGIFY(TORCH_VERSION_MINOR)

namespace tsopt::compat {

// LibTorch 2.3 moved c10::optional onto std::optional; 1.13 has its own type.
// Conversions between the two stay inside this header.
#if TSOPT_TORCH_AT_LEAST(2, 3)
template <typename T> using TorchOptional = std::optional<T>;
#else
template <typename T> using TorchOptional = c10::optional<T>;
#endif

template <typename T> std::optional<T> toStd(const TorchOptional<T>& value) {
  if (!value) {
    return std::nullopt;
  }
  return *value;
}

} // namespace tsopt::compat
