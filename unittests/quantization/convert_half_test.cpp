#include "passes/core/error.h"
#include "passes/core/pass.h"
#include "passes/quantization/convert_half.h"
#include "quantization/layer_graph.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <limits>
#include <utility>

namespace tsopt {
namespace {

using namespace testing_layers;

bool convert(std::shared_ptr<Graph>& graph, const std::string& dtype) {
  ConvertHalfPass pass;
  pass.setIdentity("convert-half", "");
  std::string error;
  EXPECT_TRUE(pass.findOption("dtype")->parse(dtype, error)) << error;
  PassContext context("convert-half", "forward", false, nullptr);
  return pass.runOnGraph(graph, context);
}

// A linear layer on float32 features plus an embedding of int64 ids: the ids
// pass the boundary untouched, the result comes back float32, close to the
// float32 graph's (bf16: 8 mantissa bits, cosine > 0.999 for one layer).
TEST(ConvertHalfTest, Bf16KeepsFloat32BoundariesAndIntegerInputs) {
  at::manual_seed(0);
  auto graph = std::make_shared<Graph>();
  torch::jit::Value* x = graph->addInput("x");
  torch::jit::Value* ids = graph->addInput("ids");
  torch::jit::Value* linear = graph->insert(
      c10::Symbol::fromQualString("aten::linear"),
      {x, graph->insertConstant(at::randn({32, 64}) * 0.1), graph->insertConstant(at::randn({32}) * 0.1)});
  torch::jit::Value* embedded =
      graph->insert(c10::Symbol::fromQualString("aten::embedding"), {graph->insertConstant(at::randn({10, 32})), ids});
  graph->registerOutput(graph->insert(c10::aten::add, {linear, embedded}));
  at::Tensor input = at::randn({4, 64});
  at::Tensor tokens = at::randint(0, 10, {4}, at::kLong);
  torch::jit::GraphFunction original("forward", graph->copy(), nullptr);
  at::Tensor expected = original({input, tokens}).toTensor();
  ASSERT_TRUE(convert(graph, "bf16"));
  torch::jit::GraphFunction converted("forward", graph->copy(), nullptr);
  at::Tensor actual = converted({input, tokens}).toTensor();
  EXPECT_EQ(actual.scalar_type(), at::kFloat);
  EXPECT_GT(cosine(actual, expected), 0.999);
  EXPECT_FALSE(at::equal(actual, expected));  // It did compute in bf16.
}

// finfo(float32).min, as a traced mask holds it, saturates to the half
// dtype's lowest finite value instead of becoming -inf (the mask's 0 * -inf
// would be NaN); infinities stay infinite.
TEST(ConvertHalfTest, OutOfRangeConstantsSaturate) {
  const std::pair<const char*, double> dtypes[] = {{"fp16", -65504.0}, {"bf16", -3.3895313892515355e+38}};
  for (const auto& [dtype, lowest] : dtypes) {
    auto graph = std::make_shared<Graph>();
    torch::jit::Value* keep = graph->addInput("keep");
    at::Tensor mask = at::tensor({std::numeric_limits<float>::lowest(), std::numeric_limits<float>::lowest(),
                                  -std::numeric_limits<float>::infinity()});
    graph->registerOutput(graph->insert(c10::aten::mul, {keep, graph->insertConstant(mask)}));
    ASSERT_TRUE(convert(graph, dtype));
    torch::jit::GraphFunction converted("forward", graph->copy(), nullptr);
    at::Tensor masked = converted({at::tensor({0.0f, 1.0f, 1.0f})}).toTensor().to(at::kDouble);
    EXPECT_EQ(masked[0].item<double>(), 0.0) << dtype;
    EXPECT_EQ(masked[1].item<double>(), lowest) << dtype;
    EXPECT_EQ(masked[2].item<double>(), -std::numeric_limits<double>::infinity()) << dtype;
  }
}

TEST(ConvertHalfTest, UnknownDtypeIsAUsageError) {
  auto graph = layerGraph(at::randn({4, 4}), std::nullopt, false);
  try {
    convert(graph, "fp8");
    FAIL() << "expected tsopt::Error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::Usage);
    EXPECT_STREQ(error.what(), "convert-half: dtype='fp8': expected fp16 or bf16");
  }
}

} // namespace
} // namespace tsopt
