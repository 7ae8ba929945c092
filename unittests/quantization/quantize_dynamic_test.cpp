#include "passes/core/error.h"
#include "passes/core/pass.h"
#include "passes/quantization/quantize_dynamic.h"
#include "quantization/layer_graph.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <optional>

namespace tsopt {
namespace {

using torch::jit::Graph;
using namespace testing_layers;

bool quantize(std::shared_ptr<Graph>& graph, const std::string& options = "", const std::string& keepFloat = "") {
  QuantizeDynamicPass pass;
  pass.setIdentity("quantize-dynamic", "");
  if (!options.empty()) {
    std::string error;
    EXPECT_TRUE(pass.findOption("min-size")->parse(options, error)) << error;
  }
  if (!keepFloat.empty()) {
    std::string error;
    EXPECT_TRUE(pass.findOption("keep-float")->parse(keepFloat, error)) << error;
  }
  PassContext context("quantize-dynamic", "forward", false, nullptr);
  return pass.runOnGraph(graph, context);
}

TEST(QuantizeDynamicTest, LinearKeepsItsResultsWithinInt8Accuracy) {
  at::manual_seed(0);
  at::Tensor weight = at::randn({96, 128}) * 0.05;
  at::Tensor bias = at::randn({96}) * 0.1;
  at::Tensor input = at::randn({2, 7, 128});
  auto graph = layerGraph(weight, bias, false);
  at::Tensor expected = runGraph(graph, input);
  ASSERT_TRUE(quantize(graph));
  EXPECT_EQ(countKind(*graph, "aten::linear"), 0u);
  EXPECT_EQ(countKind(*graph, "quantized::linear_dynamic"), 1u);
  at::Tensor actual = runGraph(graph, input);
  EXPECT_EQ(actual.sizes(), expected.sizes());
  EXPECT_GT(cosine(actual, expected), 0.9995);
  // The float32 weight and bias constants are gone with the linear.
  for (const torch::jit::Node* node : graph->nodes()) {
    if (node->kind() == c10::prim::Constant && node->output()->type()->cast<c10::TensorType>()) {
      ADD_FAILURE() << "float32 constant left: " << *node;
    }
  }
}

TEST(QuantizeDynamicTest, MatmulWithConstantRightOperandBecomesLinear) {
  at::manual_seed(1);
  at::Tensor weight = at::randn({64, 80});
  at::Tensor input = at::randn({3, 80});
  auto graph = layerGraph(weight, std::nullopt, true);
  at::Tensor expected = runGraph(graph, input);
  ASSERT_TRUE(quantize(graph));
  EXPECT_EQ(countKind(*graph, "aten::matmul"), 0u);
  EXPECT_GT(cosine(runGraph(graph, input), expected), 0.9995);
}

TEST(QuantizeDynamicTest, InputsKnownToBeOneDimensionalStayFloat) {
  // quantized::linear_dynamic needs at least two dimensions; matmul and
  // linear take vectors too. Unknown ranks are the common case and get
  // rewritten (as PyTorch's quantize_dynamic does); known vectors do not.
  auto graph = layerGraph(at::randn({64, 80}), std::nullopt, true);
  graph->inputs()[0]->setType(c10::TensorType::create(at::kFloat, at::kCPU, c10::optional<size_t>(1), false));
  EXPECT_FALSE(quantize(graph));
  graph->inputs()[0]->setType(c10::TensorType::create(at::kFloat, at::kCPU, c10::optional<size_t>(3), false));
  EXPECT_TRUE(quantize(graph));
}

TEST(QuantizeDynamicTest, SmallLayersStayFloatUnlessMinSizeAllows) {
  at::Tensor weight = at::randn({8, 8});
  auto graph = layerGraph(weight, std::nullopt, false);
  EXPECT_FALSE(quantize(graph));
  EXPECT_EQ(countKind(*graph, "aten::linear"), 1u);
  EXPECT_TRUE(quantize(graph, "0"));
  EXPECT_EQ(countKind(*graph, "aten::linear"), 0u);
}

TEST(QuantizeDynamicTest, WeightsThatRequireGradStayFloat) {
  auto graph = layerGraph(at::randn({64, 64}), std::nullopt, false);
  // insertConstant refuses such tensors; a hand-made graph can still hold one.
  torch::jit::Node* weight = graph->nodes().front();
  ASSERT_EQ(weight->kind(), c10::prim::Constant);
  weight->t_(c10::attr::value, at::randn({64, 64}).requires_grad_());
  EXPECT_FALSE(quantize(graph));
  EXPECT_EQ(countKind(*graph, "aten::linear"), 1u);
}

TEST(QuantizeDynamicTest, KeepFloatLeavesTheNamedLayerInFloat32) {
  auto graph = layerGraph(at::randn({64, 64}), std::nullopt, false);
  graph->nodes().front()->output()->setDebugName("self.encoder.fc.weight");
  EXPECT_FALSE(quantize(graph, "", "encoder.fc"));
  EXPECT_FALSE(quantize(graph, "", "encoder"));
  EXPECT_FALSE(quantize(graph, "", "encoder.fc.weight"));
  EXPECT_EQ(countKind(*graph, "aten::linear"), 1u);
  EXPECT_TRUE(quantize(graph));
}

TEST(QuantizeDynamicTest, KeepFloatNamingNoLayerIsAnError) {
  auto graph = layerGraph(at::randn({64, 64}), std::nullopt, false);
  graph->nodes().front()->output()->setDebugName("self.encoder.fc.weight");
  try {
    quantize(graph, "", "encoder.f");
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("keep-float: no layer's weight is named by 'encoder.f'"),
              std::string::npos)
        << error.what();
  }
}

TEST(QuantizeDynamicTest, KeepFloatNamesFrozenWeightsByTheirSubmodule) {
  EXPECT_TRUE(keepFloatNamesWeight("fc", "self.fc.weight"));
  EXPECT_TRUE(keepFloatNamesWeight("seq", "self.seq.2.weight"));
  EXPECT_TRUE(keepFloatNamesWeight("fc.weight", "self.fc.weight.1"));
  EXPECT_TRUE(keepFloatNamesWeight("w", "w"));
  EXPECT_FALSE(keepFloatNamesWeight("fc", "self.fc2.weight"));
  EXPECT_FALSE(keepFloatNamesWeight("seq.1", "self.seq.12.weight"));
  EXPECT_EQ(keepFloatEntryFor("self.seq.2.weight"), "seq.2");
  EXPECT_EQ(keepFloatEntryFor("self.conv1.weight_fused_bn"), "conv1");
  EXPECT_EQ(keepFloatEntryFor("self.fc.weight.1"), "fc.weight.1");
  EXPECT_EQ(keepFloatEntryFor("w.3"), "w.3");
  EXPECT_TRUE(keepFloatNamesWeight(keepFloatEntryFor("self.fc.weight.1"), "self.fc.weight.1"));
  EXPECT_FALSE(keepFloatNamesWeight(keepFloatEntryFor("self.fc.weight.1"), "self.fc.weight"));
}

} // namespace
} // namespace tsopt
