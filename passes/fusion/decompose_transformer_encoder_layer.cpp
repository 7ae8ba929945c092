#include "passes/fusion/decompose_transformer_encoder_layer.h"

#include "passes/core/graph_utils.h"
#include "passes/core/value_replacement.h"

#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>

#include <algorithm>
#include <ostream>
#include <string>
#include <unordered_set>

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

// The schema's inputs, in order.
enum Input : size_t {
  kSource, kEmbedDim, kNumHeads, kQkvWeight, kQkvBias, kProjWeight, kProjBias, kUseGelu, kNormFirst, kEps,
  kNormWeight1, kNormBias1, kNormWeight2, kNormBias2, kFfnWeight1, kFfnBias1, kFfnWeight2, kFfnBias2, kMask, kMaskType
};
constexpr size_t kInputCount = 20;

const c10::Symbol kEncoderLayer = c10::Symbol::fromQualString("aten::_transformer_encoder_layer_fwd");
const c10::Symbol kNativeMultiHeadAttention = c10::Symbol::fromQualString("aten::_native_multi_head_attention");

/// Values that may hold a nested tensor: made by an op whose name says so
/// (nn.TransformerEncoder's aten::_nested_tensor_from_mask), or by any op that
/// reads one (the next encoder layer), except aten::to_padded_tensor, which
/// converts back; through control flow, conservatively (a block of a node that
/// reads one gets all its parameters marked; a node whose block returns one,
/// all its outputs). The native layer takes nested tensors; layer norm and the
/// rest of the decomposition would not.
void collectPossiblyNested(torch::jit::Block* block, std::unordered_set<const Value*>& nested) {
  static const c10::Symbol kToPadded = c10::Symbol::fromQualString("aten::to_padded_tensor");
  const auto anyNested = [&](c10::ArrayRef<Value*> values) {
    return std::any_of(values.begin(), values.end(), [&](const Value* value) { return nested.count(value) != 0; });
  };
  for (Node* node : block->nodes()) {
    const bool readsNested = anyNested(node->inputs());
    bool returnsNested = false;
    for (torch::jit::Block* inner : node->blocks()) {
      if (readsNested) {
        nested.insert(inner->inputs().begin(), inner->inputs().end());
      }
      collectPossiblyNested(inner, nested);
      returnsNested = returnsNested || anyNested(inner->outputs());
    }
    const bool makesNested = std::string(node->kind().toQualString()).find("nested") != std::string::npos;
    if (node->kind() != kToPadded && (makesNested || readsNested || returnsNested)) {
      nested.insert(node->outputs().begin(), node->outputs().end());
    }
  }
}

/// Why the call must stay as it is, or empty when it may be decomposed.
std::string whyKept(Node* node, const std::unordered_set<const Value*>& nested) {
  if (node->inputs().size() != kInputCount || node->outputs().size() != 1) {
    return "not the schema this pass knows (" + std::to_string(node->inputs().size()) + " inputs)";
  }
  auto embedDim = torch::jit::constant_as<int64_t>(node->input(kEmbedDim));
  auto heads = torch::jit::constant_as<int64_t>(node->input(kNumHeads));
  if (!embedDim || !heads || *heads <= 0 || *embedDim <= 0 || *embedDim % *heads != 0) {
    return "embed_dim and num_heads are not constants with num_heads dividing embed_dim";
  }
  if (!torch::jit::constant_as<bool>(node->input(kUseGelu)) || !torch::jit::constant_as<bool>(node->input(kNormFirst))) {
    return "use_gelu and norm_first are not constants";
  }
  Value* source = node->input(kSource);
  auto type = source->type()->cast<c10::TensorType>();
  if (!type) {
    return "the source is not a tensor";
  }
  if (type->scalarType() && !c10::isFloatingType(*type->scalarType())) {
    return "the source is known to be " + std::string(c10::toString(*type->scalarType()));
  }
  if (nested.count(source) != 0) {
    return "the source may be a nested tensor (made from one by " + describeNode(source->node()) + ")";
  }
  return "";
}

/// Inserts the decomposition before `node` and returns its result.
Value* decompose(Graph& graph, Node* node) {
  const bool normFirst = *torch::jit::constant_as<bool>(node->input(kNormFirst));
  const bool useGelu = *torch::jit::constant_as<bool>(node->input(kUseGelu));
  Value* source = node->input(kSource);
  Value* shape = graph.insertNode(graph.createList(c10::IntType::get(), {node->input(kEmbedDim)}))->output();
  const auto norm = [&](Value* x, Input weight, Input bias) {
    return graph.insert(c10::aten::layer_norm,
                        {x, shape, node->input(weight), node->input(bias), node->input(kEps), false});
  };

  Value* x = normFirst ? norm(source, kNormWeight1, kNormBias1) : source;
  Node* attention = graph.insertNode(graph.create(
      kNativeMultiHeadAttention,
      {x, x, x, node->input(kEmbedDim), node->input(kNumHeads), node->input(kQkvWeight), node->input(kQkvBias),
       node->input(kProjWeight), node->input(kProjBias), node->input(kMask), graph.insertConstant(false),
       graph.insertConstant(true), node->input(kMaskType)},
      2));
  attention->copyMetadata(node);
  attention->output(0)->setType(c10::TensorType::get());
  attention->output(1)->setType(c10::TensorType::get());
  // alpha is keyword-only in add.Tensor: positional, it would pick add.Scalar.
  x = graph.insert(c10::aten::add, {attention->output(0), source});
  if (!normFirst) {
    x = norm(x, kNormWeight1, kNormBias1);
  }
  Value* residual = x;
  if (normFirst) {
    x = norm(x, kNormWeight2, kNormBias2);
  }
  x = graph.insert(c10::aten::linear, {x, node->input(kFfnWeight1), node->input(kFfnBias1)});
  x = useGelu ? graph.insert(c10::aten::gelu, {x}) : graph.insert(c10::aten::relu, {x});  // gelu's exact form
  x = graph.insert(c10::aten::linear, {x, node->input(kFfnWeight2), node->input(kFfnBias2)});
  x = graph.insert(c10::aten::add, {x, residual});
  return normFirst ? x : norm(x, kNormWeight2, kNormBias2);
}

} // namespace

bool DecomposeTransformerEncoderLayerPass::runOnGraph(std::shared_ptr<Graph>& graph, PassContext& context) {
  std::unordered_set<const Value*> nested;
  collectPossiblyNested(graph->block(), nested);
  return expandEach(
      *graph, kEncoderLayer, context, "its attention, norms and feed-forward layers",
      [&](Node* node) { return whyKept(node, nested); }, [&](Node* node) { return decompose(*graph, node); },
      decomposed, kept);
}

} // namespace tsopt
