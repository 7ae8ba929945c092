// capture-cuda-graph on the CPU: the rewrite, its refusals, and that the
// rewritten module computes what it did (the op calls the kept body there).
#include "passes/core/error.h"
#include "passes/fusion/capture_cuda_graph.h"
#include "runtime/cuda_graph_cache.h"
#include "unittests/runtime/cuda_graph_testing.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/import.h>

#include <sstream>

namespace tsopt {
namespace {

struct PassResult {
  bool changed;
  std::string debug;
};

PassResult capture(torch::jit::Module& module, const std::string& maxGraphs = "4") {
  CaptureCudaGraphPass pass;
  pass.setIdentity("capture-cuda-graph", "");
  std::string error;
  EXPECT_TRUE(pass.findOption("max-graphs")->parse(maxGraphs, error)) << error;
  std::ostringstream debug;
  PassContext context("capture-cuda-graph", "forward", true, &debug);
  bool changed = pass.runOnModule(module, context);
  return {changed, debug.str()};
}

size_t count(const torch::jit::Graph& graph, const char* kind) {
  size_t found = 0;
  for (const torch::jit::Node* node : graph.nodes()) {
    found += node->kind() == c10::Symbol::fromQualString(kind);
  }
  return found;
}

using runtime::testing::cacheOf;

TEST(CaptureCudaGraphTest, WrapsForwardAndKeepsItsBody) {
  torch::jit::Module module = runtime::testing::convLinearModule();
  at::Tensor x = at::randn({2, 3, 8, 8});
  at::Tensor expected = module.forward({x}).toTensor();

  PassResult result = capture(module, "2");
  ASSERT_TRUE(result.changed) << result.debug;
  auto graph = module.get_method("forward").graph();
  EXPECT_EQ(count(*graph, "tsopt::cuda_graph_run"), 1u);
  EXPECT_EQ(count(*graph, "aten::conv2d"), 0u);
  ASSERT_TRUE(module.find_method("forward_uncaptured").has_value());
  EXPECT_EQ(count(*module.get_method("forward_uncaptured").graph(), "aten::conv2d"), 1u);
  ASSERT_TRUE(cacheOf(module));
  EXPECT_EQ(cacheOf(module)->maxGraphs(), 2);
  EXPECT_TRUE(module.forward({x}).toTensor().equal(expected));

  std::stringstream archive;
  module.save(archive);
  torch::jit::Module loaded = torch::jit::load(archive);
  EXPECT_TRUE(loaded.forward({x}).toTensor().equal(expected));
  EXPECT_EQ(cacheOf(loaded)->maxGraphs(), 2);
}

TEST(CaptureCudaGraphTest, KeepsATupleResultATuple) {
  torch::jit::Module module("Pair");
  module.define("def forward(self, x, y):\n  return (x + y, torch.relu(x))\n");
  at::Tensor x = at::randn({4}), y = at::randn({4});
  ASSERT_TRUE(capture(module).changed);
  auto outputs = module.forward({x, y}).toTupleRef().elements();
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_TRUE(outputs[0].toTensor().equal(x + y));
  EXPECT_TRUE(outputs[1].toTensor().equal(at::relu(x)));
}

TEST(CaptureCudaGraphTest, SecondRunChangesNothing) {
  torch::jit::Module module = runtime::testing::convLinearModule();
  ASSERT_TRUE(capture(module).changed);
  PassResult again = capture(module);
  EXPECT_FALSE(again.changed);
  EXPECT_NE(again.debug.find("it is captured already"), std::string::npos) << again.debug;
}

TEST(CaptureCudaGraphTest, RefusesWhatACaptureWouldChange) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"def forward(self, x, n: int):\n  return x * n\n", "argument 'n' has type int, not Tensor"},
      {"def forward(self, x):\n  return [x, x]\n", "it returns List[Tensor], not a Tensor or a tuple of Tensors"},
      {"def forward(self, x):\n  x.add_(1)\n  return x * 2\n", "aten::add_ writes argument 'x' in place"},
      {"def forward(self, x):\n  return x * x.sum().item()\n", "aten::item reads a tensor's value on the host"},
      {"def forward(self, x):\n  return x.view(-1)\n", "its result may alias argument 'x'"},
      {"def forward(self, x):\n  if bool(x.sum() > 0):\n    return x + 1\n  return x - 1\n",
       "aten::Bool reads a tensor's value on the host"},
      {"def forward(self, x):\n  return torch.nonzero(x)\n", "aten::nonzero has an output size that depends"},
      {"def forward(self, x):\n  return x.to(torch.device('cpu')) + 1\n", "aten::to copies a tensor to the host"},
      {"def forward(self):\n  return torch.zeros(1)\n", "it takes no tensor"},
  };
  for (const auto& [source, reason] : cases) {
    torch::jit::Module module("M");
    module.define(source);
    PassResult result = capture(module);
    EXPECT_FALSE(result.changed) << source;
    EXPECT_NE(result.debug.find(reason), std::string::npos) << source << "\n" << result.debug;
    EXPECT_FALSE(module.find_method("forward_uncaptured").has_value()) << source;
  }
}

TEST(CaptureCudaGraphTest, LooksIntoCalledMethods) {
  torch::jit::Module module("Outer");
  module.define(R"(
def helper(self, x):
    print(x)
    return x + 1

def forward(self, x):
    return self.helper(x) * 2
)");
  PassResult result = capture(module);
  EXPECT_FALSE(result.changed);
  EXPECT_NE(result.debug.find("prim::Print prints on the host"), std::string::npos) << result.debug;
}

TEST(CaptureCudaGraphTest, RefusesAttributeAssignments) {
  torch::jit::Module module("Counter");
  module.register_attribute("calls", c10::IntType::get(), 0);
  module.define("def forward(self, x):\n  self.calls += 1\n  return x + 1\n");
  PassResult result = capture(module);
  EXPECT_FALSE(result.changed);
  EXPECT_NE(result.debug.find("prim::SetAttr changes the module on the host"), std::string::npos) << result.debug;
}

TEST(CaptureCudaGraphTest, RejectsANegativeMaxGraphs) {
  torch::jit::Module module = runtime::testing::convLinearModule();
  try {
    capture(module, "-1");
    FAIL() << "max-graphs=-1 was accepted";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::Usage);
  }
}

} // namespace
} // namespace tsopt
