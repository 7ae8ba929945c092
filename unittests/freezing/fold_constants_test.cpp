#include "passes/freezing/fold_constants.h"

#include "passes/core/graph_utils.h"
#include "passes/core/pass_manager.h"
#include "passes/core/pipeline.h"
#include "passes/core/registry.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/ir/irparser.h>

#include <limits>
#include <sstream>

namespace tsopt {
namespace {

TEST(IdenticalTensorsTest, SameValuesInTwoObjects) {
  at::Tensor a = at::arange(6, at::kFloat).view({2, 3});
  EXPECT_TRUE(identicalTensors(a, a.clone()));
  EXPECT_TRUE(identicalTensors(a, a));
  EXPECT_TRUE(identicalTensors(at::empty({0, 3}), at::empty({0, 3})));
}

TEST(IdenticalTensorsTest, SignedZerosDifferThoughAtEqualSaysEqual) {
  at::Tensor zero = at::zeros({4});
  at::Tensor minusZero = -zero;
  ASSERT_TRUE(at::equal(zero, minusZero));
  EXPECT_FALSE(identicalTensors(zero, minusZero));
}

TEST(IdenticalTensorsTest, SameNaNBitsAreIdenticalThoughAtEqualSaysDifferent) {
  at::Tensor nan = at::full({3}, std::numeric_limits<float>::quiet_NaN());
  ASSERT_FALSE(at::equal(nan, nan.clone()));
  EXPECT_TRUE(identicalTensors(nan, nan.clone()));
}

TEST(IdenticalTensorsTest, DtypeShapeStridesAndRequiresGradMatter) {
  at::Tensor a = at::ones({2, 3});
  EXPECT_FALSE(identicalTensors(a, at::ones({2, 3}, at::kDouble)));
  EXPECT_FALSE(identicalTensors(a, at::ones({3, 2})));
  EXPECT_FALSE(identicalTensors(a, at::ones({6})));
  EXPECT_FALSE(identicalTensors(a, at::ones({3, 2}).t()));
  EXPECT_FALSE(identicalTensors(a, at::ones({2, 3}).requires_grad_()));
}

TEST(IdenticalTensorsTest, NonContiguousValuesCompareByElement) {
  at::Tensor base = at::arange(12, at::kFloat).view({3, 4});
  at::Tensor columns = base.t();
  at::Tensor copy = base.clone().t();
  ASSERT_FALSE(columns.is_contiguous());
  EXPECT_TRUE(identicalTensors(columns, copy));
  copy.index_put_({0, 0}, 100.0);
  EXPECT_FALSE(identicalTensors(columns, copy));
}

std::shared_ptr<torch::jit::Graph> foldConstants(const std::shared_ptr<torch::jit::Graph>& graph) {
  std::ostringstream log;
  PassManager manager(Instrumentation{}, log);
  manager.addPasses(buildPipeline("fold-constants", PassRegistry::global()));
  IRUnit unit = IRUnit::fromGraph(graph->copy());
  manager.run(unit);
  return unit.graph;
}

// Freezing gives each parameter its own constant: equal ones must become one.
TEST(FoldConstantsTest, PoolsEqualParametersFreezingKeptApart) {
  auto graph = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(R"IR(
graph(%x : Tensor):
  return (%x)
)IR",
                      graph.get());
  torch::jit::Value* x = graph->inputs()[0];
  torch::jit::Value* result = x;
  {
    torch::jit::WithInsertPoint end(graph->return_node());
    for (int i = 0; i < 3; ++i) {
      torch::jit::Value* weight = graph->insertConstant(at::ones({4}));
      result = graph->insert(c10::Symbol::fromQualString("aten::mul"), {result, weight});
    }
  }
  graph->return_node()->replaceInput(0, result);
  ASSERT_EQ(countNodesOfKind(*graph, c10::prim::Constant), 3u);
  auto folded = foldConstants(graph);
  EXPECT_EQ(countNodesOfKind(*folded, c10::prim::Constant), 1u);
  EXPECT_EQ(countNodesOfKind(*folded, c10::Symbol::fromQualString("aten::mul")), 3u);
}

} // namespace
} // namespace tsopt
