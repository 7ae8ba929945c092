#include "runtime/cuda_graph_cache.h"

#include <torch/csrc/jit/api/object.h>

#include <string>

namespace tsopt::runtime {

CaptureState::~CaptureState() = default;

CudaGraphCache::CudaGraphCache(int64_t maxGraphs) : maxGraphs_(maxGraphs) {
  TORCH_CHECK(maxGraphs >= 0, "tsopt.CudaGraphCache: max_graphs must be 0 or more, got ", maxGraphs);
}

CudaGraphCache::~CudaGraphCache() = default;

int64_t CudaGraphCache::capturedGraphs() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_ ? state_->capturedGraphs() : 0;
}

std::vector<at::Tensor> resultTensors(const c10::IValue& result, c10::string_view method) {
  if (result.isTensor()) {
    return {result.toTensor()};
  }
  TORCH_CHECK(result.isTuple(), "tsopt::cuda_graph_run: method '", method,
              "' must return a Tensor or a tuple of Tensors, got ", result.tagKind());
  std::vector<at::Tensor> tensors;
  for (const c10::IValue& element : result.toTupleRef().elements()) {
    TORCH_CHECK(element.isTensor(), "tsopt::cuda_graph_run: method '", method,
                "' must return a Tensor or a tuple of Tensors, got a tuple holding ", element.tagKind());
    tensors.push_back(element.toTensor());
  }
  return tensors;
}

std::vector<at::Tensor> callMethod(const c10::IValue& module, c10::string_view method,
                                   const std::vector<at::Tensor>& inputs) {
  TORCH_CHECK(module.isObject(), "tsopt::cuda_graph_run: expected a module, got ", module.tagKind());
  torch::jit::Object object(module.toObject());
  const std::string name(method.data(), method.size());
  auto found = object.find_method(name);
  TORCH_CHECK(found.has_value(), "tsopt::cuda_graph_run: the module has no method '", name, "'");
  return resultTensors((*found)(std::vector<c10::IValue>(inputs.begin(), inputs.end())), method);
}

} // namespace tsopt::runtime
