#include "passes/core/node_hashing.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/irparser.h>

#include <limits>
#include <string>

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::Node;

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

TEST(TensorContentHashTest, IdenticalTensorsHashAlike) {
  at::Tensor base = at::arange(12, at::kFloat).view({3, 4});
  EXPECT_EQ(tensorContentHash(base), tensorContentHash(base.clone()));
  EXPECT_EQ(tensorContentHash(base.t()), tensorContentHash(base.clone().t()));
  EXPECT_EQ(tensorContentHash(at::empty({0, 3})), tensorContentHash(at::empty({0, 3})));
}

TEST(TensorContentHashTest, DifferentElementsShapesAndDtypesHashApart) {
  at::Tensor a = at::ones({8});
  at::Tensor b = at::ones({8});
  b.index_put_({7}, 2.0);
  // Hashes may collide in principle; these must not, or every same-shaped
  // weight would share a bucket again.
  EXPECT_NE(tensorContentHash(a), tensorContentHash(b));
  EXPECT_NE(tensorContentHash(a), tensorContentHash(at::ones({2, 4})));
  EXPECT_NE(tensorContentHash(a), tensorContentHash(at::ones({8}, at::kDouble)));
  EXPECT_NE(tensorContentHash(at::zeros({4})), tensorContentHash(-at::zeros({4})));
}

/// The graph's nodes in order, with `graph` owning them.
std::vector<Node*> nodesOf(Graph& graph) {
  std::vector<Node*> nodes(graph.nodes().begin(), graph.nodes().end());
  return nodes;
}

TEST(NodeTableTest, FindsEqualNodesAndNotOthers) {
  auto graph = std::make_shared<Graph>();
  torch::jit::parseIR(R"IR(
graph(%x : Tensor, %y : Tensor):
  %one : int = prim::Constant[value=1]()
  %a : Tensor = aten::add(%x, %y, %one)
  %b : Tensor = aten::add(%x, %y, %one)
  %c : Tensor = aten::add(%y, %x, %one)
  return (%a, %b, %c))IR",
                      graph.get());
  auto nodes = nodesOf(*graph);
  NodeTable table;
  EXPECT_EQ(table.findOrInsert(nodes[1], NodeTable::hashNode(nodes[1])), nullptr);
  EXPECT_EQ(table.findOrInsert(nodes[2], NodeTable::hashNode(nodes[2])), nodes[1]);
  EXPECT_EQ(table.findOrInsert(nodes[3], NodeTable::hashNode(nodes[3])), nullptr);
  NodeTable inner(&table);
  EXPECT_EQ(inner.findEnclosing(nodes[2], NodeTable::hashNode(nodes[2])), nodes[1]);
  EXPECT_EQ(inner.findOrInsert(nodes[2], NodeTable::hashNode(nodes[2])), nullptr);
}

TEST(NodeTableTest, TensorConstantsEqualOnlyWhenIdentical) {
  Graph graph;
  auto* ones = graph.insertConstant(at::ones({4}))->node();
  auto* onesAgain = graph.insertConstant(at::ones({4}))->node();
  auto* zeros = graph.insertConstant(at::zeros({4}))->node();
  auto* minusZeros = graph.insertConstant(-at::zeros({4}))->node();
  auto* twos = graph.insertConstant(at::full({4}, 2.0))->node();
  EXPECT_TRUE(equalNodes(ones, onesAgain));
  EXPECT_FALSE(equalNodes(ones, twos));
  EXPECT_FALSE(equalNodes(zeros, minusZeros));
  NodeTable table;
  for (Node* node : {ones, zeros, minusZeros, twos}) {
    EXPECT_EQ(table.findOrInsert(node, NodeTable::hashNode(node)), nullptr);
  }
  EXPECT_EQ(table.findOrInsert(onesAgain, NodeTable::hashNode(onesAgain)), ones);
}

TEST(PoolConstantsTest, MergesDuplicatesKeepsOrderAndIsStable) {
  auto graph = std::make_shared<Graph>();
  torch::jit::parseIR(R"IR(
graph(%x : Tensor):
  %two : int = prim::Constant[value=2]()
  %a : Tensor = aten::mul(%x, %two)
  %one : int = prim::Constant[value=1]()
  %b : Tensor = aten::add(%a, %x, %one)
  %one_again : int = prim::Constant[value=1]()
  %c : Tensor = aten::add(%b, %x, %one_again)
  return (%c))IR",
                      graph.get());
  bool changed = false;
  {
    torch::jit::AliasDb aliasDb(graph);
    EXPECT_EQ(poolConstants(*graph, aliasDb, changed), 1u);
  }
  EXPECT_TRUE(changed);
  auto nodes = nodesOf(*graph);
  ASSERT_EQ(nodes.size(), 5u);
  EXPECT_EQ(torch::jit::constant_as<int64_t>(nodes[0]->output()), 2);
  EXPECT_EQ(torch::jit::constant_as<int64_t>(nodes[1]->output()), 1);
  EXPECT_EQ(nodes[2]->kind(), c10::aten::mul);

  changed = false;
  torch::jit::AliasDb aliasDb(graph);
  EXPECT_EQ(poolConstants(*graph, aliasDb, changed), 0u);
  EXPECT_FALSE(changed);
}

TEST(PoolConstantsTest, HoistsThousandsOfConstantsAndNestedOnesInFirstSeenOrder) {
  // Each constant right before its use, as folding passes leave them; one more
  // inside an If's block. Pooling moves them all to the top, in the order first
  // seen (many at once: the bisecting placement of moveBeforeInOrder).
  constexpr int kConstants = 3000;
  std::string text = "graph(%x : Tensor, %flag : bool):\n  %v0 : Tensor = aten::neg(%x)\n";
  for (int i = 0; i < kConstants; ++i) {
    text += "  %c" + std::to_string(i) + " : int = prim::Constant[value=" + std::to_string(i + 10) + "]()\n";
    text += "  %v" + std::to_string(i + 1) + " : Tensor = aten::add(%v" + std::to_string(i) + ", %x, %c" +
            std::to_string(i) + ")\n";
  }
  text += "  %r : Tensor = prim::If(%flag)\n    block0():\n      %inner : int = prim::Constant[value=7]()\n"
          "      %y : Tensor = aten::mul(%v" + std::to_string(kConstants) + ", %inner)\n      -> (%y)\n"
          "    block1():\n      -> (%x)\n  return (%r)";
  auto graph = std::make_shared<Graph>();
  torch::jit::parseIR(text, graph.get());
  bool changed = false;
  {
    torch::jit::AliasDb aliasDb(graph);
    EXPECT_EQ(poolConstants(*graph, aliasDb, changed), 0u);
  }
  EXPECT_TRUE(changed);
  graph->lint();
  auto nodes = nodesOf(*graph);
  ASSERT_EQ(nodes.size(), static_cast<size_t>(2 * kConstants + 3));
  for (int i = 0; i < kConstants; ++i) {
    ASSERT_EQ(nodes[i]->kind(), c10::prim::Constant) << i;
    ASSERT_EQ(torch::jit::constant_as<int64_t>(nodes[i]->output()), i + 10) << i;
  }
  EXPECT_EQ(torch::jit::constant_as<int64_t>(nodes[kConstants]->output()), 7) << "the If's constant, seen last";
  EXPECT_EQ(nodes[kConstants + 1]->kind(), c10::aten::neg);
  for (size_t i = 1; i < nodes.size(); ++i) {
    ASSERT_TRUE(nodes[i - 1]->isBefore(nodes[i])) << "topological positions follow the list at " << i;
  }

  changed = false;
  torch::jit::AliasDb aliasDb(graph);
  EXPECT_EQ(poolConstants(*graph, aliasDb, changed), 0u);
  EXPECT_FALSE(changed) << "a pooled graph stays as it is";
}

} // namespace
} // namespace tsopt
