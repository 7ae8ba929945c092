// tsopt::cuda_graph_run's CUDA kernel (runtime/cuda/cuda_graph_run.cpp): what
// a captured graph returns against the method run uncaptured, new input
// values, new shapes, max_graphs, the fallbacks. Needs a GPU: every test skips,
// saying so, without one.
//
// Tolerance: float32 with TF32 off, |captured - uncaptured| <= 1e-5 times the
// largest |uncaptured| element (a replay runs the kernels of the capture).
#include "passes/core/compat.h"
#include "passes/core/pass.h"
#include "passes/fusion/capture_cuda_graph.h"
#include "runtime/cuda_graph_cache.h"
#include "runtime/load_cuda_kernels.h"
#include "unittests/runtime/cuda_graph_testing.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <string>
#include <thread>
#include <vector>

namespace tsopt::runtime {
namespace {

using testing::cudaGraphRun;

constexpr double kRelativeTolerance = 1e-5;

void expectClose(const at::Tensor& actual, const at::Tensor& expected) {
  ASSERT_EQ(actual.sizes(), expected.sizes());
  ASSERT_TRUE(actual.is_cuda());
  const double scale = expected.abs().max().item<double>();
  const double error = (actual - expected).abs().max().item<double>();
  EXPECT_LE(error, kRelativeTolerance * scale) << "max abs error " << error << ", largest output " << scale;
}

/// The warnings raised while it lives.
class Warnings {
public:
  std::string text() const { return text_; }

private:
  std::string text_;
  compat::ScopedWarningHandler handler_{[this](const std::string& message) { text_ += message + "\n"; }};
};

class CudaGraphRunTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(loadCudaKernels(&error)) << error;
    if (!torch::cuda::is_available()) {
      GTEST_SKIP() << "no CUDA device: the CUDA graph tests need one";
    }
    // Captured and uncaptured calls then run the same full-float32 kernels.
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
    module_ = testing::convLinearModule();
    module_.to(at::kCUDA);
  }

  static at::Tensor input(int64_t batch) { return at::randn({batch, 3, 8, 8}, at::device(at::kCUDA)); }
  at::Tensor uncaptured(const at::Tensor& x) { return module_.forward({x}).toTensor(); }
  at::Tensor run(const c10::intrusive_ptr<CudaGraphCache>& cache, const at::Tensor& x) {
    std::vector<at::Tensor> outputs = cudaGraphRun(cache, module_, "forward", {x});
    EXPECT_EQ(outputs.size(), 1u);
    return outputs.at(0);
  }

  torch::jit::Module module_{"Unset"};
};

TEST_F(CudaGraphRunTest, CapturedResultMatchesTheUncapturedMethod) {
  auto cache = c10::make_intrusive<CudaGraphCache>(4);
  at::Tensor x = input(2);
  at::Tensor first = run(cache, x);  // The capture, then its first replay.
  EXPECT_EQ(cache->capturedGraphs(), 1);
  expectClose(first, uncaptured(x));
  expectClose(run(cache, x), uncaptured(x));
  EXPECT_EQ(cache->capturedGraphs(), 1);
}

TEST_F(CudaGraphRunTest, ReplaysNewInputValuesAndLeavesEarlierResultsAlone) {
  auto cache = c10::make_intrusive<CudaGraphCache>(4);
  at::Tensor x1 = input(2), x2 = input(2);
  at::Tensor first = run(cache, x1);
  at::Tensor firstCopy = first.clone();
  at::Tensor second = run(cache, x2);
  expectClose(second, uncaptured(x2));
  EXPECT_FALSE(at::allclose(first, second)) << "the second call returned the first call's values";
  EXPECT_TRUE(first.equal(firstCopy)) << "the second replay overwrote the first call's result";
  EXPECT_EQ(cache->capturedGraphs(), 1);
}

TEST_F(CudaGraphRunTest, ANewShapeCapturesAnotherGraph) {
  auto cache = c10::make_intrusive<CudaGraphCache>(4);
  for (int64_t batch : {1, 2, 1, 2}) {
    at::Tensor x = input(batch);
    expectClose(run(cache, x), uncaptured(x));
  }
  EXPECT_EQ(cache->capturedGraphs(), 2);
}

TEST_F(CudaGraphRunTest, BeyondMaxGraphsRunsUncaptured) {
  auto cache = c10::make_intrusive<CudaGraphCache>(1);
  Warnings warnings;
  for (int64_t batch : {1, 2, 3, 2}) {
    at::Tensor x = input(batch);
    expectClose(run(cache, x), uncaptured(x));
  }
  EXPECT_EQ(cache->capturedGraphs(), 1);
  EXPECT_NE(warnings.text().find("max_graphs (1)"), std::string::npos) << warnings.text();
}

// .item() synchronizes with the host, which fails the capture: the method
// runs uncaptured, and the process's CUDA state is as before (random numbers,
// other captures).
TEST_F(CudaGraphRunTest, AnUncapturableMethodRunsUncaptured) {
  torch::jit::Module module("Item");
  module.define("def forward(self, x):\n  return x * x.sum().item()\n");
  auto cache = c10::make_intrusive<CudaGraphCache>(4);
  Warnings warnings;
  for (int call = 0; call < 2; ++call) {
    at::Tensor x = input(2);
    std::vector<at::Tensor> outputs = cudaGraphRun(cache, module, "forward", {x});
    ASSERT_EQ(outputs.size(), 1u);
    expectClose(outputs[0], x * x.sum().item<double>());
  }
  EXPECT_EQ(cache->capturedGraphs(), 0);
  EXPECT_NE(warnings.text().find("runs uncaptured"), std::string::npos) << warnings.text();
  EXPECT_NE(warnings.text().find("capture failed"), std::string::npos) << warnings.text();

  EXPECT_NO_THROW(at::randn({16}, at::device(at::kCUDA)).sum().item<double>());
  auto other = c10::make_intrusive<CudaGraphCache>(4);
  at::Tensor x = input(1);
  expectClose(run(other, x), uncaptured(x));
  EXPECT_EQ(other->capturedGraphs(), 1);
}

TEST_F(CudaGraphRunTest, AutogradRunsUncaptured) {
  auto cache = c10::make_intrusive<CudaGraphCache>(4);
  at::Tensor x = input(1).requires_grad_(true);
  at::Tensor result = run(cache, x);
  EXPECT_TRUE(result.requires_grad());
  expectClose(result.detach(), uncaptured(x).detach());
  EXPECT_EQ(cache->capturedGraphs(), 0);

  // Parameters that require grad: no capture under grad mode, one under no_grad.
  for (at::Tensor parameter : module_.parameters()) {
    parameter.requires_grad_(true);
  }
  at::Tensor y = input(1);
  Warnings warnings;
  expectClose(run(cache, y).detach(), uncaptured(y).detach());
  EXPECT_EQ(cache->capturedGraphs(), 0);
  EXPECT_NE(warnings.text().find("requires grad"), std::string::npos) << warnings.text();
  at::NoGradGuard noGrad;
  expectClose(run(cache, y), uncaptured(y));
  EXPECT_EQ(cache->capturedGraphs(), 1);
}

// Copies of a module (deepcopy) share its methods, so its cache; each has
// weights of its own, and a graph of its own.
TEST_F(CudaGraphRunTest, ModuleCopiesGetGraphsOfTheirOwn) {
  auto cache = c10::make_intrusive<CudaGraphCache>(4);
  torch::jit::Module copy = module_.deepcopy();
  copy.attr("conv_weight").toTensor().mul_(-1.0);
  at::Tensor x = input(2);
  at::Tensor fromOriginal = run(cache, x);
  at::Tensor fromCopy = cudaGraphRun(cache, copy, "forward", {x}).at(0);
  expectClose(fromOriginal, uncaptured(x));
  expectClose(fromCopy, copy.forward({x}).toTensor());
  EXPECT_FALSE(at::allclose(fromOriginal, fromCopy));
  EXPECT_EQ(cache->capturedGraphs(), 2);
}

TEST_F(CudaGraphRunTest, ConcurrentCallersGetTheirOwnResults) {
  auto cache = c10::make_intrusive<CudaGraphCache>(4);
  std::vector<at::Tensor> inputs, expected;
  for (int index = 0; index < 8; ++index) {
    inputs.push_back(input(2));
    expected.push_back(uncaptured(inputs.back()));
  }
  std::vector<std::vector<at::Tensor>> results(2);
  std::vector<std::thread> callers;
  for (size_t caller = 0; caller < results.size(); ++caller) {
    callers.emplace_back([&, caller] {
      for (const at::Tensor& x : inputs) {
        results[caller].push_back(cudaGraphRun(cache, module_, "forward", {x}).at(0));
      }
    });
  }
  for (std::thread& caller : callers) {
    caller.join();
  }
  for (const auto& callerResults : results) {
    ASSERT_EQ(callerResults.size(), inputs.size());
    for (size_t index = 0; index < inputs.size(); ++index) {
      expectClose(callerResults[index], expected[index]);
    }
  }
  EXPECT_EQ(cache->capturedGraphs(), 1);
}

// The pass's rewrite of a module, moved to the GPU, captures on its first call.
TEST_F(CudaGraphRunTest, ACapturedModuleReplaysOnTheGpu) {
  torch::jit::Module module = testing::convLinearModule();
  CaptureCudaGraphPass pass;
  PassContext context("capture-cuda-graph", "forward", true, nullptr);
  ASSERT_TRUE(pass.runOnModule(module, context));
  module.to(at::kCUDA);
  for (int call = 0; call < 3; ++call) {
    at::Tensor x = input(2);
    expectClose(module.forward({x}).toTensor(), module.get_method("forward_uncaptured")({x}).toTensor());
  }
  EXPECT_EQ(testing::cacheOf(module)->capturedGraphs(), 1);
}

} // namespace
} // namespace tsopt::runtime
