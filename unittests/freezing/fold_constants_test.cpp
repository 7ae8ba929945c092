#include "passes/freezing/fold_constants.h"

#include "passes/core/graph_utils.h"
#include "passes/core/pass_manager.h"
#include "passes/core/pipeline.h"
#include "passes/core/registry.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/ir/irparser.h>

#include <sstream>

namespace tsopt {
namespace {

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
