#include "passes/fusion/fuse_attention.h"

#include "passes/core/graph_utils.h"
#include "passes/core/value_replacement.h"
#include "passes/fusion/layer_chain_fusion.h"

#include <torch/csrc/jit/ir/constants.h>

#include <cmath>
#include <limits>
#include <ostream>
#include <set>

namespace tsopt {
namespace {

using torch::jit::Node;
using torch::jit::Value;

/// What fuse-attention replaces, outermost last; optional nodes are null.
struct AttentionMatch {
  Node* scores = nullptr;   ///< matmul(q, kt)
  Node* scaling = nullptr;  ///< div or mul by a constant
  Node* maskAdd = nullptr;
  Node* softmax = nullptr;
  Node* context = nullptr;  ///< matmul(p, v)
  Node* permute = nullptr;
  Value* mask = nullptr;
  double scale = 1.0;
  // A masked_fill(scores, condition, fill) or where(condition, scores, fill)
  // under the add: becomes the additive mask where(condition, fill, 0) (or
  // where(condition, 0, fill)), exact for a fill of -inf or below -1e30.
  Node* fill = nullptr;
  Value* fillCondition = nullptr;
  double fillValue = 0.0;
  bool fillWhereTrue = true;  ///< masked_fill: fill where the condition holds; where: where it does not.
};

std::string name(const Value* value) { return "%" + value->debugName(); }

/// A constant number, or a constant one-element real tensor, as a double.
std::optional<double> constantNumber(Value* value) {
  auto constant = torch::jit::toIValue(value);
  if (!constant) {
    return std::nullopt;
  }
  if (constant->isDouble() || constant->isInt()) {
    return constant->toScalar().toDouble();
  }
  if (constant->isTensor()) {
    const at::Tensor& tensor = constant->toTensor();
    if (tensor.numel() == 1 && !tensor.is_complex() && tensor.scalar_type() != at::kBool) {
      return tensor.item<double>();
    }
  }
  return std::nullopt;
}

/// Whether `value` is an intermediate the fused call may swallow: one use, in `user`.
bool usedOnlyBy(const Value* value, const Node* user, std::string& whyNot) {
  if (value->uses().size() == 1 && value->uses()[0].user == user) {
    return true;
  }
  whyNot = name(value) + " has " + std::to_string(value->uses().size()) + " uses";
  return false;
}

/// The softmax is over the last dimension: -1, or rank - 1 when the rank is known.
bool softmaxOverLastDim(Node* softmax, std::string& whyNot) {
  auto dim = torch::jit::toIValue(softmax->input(1));
  if (dim && dim->isInt()) {
    if (dim->toInt() == -1) {
      return true;
    }
    auto type = softmax->input(0)->type()->cast<c10::TensorType>();
    if (type && type->dim() && dim->toInt() == static_cast<int64_t>(*type->dim()) - 1) {
      return true;
    }
  }
  whyNot = "the softmax is not over the last dimension (or its rank is unknown)";
  return false;
}

/// A fill an additive mask reproduces exactly: x + fill == fill for every
/// finite score x.
bool additiveFill(double fill) { return fill == -std::numeric_limits<double>::infinity() || fill <= -1e30; }

/// Recognizes masked_fill(scores, condition, fill) and where(condition, scores,
/// fill) producing `current` (GPT's causal mask), when the scores are used only there.
bool matchFill(Value* current, AttentionMatch& match, std::string& whyNot) {
  Node* producer = current->node();
  const bool maskedFill = producer->kind() == c10::aten::masked_fill;
  const bool where = producer->kind() == c10::aten::where;
  if ((!maskedFill && !where) || producer->inputs().size() != 3) {
    return true;  // No fill: nothing to strip.
  }
  Value* scores = producer->input(maskedFill ? 0 : 1);
  Value* condition = producer->input(maskedFill ? 1 : 0);
  auto fill = constantNumber(producer->input(2));
  if (!isTensor(scores) || !isTensor(condition) || !fill || !additiveFill(*fill)) {
    whyNot = describeNode(producer) + " does not fill with a constant of -inf or below -1e30";
    return false;
  }
  if (!usedOnlyBy(scores, producer, whyNot)) {
    return false;
  }
  match.fill = producer;
  match.fillCondition = condition;
  match.fillValue = *fill;
  match.fillWhereTrue = maskedFill;
  return true;
}

/// Strips an optional add of a mask off `current` (the softmax input), then an
/// optional scaling, and returns the matmul of q and kt underneath.
bool matchScores(Value* current, AttentionMatch& match, std::string& whyNot) {
  Node* producer = current->node();
  if (producer->kind() == c10::aten::add && producer->inputs().size() == 3 && isTensor(producer->input(0)) &&
      isTensor(producer->input(1))) {
    auto alpha = constantNumber(producer->input(2));
    if (!alpha || *alpha != 1.0) {
      whyNot = describeNode(producer) + " has an alpha other than the constant 1";
      return false;
    }
    static const std::set<std::string> scoreKinds = {"aten::matmul", "aten::div", "aten::mul", "aten::masked_fill",
                                                     "aten::where"};
    for (size_t operand : {0, 1}) {
      Value* candidate = producer->input(operand);
      if (scoreKinds.count(candidate->node()->kind().toQualString()) != 0 && candidate->uses().size() == 1 &&
          producer->input(1 - operand) != candidate) {
        match.maskAdd = producer;
        match.mask = producer->input(1 - operand);
        current = candidate;
        break;
      }
    }
    if (match.maskAdd == nullptr) {
      whyNot = "neither operand of " + describeNode(producer) + " is a (scaled) matmul used only there";
      return false;
    }
    producer = current->node();
  }
  if (!matchFill(current, match, whyNot)) {
    return false;
  }
  if (match.fill != nullptr) {
    current = match.fill->input(match.fillWhereTrue ? 0 : 1);
    producer = current->node();
  }
  const bool isDiv = producer->kind() == c10::aten::div;
  if ((isDiv || producer->kind() == c10::aten::mul) && producer->inputs().size() == 2) {
    // div(scores, c), mul(scores, c) or mul(c, scores).
    size_t tensorOperand = isDiv || !constantNumber(producer->input(0)) ? 0 : 1;
    auto factor = constantNumber(producer->input(1 - tensorOperand));
    if (!factor || (isDiv && *factor == 0.0)) {
      whyNot = describeNode(producer) + " does not scale by a constant number";
      return false;
    }
    match.scaling = producer;
    match.scale = isDiv ? 1.0 / *factor : *factor;
    current = producer->input(tensorOperand);
    if (!usedOnlyBy(current, producer, whyNot)) {
      return false;
    }
    producer = current->node();
  }
  if (producer->kind() != c10::aten::matmul || producer->inputs().size() != 2) {
    whyNot = "the softmax input does not come from matmul(query, key_t) [scaled] [+ mask]: " +
             describeNode(producer);
    return false;
  }
  match.scores = producer;
  return true;
}

bool knownUnsupported(Value* value, std::string& whyNot) {
  auto type = value->type()->cast<c10::TensorType>();
  if (!type || !type->scalarType()) {
    return false;
  }
  // An unknown device may be CUDA, where half precision has kernels.
  at::Device device = type->device() ? *type->device() : at::Device(at::kCUDA);
  if (fusedKernelSupports(*type->scalarType(), device)) {
    return false;
  }
  whyNot = name(value) + " is " + std::string(c10::toString(*type->scalarType())) +
           " (the kernels take float32; float16 and bfloat16 on cuda)";
  return true;
}

/// The rank `value` is sure to have: a recorded one, or the length of the size
/// list of the view, reshape or permute that made it, carried through
/// transpose, contiguous, slice, comparison with a number and unbind (how
/// attention code splits the heads and slices its causal mask); nullopt when
/// unknown.
std::optional<size_t> structuralRank(const Value* value, int depth = 0) {
  if (auto rank = knownRank(value)) {
    return rank;
  }
  const Node* node = value->node();
  if (depth > 8 || node->inputs().empty()) {
    return std::nullopt;
  }
  const c10::Symbol kind = node->kind();
  // Ops whose result has their first operand's rank: a GPT's causal mask is
  // slices of a 4-D buffer compared with a number.
  const bool comparesWithNumber = (kind == c10::aten::eq || kind == c10::aten::ne) && node->inputs().size() == 2 &&
                                  node->input(1)->type()->isSubtypeOf(*c10::NumberType::get());
  if ((kind == c10::aten::transpose && node->inputs().size() == 3) ||
      (kind == c10::aten::contiguous && node->inputs().size() == 2) ||
      (kind == c10::aten::slice && node->inputs().size() == 5) || comparesWithNumber) {
    return structuralRank(node->input(0), depth + 1);
  }
  // q, k, v = qkv.unbind(0) (timm's and many blocks' split of a stacked projection): one dimension fewer.
  if (kind == c10::prim::ListUnpack && node->input(0)->node()->kind() == c10::aten::unbind &&
      node->input(0)->node()->inputs().size() == 2) {
    auto stacked = structuralRank(node->input(0)->node()->input(0), depth + 1);
    return stacked && *stacked >= 1 ? std::optional<size_t>(*stacked - 1) : std::nullopt;
  }
  if ((kind == c10::aten::view || kind == c10::aten::reshape || kind == c10::aten::permute) &&
      node->inputs().size() == 2) {
    const Node* list = node->input(1)->node();
    if (list->kind() == c10::prim::ListConstruct) {
      return list->inputs().size();
    }
    if (auto sizes = constantIntList(node->input(1))) {
      return sizes->size();
    }
  }
  return std::nullopt;
}

/// The node that is the sole user of `context` and puts the heads back beside
/// each other, which the kernel can write directly: permute(0, 2, 1, 3), or
/// transpose(1, 2) (either order, negative dims too) when `rank` proves
/// `context` 4-D; null if none.
Node* headsPermuteOf(Value* context, std::optional<size_t> rank) {
  std::string ignored;
  Node* next = soleUserInBlock(context, ignored);
  if (next == nullptr || next->input(0) != context) {
    return nullptr;
  }
  if (next->kind() == c10::aten::permute && next->inputs().size() == 2) {
    auto dims = torch::jit::toIValue(next->input(1));
    if (dims && dims->isIntList() && dims->toIntVector() == std::vector<int64_t>{0, 2, 1, 3}) {
      return next;
    }
  }
  if (next->kind() == c10::aten::transpose && next->inputs().size() == 3 && rank == size_t{4}) {
    auto first = torch::jit::constant_as<int64_t>(next->input(1));
    auto second = torch::jit::constant_as<int64_t>(next->input(2));
    if (first && second) {
      const int64_t low = std::min((*first + 4) % 4, (*second + 4) % 4);
      const int64_t high = std::max((*first + 4) % 4, (*second + 4) % 4);
      if (*first >= -4 && *first < 4 && *second >= -4 && *second < 4 && low == 1 && high == 2) {
        return next;
      }
    }
  }
  return nullptr;
}

/// The rank of matmul(softmax(scores), v) when every operand's is known:
/// matmul of operands of two or more dimensions and the broadcasting ops
/// give the largest rank among them.
std::optional<size_t> contextRank(const AttentionMatch& match) {
  size_t rank = 0;
  for (const Value* operand : {match.scores->input(0), match.scores->input(1), match.context->input(1), match.mask,
                               match.fillCondition}) {
    if (operand == nullptr) {
      continue;
    }
    auto operandRank = structuralRank(operand);
    if (!operandRank || (*operandRank < 2 && operand != match.mask && operand != match.fillCondition)) {
      return std::nullopt;
    }
    rank = std::max(rank, *operandRank);
  }
  return rank;
}

std::optional<AttentionMatch> matchAttention(Node* softmax, bool foldPermute, std::string& whyNot) {
  AttentionMatch match;
  match.softmax = softmax;
  if (softmax->inputs().size() != 3 || !isNoneConstant(softmax->input(2))) {
    whyNot = "the softmax has a dtype argument";
    return std::nullopt;
  }
  if (!softmaxOverLastDim(softmax, whyNot) || !usedOnlyBy(softmax->input(0), softmax, whyNot) ||
      !matchScores(softmax->input(0), match, whyNot)) {
    return std::nullopt;
  }
  Node* user = soleUserInBlock(softmax->output(), whyNot);
  if (user == nullptr) {
    return std::nullopt;
  }
  if (user->kind() != c10::aten::matmul || user->input(0) != softmax->output()) {
    whyNot = "the softmax does not feed the left operand of a matmul";
    return std::nullopt;
  }
  match.context = user;
  for (Value* operand : {match.scores->input(0), match.scores->input(1), match.context->input(1), match.mask}) {
    if (operand != nullptr && knownUnsupported(operand, whyNot)) {
      return std::nullopt;
    }
  }
  match.permute = foldPermute ? headsPermuteOf(match.context->output(), contextRank(match)) : nullptr;
  return match;
}

void emitAttention(torch::jit::Graph& graph, const AttentionMatch& match) {
  Node* last = match.permute != nullptr ? match.permute : match.context;
  torch::jit::WithInsertPoint guard(last);
  Value* mask = match.mask;
  if (match.fill != nullptr) {
    Value* fill = graph.insertConstant(match.fillValue);
    Value* zero = graph.insertConstant(0.0);
    Value* additive = graph.insert(c10::aten::where, {match.fillCondition, match.fillWhereTrue ? fill : zero,
                                                      match.fillWhereTrue ? zero : fill});
    mask = mask == nullptr ? additive : graph.insert(c10::aten::add, {additive, mask});
  }
  std::vector<Value*> inputs{match.scores->input(0), match.scores->input(1), match.context->input(1),
                             mask != nullptr ? mask : graph.insertConstant(c10::IValue()),
                             graph.insertConstant(match.scale), graph.insertConstant(match.permute != nullptr)};
  Node* call = graph.insertNode(graph.create(c10::Symbol::fromQualString("tsopt::attention"), inputs, 1));
  call->copyMetadata(match.softmax);
  call->output()->setType(c10::TensorType::get());
  replaceAndDestroy(last->output(), call->output(),
                    {match.permute, match.context, match.softmax, match.maskAdd, match.fill, match.scaling,
                     match.scores});
}

const c10::Symbol kSdpa = c10::Symbol::fromQualString("aten::scaled_dot_product_attention");
const c10::Symbol kSdpAttention = c10::Symbol::fromQualString("tsopt::sdp_attention");

/// Why aten::scaled_dot_product_attention(q, k, v, mask, dropout_p, is_causal,
/// scale[, enable_gqa]) cannot become tsopt::sdp_attention, or nothing.
std::optional<std::string> sdpaNotCovered(Node* sdpa) {
  if (sdpa->inputs().size() != 7 && sdpa->inputs().size() != 8) {
    return "an unknown overload of " + describeNode(sdpa);
  }
  if (constantNumber(sdpa->input(4)) != 0.0) {
    return "dropout_p is not the constant 0";
  }
  if (!torch::jit::toIValue(sdpa->input(5))) {
    return "is_causal is not a constant";
  }
  if (sdpa->inputs().size() == 8 && torch::jit::constant_as<bool>(sdpa->input(7)) != false) {
    return "enable_gqa is not the constant False (grouped-query attention)";
  }
  auto scaleType = sdpa->input(6)->type();
  if (!isNoneConstant(sdpa->input(6)) && scaleType->kind() != c10::TypeKind::FloatType) {
    return "the scale is neither None nor a float";
  }
  std::string whyNot;
  for (size_t i = 0; i < 3; ++i) {
    if (knownUnsupported(sdpa->input(i), whyNot)) {
      return whyNot;
    }
  }
  return std::nullopt;
}

/// tsopt::sdp_attention(q, k, v, mask, is_causal, scale, permute) in place of `sdpa` (and of `permute`, if not null).
void emitSdpAttention(torch::jit::Graph& graph, Node* sdpa, Node* permute) {
  Node* last = permute != nullptr ? permute : sdpa;
  torch::jit::WithInsertPoint guard(last);
  std::vector<Value*> inputs{sdpa->input(0), sdpa->input(1), sdpa->input(2), sdpa->input(3), sdpa->input(5),
                             sdpa->input(6), graph.insertConstant(permute != nullptr)};
  Node* call = graph.insertNode(graph.create(kSdpAttention, inputs, 1));
  call->copyMetadata(sdpa);
  call->output()->setType(c10::TensorType::get());
  replaceAndDestroy(last->output(), call->output(), {permute, sdpa});
}

} // namespace

bool FuseAttentionPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  bool changed = false;
  for (Node* softmax : collectNodes(*graph, {c10::aten::softmax})) {
    std::string whyNot;
    auto match = matchAttention(softmax, permuteOutput, whyNot);
    if (!match) {
      ++skipped;
      context.missed(softmax) << whyNot;
      continue;
    }
    std::vector<Node*> absorbed;
    for (Node* part : {match->scores, match->scaling, match->maskAdd, match->fill, match->softmax, match->context,
                       match->permute}) {
      if (part != nullptr) {
        absorbed.push_back(part);
      }
    }
    if (!context.shouldRewrite("fuse the attention around " + describeNode(softmax) + " into tsopt::attention", softmax,
                               absorbed)) {
      continue;
    }
    emitAttention(*graph, *match);
    ++fused;
    changed = true;
  }
  for (Node* sdpa : collectNodes(*graph, {kSdpa})) {
    if (auto whyNot = sdpaNotCovered(sdpa)) {
      ++skippedSdpa;
      context.missed(sdpa) << *whyNot;
      continue;
    }
    Node* permute = permuteOutput ? headsPermuteOf(sdpa->output(), structuralRank(sdpa->input(0))) : nullptr;
    std::vector<Node*> absorbed{sdpa};
    if (permute != nullptr) {
      absorbed.push_back(permute);
    }
    if (!context.shouldRewrite("fuse " + describeNode(sdpa) + " into tsopt::sdp_attention", sdpa, absorbed)) {
      continue;
    }
    emitSdpAttention(*graph, sdpa, permute);
    ++fusedSdpa;
    changed = true;
  }
  return changed;
}

} // namespace tsopt
