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

TEST(LayerChainFusionTest, ResidualSumsAndTheirScales) {
  auto graph = parse("graph(%y : Tensor, %r : Tensor, %alpha : int):\n  %one : int = prim::Constant[value=1]()\n"
                     "  %two : int = prim::Constant[value=2]()\n  %minus : int = prim::Constant[value=-1]()\n"
                     "  %a : Tensor = aten::sub(%y, %r, %one)\n  %b : Tensor = aten::sub(%r, %y, %one)\n"
                     "  %c : Tensor = aten::add(%y, %r, %two)\n  %d : Tensor = aten::add(%r, %y, %two)\n"
                     "  %e : Tensor = aten::sub_(%y, %r, %two)\n  %f : Tensor = aten::sub_(%r, %y, %one)\n"
                     "  %g : Tensor = aten::add(%r, %y, %minus)\n  %h : Tensor = aten::sub(%y, %r, %alpha)\n"
                     "  return (%a, %b, %c, %d, %e, %f, %g, %h)\n");
  torch::jit::Value* y = graph->inputs()[0];
  torch::jit::Value* r = graph->inputs()[1];
  std::vector<Node*> sums;
  for (Node* node : graph->nodes()) {
    if (node->kind() != c10::prim::Constant) {
      sums.push_back(node);
    }
  }
  ASSERT_EQ(sums.size(), 8u);
  struct Expected {
    bool matches;
    double scale;
    bool negatesOperand;
  };
  const Expected expected[] = {
      {true, -1.0, false},  // y - r
      {true, 1.0, true},    // r - y: the layer's weights are negated
      {true, 2.0, false},   // y + 2 r
      {false, 0.0, false},  // r + 2 y: not exact in the weights
      {true, -2.0, false},  // y.sub_(r, alpha=2), in place into y
      {false, 0.0, false},  // r.sub_(y): writes into the residual
      {true, 1.0, true},    // r + (-1) y
      {false, 0.0, false},  // alpha not a constant
  };
  for (size_t index = 0; index < sums.size(); ++index) {
    SCOPED_TRACE(index);
    std::string whyNot;
    auto sum = matchResidualSum(sums[index], y, whyNot);
    ASSERT_EQ(sum.has_value(), expected[index].matches) << whyNot;
    if (sum) {
      EXPECT_EQ(sum->residual, r);
      EXPECT_EQ(sum->scale, expected[index].scale);
      EXPECT_EQ(sum->negatesOperand, expected[index].negatesOperand);
    } else {
      EXPECT_FALSE(whyNot.empty());
    }
  }
  std::string whyNot;
  EXPECT_FALSE(matchResidualAdd(sums[0], y, whyNot));  // add-layer-norm's matcher takes adds of alpha 1 only
  EXPECT_FALSE(matchResidualAdd(sums[2], y, whyNot));
  EXPECT_NE(whyNot.find("aten::add has an alpha other than the constant 1"), std::string::npos) << whyNot;
}

} // namespace
} // namespace tsopt
