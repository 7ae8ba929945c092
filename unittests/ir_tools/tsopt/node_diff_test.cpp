#include "ir_tools/tsopt/node_diff.h"

#include <gtest/gtest.h>
#include <torch/csrc/jit/frontend/source_range.h>
#include <torch/csrc/jit/ir/irparser.h>

#include <memory>

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

std::shared_ptr<Graph> parse(const std::string& text) {
  auto graph = std::make_shared<Graph>();
  torch::jit::parseIR(text, graph.get());
  return graph;
}

// The output of the first node of `kind`; the IR parser keeps no debug names,
// so a test names the values it matches by name.
Value* outputOf(Graph& graph, const char* kind, const std::string& name = "") {
  for (Node* node : graph.nodes()) {
    if (node->kind() == c10::Symbol::fromQualString(kind)) {
      if (!name.empty()) {
        node->output()->setDebugName(name);
      }
      return node->output();
    }
  }
  ADD_FAILURE() << "no " << kind;
  return nullptr;
}

// Gives `value`'s node a location on line `line` of net.py.
void placeOnLine(Value* value, size_t line) {
  static auto source = std::make_shared<torch::jit::Source>(std::string(20, '\n') + "x\n", "net.py", 0);
  size_t offset = source->offset_for_line(line);
  value->node()->setSourceRange(torch::jit::SourceRange(source, offset, offset + 1));
}

std::vector<std::pair<std::string, std::string>> pairs(const std::vector<ValueMatch>& matches) {
  std::vector<std::pair<std::string, std::string>> result;
  for (const ValueMatch& match : matches) {
    result.emplace_back(match.original->debugName(), match.optimized->debugName());
  }
  return result;
}

std::shared_ptr<Graph> linearReluTanh() {
  auto graph = parse(R"IR(
graph(%x : Tensor, %w : Tensor):
  %none : NoneType = prim::Constant()
  %c : Tensor = aten::linear(%x, %w, %none)
  %r : Tensor = aten::relu(%c)
  %t : Tensor = aten::tanh(%r)
  return (%t)
)IR");
  outputOf(*graph, "aten::linear", "c");
  outputOf(*graph, "aten::relu", "r");
  outputOf(*graph, "aten::tanh", "t");
  return graph;
}

// A fusion: linear + relu became one op that keeps the relu's name.
std::shared_ptr<Graph> fusedTanh() {
  auto graph = parse(R"IR(
graph(%x : Tensor, %w : Tensor):
  %none : NoneType = prim::Constant()
  %r : Tensor = aten::hardtanh(%x, %w, %none)
  %t : Tensor = aten::tanh(%r)
  return (%t)
)IR");
  outputOf(*graph, "aten::hardtanh", "r");
  outputOf(*graph, "aten::tanh", "t");
  return graph;
}

TEST(NodeDiffTest, MatchesByNameThenByPositionSkippingInputsAndConstants) {
  auto original = linearReluTanh();
  auto optimized = fusedTanh();
  std::vector<ValueMatch> matches = matchValues(*original, *optimized);
  EXPECT_EQ(pairs(matches), (std::vector<std::pair<std::string, std::string>>{{"r", "r"}, {"t", "t"}}));
  ASSERT_EQ(matches.size(), 2u);
  // Without source locations a name matches only the same kind; the fused op's
  // output is found as the input of the matched tanh.
  EXPECT_EQ(matches[0].by, MatchedBy::Position);
  EXPECT_EQ(matches[1].by, MatchedBy::Name);
}

TEST(NodeDiffTest, FusedOpWithFirstOpsLocationKeepsTheLastOpsName) {
  auto original = linearReluTanh();
  auto optimized = fusedTanh();
  placeOnLine(outputOf(*original, "aten::linear"), 3);
  placeOnLine(outputOf(*original, "aten::relu"), 4);
  placeOnLine(outputOf(*original, "aten::tanh"), 5);
  placeOnLine(outputOf(*optimized, "aten::hardtanh"), 3);  // the fused op carries the linear's location
  placeOnLine(outputOf(*optimized, "aten::tanh"), 5);
  EXPECT_EQ(pairs(matchValues(*original, *optimized)),
            (std::vector<std::pair<std::string, std::string>>{{"r", "r"}, {"t", "t"}}));
}

TEST(NodeDiffTest, RefusesANameReusedAtAnUnrelatedLocation) {
  auto original = linearReluTanh();
  auto optimized = parse(R"IR(
graph(%x : Tensor, %w : Tensor):
  %t : Tensor = aten::sigmoid(%x)
  %u : Tensor = aten::neg(%t)
  return (%u)
)IR");
  placeOnLine(outputOf(*original, "aten::tanh"), 5);
  placeOnLine(outputOf(*optimized, "aten::sigmoid", "t"), 9);
  outputOf(*optimized, "aten::neg", "u");
  // Only the graph outputs pair up; %t is a different value in each graph.
  EXPECT_EQ(pairs(matchValues(*original, *optimized)), (std::vector<std::pair<std::string, std::string>>{{"t", "u"}}));
}

TEST(NodeDiffTest, MatchesUnnamedValuesByUniqueLocationOfTheSameKindThenByPosition) {
  auto original = parse(R"IR(
graph(%x : Tensor):
  %1 : Tensor = aten::relu(%x)
  %2 : Tensor = aten::tanh(%1)
  %3 : Tensor = aten::sigmoid(%2)
  return (%3)
)IR");
  auto optimized = parse(R"IR(
graph(%x : Tensor):
  %7 : Tensor = aten::relu(%x)
  %8 : Tensor = aten::hardtanh(%7)
  %9 : Tensor = aten::sigmoid(%8)
  return (%9)
)IR");
  for (Graph* graph : {original.get(), optimized.get()}) {
    std::vector<Node*> nodes(graph->nodes().begin(), graph->nodes().end());
    placeOnLine(nodes[0]->output(), 2);
    placeOnLine(nodes[1]->output(), 3);
    placeOnLine(nodes[2]->output(), 2);  // shares a line with the relu: a different kind keeps them apart
  }
  std::vector<ValueMatch> matches = matchValues(*original, *optimized);
  ASSERT_EQ(matches.size(), 3u);
  EXPECT_EQ(matches[0].original->node()->kind(), c10::aten::relu);
  EXPECT_EQ(matches[0].optimized->node()->kind(), c10::aten::relu);
  EXPECT_EQ(matches[0].by, MatchedBy::Location);
  // tanh became hardtanh: a location alone does not match a new kind, the
  // position (the input of the matched sigmoid) does.
  EXPECT_EQ(matches[1].optimized->node()->kind(), c10::aten::hardtanh);
  EXPECT_EQ(matches[1].by, MatchedBy::Position);
  EXPECT_EQ(matches[2].original->node()->kind(), c10::aten::sigmoid);
  EXPECT_EQ(matches[2].by, MatchedBy::Location);
}

TEST(NodeDiffTest, AmbiguousLocationsNeverMatchAndAnIdentityGraphMatchesNothing) {
  const char* twoRelus = R"IR(
graph(%x : Tensor):
  %1 : Tensor = aten::relu(%x)
  %2 : Tensor = aten::relu(%1)
  return (%2)
)IR";
  auto original = parse(twoRelus);
  auto optimized = parse(twoRelus);
  for (Graph* graph : {original.get(), optimized.get()}) {
    for (Node* node : graph->nodes()) {
      placeOnLine(node->output(), 4);  // one line called twice (a module used twice)
    }
  }
  for (const ValueMatch& match : matchValues(*original, *optimized)) {
    EXPECT_EQ(match.by, MatchedBy::Position);  // from the output up, never by the shared location
  }
  auto identity = parse("graph(%x : Tensor):\n  return (%x)\n");
  EXPECT_TRUE(matchValues(*identity, *identity->copy()).empty());
}

TEST(NodeDiffTest, ReportOrdersWorstFirstAndFindsTheFirstDrift) {
  NodeDiffReport report;
  report.values.resize(3);
  report.values[0].cosine = 0.9999;
  report.values[1].cosine = 0.98;
  report.values[1].drifts = true;
  report.values[2].cosine = 0.95;
  report.values[2].drifts = true;
  EXPECT_EQ(report.firstDrift(), 1u);
  EXPECT_EQ(report.worstFirst(), (std::vector<size_t>{2, 1, 0}));
}

} // namespace
} // namespace tsopt
