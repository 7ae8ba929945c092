// tsopt::cuda_graph_run and tsopt.CudaGraphCache on the CPU, where the op
// calls the method (the capture is CUDA's: cuda_graph_run_test.cpp).
#include "runtime/cuda_graph_cache.h"
#include "unittests/runtime/cuda_graph_testing.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/custom_class.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/import.h>

#include <sstream>

namespace tsopt::runtime {
namespace {

using testing::cudaGraphRun;

TEST(CudaGraphCacheTest, CallsTheMethodOnTheCpu) {
  torch::jit::Module module = testing::convLinearModule();
  auto cache = c10::make_intrusive<CudaGraphCache>(4);
  for (int64_t batch : {1, 2}) {
    at::Tensor x = at::randn({batch, 3, 8, 8});
    at::Tensor expected = module.forward({x}).toTensor();
    std::vector<at::Tensor> outputs = cudaGraphRun(cache, module, "forward", {x});
    ASSERT_EQ(outputs.size(), 1u);
    EXPECT_TRUE(outputs[0].equal(expected));
  }
  EXPECT_EQ(cache->capturedGraphs(), 0);
}

TEST(CudaGraphCacheTest, ReturnsATuplesTensorsAsAList) {
  torch::jit::Module module("Pair");
  module.define("def forward(self, x, y):\n  return (x + y, x * y)\n");
  at::Tensor x = at::randn({3}), y = at::randn({3});
  std::vector<at::Tensor> outputs = cudaGraphRun(c10::make_intrusive<CudaGraphCache>(1), module, "forward", {x, y});
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_TRUE(outputs[0].equal(x + y));
  EXPECT_TRUE(outputs[1].equal(x * y));
}

TEST(CudaGraphCacheTest, RefusesOtherResultsAndMissingMethods) {
  torch::jit::Module module("Mixed");
  module.define("def forward(self, x):\n  return (x, 2)\n");
  auto cache = c10::make_intrusive<CudaGraphCache>(1);
  try {
    cudaGraphRun(cache, module, "forward", {at::ones({1})});
    FAIL() << "a tuple holding an int was accepted";
  } catch (const c10::Error& error) {
    EXPECT_NE(std::string(error.what()).find("must return a Tensor or a tuple of Tensors"), std::string::npos)
        << error.what();
  }
  EXPECT_THROW(cudaGraphRun(cache, module, "missing", {at::ones({1})}), c10::Error);
}

TEST(CudaGraphCacheTest, NeedsAMaxGraphsOfZeroOrMore) {
  EXPECT_EQ(CudaGraphCache(0).maxGraphs(), 0);
  EXPECT_THROW(CudaGraphCache(-1), c10::Error);
}

// A module holding a cache, as the pass leaves one (there as a constant):
// saving keeps max_graphs only, and the loaded cache starts empty.
TEST(CudaGraphCacheTest, PicklesMaxGraphsOnly) {
  torch::jit::Module module("Holder");
  module.register_attribute("cache", c10::getCustomClassType<c10::intrusive_ptr<CudaGraphCache>>(),
                            c10::IValue(c10::make_intrusive<CudaGraphCache>(3)));
  std::stringstream archive;
  module.save(archive);
  torch::jit::Module loaded = torch::jit::load(archive);
  auto cache = loaded.attr("cache").toCustomClass<CudaGraphCache>();
  EXPECT_EQ(cache->maxGraphs(), 3);
  EXPECT_EQ(cache->capturedGraphs(), 0);
}

} // namespace
} // namespace tsopt::runtime
