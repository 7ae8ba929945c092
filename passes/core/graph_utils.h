//===- graph_utils.h - Small helpers shared by passes ---------------------===//
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tsopt {

/// Number of nodes in the graph, nested blocks included.
size_t countNodes(const torch::jit::Graph& graph);

/// Replaces the inputs, nodes and outputs of `target` by a copy of `source`'s,
/// keeping the `target` object (a module method owns it).
void replaceGraphContents(torch::jit::Graph& target, torch::jit::Graph& source);

} // namespace tsopt

namespace tsopt {

/// Runs `transform` and returns how many nodes it removed from `graph` (0 when
/// the count grew): the change measure for passes that only delete.
template <typename Fn> size_t countRemovedNodes(const torch::jit::Graph& graph, Fn&& transform) {
  size_t before = countNodes(graph);
  transform();
  size_t after = countNodes(graph);
  return before > after ? before - after : 0;
}

/// Number of nodes of the given kind, nested blocks included.
size_t countNodesOfKind(const torch::jit::Graph& graph, torch::jit::NodeKind kind);

/// Nodes of the given kinds in program order, nested blocks included: a
/// snapshot, so a pass may rewrite or destroy nodes while it walks the list
/// (each node it destroys must be one it has already visited or will skip).
std::vector<torch::jit::Node*> collectNodes(torch::jit::Graph& graph, const std::vector<torch::jit::NodeKind>& kinds);
/// Every node, nested blocks included, in program order: a snapshot, as above.
std::vector<torch::jit::Node*> collectNodes(torch::jit::Graph& graph);

/// Moves `nodes` (from anywhere in the graph, none of them `anchor`) to stand right
/// before `anchor`, in the order given. Moving nodes one at a time into one
/// place halves the gap between the neighbours' topological positions each
/// time, and PyTorch renumbers the whole block whenever a gap runs out (every
/// 40 or so insertions: Block::reIndexTopology), which made hoisting a large
/// graph's constants quadratic. This inserts them in bisection order, so no
/// gap is halved more than log2(n) + 1 times.
void moveBeforeInOrder(const std::vector<torch::jit::Node*>& nodes, torch::jit::Node* anchor);

/// "%y = aten::foo" ("%a, %b = ..." for several outputs): how debug lines and
/// rewrite descriptions name a node.
std::string describeNode(const torch::jit::Node* node);

/// Whether the type of `value` says it is a tensor.
bool isTensor(const torch::jit::Value* value);

/// The tensor `value` holds when it is a constant, defined tensor.
std::optional<at::Tensor> constantTensor(const torch::jit::Value* value);

/// Whether `value` is the constant None.
bool isNoneConstant(const torch::jit::Value* value);

/// The rank of `value`: a constant's own, or the one its type records.
std::optional<size_t> knownRank(const torch::jit::Value* value);

/// Elements of an int[] that is a constant or a prim::ListConstruct of constants.
std::optional<std::vector<int64_t>> constantIntList(const torch::jit::Value* list);

} // namespace tsopt
