//===- load_cuda_kernels.h - Loading the CUDA kernels of the tsopt:: ops ---===//
///
/// libtsopt_runtime.so registers every tsopt:: op with a catch-all kernel
/// (ATen's computation, or oneDNN on float32 CPU tensors). Its companion
/// libtsopt_runtime_cuda.so, built beside it when TSOPT_CUDA is on, registers
/// CUDA kernels of the same ops under the CUDA dispatch key. The runtime does
/// not link it, so a CPU program never loads libtorch_cuda (about a second of
/// startup and a few hundred MiB of mappings); it is loaded
///  - by loadCudaKernels() (the tsopt driver's --device=cuda), or
///  - by the catch-all kernels of libtsopt_runtime.so on their first CUDA tensor
///    (Python: `import torch` of a CUDA build, then
///    torch.ops.load_library(libtsopt_runtime.so)), which then call their op
///    again; never while libtsopt_runtime.so itself is being loaded (docs/cuda.md).
///
//===----------------------------------------------------------------------===//
#pragma once

#include <string>

namespace tsopt::runtime {

/// Loads libtsopt_runtime_cuda.so from the directory of libtsopt_runtime.so
/// (which pulls in libtorch_cuda.so) and so registers the CUDA kernels. Returns
/// true when they are registered (also when they already were); otherwise false,
/// with the reason in `error` (built without TSOPT_CUDA, library missing, the
/// loader's message). Does not need a GPU: without one, CUDA tensors cannot be
/// made, but the kernels are registered. Thread-safe.
bool loadCudaKernels(std::string* error = nullptr);

/// The path loadCudaKernels() opens (whether or not it exists).
std::string cudaKernelsLibraryPath();

/// The path libtsopt_runtime.so was loaded from ("" if the loader cannot say):
/// what the Python package hands torch.ops.load_library.
std::string runtimeLibraryPath();


} // namespace tsopt::runtime
