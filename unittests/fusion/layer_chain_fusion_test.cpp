#include "passes/fusion/layer_chain_fusion.h"

#include <gtest/gtest.h>
#include <torch/csrc/jit/ir/irparser.h>

#include <cmath>

namespace tsopt {
namespace {

using torch::jit::Node;

std::shared_ptr<torch::jit::Graph> parse(const std::string& text) {
  auto graph = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(text, graph.get());
  return graph;
}

Node* lastNode(torch::jit::Graph& graph) { return graph.return_node()->prev(); }

TEST(LayerChainFusionTest, ActivationsAndTheirParameters) {
  struct Case {
    const char* ir;
    const char* name;
    double alpha, beta;
  };
  const Case cases[] = {
      {"graph(%x : Tensor):\n  %y : Tensor = aten::relu_(%x)\n  return (%y)\n", "relu", 0, 0},
      {"graph(%x : Tensor):\n  %lo : float = prim::Constant[value=-2.]()\n  %hi : float = prim::Constant[value=3.]()\n"
       "  %y : Tensor = aten::hardtanh(%x, %lo, %hi)\n  return (%y)\n",
       "clamp", -2, 3},
      {"graph(%x : Tensor):\n  %lo : int = prim::Constant[value=0]()\n  %none : NoneType = prim::Constant()\n"
       "  %y : Tensor = aten::clamp(%x, %lo, %none)\n  return (%y)\n",
       "clamp", 0, INFINITY},
      {"graph(%x : Tensor):\n  %a : str = prim::Constant[value=\"tanh\"]()\n  %y : Tensor = aten::gelu(%x, %a)\n"
       "  return (%y)\n",
       "gelu_tanh", 0, 0},
      {"graph(%x : Tensor):\n  %y : Tensor = aten::hardswish(%x)\n  return (%y)\n", "hardswish", 0, 0},
  };
  for (const Case& c : cases) {
    auto graph = parse(c.ir);
    std::string whyNot;
    auto match = matchActivation(lastNode(*graph), whyNot);
    ASSERT_TRUE(match) << c.ir << whyNot;
    EXPECT_EQ(match->name, c.name);
    EXPECT_EQ(match->alpha, c.alpha);
    EXPECT_EQ(match->beta, c.beta);
  }
}

TEST(LayerChainFusionTest, ActivationsThatDoNotFuseSayWhy) {
  auto graph = parse("graph(%x : Tensor, %lo : float):\n  %hi : float = prim::Constant[value=1.]()\n"
                     "  %y : Tensor = aten::hardtanh(%x, %lo, %hi)\n  return (%y)\n");
  std::string whyNot;
  EXPECT_FALSE(matchActivation(lastNode(*graph), whyNot));
  EXPECT_EQ(whyNot, "aten::hardtanh bounds are not constant numbers");
  auto softmax = parse("graph(%x : Tensor):\n  %d : int = prim::Constant[value=1]()\n"
                       "  %n : NoneType = prim::Constant()\n  %y : Tensor = aten::softmax(%x, %d, %n)\n  return (%y)\n");
  EXPECT_FALSE(matchActivation(lastNode(*softmax), whyNot));
  EXPECT_EQ(whyNot, "aten::softmax is not a fusible activation");
}

TEST(LayerChainFusionTest, ResidualAdds) {
  auto graph = parse("graph(%y : Tensor, %r : Tensor):\n  %one : int = prim::Constant[value=1]()\n"
                     "  %a : Tensor = aten::add(%r, %y, %one)\n  %b : Tensor = aten::add_(%r, %y, %one)\n"
                     "  %c : Tensor = aten::add_(%y, %r, %one)\n  return (%a, %b, %c)\n");
  torch::jit::Value* y = graph->inputs()[0];
  torch::jit::Value* r = graph->inputs()[1];
  std::vector<Node*> adds(graph->nodes().begin(), graph->nodes().end());
  std::string whyNot;
  EXPECT_EQ(matchResidualAdd(adds[1], y, whyNot).value_or(nullptr), r);  // either operand
  EXPECT_FALSE(matchResidualAdd(adds[2], y, whyNot));                     // writes into the residual
  EXPECT_EQ(matchResidualAdd(adds[3], y, whyNot).value_or(nullptr), r);   // writes into the layer's output
}

} // namespace
} // namespace tsopt
