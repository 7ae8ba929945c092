#include "passes/core/node_hashing.h"

#include "passes/core/graph_utils.h"

#include <ATen/ATen.h>
#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/node_hashing.h>

#include <cstring>
#include <functional>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace tsopt {
namespace {

using torch::jit::Block;
using torch::jit::Node;

size_t combineHashes(size_t seed, size_t value) {
  return seed ^ (value + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
}

/// The tensor a prim::Constant holds, if it holds one.
std::optional<at::Tensor> tensorConstantOf(const Node* node) {
  if (node->kind() != c10::prim::Constant || node->outputs().size() != 1) {
    return std::nullopt;
  }
  auto value = torch::jit::toIValue(node->output());
  if (!value || !value->isTensor()) {
    return std::nullopt;
  }
  return value->toTensor();
}

} // namespace

bool isPlainTensor(const at::Tensor& tensor) {
  return tensor.defined() && tensor.layout() == at::kStrided && !tensor.is_quantized() && !tensor.is_conj() &&
         !tensor.is_neg();
}

bool identicalTensors(const at::Tensor& a, const at::Tensor& b) {
  if (!isPlainTensor(a) || !isPlainTensor(b) || a.scalar_type() != b.scalar_type() ||
      !a.sizes().equals(b.sizes()) || !a.strides().equals(b.strides()) || a.device() != b.device() ||
      a.requires_grad() != b.requires_grad()) {
    return false;
  }
  if (a.is_same(b) || a.numel() == 0) {
    return true;
  }
  at::Tensor left = a.cpu().contiguous();
  at::Tensor right = b.cpu().contiguous();
  return std::memcmp(left.data_ptr(), right.data_ptr(), left.nbytes()) == 0;
}

size_t tensorContentHash(const at::Tensor& tensor) {
  if (!tensor.defined()) {
    return 0;
  }
  size_t hash = static_cast<size_t>(tensor.scalar_type());
  for (int64_t size : tensor.sizes()) {
    hash = combineHashes(hash, static_cast<size_t>(size));
  }
  if (!isPlainTensor(tensor) || tensor.numel() == 0) {
    return hash;
  }
  at::Tensor contiguous = tensor.cpu().contiguous();
  std::string_view bytes(static_cast<const char*>(contiguous.data_ptr()), contiguous.nbytes());
  return combineHashes(hash, std::hash<std::string_view>{}(bytes));
}

bool equalNodes(const Node* a, const Node* b) {
  auto tensorA = tensorConstantOf(a);
  auto tensorB = tensorConstantOf(b);
  if (tensorA || tensorB) {
    return tensorA && tensorB && *a->output()->type() == *b->output()->type() &&
           (tensorA->is_same(*tensorB) || identicalTensors(*tensorA, *tensorB));
  }
  return torch::jit::EqualNode()(a, b);
}

size_t NodeTable::hashNode(const Node* node) {
  size_t hash = torch::jit::HashNode()(node);
  if (auto tensor = tensorConstantOf(node)) {
    hash = combineHashes(hash, tensorContentHash(*tensor));
  }
  return hash;
}

Node* NodeTable::findHere(const Node* node, size_t hash) const {
  auto bucket = buckets_.find(hash);
  if (bucket == buckets_.end()) {
    return nullptr;
  }
  for (Node* candidate : bucket->second) {
    if (equalNodes(candidate, node)) {
      return candidate;
    }
  }
  return nullptr;
}

Node* NodeTable::findEnclosing(const Node* node, size_t hash) const {
  for (const NodeTable* table = enclosing_; table != nullptr; table = table->enclosing_) {
    if (Node* found = table->findHere(node, hash)) {
      return found;
    }
  }
  return nullptr;
}

Node* NodeTable::findOrInsert(Node* node, size_t hash) {
  if (Node* found = findHere(node, hash)) {
    return found;
  }
  buckets_[hash].push_back(node);
  return nullptr;
}

namespace {

struct ConstantPooler {
  ConstantPooler(torch::jit::Graph& graph, const torch::jit::AliasDb& aliasDb) : graph(graph), aliasDb(aliasDb) {}

  torch::jit::Graph& graph;
  const torch::jit::AliasDb& aliasDb;
  NodeTable constants;
  std::vector<Node*> hoisted;
  size_t removed = 0;
  bool changed = false;

  void pool(torch::jit::Block* block) {
    for (auto it = block->nodes().begin(); it != block->nodes().end();) {
      Node* node = *it;
      ++it;
      for (torch::jit::Block* child : node->blocks()) {
        pool(child);
      }
      if (node->kind() != c10::prim::Constant) {
        continue;
      }
      if (Node* existing = constants.findOrInsert(node, NodeTable::hashNode(node))) {
        auto kept = torch::jit::toIValue(existing->output());
        auto duplicate = torch::jit::toIValue(node->output());
        bool sameObject = kept && duplicate && kept->is(*duplicate);
        if (!sameObject && !aliasDb.safeToChangeAliasingRelationship(node->outputs(), existing->outputs())) {
          continue;
        }
        node->replaceAllUsesWith(existing);
        node->destroy();
        ++removed;
        changed = true;
        continue;
      }
      hoist(node);
    }
  }

  /// Constants keep the order they are first seen in, at the top of the graph,
  /// so pooling a pooled graph changes nothing. They move there together, once
  /// the walk is done (moveBeforeInOrder: one at a time would be quadratic).
  void hoist(Node* node) { hoisted.push_back(node); }

  void placeHoisted() {
    Node* cursor = graph.nodes().front();
    size_t inPlace = 0;
    while (inPlace < hoisted.size() && cursor == hoisted[inPlace]) {
      cursor = cursor->next();
      ++inPlace;
    }
    if (inPlace == hoisted.size()) {
      return;
    }
    std::unordered_set<Node*> moving(hoisted.begin(), hoisted.end());
    while (moving.count(cursor) != 0) {
      cursor = cursor->next();
    }
    moveBeforeInOrder(hoisted, cursor);
    changed = true;
  }
};

/// torch::jit::EliminateCommonSubexpression's algorithm (one walk in program
/// order, a table per block that sees its enclosing blocks' tables, the same
/// alias checks), on NodeTable: linear in the graph where torch's table is
/// quadratic in the number of same-typed tensor constants.
class Eliminator {
public:
  Eliminator(std::shared_ptr<torch::jit::Graph> graph, const MergeFilter& allowMerge)
      : graph_(std::move(graph)), allowMerge_(allowMerge) {}

  size_t run() {
    NodeTable table;
    run(graph_->block(), table);
    return merged_;
  }

private:
  void run(Block* block, NodeTable& table) {
    for (auto it = block->nodes().begin(); it != block->nodes().end(); ++it) {
      Node* node = *it;
      if (node->kind() == c10::prim::profile || node->hasSideEffects() || node->isNondeterministic()) {
        continue;
      }
      if (!node->blocks().empty()) {
        for (Block* child : node->blocks()) {
          NodeTable inner(&table);
          run(child, inner);
        }
        continue;
      }
      if (aliasDb().hasWriters(node)) {
        continue;
      }
      size_t hash = NodeTable::hashNode(node);
      if (Node* outer = table.findEnclosing(node, hash)) {
        if (aliasDb().safeToChangeAliasingRelationship(node->outputs(), outer->outputs())) {
          merge(it, outer);
        }
        continue;
      }
      Node* earlier = table.findOrInsert(node, hash);
      if (earlier == nullptr) {
        continue;
      }
      // Two graph outputs that alias each other would be a new aliasing for callers.
      if (aliasDb().mayContainAlias(node->outputs(), graph_->outputs()) &&
          aliasDb().mayContainAlias(earlier->outputs(), graph_->outputs())) {
        continue;
      }
      merge(it, earlier);
    }
  }

  void merge(torch::jit::graph_node_list_iterator& it, Node* earlier) {
    Node* node = *it;
    if (allowMerge_ && !allowMerge_(node, earlier)) {
      return;
    }
    node->replaceAllUsesWith(earlier);
    it.destroyCurrent();
    ++merged_;
  }

  torch::jit::AliasDb& aliasDb() {
    if (!aliasDb_) {
      aliasDb_ = std::make_unique<torch::jit::AliasDb>(graph_);
    }
    return *aliasDb_;
  }

  std::shared_ptr<torch::jit::Graph> graph_;
  const MergeFilter& allowMerge_;
  std::unique_ptr<torch::jit::AliasDb> aliasDb_;
  size_t merged_ = 0;
};

} // namespace

size_t eliminateCommonSubexpressions(const std::shared_ptr<torch::jit::Graph>& graph, const MergeFilter& allowMerge) {
  return Eliminator(graph, allowMerge).run();
}

size_t poolConstants(torch::jit::Graph& graph, const torch::jit::AliasDb& aliasDb, bool& changed) {
  ConstantPooler pooler(graph, aliasDb);
  pooler.pool(graph.block());
  pooler.placeHoisted();
  changed |= pooler.changed;
  return pooler.removed;
}

} // namespace tsopt
