//===- plugin.h - Pass plugins loaded at run time ---------------------------===//
///
/// A pass plugin is a shared library that exports one C entry point,
/// `tsoptGetPassPluginInfo`, returning a PassPluginInfo. Write it with the macro:
///
///   static void registerMyPasses(tsopt::PassRegistry& registry) {
///     registry.registerPass("my-pass", "One-line summary",
///                           [] { return std::make_unique<MyPass>(); }, "libmine");
///   }
///   TSOPT_PASS_PLUGIN("mine", "1.0", registerMyPasses)
///
/// and load it with `tsopt --load-pass-plugin=libmine.so`. The driver refuses a
/// plugin built against another plugin API or another LibTorch release, since
/// either would break the C++ ABI the passes share.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/compat.h"
#include "passes/core/registry.h"

#include <cstdint>
#include <string>

namespace tsopt {

/// Bumped whenever Pass, PassContext, PassRegistry or PassPluginInfo change
/// incompatibly (2: PassContext emits remarks).
constexpr uint32_t kPluginApiVersion = 2;

extern "C" {
struct PassPluginInfo {
  uint32_t apiVersion;
  const char* pluginName;
  const char* pluginVersion;
  const char* torchVersion;
  void (*registerPasses)(tsopt::PassRegistry& registry);
};
}

constexpr const char* kPluginEntryPoint = "tsoptGetPassPluginInfo";

/// Loads `path`, checks its info and lets it register into `registry`. Returns
/// the plugin's name. Throws tsopt::Error (Usage) naming the file and problem.
std::string loadPassPlugin(const std::string& path, PassRegistry& registry);

} // namespace tsopt

#define TSOPT_PASS_PLUGIN(NAME, VERSION, REGISTER_FN)                          \
  extern "C" __attribute__((visibility("default"))) ::tsopt::PassPluginInfo  \
  tsoptGetPassPluginInfo() {                                                 \
    return {::tsopt::kPluginApiVersion, NAME, VERSION,                       \
            TSOPT_TORCH_VERSION_STRING, REGISTER_FN};                        \
  }
