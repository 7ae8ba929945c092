//===- cuda_graph_testing.h - Modules and calls for the cuda_graph_run tests -===//
#pragma once

#include "runtime/cuda_graph_cache.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/constants.h>

#include <string>
#include <vector>

namespace tsopt::runtime::testing {

/// tsopt::cuda_graph_run through the dispatcher, as a rewritten method calls it.
inline std::vector<at::Tensor> cudaGraphRun(const c10::intrusive_ptr<CudaGraphCache>& cache,
                                            const torch::jit::Module& module, const std::string& method,
                                            std::vector<at::Tensor> inputs) {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("tsopt::cuda_graph_run", "").typed<CudaGraphRunFn>();
  return op.call(cache, module._ivalue(), method, std::move(inputs));
}

/// A small CNN for inputs of shape (N, 3, 8, 8): a 3x3 convolution (8
/// channels), relu, and a linear layer (10 outputs) on the flattened map.
/// Fixed weights (seeded), none requiring grad.
inline torch::jit::Module convLinearModule() {
  at::manual_seed(0);
  torch::jit::Module module("ConvLinear");
  module.register_parameter("conv_weight", at::randn({8, 3, 3, 3}) * 0.3, /*is_buffer=*/false);
  module.register_parameter("conv_bias", at::randn({8}) * 0.1, false);
  module.register_parameter("fc_weight", at::randn({10, 512}) * 0.05, false);
  module.register_parameter("fc_bias", at::randn({10}) * 0.1, false);
  module.define(R"(
def forward(self, x):
    y = torch.relu(torch.conv2d(x, self.conv_weight, self.conv_bias, [1, 1], [1, 1]))
    return torch.linear(torch.flatten(y, 1), self.fc_weight, self.fc_bias)
)");
  module.eval();
  return module;
}

/// The cache constant that capture-cuda-graph put into `method`; null if none.
inline c10::intrusive_ptr<CudaGraphCache> cacheOf(const torch::jit::Module& module,
                                                  const std::string& method = "forward") {
  for (torch::jit::Node* node : module.get_method(method).graph()->nodes()) {
    if (node->kind() == c10::prim::Constant && node->output()->type()->cast<c10::ClassType>()) {
      return torch::jit::toIValue(node->output())->toCustomClass<CudaGraphCache>();
    }
  }
  return {};
}

} // namespace tsopt::runtime::testing
