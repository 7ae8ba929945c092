//===- node_hashing.h - Value numbering that stays linear in graph size --===//
///
/// torch::jit::HashNode hashes a constant by its type and, for numbers, by its
/// value: every tensor constant of one type falls into one bucket, where
/// torch::jit::EqualNode runs at::equal against each member. On a frozen graph
/// of n same-shaped weights, torch's CSE and ConstantPooling (and freezing,
/// which runs both) make n²/2 tensor comparisons: 10 s on a stack of 1600
/// residual blocks. NodeTable hashes tensor constants by their bytes too, so a
/// lookup compares a node with the few that may equal it.
///
/// It is also stricter: tensor constants are equal only when identicalTensors()
/// says so, where EqualNode's at::equal calls 0.0 and -0.0 equal.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/csrc/jit/ir/ir.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

namespace torch::jit {
class AliasDb;
}

namespace tsopt {

/// Whether `tensor` is a defined, dense, strided, non-quantized tensor with no
/// lazy conjugation or negation: one whose bytes are its values.
bool isPlainTensor(const at::Tensor& tensor);

/// Whether two tensors are interchangeable as graph constants: same dtype,
/// shape, strides, device and requires_grad, and bit-for-bit equal elements.
/// Stricter than at::equal, which calls 0.0 and -0.0 equal (1/x tells them apart).
/// Quantized, sparse, MKL-DNN and lazily conjugated or negated tensors are
/// identical only to themselves.
bool identicalTensors(const at::Tensor& a, const at::Tensor& b);

/// A hash of a tensor's dtype, shape and elements, equal for tensors that
/// identicalTensors() calls identical. Reads every byte once.
size_t tensorContentHash(const at::Tensor& tensor);

/// Whether two nodes compute the same value from the same inputs:
/// torch::jit::EqualNode, except that tensor constants must be identical.
bool equalNodes(const torch::jit::Node* a, const torch::jit::Node* b);

/// Nodes keyed by what they compute (kind, inputs, attributes, constant value),
/// for value numbering: a lookup returns an earlier node equal to a given one.
/// A table may sit inside another (a block's inside its parent block's), and
/// findEnclosing() looks outward. Callers compute a node's hash once (hashNode) and pass it.
class NodeTable {
public:
  explicit NodeTable(const NodeTable* enclosing = nullptr) : enclosing_(enclosing) {}

  /// torch::jit::HashNode, combined with tensorContentHash for tensor constants.
  static size_t hashNode(const torch::jit::Node* node);

  /// The node in an enclosing table (this one not searched) equal to `node`, or nullptr.
  torch::jit::Node* findEnclosing(const torch::jit::Node* node, size_t hash) const;
  /// The node in this table (enclosing ones not searched) equal to `node`;
  /// when there is none, inserts `node` and returns nullptr.
  torch::jit::Node* findOrInsert(torch::jit::Node* node, size_t hash);

private:
  torch::jit::Node* findHere(const torch::jit::Node* node, size_t hash) const;

  const NodeTable* enclosing_;
  std::unordered_map<size_t, std::vector<torch::jit::Node*>> buckets_;
};

/// Decides whether `node` may be replaced by the equal, earlier `earlier`
/// (e.g. PassContext::shouldRewrite); an empty filter allows every merge.
using MergeFilter = std::function<bool(torch::jit::Node* node, torch::jit::Node* earlier)>;

/// Replaces each node by an earlier equal node (equalNodes) that dominates it:
/// torch::jit::EliminateCommonSubexpression's rules (one walk in program order,
/// a table per block that sees the enclosing blocks' tables; never nodes with
/// side effects, nondeterministic nodes, nodes whose inputs are written (alias
/// analysis), nor two graph outputs that would then alias), in linear time.
/// Returns the number of nodes removed.
size_t eliminateCommonSubexpressions(const std::shared_ptr<torch::jit::Graph>& graph,
                                     const MergeFilter& allowMerge = {});

/// Merges equal prim::Constant nodes (equalNodes) and hoists every constant to
/// the top of the graph, nested blocks included, as torch::jit::ConstantPooling
/// does, in time linear in the number of constants. Constants keep the order
/// they are first seen in (torch's reverses it), so pooling twice changes nothing. Two constants
/// that are not the same object merge only where `aliasDb` says changing their
/// aliasing is safe. Returns the number of constants removed; sets `changed` when
/// a constant was removed or moved.
size_t poolConstants(torch::jit::Graph& graph, const torch::jit::AliasDb& aliasDb, bool& changed);

} // namespace tsopt
