#include "passes/core/pass.h"
#include "passes/fusion/fuse_add_layer_norm.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/irparser.h>

namespace tsopt {
namespace {

// The residual stream of a transformer block: (a + b) normalized over the last
// dimension, with weight and bias as inputs so the test feeds real values.
const char* kResidualLayerNorm = R"IR(
graph(%a : Tensor, %b : Tensor, %w : Tensor, %bias : Tensor):
  %one : int = prim::Constant[value=1]()
  %shape : int[] = prim::Constant[value=[16]]()
  %eps : float = prim::Constant[value=1.0000000000000001e-05]()
  %cudnn : bool = prim::Constant[value=1]()
  %s : Tensor = aten::add(%a, %b, %one)
  %y : Tensor = aten::layer_norm(%s, %shape, %w, %bias, %eps, %cudnn)
  return (%y)
)IR";

std::shared_ptr<torch::jit::Graph> parse(const std::string& text) {
  auto graph = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(text, graph.get());
  return graph;
}

bool fuse(std::shared_ptr<torch::jit::Graph>& graph) {
  FuseAddLayerNormPass pass;
  pass.setIdentity("fuse-add-layer-norm", "");
  PassContext context("fuse-add-layer-norm", "forward", false, nullptr);
  return pass.runOnGraph(graph, context);
}

at::Tensor run(const std::shared_ptr<torch::jit::Graph>& graph, std::vector<c10::IValue> inputs) {
  torch::jit::GraphFunction function("forward", graph->copy(), nullptr);
  return function(std::move(inputs)).toTensor();
}

size_t count(const torch::jit::Graph& graph, const char* kind) {
  size_t found = 0;
  for (const torch::jit::Node* node : graph.nodes()) {
    found += node->kind() == c10::Symbol::fromQualString(kind);
  }
  return found;
}

// The fused op computes exactly what the pair did in float32 on the CPU: a
// full residual and a broadcast (per-feature) one.
TEST(FuseAddLayerNormTest, SameFloat32ResultsAsAddThenLayerNorm) {
  at::manual_seed(0);
  at::Tensor w = at::rand({16}) + 0.5;
  at::Tensor bias = at::randn({16});
  for (at::Tensor b : {at::randn({2, 5, 16}), at::randn({16})}) {
    at::Tensor a = at::randn({2, 5, 16});
    auto graph = parse(kResidualLayerNorm);
    at::Tensor expected = run(graph, {a, b, w, bias});
    ASSERT_TRUE(fuse(graph));
    EXPECT_EQ(count(*graph, "tsopt::add_layer_norm"), 1u);
    EXPECT_EQ(count(*graph, "aten::add"), 0u);
    EXPECT_TRUE(at::equal(run(graph, {a, b, w, bias}), expected));
  }
}

TEST(FuseAddLayerNormTest, KeepsASumThatIsUsedAgain) {
  std::string text = kResidualLayerNorm;
  text.replace(text.find("return (%y)"), 11, "%z : Tensor = aten::add(%y, %s, %one)\n  return (%z)");
  auto graph = parse(text);
  EXPECT_FALSE(fuse(graph));
  EXPECT_EQ(count(*graph, "aten::layer_norm"), 1u);
}

} // namespace
} // namespace tsopt
