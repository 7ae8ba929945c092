//===- compat.h - LibTorch version differences ----------------------------===//
///
/// Every difference between the LibTorch releases tsopt builds against (1.13 and
/// 2.x) lives here, so the rest of the tree is written once. Include this header
/// instead of spelling version checks anywhere else. The tree keeps to APIs both
/// releases share and lets `auto` absorb c10::optional vs std::optional; what
/// differs goes behind TSOPT_TORCH_AT_LEAST here:
///   - c10's warning handler (ScopedWarningHandler);
///   - whether ATen's convolution skips padded taps (kAtenConvolutionSkipsPadding).
/// Build-level differences (C++20 for 2.x, the wheel's CUDA LibTorch, its own
/// oneDNN) are in cmake/TsoptTorch.cmake, cmake/tsoptFindTorch.cmake and
/// runtime/onednn_library.cpp.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <c10/util/Exception.h>
#include <torch/csrc/api/include/torch/version.h>

#include <functional>
#include <string>
#include <utility>


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

/// Whether ATen's CPU convolution computes only the taps of a dilated or
/// padded layer that read the input: the 2.x wheels' oneDNN 3.x brgemm kernels
/// skip the zero padding, so their time follows the useful work, where 1.13's
/// oneDNN (2.6, like tsopt's own) multiplies every tap. The runtime hands
/// layers that mostly read padding to ATen where this holds (ConvPacked::run).
constexpr bool kAtenConvolutionSkipsPadding = TSOPT_TORCH_AT_LEAST(2, 0);

/// For its lifetime, every warning LibTorch raises (TORCH_WARN) goes to `sink`,
/// with its message, instead of LibTorch's default (a line on stderr).
/// LibTorch 1.13 passes (location, message, verbatim); 2.x a c10::Warning.
class ScopedWarningHandler final : public c10::WarningHandler {
public:
  explicit ScopedWarningHandler(std::function<void(const std::string& message)> sink)
      : sink_(std::move(sink)), previous_(getHandler()) {
    setHandler(this);
  }
  ~ScopedWarningHandler() override { setHandler(previous_); }
  ScopedWarningHandler(const ScopedWarningHandler&) = delete;
  ScopedWarningHandler& operator=(const ScopedWarningHandler&) = delete;

#if TSOPT_TORCH_AT_LEAST(2, 0)
  void process(const c10::Warning& warning) override { sink_(warning.msg()); }

private:
  static c10::WarningHandler* getHandler() { return c10::WarningUtils::get_warning_handler(); }
  static void setHandler(c10::WarningHandler* handler) { c10::WarningUtils::set_warning_handler(handler); }
#else
  void process(const c10::SourceLocation&, const std::string& message, const bool) override { sink_(message); }

private:
  static c10::WarningHandler* getHandler() { return c10::Warning::get_warning_handler(); }
  static void setHandler(c10::WarningHandler* handler) { c10::Warning::set_warning_handler(handler); }
#endif
  std::function<void(const std::string& message)> sink_;
  c10::WarningHandler* previous_;
};

} // namespace tsopt::compat
