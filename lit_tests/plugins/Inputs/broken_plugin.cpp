//===- broken_plugin.cpp - Pass plugins the loader must refuse ------------===//
///
/// Built twice (see plugins.cmake): with TSOPT_BROKEN_API_VERSION it speaks a
/// plugin API this tsopt does not, otherwise it claims a LibTorch release tsopt
/// was not built with. Either way its registration function must never run.
///
//===----------------------------------------------------------------------===//
#include "passes/core/plugin.h"

#include <cstdlib>

namespace {

void registerNothing(tsopt::PassRegistry&) { std::abort(); }

} // namespace

extern "C" __attribute__((visibility("default"))) tsopt::PassPluginInfo tsoptGetPassPluginInfo() {
#ifdef TSOPT_BROKEN_API_VERSION
  return {tsopt::kPluginApiVersion + 1, "broken-api", "0", TSOPT_TORCH_VERSION_STRING, registerNothing};
#else
  return {tsopt::kPluginApiVersion, "broken-torch", "0", "0.1", registerNothing};
#endif
}
