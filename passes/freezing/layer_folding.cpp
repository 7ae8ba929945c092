#include "passes/freezing/layer_folding.h"

#include "passes/core/graph_utils.h"

#include <ATen/ATen.h>
#include <torch/csrc/jit/ir/constants.h>

#include <algorithm>
#include <ostream>
#include <set>

namespace tsopt {

using torch::jit::Node;
using torch::jit::Value;

namespace {

const char* const kNotALayer = "not a convolution or linear layer";

enum class Arithmetic { Add, Sub, Mul, Div };

struct ArithmeticKind {
  const char* name;
  Arithmetic op;
  bool inPlace;
  bool reversed = false;  ///< aten::rsub(self, other, alpha) is other - alpha * self.
};

const std::vector<ArithmeticKind>& arithmeticKinds() {
  static const std::vector<ArithmeticKind> kinds = {
      {"aten::add", Arithmetic::Add, false}, {"aten::sub", Arithmetic::Sub, false},
      {"aten::mul", Arithmetic::Mul, false}, {"aten::div", Arithmetic::Div, false},
      {"aten::add_", Arithmetic::Add, true}, {"aten::sub_", Arithmetic::Sub, true},
      {"aten::mul_", Arithmetic::Mul, true}, {"aten::div_", Arithmetic::Div, true},
      {"aten::rsub", Arithmetic::Sub, false, true},
  };
  return kinds;
}

std::optional<ArithmeticKind> arithmeticKindOf(const Node* node) {
  for (const ArithmeticKind& kind : arithmeticKinds()) {
    if (node->kind() == c10::Symbol::fromQualString(kind.name)) {
      return kind;
    }
  }
  return std::nullopt;
}

bool isBatchedInput(const LayerMatch& layer) {
  auto type = layer.node->input(0)->type()->cast<c10::TensorType>();
  return type && type->dim() && static_cast<int64_t>(*type->dim()) == layer.weight.dim();
}

// The operand of a linear layer's output: a number, a one-element tensor, or
// one value per output feature, broadcasting along the last dim only ([F],
// [1, ..., 1, F] no longer than the output's known rank).
bool perFeatureShape(const at::Tensor& tensor, const LayerMatch& layer, int64_t features) {
  std::optional<size_t> outputRank = knownRank(layer.node->output());
  if (!outputRank) {
    outputRank = knownRank(layer.node->input(0));
  }
  int64_t maxRank = outputRank ? static_cast<int64_t>(*outputRank) : 1;
  if (tensor.dim() > maxRank) {
    return false;
  }
  std::vector<int64_t> sizes = tensor.sizes().vec();
  if (tensor.numel() == 1) {
    return true;
  }
  for (size_t d = 0; d + 1 < sizes.size(); ++d) {
    if (sizes[d] != 1) {
      return false;
    }
  }
  return !sizes.empty() && sizes.back() == features;
}

// The constant operand as one factor per output channel (double), or nothing
// when it would change the output's shape or dtype.
std::optional<at::Tensor> perChannel(Value* operand, const LayerMatch& layer, std::string& whyNot) {
  int64_t channels = outputChannels(layer.weight, layer.layout);
  auto number = torch::jit::toIValue(operand);
  if (number && (number->isDouble() || number->isInt())) {
    return at::full({channels}, number->toScalar().toDouble(), at::kDouble);
  }
  auto tensor = constantTensor(operand);
  if (!tensor) {
    whyNot = "the other operand is not a constant";
    return std::nullopt;
  }
  // ATen's promotion decides: a float layer output times an integer
  // tensor stays float (the integers fold exactly), a double tensor with
  // dimensions promotes it to double, a zero-dimensional one does not.
  if (tensor->scalar_type() == at::kBool || tensor->is_complex()) {
    whyNot = "the constant is boolean or complex";
    return std::nullopt;
  }
  if (at::result_type(at::empty({0}, layer.weight.options()), *tensor) != layer.weight.scalar_type()) {
    whyNot = "the constant's dtype would promote the result";
    return std::nullopt;
  }
  if (layer.node->kind() == c10::aten::linear) {
    if (!perFeatureShape(*tensor, layer, channels)) {
      whyNot = "the constant is neither a scalar nor one value per output feature of this linear layer "
               "(it would broadcast the output to another shape)";
      return std::nullopt;
    }
    return tensor->numel() == 1 ? at::full({channels}, tensor->item<double>(), at::kDouble)
                                : tensor->to(at::kDouble).flatten();
  }
  int64_t spatialRank = layer.weight.dim() - 2;
  if (tensor->numel() == 1 && tensor->dim() <= spatialRank + 1) {
    return at::full({channels}, tensor->item<double>(), at::kDouble);
  }
  // Aligned from the right, [C, 1, ..., 1] lands on the channel axis of both
  // batched and unbatched outputs; a leading 1 is safe only when batched.
  std::vector<int64_t> sizes = tensor->sizes().vec();
  if (static_cast<int64_t>(sizes.size()) == spatialRank + 2 && sizes.front() == 1 && isBatchedInput(layer)) {
    sizes.erase(sizes.begin());
  }
  bool perChannelShape = static_cast<int64_t>(sizes.size()) == spatialRank + 1 && sizes.front() == channels;
  for (size_t d = 1; perChannelShape && d < sizes.size(); ++d) {
    perChannelShape = sizes[d] == 1;
  }
  if (!perChannelShape) {
    whyNot = "the constant is neither a scalar nor per-channel shaped for this convolution";
    return std::nullopt;
  }
  return tensor->to(at::kDouble).flatten();
}

// y' = scale * layer + shift for `node`, whose input `convSide` is the layer.
std::optional<Affine> arithmeticAsAffine(const Node* node, const ArithmeticKind& kind, size_t convSide,
                                         const at::Tensor& constant, std::string& whyNot) {
  double alpha = 1.0;
  if (kind.op == Arithmetic::Add || kind.op == Arithmetic::Sub) {
    auto value = torch::jit::toIValue(node->input(2));
    if (!value || !(value->isDouble() || value->isInt())) {
      whyNot = "alpha is not a constant number";
      return std::nullopt;
    }
    alpha = value->toScalar().toDouble();
  }
  at::Tensor ones = at::ones_like(constant);
  if (kind.reversed) {
    convSide = 1 - convSide;
  }
  switch (kind.op) {
  case Arithmetic::Add:
    return convSide == 0 ? Affine{ones, constant * alpha} : Affine{ones * alpha, constant};
  case Arithmetic::Sub:
    return convSide == 0 ? Affine{ones, constant * -alpha} : Affine{ones * -alpha, constant};
  case Arithmetic::Mul:
    return Affine{constant, at::zeros_like(constant)};
  case Arithmetic::Div:
    if ((constant == 0).any().item<bool>()) {
      whyNot = "division by zero";
      return std::nullopt;
    }
    return Affine{constant.reciprocal(), at::zeros_like(constant)};
  }
  return std::nullopt;
}

struct ArithmeticFold {
  LayerMatch layer;
  Affine affine;
};

std::optional<ArithmeticFold> matchArithmetic(Node* node, std::string& whyNot) {
  auto kind = arithmeticKindOf(node);
  size_t expectedInputs = (kind->op == Arithmetic::Add || kind->op == Arithmetic::Sub) ? 3 : 2;
  if (node->inputs().size() != expectedInputs) {
    whyNot = "an overload with other arguments (e.g. a rounding mode)";
    return std::nullopt;
  }
  // layer op c for every kind; c op layer out of place for all but div
  // (c - layer is -layer + c; c / layer is not affine).
  bool commutes = !kind->inPlace && !kind->reversed && kind->op != Arithmetic::Div;
  for (size_t convSide : {0, 1}) {
    if (convSide == 1 && !commutes) {
      break;
    }
    std::string notLayer;
    auto layer = soleProducer(node->input(convSide), matchConvolutionOrLinear, notLayer);
    if (!layer) {
      if (whyNot.empty() || notLayer != kNotALayer) {
        whyNot = notLayer;  // Keep the reason about the side that is a layer.
      }
      continue;
    }
    auto constant = perChannel(node->input(1 - convSide), *layer, whyNot);
    if (!constant) {
      return std::nullopt;
    }
    auto affine = arithmeticAsAffine(node, *kind, convSide, *constant, whyNot);
    if (!affine) {
      return std::nullopt;
    }
    return ArithmeticFold{*layer, *affine};
  }
  return std::nullopt;
}

std::vector<torch::jit::NodeKind> arithmeticSymbols() {
  std::vector<torch::jit::NodeKind> symbols;
  for (const ArithmeticKind& kind : arithmeticKinds()) {
    symbols.push_back(c10::Symbol::fromQualString(kind.name));
  }
  return symbols;
}

bool producedByLayer(Node* node) {
  for (Value* input : node->inputs()) {
    std::string ignored;
    if (matchConvolutionOrLinear(input->node(), ignored)) {
      return true;
    }
  }
  return false;
}

bool readsOnlyMetadata(const Node* user) {
  static const std::set<c10::Symbol> kinds = {c10::aten::dim,   c10::aten::size,
                                              c10::Symbol::fromQualString("aten::numel"),
                                              c10::prim::dtype, c10::prim::device, c10::prim::layout};
  return kinds.count(user->kind()) != 0;
}

// flatten(x, 1, -1) of any input is 2-D.
bool isFlattenToMatrix(const Node* node) {
  if (node->kind() != c10::aten::flatten || node->inputs().size() != 3) {
    return false;
  }
  auto start = torch::jit::constant_as<int64_t>(node->input(1));
  auto end = torch::jit::constant_as<int64_t>(node->input(2));
  return start && end && *start == 1 && *end == -1;
}

// Whether every output of the convolution reads a full window of real
// inputs: padding the constant 0 (all zeros, or "valid").
bool unpadded(const Node* conv, std::string& whyNot) {
  auto padding = torch::jit::toIValue(conv->input(4));
  if (padding && padding->isString()) {
    if (padding->toStringRef() == "valid") {
      return true;
    }
  } else if (padding && padding->isIntList()) {
    std::vector<int64_t> list = padding->toIntVector();
    if (std::all_of(list.begin(), list.end(), [](int64_t p) { return p == 0; })) {
      return true;
    }
  } else {
    whyNot = "the convolution's padding is not a constant";
    return false;
  }
  whyNot = "the convolution pads its input with zeros, which the batch norm's shift would have moved "
           "(zeros would become -shift/scale)";
  return false;
}

// The layer a batch norm's output feeds, when the norm folds into it
// exactly: its only use is the input of a non-transposed convolution that
// does not pad (or the shift is zero), or of a linear layer whose input is
// provably 2-D (batch norm's dim 1 is then the linear's input features).
std::optional<LayerMatch> consumerLayer(const BatchNormMatch& norm, std::string& whyNot) {
  Value* output = norm.node->output();
  std::vector<Node*> users;
  for (const torch::jit::Use& use : output->uses()) {
    if (!readsOnlyMetadata(use.user)) {
      users.push_back(use.user);
    }
  }
  // With no layer after it there is nothing to say beyond why the one before did not take it.
  if (std::none_of(users.begin(), users.end(), [](const Node* user) { return isLayerKind(user->kind()); })) {
    return std::nullopt;
  }
  if (users.size() != 1) {
    whyNot = "the batch norm's output has other uses than the layer after it";
    return std::nullopt;
  }
  Node* user = users.front();
  auto layer = matchConvolutionOrLinear(user, whyNot);
  if (!layer) {
    return std::nullopt;
  }
  if (user->input(0) != output) {
    whyNot = "the batch norm's output is not the layer's input";
    return std::nullopt;
  }
  const bool shifts = (norm.affine.shift != 0).any().item<bool>();
  if (user->kind() == c10::aten::linear) {
    Value* input = norm.node->input(0);
    if (knownRank(output) != 2 && knownRank(input) != 2 && !isFlattenToMatrix(input->node())) {
      whyNot = "cannot prove the batch norm's input is 2-D (it normalizes dim 1, the linear reads the last)";
      return std::nullopt;
    }
  } else if (layer->layout.transposed) {
    whyNot = "a transposed convolution's border outputs read fewer inputs, so the shift does not fold";
    return std::nullopt;
  } else if (shifts && !unpadded(user, whyNot)) {
    return std::nullopt;
  }
  const int64_t inputChannels = layer->weight.size(1) * layer->layout.groups;
  if (norm.affine.scale.numel() != inputChannels) {
    whyNot = "channel counts differ (" + std::to_string(inputChannels) + " input channels, " +
             std::to_string(norm.affine.scale.numel()) + " per-channel factors)";
    return std::nullopt;
  }
  return layer;
}

} // namespace

SkipReporter missedRemarksOf(PassContext& context) {
  return [&context](Node* node, const std::string& whyNot) { context.missed(node) << whyNot; };
}

std::optional<BatchNormMatch> matchEvalBatchNorm(Node* node, std::string& whyNot) {
  // aten::batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled)
  if (node->kind() != c10::aten::batch_norm || node->inputs().size() != 9) {
    whyNot = "not aten::batch_norm";
    return std::nullopt;
  }
  auto training = torch::jit::constant_as<bool>(node->input(5));
  if (!training || *training) {
    whyNot = training ? "batch norm is in training mode" : "training flag is not a constant";
    return std::nullopt;
  }
  auto mean = constantTensor(node->input(3));
  auto var = constantTensor(node->input(4));
  auto eps = torch::jit::constant_as<double>(node->input(7));
  if (!mean || !var || !eps) {
    whyNot = "running statistics or eps are not constants";
    return std::nullopt;
  }
  std::optional<at::Tensor> gamma;
  std::optional<at::Tensor> beta;
  for (size_t index : {1, 2}) {
    Value* input = node->input(index);
    if (isNoneConstant(input)) {
      continue;
    }
    auto tensor = constantTensor(input);
    if (!tensor) {
      whyNot = "affine parameters are not constants";
      return std::nullopt;
    }
    (index == 1 ? gamma : beta) = *tensor;
  }
  int64_t channels = mean->numel();
  for (const std::optional<at::Tensor>& parameter : {std::optional<at::Tensor>(*var), gamma, beta}) {
    if (parameter && parameter->numel() != channels) {
      whyNot = "batch norm parameters disagree in size";
      return std::nullopt;
    }
  }
  if (!mean->is_floating_point() || !var->is_floating_point()) {
    whyNot = "running statistics are not floating point";
    return std::nullopt;
  }
  return BatchNormMatch{node, batchNormAsAffine(gamma, beta, *mean, *var, *eps)};
}

std::optional<LayerMatch> soleProducer(Value* value, LayerMatcher matcher, std::string& whyNot) {
  auto layer = matcher(value->node(), whyNot);
  if (!layer) {
    return std::nullopt;
  }
  // Uses that read only the shape, dtype or device (a scripted BatchNorm's
  // `input.dim() != 4` check) see the same after a fold: they do not count.
  size_t valueUses = std::count_if(value->uses().begin(), value->uses().end(),
                                   [](const torch::jit::Use& use) { return !readsOnlyMetadata(use.user); });
  if (valueUses != 1) {
    whyNot = "the output of " + describeNode(value->node()) + " has other uses";
    return std::nullopt;
  }
  return layer;
}

bool channelsAgree(const LayerMatch& layer, const Affine& affine, std::string& whyNot) {
  int64_t channels = outputChannels(layer.weight, layer.layout);
  if (affine.scale.numel() == channels && affine.shift.numel() == channels &&
      (!layer.bias || layer.bias->numel() == channels)) {
    return true;
  }
  whyNot = "channel counts differ (" + std::to_string(channels) + " output channels, " +
           std::to_string(affine.scale.numel()) + " per-channel factors)";
  return false;
}

void foldIntoLayer(const LayerMatch& layer, const Affine& affine) {
  replaceParameters(layer, foldAffine(layer.weight, layer.bias, affine.scale, affine.shift, layer.layout));
}

void replaceParameters(const LayerMatch& layer, const FoldedParams& params) {
  torch::jit::Graph* graph = layer.node->owningGraph();
  torch::jit::WithInsertPoint guard(layer.node);
  Value* weight = graph->insertConstant(params.weight);
  Value* bias = graph->insertConstant(params.bias);
  weight->setType(c10::TensorType::create(params.weight));
  bias->setType(c10::TensorType::create(params.bias));
  layer.node->replaceInput(1, weight);
  layer.node->replaceInput(2, bias);
}

bool linearOutputIs2D(const LayerMatch& layer, std::string& whyNot) {
  const Value* input = layer.node->input(0);
  if (knownRank(layer.node->output()) == 2 || knownRank(input) == 2 || isFlattenToMatrix(input->node())) {
    return true;
  }
  whyNot = "cannot prove the linear output is 2-D (batch norm normalizes dim 1)";
  return false;
}

std::optional<LayerMatch> matchConvolutionOrLinear(Node* node, std::string& whyNot) {
  if (node->kind() == c10::aten::linear) {
    return matchLinear(node, whyNot);
  }
  auto layer = matchConvolution(node, whyNot);
  if (!layer && whyNot == "not a convolution") {
    whyNot = kNotALayer;
  }
  return layer;
}

bool foldableIntoLayer(const LayerMatch& layer, std::string& whyNot) {
  return layer.node->kind() != c10::aten::linear || linearOutputIs2D(layer, whyNot);
}

bool foldBatchNormsInto(torch::jit::Graph& graph, PassContext& context, const SkipReporter& reportSkip, LayerMatcher matcher,
                        const std::function<bool(const LayerMatch&, std::string&)>& admissible, FoldCounts& counts,
                        bool intoConsumers) {
  bool changed = false;
  for (Node* norm : collectNodes(graph, {c10::aten::batch_norm})) {
    std::string whyNot;
    auto batchNorm = matchEvalBatchNorm(norm, whyNot);
    auto layer = batchNorm ? soleProducer(norm->input(0), matcher, whyNot) : std::nullopt;
    if (layer && admissible && !admissible(*layer, whyNot)) {
      layer.reset();
    }
    if (layer && !channelsAgree(*layer, batchNorm->affine, whyNot)) {
      layer.reset();
    }
    std::optional<LayerMatch> consumer;
    if (!layer && batchNorm && intoConsumers) {
      std::string consumerWhyNot;
      consumer = consumerLayer(*batchNorm, consumerWhyNot);
      if (!consumer && !consumerWhyNot.empty()) {
        whyNot = "into the layer before it: " + whyNot + "; into the layer after it: " + consumerWhyNot;
      }
    }
    if (!layer && !consumer) {
      ++counts.skipped;
      reportSkip(norm, whyNot);
      continue;
    }
    Node* target = layer ? layer->node : consumer->node;
    if (!context.shouldRewrite("fold " + describeNode(norm) + " into " + describeNode(target), norm)) {
      continue;
    }
    if (layer) {
      foldIntoLayer(*layer, batchNorm->affine);
      norm->output()->replaceAllUsesWith(layer->node->output());
    } else {
      const Affine& affine = batchNorm->affine;
      replaceParameters(*consumer, foldInputAffine(consumer->weight, consumer->bias, affine.scale, affine.shift,
                                                   consumer->layout.groups));
      norm->output()->replaceAllUsesWith(norm->input(0));
      ++counts.intoConsumers;
    }
    norm->destroy();
    ++counts.folded;
    changed = true;
  }
  return changed;
}

bool foldArithmeticIntoLayers(torch::jit::Graph& graph, PassContext& context, const SkipReporter& reportSkip,
                                    FoldCounts& counts) {
  bool changed = false;
  for (Node* node : collectNodes(graph, arithmeticSymbols())) {
    if (!producedByLayer(node)) {
      continue;  // Arithmetic unrelated to layers is not a skip worth reporting.
    }
    std::string whyNot;
    auto fold = matchArithmetic(node, whyNot);
    if (!fold) {
      ++counts.skipped;
      reportSkip(node, whyNot);
      continue;
    }
    if (!context.shouldRewrite("fold " + describeNode(node) + " into " + describeNode(fold->layer.node), node)) {
      continue;
    }
    foldIntoLayer(fold->layer, fold->affine);
    node->output()->replaceAllUsesWith(fold->layer.node->output());
    node->destroy();
    ++counts.folded;
    changed = true;
  }
  return changed;
}

} // namespace tsopt
