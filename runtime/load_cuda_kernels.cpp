#include "runtime/load_cuda_kernels.h"

#include <dlfcn.h>

#include <mutex>
#include <sys/stat.h>

namespace tsopt::runtime {
namespace {

#ifndef TSOPT_CUDA_KERNELS_LIBRARY
#define TSOPT_CUDA_KERNELS_LIBRARY ""
#endif
/// The companion's file name; empty when built without TSOPT_CUDA.
constexpr const char* kLibraryName = TSOPT_CUDA_KERNELS_LIBRARY;

/// The directory of libtsopt_runtime.so.
std::string runtimeDirectory() {
  std::string path = runtimeLibraryPath();
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

bool fileExists(const std::string& path) {
  struct stat status;
  return stat(path.c_str(), &status) == 0;
}

std::mutex& loadMutex() {
  static std::mutex mutex;
  return mutex;
}

/// The companion's handle, kept open for the life of the process.
void*& libraryHandle() {
  static void* handle = nullptr;
  return handle;
}

} // namespace

std::string runtimeLibraryPath() {
  Dl_info info;
  if (dladdr(reinterpret_cast<const void*>(&runtimeLibraryPath), &info) == 0 || info.dli_fname == nullptr) {
    return "";
  }
  return info.dli_fname;
}

std::string cudaKernelsLibraryPath() { return runtimeDirectory() + "/" + kLibraryName; }

bool loadCudaKernels(std::string* error) {
  auto fail = [&](std::string message) {
    if (error != nullptr) {
      *error = std::move(message);
    }
    return false;
  };
  if (*kLibraryName == '\0') {
    return fail("tsopt was built without CUDA kernels (TSOPT_CUDA=OFF)");
  }
  std::lock_guard<std::mutex> lock(loadMutex());
  if (libraryHandle() != nullptr) {
    return true;
  }
  const std::string path = cudaKernelsLibraryPath();
  if (!fileExists(path)) {
    return fail("the CUDA kernels' library " + path + " does not exist");
  }
  // Where libtorch_cuda is not loaded yet (the tsopt driver), RTLD_GLOBAL: the
  // companion's dependencies then serve any library loaded later, as they do
  // when Python's torch loaded them. Where it is (Python), RTLD_LOCAL, as
  // torch.ops.load_library opens libraries: the way seen to work on a GPU.
  void* torchCuda = dlopen("libtorch_cuda.so", RTLD_LAZY | RTLD_NOLOAD);
  if (torchCuda != nullptr) {
    dlclose(torchCuda);
  }
  void* handle = dlopen(path.c_str(), RTLD_NOW | (torchCuda != nullptr ? RTLD_LOCAL : RTLD_GLOBAL));
  if (handle == nullptr) {
    const char* message = dlerror();
    return fail("cannot load " + path + ": " + (message != nullptr ? message : "unknown error"));
  }
  libraryHandle() = handle;
  return true;
}

} // namespace tsopt::runtime
