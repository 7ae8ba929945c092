#include "passes/core/pass.h"
#include "passes/quantization/convert_bf16.h"
#include "quantization/layer_graph.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace tsopt {
namespace {

using namespace testing_layers;

bool convert(std::shared_ptr<Graph>& graph) {
  ConvertBf16Pass pass;
  pass.setIdentity("convert-bf16", "");
  PassContext context("convert-bf16", "forward", false, nullptr);
  return pass.runOnGraph(graph, context);
}

TEST(ConvertBf16Test, LinearAndMatmulKeepFloat32BoundariesAndBf16Accuracy) {
  at::manual_seed(0);
  at::Tensor weight = at::randn({96, 128}) * 0.05;
  at::Tensor bias = at::randn({96}) * 0.1;
  at::Tensor input = at::randn({2, 7, 128});
  for (bool asMatmul : {false, true}) {
    auto graph = layerGraph(weight, asMatmul ? std::nullopt : std::optional<at::Tensor>(bias), asMatmul);
    at::Tensor expected = runGraph(graph, input);
    ASSERT_TRUE(convert(graph));
    EXPECT_EQ(countKind(*graph, "aten::to"), 2u);
    at::Tensor actual = runGraph(graph, input);
    EXPECT_EQ(actual.scalar_type(), at::kFloat);
    EXPECT_EQ(actual.sizes(), expected.sizes());
    EXPECT_GT(cosine(actual, expected), 0.9999);
    EXPECT_FALSE(at::equal(actual, expected));  // It did compute in bf16.
  }
}

TEST(ConvertBf16Test, ChainedLayersShareTheBf16Value) {
  at::manual_seed(1);
  auto graph = std::make_shared<Graph>();
  torch::jit::Value* x = graph->addInput("x");
  torch::jit::Value* none = graph->insertConstant(c10::IValue());
  torch::jit::Value* value = x;
  for (int layer = 0; layer < 2; ++layer) {
    torch::jit::Value* w = graph->insertConstant(at::randn({64, 64}) * 0.1);
    value = graph->insertNode(graph->create(c10::Symbol::fromQualString("aten::linear"), {value, w, none}, 1))->output();
  }
  graph->registerOutput(value);
  at::Tensor input = at::randn({4, 64});
  at::Tensor expected = runGraph(graph, input);
  ASSERT_TRUE(convert(graph));
  // One cast in, one out, and a dead float32 cast in between that dce removes.
  EXPECT_EQ(countKind(*graph, "aten::to"), 3u);
  EXPECT_GT(cosine(runGraph(graph, input), expected), 0.9999);
}

} // namespace
} // namespace tsopt
