//===- cuda_graph_cache.h - Per-module state of tsopt::cuda_graph_run -------===//
///
/// The pass capture-cuda-graph rewrites a method into one call
///
///   tsopt::cuda_graph_run(CudaGraphCache cache, Any module, str method, Tensor[] inputs) -> Tensor[]
///
/// of the method's original body, kept as another method of the module
/// (`forward_uncaptured`). The op's catch-all kernel (register_ops.cpp) calls
/// that method: on the CPU, and for CUDA tensors until the CUDA kernels are
/// loaded. The CUDA kernel (runtime/cuda/cuda_graph_run.cpp, in
/// libtsopt_runtime_cuda.so) captures the method into a CUDA graph per input
/// signature and replays it (docs/cuda.md).
///
/// tsopt.CudaGraphCache is the TorchScript custom class that holds the capture
/// state of one module: its option max_graphs, which is all it pickles (a
/// loaded module captures anew), and an opaque CaptureState that the CUDA
/// library creates and fills, so this library never depends on CUDA.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>
#include <c10/util/string_view.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace tsopt::runtime {

/// What a CUDA implementation keeps in a CudaGraphCache (captured graphs,
/// their static buffers); defined by the library that fills it.
struct CaptureState {
  virtual ~CaptureState();
  /// Input signatures with a captured graph.
  virtual int64_t capturedGraphs() const = 0;
};

class CudaGraphCache final : public torch::CustomClassHolder {
public:
  /// Throws c10::Error when maxGraphs is negative.
  explicit CudaGraphCache(int64_t maxGraphs);
  ~CudaGraphCache() override;

  /// How many input signatures may get a captured graph (0: none).
  int64_t maxGraphs() const { return maxGraphs_; }
  /// Input signatures captured so far (0 before any CUDA call).
  int64_t capturedGraphs() const;

  /// Guards captureState().
  std::mutex& mutex() const { return mutex_; }
  /// Created on the first CUDA call by the CUDA kernel; hold mutex().
  std::unique_ptr<CaptureState>& captureState() { return state_; }

private:
  int64_t maxGraphs_;
  mutable std::mutex mutex_;
  std::unique_ptr<CaptureState> state_;
};

/// The C++ signature of tsopt::cuda_graph_run's kernels (one for the catch-all
/// and the CUDA kernel, as the dispatcher requires).
using CudaGraphRunFn = std::vector<at::Tensor>(const c10::intrusive_ptr<CudaGraphCache>& cache,
                                               const c10::IValue& module, c10::string_view method,
                                               std::vector<at::Tensor> inputs);

/// Calls `method` of the module object `module` on `inputs` and returns its
/// result, a Tensor or a tuple of Tensors, as a list. Throws c10::Error when
/// `module` is no object with that method or the result is anything else.
std::vector<at::Tensor> callMethod(const c10::IValue& module, c10::string_view method,
                                   const std::vector<at::Tensor>& inputs);

/// A method's result as tsopt::cuda_graph_run returns it: [tensor] or the
/// tuple's tensors. Throws c10::Error naming `method` for anything else.
std::vector<at::Tensor> resultTensors(const c10::IValue& result, c10::string_view method);

} // namespace tsopt::runtime
