#include "ir_tools/tsopt/reducer.h"
#include "ir_tools/common/input_file.h"
#include "ir_tools/tool_testing.h"
#include "ir_tools/tsopt/reduce_driver.h"
#include "passes/core/registry.h"

#include <gtest/gtest.h>
#include <torch/csrc/jit/testing/file_check.h>

#include <algorithm>
#include <stdexcept>

namespace tsopt {
namespace {

using torch::jit::Graph;

std::shared_ptr<Graph> parse(const std::string& text) { return parseGraphText(text, "test.ir"); }

bool hasKind(const Graph& graph, const char* kind) {
  for (const torch::jit::Node* node : graph.nodes()) {
    if (node->kind() == c10::Symbol::fromQualString(kind)) {
      return true;
    }
  }
  return false;
}

const char* kChain = R"IR(
graph(%x : Float(2, 3, strides=[3, 1], requires_grad=0, device=cpu)):
  %one : int = prim::Constant[value=1]()
  %a : Tensor = aten::relu(%x)
  %n : int = aten::size(%a, %one)
  %b : Tensor = aten::add(%a, %x, %n)
  %c : Tensor = aten::sigmoid(%b)
  return (%c, %a)
)IR";

TEST(ReductionTest, DeletedNodesGiveWayToConstantsAndInputs) {
  std::shared_ptr<Graph> graph = parse(kChain);
  std::vector<torch::jit::Node*> nodes = reduction::deletableNodes(*graph);
  ASSERT_EQ(nodes.size(), 4u);
  // relu's users take %x (a more precise type than Tensor); size's take 0.
  std::shared_ptr<Graph> reduced = reduction::deleteNodes(*graph, {0, 1});
  torch::jit::testing::FileCheck()
      .check("graph(%x : Float(2, 3")
      ->check_not("aten::relu")
      ->check_not("aten::size")
      ->check("int = prim::Constant[value=0]")
      ->check("aten::add(%x, %x, ")
      ->check("return (%c, %x)")
      ->run(*reduced);
  EXPECT_EQ(graph->inputs().size(), 1u);
  EXPECT_TRUE(hasKind(*graph, "aten::relu")) << "the original is never modified";
}

TEST(ReductionTest, AValueWithoutAFittingInputBecomesANewInput) {
  std::shared_ptr<Graph> graph = parse(R"IR(
graph(%x : Tensor):
  %l : Tensor[] = prim::ListConstruct(%x, %x)
  %zero : int = prim::Constant[value=0]()
  %c : Tensor = aten::cat(%l, %zero)
  return (%c)
)IR");
  std::shared_ptr<Graph> reduced = reduction::deleteNodes(*graph, {0});
  ASSERT_EQ(reduced->inputs().size(), 2u);
  EXPECT_EQ(reduced->inputs()[1]->debugName(), "l");
  EXPECT_EQ(reduced->inputs()[1]->type()->str(), "Tensor[]");
}

TEST(ReductionTest, BypassedNodesHandTheirUsesToAnOperand) {
  std::shared_ptr<Graph> graph = parse(kChain);
  // Each node has an operand of its output's type (size: its int dimension).
  ASSERT_EQ(reduction::bypassableNodes(*graph).size(), 4u);
  std::shared_ptr<Graph> reduced = reduction::bypassNodes(*graph, {2, 3});
  torch::jit::testing::FileCheck()
      .check("aten::relu")
      ->check_not("aten::add")
      ->check_not("aten::sigmoid")
      ->check("return (%a, %a)")
      ->run(*reduced);
}

TEST(ReductionTest, CutOperandsKeepTheProducerForItsOtherUses) {
  std::shared_ptr<Graph> graph = parse(kChain);
  // Operands produced by nodes: size(%a), add(%a), add(.., %n), sigmoid(%b).
  ASSERT_EQ(reduction::cuttableOperands(*graph).size(), 4u);
  std::shared_ptr<Graph> reduced = reduction::cutOperands(*graph, {1});
  torch::jit::testing::FileCheck().check("aten::relu")->check("aten::add(%x, %x, %n)")->run(*reduced);
}

TEST(ReductionTest, OutputsInputsAndConstantsGo) {
  std::shared_ptr<Graph> graph = parse(kChain);
  std::shared_ptr<Graph> noSecondOutput = reduction::removeOutputs(*graph, {1});
  EXPECT_EQ(noSecondOutput->outputs().size(), 1u);

  std::shared_ptr<Graph> unused = parse(R"IR(
graph(%x : Tensor, %y : Tensor, %z : Tensor):
  %two : int = prim::Constant[value=2]()
  %r : Tensor = aten::relu(%y)
  return (%r)
)IR");
  EXPECT_EQ(reduction::unusedInputs(*unused), (std::vector<size_t>{0, 2}));
  std::shared_ptr<Graph> fewer = reduction::removeUnusedInputs(*unused, {1});
  ASSERT_EQ(fewer->inputs().size(), 2u);
  EXPECT_EQ(fewer->inputs()[0]->debugName(), "x");
  EXPECT_EQ(reduction::unusedConstants(*unused).size(), 1u);
  EXPECT_TRUE(reduction::unusedConstants(*reduction::removeUnusedConstants(*unused, {0})).empty());
}

TEST(ReductionTest, TensorConstantsShrinkToOneElementPerDimension) {
  std::shared_ptr<Graph> graph = parse(R"IR(
graph(%x : Tensor):
  %w : Float(4, 3, strides=[3, 1], requires_grad=0, device=cpu) = prim::Constant[value=<Tensor>]()
  %y : Tensor = aten::mul(%x, %w)
  return (%y)
)IR");
  ASSERT_EQ(reduction::shrinkableConstants(*graph).size(), 1u);
  std::shared_ptr<Graph> reduced = reduction::shrinkConstants(*graph, {0});
  torch::jit::Node* constant = reduced->outputs()[0]->node()->input(1)->node();
  EXPECT_EQ(constant->t(c10::attr::value).sizes(), (std::vector<int64_t>{1, 1}));
  EXPECT_TRUE(reduction::shrinkableConstants(*reduced).empty());
}

TEST(ReductionTest, SmallTensorConstantsPrintAsPlaceholdersThatParse) {
  std::shared_ptr<Graph> graph = parse(R"IR(
graph(%x : Tensor):
  %w : Float(2, 3, strides=[3, 1], requires_grad=0, device=cpu) = prim::Constant[value=<Tensor>]()
  %y : Tensor = aten::mul(%x, %w)
  return (%y)
)IR");
  std::string text = parseableGraphText(*graph);
  EXPECT_NE(text.find("prim::Constant[value=<Tensor>]()"), std::string::npos) << text;
  EXPECT_NO_THROW(parse(text));
}

TEST(ReduceGraphTest, ShrinksToWhatTheTestNeedsDeterministically) {
  auto sigmoidOfAdd = [](const std::shared_ptr<Graph>& graph) {
    for (torch::jit::Node* node : graph->nodes()) {
      if (node->kind() == c10::Symbol::fromQualString("aten::sigmoid") &&
          node->input(0)->node()->kind() == c10::Symbol::fromQualString("aten::add")) {
        return true;
      }
    }
    return false;
  };
  std::shared_ptr<Graph> graph = parse(kChain);
  ReduceResult first = reduceGraph(graph, sigmoidOfAdd);
  ReduceResult second = reduceGraph(graph, sigmoidOfAdd);
  EXPECT_EQ(first.nodesBefore, 4u);
  EXPECT_EQ(first.nodesAfter, 2u);
  EXPECT_GT(first.tests, 0u);
  EXPECT_EQ(first.graph->toString(false), second.graph->toString(false));
  torch::jit::testing::FileCheck()
      .check("graph(%x : Float(2, 3")
      ->check_next("prim::Constant")
      ->check_next("aten::add(%x, %x, ")
      ->check_next("aten::sigmoid")
      ->check_next("return ()")
      ->run(*first.graph);
}

TEST(ReduceGraphTest, StopsAtTheTestBudget) {
  ReduceOptions options;
  options.maxTests = 1;
  ReduceResult result = reduceGraph(parse(kChain), [](const std::shared_ptr<Graph>&) { return false; }, options);
  EXPECT_EQ(result.tests, 1u);
  EXPECT_EQ(result.nodesAfter, result.nodesBefore);
}

class ThrowOnSigmoidPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<Graph>& graph, PassContext&) override {
    if (hasKind(*graph, "aten::sigmoid")) {
      throw std::runtime_error("sigmoid");
    }
    return false;
  }
};

TEST(ReduceDriverTest, PipelineFailuresKeepTheirPassAndKind) {
  PassRegistry registry;
  registry.registerPass("throw-on-sigmoid", "test", [] { return std::make_unique<ThrowOnSigmoidPass>(); });
  ParsedPipeline pipeline = ParsedPipeline::parse("throw-on-sigmoid", registry, "--passes", false);
  std::optional<PipelineFailure> failure = pipelineFailure(pipeline, parse(kChain));
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->kind, FailureKind::Crash);
  EXPECT_EQ(failure->passIndex, 0u);
  EXPECT_EQ(failure->message, "pass 'throw-on-sigmoid' failed: sigmoid");

  InterestingnessTest sameFailure = sameFailureTest(pipeline, *failure, "");
  EXPECT_TRUE(sameFailure(parse(kChain)));
  EXPECT_FALSE(sameFailure(reduction::deleteNodes(*parse(kChain), {3})));
  EXPECT_FALSE(sameFailureTest(pipeline, *failure, "no such text")(parse(kChain)));
}

TEST(ReduceDriverTest, CommandTestIsTheExitCode) {
  std::string directory = ::testing::TempDir();
  EXPECT_TRUE(commandTest("grep -q aten::sigmoid", directory)(parse(kChain)));
  EXPECT_FALSE(commandTest("grep -q aten::conv2d", directory)(parse(kChain)));
}

TEST(ReduceDriverTest, BadRequestsAreOneLine) {
  testing_tools::ToolResult result = testing_tools::runTool(runTsoptReduce, {"missing.ir", "--passes=dce"});
  EXPECT_EQ(result.code, 3);
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  result = testing_tools::runTool(runTsoptReduce, {"missing.ir"});
  EXPECT_EQ(result.code, 2);
  EXPECT_EQ(result.err, "tsopt-reduce: error: give one interestingness test: --passes=PIPELINE or --test=CMD\n");
}

} // namespace
} // namespace tsopt
