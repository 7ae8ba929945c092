#include "passes/fusion/decompose_multi_head_attention.h"

#include "passes/core/graph_utils.h"
#include "passes/core/value_replacement.h"

#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>

#include <cmath>
#include <ostream>

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::NamedValue;
using torch::jit::Node;
using torch::jit::Value;

// The schema's inputs: query, key, value, embed_dim, num_head, qkv_weight,
// qkv_bias, proj_weight, proj_bias, mask, need_weights, average_attn_weights,
// mask_type.
enum Input : size_t { kQuery, kKey, kValue, kEmbedDim, kNumHeads, kQkvWeight, kQkvBias, kProjWeight, kProjBias, kMask };
constexpr size_t kInputCount = 13;

const c10::Symbol kNativeMultiHeadAttention = c10::Symbol::fromQualString("aten::_native_multi_head_attention");

/// Why the call must stay as it is, or empty when it may be decomposed.
std::string whyKept(Node* node) {
  if (node->inputs().size() != kInputCount || node->outputs().size() != 2) {
    return "not the schema this pass knows (" + std::to_string(node->inputs().size()) + " inputs)";
  }
  if (!isNoneConstant(node->input(kMask))) {
    return "it has a mask (its mask_type semantics stay the op's)";
  }
  if (node->output(1)->hasUses()) {
    return "its attention weights (the second result) are used";
  }
  auto embedDim = torch::jit::constant_as<int64_t>(node->input(kEmbedDim));
  auto heads = torch::jit::constant_as<int64_t>(node->input(kNumHeads));
  if (!embedDim || !heads || *heads <= 0 || *embedDim <= 0 || *embedDim % *heads != 0) {
    return "embed_dim and num_heads are not constants with num_heads dividing embed_dim";
  }
  for (size_t index : {kQuery, kKey, kValue}) {
    auto type = node->input(index)->type()->cast<c10::TensorType>();
    if (!type) {
      return "an operand is not a tensor";
    }
    if (type->scalarType() && !c10::isFloatingType(*type->scalarType())) {
      return "an operand is known to be " + std::string(c10::toString(*type->scalarType()));
    }
  }
  return "";
}

/// Rows [begin, end) of a weight or bias: a constant when it is one, else aten::slice.
Value* rows(Graph& graph, Value* tensor, int64_t begin, int64_t end) {
  if (auto constant = constantTensor(tensor)) {
    return graph.insertConstant(constant->slice(0, begin, end).clone());
  }
  return graph.insert(c10::aten::slice, {tensor, int64_t{0}, begin, end, int64_t{1}});
}

/// Columns [begin, end) of the last dimension of a projection's result (a view).
Value* columns(Graph& graph, Value* tensor, int64_t begin, int64_t end) {
  return graph.insert(c10::aten::slice, {tensor, int64_t{-1}, begin, end, int64_t{1}});
}

Value* intList(Graph& graph, const std::vector<Value*>& items) {
  return graph.insertNode(graph.createList(c10::IntType::get(), items))->output();
}

/// [B, L, E] -> [B, L, H, D] permuted by `order`.
Value* heads(Graph& graph, Value* projected, Value* batch, Value* length, int64_t numHeads, int64_t headDim,
             std::vector<int64_t> order) {
  Value* shape = intList(graph, {batch, length, graph.insertConstant(numHeads), graph.insertConstant(headDim)});
  Value* split = graph.insert(c10::aten::view, {projected, shape});
  return graph.insert(c10::aten::permute, {split, order});
}

/// Inserts the decomposition before `node` and returns its result.
Value* decompose(Graph& graph, Node* node) {
  const int64_t embedDim = *torch::jit::constant_as<int64_t>(node->input(kEmbedDim));
  const int64_t numHeads = *torch::jit::constant_as<int64_t>(node->input(kNumHeads));
  const int64_t headDim = embedDim / numHeads;
  Value* query = node->input(kQuery);
  Value* key = node->input(kKey);
  Value* value = node->input(kValue);
  Value* weight = node->input(kQkvWeight);
  Value* bias = node->input(kQkvBias);

  Value *q = nullptr, *k = nullptr, *v = nullptr;
  if (query == key && key == value) {
    Value* qkv = graph.insert(c10::aten::linear, {query, weight, bias});
    q = columns(graph, qkv, 0, embedDim);
    k = columns(graph, qkv, embedDim, 2 * embedDim);
    v = columns(graph, qkv, 2 * embedDim, 3 * embedDim);
  } else {
    q = graph.insert(c10::aten::linear,
                     {query, rows(graph, weight, 0, embedDim), rows(graph, bias, 0, embedDim)});
    if (key == value) {
      Value* kv = graph.insert(c10::aten::linear, {key, rows(graph, weight, embedDim, 3 * embedDim),
                                                   rows(graph, bias, embedDim, 3 * embedDim)});
      k = columns(graph, kv, 0, embedDim);
      v = columns(graph, kv, embedDim, 2 * embedDim);
    } else {
      k = graph.insert(c10::aten::linear, {key, rows(graph, weight, embedDim, 2 * embedDim),
                                           rows(graph, bias, embedDim, 2 * embedDim)});
      v = graph.insert(c10::aten::linear, {value, rows(graph, weight, 2 * embedDim, 3 * embedDim),
                                           rows(graph, bias, 2 * embedDim, 3 * embedDim)});
    }
  }
  Value* batch = graph.insert(c10::aten::size, {query, int64_t{0}});
  Value* queryLength = graph.insert(c10::aten::size, {query, int64_t{1}});
  Value* keyLength = graph.insert(c10::aten::size, {key, int64_t{1}});
  Value* qHeads = heads(graph, q, batch, queryLength, numHeads, headDim, {0, 2, 1, 3});
  Value* kHeads = heads(graph, k, batch, keyLength, numHeads, headDim, {0, 2, 3, 1});
  Value* vHeads = heads(graph, v, batch, keyLength, numHeads, headDim, {0, 2, 1, 3});
  Value* scores = graph.insert(c10::aten::matmul, {qHeads, kHeads});
  Value* scaled = graph.insert(c10::aten::mul, {scores, 1.0 / std::sqrt(static_cast<double>(headDim))});
  Value* probabilities = graph.insert(c10::aten::softmax, {scaled, int64_t{-1}, NamedValue(c10::IValue())});
  Value* context = graph.insert(c10::aten::matmul, {probabilities, vHeads});
  Value* merged = graph.insert(c10::aten::permute, {context, std::vector<int64_t>{0, 2, 1, 3}});
  Value* flat = graph.insert(c10::aten::reshape,
                             {merged, intList(graph, {batch, queryLength, graph.insertConstant(embedDim)})});
  return graph.insert(c10::aten::linear, {flat, node->input(kProjWeight), node->input(kProjBias)});
}

} // namespace

bool DecomposeMultiHeadAttentionPass::runOnGraph(std::shared_ptr<Graph>& graph, PassContext& context) {
  return expandEach(*graph, kNativeMultiHeadAttention, context, "its projections and attention", whyKept,
                    [&](Node* node) { return decompose(*graph, node); }, decomposed, kept);
}

} // namespace tsopt
