#include "passes/core/plugin.h"

#include "passes/core/error.h"

#include <dlfcn.h>

namespace tsopt {

std::string loadPassPlugin(const std::string& path, PassRegistry& registry) {
  auto fail = [&](const std::string& message) {
    throw Error(ErrorKind::Usage, path + ": cannot load pass plugin: " + message);
  };
  // RTLD_GLOBAL keeps the plugin's symbols (pass vtables, typeinfo) visible to
  // libraries loaded after it; RTLD_NOW reports missing symbols here, not mid-run.
  // A bare file name would make dlopen search the library path; users mean the file.
  std::string file = path.find('/') == std::string::npos ? "./" + path : path;
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (handle == nullptr) {
    const char* reason = dlerror();
    fail(reason != nullptr ? firstLine(reason) : "dlopen failed");
  }
  using EntryPoint = PassPluginInfo (*)();
  auto entry = reinterpret_cast<EntryPoint>(dlsym(handle, kPluginEntryPoint));
  if (entry == nullptr) {
    fail(std::string("no '") + kPluginEntryPoint + "' entry point (was it built with TSOPT_PASS_PLUGIN?)");
  }
  PassPluginInfo info = entry();
  if (info.apiVersion != kPluginApiVersion) {
    fail("plugin API version " + std::to_string(info.apiVersion) + ", this tsopt expects " +
         std::to_string(kPluginApiVersion));
  }
  std::string torchVersion = info.torchVersion != nullptr ? info.torchVersion : "unknown";
  if (torchVersion != TSOPT_TORCH_VERSION_STRING) {
    fail("built against LibTorch " + torchVersion + ", this tsopt uses LibTorch " +
         TSOPT_TORCH_VERSION_STRING);
  }
  if (info.registerPasses == nullptr || info.pluginName == nullptr) {
    fail("plugin info has no name or no registration function");
  }
  info.registerPasses(registry);
  // The handle stays open: registered factories point into the plugin's code.
  return info.pluginName;
}

} // namespace tsopt
