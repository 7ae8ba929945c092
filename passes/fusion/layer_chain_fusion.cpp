#include "passes/fusion/layer_chain_fusion.h"

#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/value_replacement.h"
#include "runtime/activation.h"
#include "runtime/linear_dynamic.h"
#include "runtime/packed_layers.h"

#include <torch/csrc/jit/ir/constants.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <ostream>

namespace tsopt {
namespace {

using torch::jit::Node;
using torch::jit::Value;

/// A constant number, or `ifNone` for a None constant; nothing otherwise.
std::optional<double> constantBound(Value* value, double ifNone) {
  auto constant = torch::jit::toIValue(value);
  if (!constant) {
    return std::nullopt;
  }
  if (constant->isNone()) {
    return ifNone;
  }
  if (constant->isDouble() || constant->isInt()) {
    return constant->toScalar().toDouble();
  }
  return std::nullopt;
}

std::optional<double> constantDouble(Value* value) {
  auto constant = torch::jit::toIValue(value);
  return constant && constant->isDouble() ? std::optional<double>(constant->toDouble()) : std::nullopt;
}

c10::optional<at::Tensor> toC10(const std::optional<at::Tensor>& tensor) {
  return tensor ? c10::optional<at::Tensor>(*tensor) : c10::nullopt;
}

/// A constant int list of `rank` values; one value stands for all, as ATen expands it.
std::optional<std::vector<int64_t>> constantList(Value* value, size_t rank) {
  auto constant = torch::jit::toIValue(value);
  if (!constant || !constant->isIntList()) {
    return std::nullopt;
  }
  std::vector<int64_t> values = constant->toIntVector();
  if (values.size() == 1) {
    values.assign(rank, values[0]);
  }
  return values.size() == rank ? std::optional<std::vector<int64_t>>(values) : std::nullopt;
}

bool kernelParameter(const at::Tensor& tensor, const char* what, std::string& whyNot) {
  if (tensor.layout() == at::kStrided && fusedKernelSupports(tensor.scalar_type(), tensor.device())) {
    return true;
  }
  whyNot = std::string(what) + " is " + std::string(c10::toString(tensor.scalar_type())) + " on " +
           tensor.device().str() + " (the fused kernels take float32 on cpu; float32, float16 or bfloat16 on cuda)";
  return false;
}

bool kernelParameters(const LayerMatch& layer, std::string& whyNot) {
  if (!kernelParameter(layer.weight, "weight", whyNot) || (layer.bias && !kernelParameter(*layer.bias, "bias", whyNot))) {
    return false;
  }
  if (layer.bias && (layer.bias->scalar_type() != layer.weight.scalar_type() ||
                     layer.bias->device() != layer.weight.device())) {
    whyNot = "bias and weight differ in dtype or device";
    return false;
  }
  return true;
}

/// A layer, the residual add and the activation after it (or the activation
/// and the residual add after it), as fuseLayerChains found them.
struct Chain {
  Node* layer = nullptr;
  Node* add = nullptr;
  Value* residual = nullptr;
  double residualScale = 1.0;  ///< The fused op adds residualScale * residual.
  bool negateLayer = false;    ///< residual - layer: the packed weights are negated.
  Node* secondAdd = nullptr;  ///< A second sum after `add`: its residual joins the first.
  Value* second = nullptr;
  double secondScale = 1.0;
  bool addAfterActivation = false;
  std::optional<ActivationMatch> activation;
  Node* last = nullptr;  ///< The node whose output the fused call replaces.
  /// LinearDynamicInt8: the layer's input x * m of a constant per-feature m (smooth-quant's), which the packed
  /// layer applies itself; the fused call then reads x.
  Node* inputScaleNode = nullptr;
  Value* input = nullptr;  ///< What the fused call reads: the layer's input, or x above.
  std::optional<at::Tensor> inputScale;

  /// The chain's nodes in graph order.
  std::vector<Node*> nodes() const {
    std::vector<Node*> result{layer};
    Node* activationNode = activation ? activation->node : nullptr;
    for (Node* node : addAfterActivation ? std::vector<Node*>{activationNode, add, secondAdd}
                                         : std::vector<Node*>{add, secondAdd, activationNode}) {
      if (node != nullptr) {
        result.push_back(node);
      }
    }
    return result;
  }
};

std::string usesText(const Value* value) {
  return "%" + value->debugName() + " has " + std::to_string(value->uses().size()) + " uses";
}

/// Whether the traced shapes of `residual` and `layerOutput` are both known
/// and differ: the kernels add only a residual of the output's shape.
bool knownToBroadcast(Value* residual, Value* layerOutput) {
  auto residualType = residual->type()->cast<c10::TensorType>();
  auto outputType = layerOutput->type()->cast<c10::TensorType>();
  if (!residualType || !outputType) {
    return false;
  }
  auto residualSizes = residualType->sizes().concrete_sizes();
  auto outputSizes = outputType->sizes().concrete_sizes();
  return residualSizes && outputSizes && *residualSizes != *outputSizes;
}

/// Which residual sums a layer's fused ops can take besides layer + residual.
struct SumForms {
  at::ScalarType dtype = at::kFloat;  ///< The layer's: a residual of another dtype would promote.
  bool scaled = false;                ///< layer + scale * residual: the `.scaled` overloads (CPU only).
  bool negated = false;               ///< residual - layer: negated weights, exact.
};

/// Whether the traced dtype of `residual` is known and not `dtype`: ATen
/// would promote the sum, the kernels add only a residual of the layer's dtype.
bool knownOtherDtype(Value* residual, at::ScalarType dtype) {
  auto residualType = residual->type()->cast<c10::TensorType>();
  return residualType && residualType->scalarType() && *residualType->scalarType() != dtype;
}

/// The residual add or sub that is the only use of `current`, if there is one
/// the fused ops can take, with the sum it computes in `sum`. `activated`:
/// `current` is an activation's output (whose negation has no fused form).
Node* fusibleSumAfter(Value* current, const SumForms& forms, bool activated, ResidualSum& sum, std::string& whyNot) {
  Node* user = soleUserInBlock(current, whyNot);
  if (user == nullptr) {
    return nullptr;
  }
  auto match = matchResidualSum(user, current, whyNot);
  if (!match) {
    return nullptr;
  }
  if (match->scale != 1.0 && !forms.scaled) {
    whyNot = describeNode(user) + " adds the residual times " + c10::str(match->scale) +
             ": only the CPU float32 ops take a residual scale";
    return nullptr;
  }
  if (match->negatesOperand && (activated || !forms.negated)) {
    whyNot = describeNode(user) + " subtracts " + (activated ? "the activation's" : "the layer's") +
             " output: no exact fused form (" +
             (activated ? "the activation does not commute with negation)" : "int8 weights)");
    return nullptr;
  }
  if (knownToBroadcast(match->residual, current)) {
    whyNot = describeNode(user) + " broadcasts: the residual's shape differs from the layer's output";
    return nullptr;
  }
  if (knownOtherDtype(match->residual, forms.dtype)) {
    whyNot = describeNode(user) + " adds a residual of another dtype than the layer's " +
             std::string(c10::toString(forms.dtype)) + " (ATen would promote)";
    return nullptr;
  }
  sum = *match;
  return user;
}

/// Whether a node after `from` and before `to` may write to memory (an
/// in-place op, a block): the fused call, placed at `to`, reads the first
/// residual later than `from` did.
bool writesBetween(Node* from, Node* to) {
  for (Node* node = from->next(); node != to; node = node->next()) {
    if (!node->blocks().empty() || (node->maybeSchema() != nullptr && node->schema().is_mutable())) {
      return true;
    }
  }
  return false;
}

/// The residual sum after `current` as the chain's add; then a second sum
/// after that one, where the `.scaled` overloads can take it (conv(x) + a + b).
Node* residualSumsAfter(Value* current, Chain& chain, const SumForms& forms, bool activated, std::string& whyNot) {
  ResidualSum sum;
  Node* add = fusibleSumAfter(current, forms, activated, sum, whyNot);
  if (add == nullptr) {
    return nullptr;
  }
  chain.add = add;
  chain.residual = sum.residual;
  chain.residualScale = sum.scale;
  chain.negateLayer = sum.negatesOperand;
  chain.last = add;
  std::string secondWhyNot;
  SumForms secondForms = forms;
  secondForms.negated = false;  // r2 - (layer + r): the first residual would need negating too
  if (forms.scaled) {
    Node* second = fusibleSumAfter(add->output(), secondForms, activated, sum, secondWhyNot);
    if (second != nullptr && !writesBetween(add, second)) {
      chain.secondAdd = second;
      chain.second = sum.residual;
      chain.secondScale = sum.scale;
      chain.last = second;
    }
  }
  return chain.last;
}

std::optional<Chain> findChain(Node* layer, const ChainPolicy& policy, const SumForms& forms, std::string& whyNot) {
  Chain chain;
  chain.layer = layer;
  chain.last = layer;
  Value* current = layer->output();
  std::string addWhyNot;
  if (policy.fuseAdd) {
    if (Node* add = residualSumsAfter(current, chain, forms, false, addWhyNot)) {
      current = add->output();
    }
  }
  std::string activationWhyNot;
  if (Node* user = soleUserInBlock(current, activationWhyNot)) {
    auto activation = matchActivation(user, activationWhyNot);
    if (activation && policy.activations.count(activation->name) == 0) {
      activationWhyNot = activation->name + " is not among the pass's activations";
      activation.reset();
    }
    if (activation) {
      chain.activation = activation;
      chain.last = user;
      current = user->output();
    }
  }
  // activation(layer(x)) + r: oneDNN applies a sum post-op after the eltwise
  // one as readily as before it.
  if (policy.fuseAdd && !chain.add && chain.activation) {
    std::string afterWhyNot;
    chain.addAfterActivation = residualSumsAfter(current, chain, forms, true, afterWhyNot) != nullptr;
    if (!chain.addAfterActivation) {
      addWhyNot += "; after the activation: " + afterWhyNot;
    }
  }
  if (policy.requireAdd && !chain.add) {
    whyNot = "no residual add to fuse: " + addWhyNot;
    return std::nullopt;
  }
  if (!chain.add && !chain.activation && !policy.loneLayers) {
    whyNot = "nothing to fuse: " + activationWhyNot;
    return std::nullopt;
  }
  return chain;
}

std::string describeChain(const Chain& chain, c10::Symbol op) {
  std::string text = "fuse";
  if (chain.inputScaleNode != nullptr) {
    text += " the input scale of " + describeNode(chain.inputScaleNode) + ",";
  }
  for (Node* node : chain.nodes()) {
    text += (node == chain.layer ? " " : ", ") + describeNode(node);
  }
  return text + " into " + op.toQualString() + (chain.negateLayer ? " with negated weights" : "");
}

c10::IValue packLayer(const Chain& chain, const ChainPolicy& policy, const std::optional<ConvMatch>& conv,
                      const std::optional<LayerMatch>& linear) {
  const FusedLayerKind kind = policy.layer;
  if (kind == FusedLayerKind::LinearDynamicInt8) {
    return c10::IValue(c10::make_intrusive<runtime::LinearDynamicPacked>(
        linear->weight, toC10(linear->bias), policy.reduceRange, toC10(chain.inputScale)));
  }
  // residual - layer(x) is residual + layer'(x) with the weights and bias
  // negated: exact, as float negation is.
  const LayerMatch& layer = kind == FusedLayerKind::Conv2d ? conv->layer : *linear;
  at::Tensor weight = chain.negateLayer ? layer.weight.neg() : layer.weight;
  std::optional<at::Tensor> bias = layer.bias && chain.negateLayer ? layer.bias->neg() : layer.bias;
  if (kind == FusedLayerKind::Conv2d) {
    return c10::IValue(c10::make_intrusive<runtime::ConvPacked>(weight, toC10(bias), conv->params));
  }
  return c10::IValue(c10::make_intrusive<runtime::LinearPacked>(weight, toC10(bias)));
}

c10::Symbol fusedOp(FusedLayerKind kind, const Chain& chain) {
  const char* suffix = chain.residual == nullptr ? "_act" : chain.addAfterActivation ? "_act_add" : "_add_act";
  const char* layer = kind == FusedLayerKind::Conv2d   ? "tsopt::conv2d"
                      : kind == FusedLayerKind::Linear ? "tsopt::linear"
                                                       : "tsopt::linear_dynamic";
  return c10::Symbol::fromQualString(std::string(layer) + suffix);
}

/// Replaces the chain by `op(input, [residual,] packed, activation, alpha, beta)`
/// placed where the chain ends, so every operand dominates it.
void emitFusedCall(torch::jit::Graph& graph, const Chain& chain, c10::Symbol op, const c10::IValue& packed) {
  torch::jit::WithInsertPoint guard(chain.last);
  std::vector<Value*> inputs{chain.input};
  if (chain.residual != nullptr) {
    inputs.push_back(chain.residual);
  }
  inputs.push_back(graph.insertConstant(packed));
  inputs.push_back(graph.insertConstant(chain.activation ? chain.activation->name : std::string("none")));
  inputs.push_back(graph.insertConstant(chain.activation ? chain.activation->alpha : 0.0));
  inputs.push_back(graph.insertConstant(chain.activation ? chain.activation->beta : 0.0));
  if (chain.residualScale != 1.0 || chain.second != nullptr) {  // the `.scaled` overload
    inputs.push_back(graph.insertConstant(chain.residualScale));
    inputs.push_back(chain.second != nullptr ? chain.second : graph.insertConstant(c10::IValue()));
    inputs.push_back(graph.insertConstant(chain.secondScale));
  }
  Node* call = graph.insertNode(graph.create(op, inputs, 1));
  call->copyMetadata(chain.layer);
  // The fused op may return another memory layout than the last node did
  // (propagate-layout relies on that), so the traced strides would be wrong.
  call->output()->setType(c10::TensorType::get());
  std::vector<Node*> nodes = chain.nodes();
  replaceAndDestroy(chain.last->output(), call->output(), std::vector<Node*>(nodes.rbegin(), nodes.rend()));
}

/// What a dynamic int8 layer needs beyond a float32 linear's: a CPU weight
/// (the kernel is oneDNN's), no gradient, enough elements to pay for the
/// per-call quantization.
bool dynamicInt8Applies(const LayerMatch& layer, const ChainPolicy& policy, std::string& whyNot) {
  if (!layer.weight.device().is_cpu()) {
    whyNot = "weight is on " + layer.weight.device().str() + " (the int8 kernel runs on the cpu)";
    return false;
  }
  if (layer.weight.requires_grad() || (layer.bias && layer.bias->requires_grad())) {
    whyNot = "weight or bias requires grad (training-mode leftover; freeze an eval-mode module)";
    return false;
  }
  if (layer.weight.numel() < policy.minWeightElements) {
    whyNot = "weight has " + std::to_string(layer.weight.numel()) + " elements, fewer than min-size " +
             std::to_string(policy.minWeightElements);
    return false;
  }
  return true;
}

/// `input` = aten::mul(x, m) (or m * x) of a constant float32 CPU vector m of `features` values: the
/// smoothing that smooth-quant puts before a linear. Only a 1-D m: one of higher rank would broadcast x up.
/// The mul stays for its other users (dce removes it when it has none). Not when something may write to memory
/// between the mul and the chain's end, where the fused call reads x.
void absorbInputScale(Chain& chain, Value* input, int64_t features) {
  Node* mul = input->node();
  if (mul->kind() != c10::aten::mul || mul->inputs().size() != 2 ||
      !mul->matches("aten::mul.Tensor(Tensor self, Tensor other) -> Tensor") ||
      mul->owningBlock() != chain.last->owningBlock() || writesBetween(mul, chain.last)) {
    return;
  }
  for (size_t side = 0; side < 2; ++side) {
    auto constant = torch::jit::toIValue(mul->input(side));
    if (!constant || !constant->isTensor()) {
      continue;
    }
    const at::Tensor& scale = constant->toTensor();
    if (scale.dim() == 1 && scale.size(0) == features && scale.scalar_type() == at::kFloat && scale.device().is_cpu() &&
        !scale.requires_grad()) {
      chain.inputScaleNode = mul;
      chain.input = mul->input(1 - side);
      chain.inputScale = scale;
      return;
    }
  }
}

SumForms sumForms(const ChainPolicy& policy, const LayerMatch& layer) {
  const bool floatLayer = policy.layer != FusedLayerKind::LinearDynamicInt8;
  return SumForms{layer.weight.scalar_type(), floatLayer && layer.weight.device().is_cpu(), floatLayer};
}

} // namespace

bool fusedKernelSupports(at::ScalarType dtype, const at::Device& device) {
  if (device.is_cuda()) {
    return dtype == at::kFloat || dtype == at::kHalf || dtype == at::kBFloat16;
  }
  return device.is_cpu() && dtype == at::kFloat;
}

Node* soleUserInBlock(Value* value, std::string& whyNot) {
  if (value->uses().size() != 1) {
    whyNot = usesText(value);
    return nullptr;
  }
  Node* user = value->uses()[0].user;
  if (user->kind() == c10::prim::Return) {
    whyNot = "%" + value->debugName() + " is only returned";
    return nullptr;
  }
  if (user->owningBlock() != value->node()->owningBlock()) {
    whyNot = "the user of %" + value->debugName() + " is in another block";
    return nullptr;
  }
  return user;
}

std::set<std::string> checkedActivations(const std::string& passName, const std::vector<std::string>& names) {
  const std::vector<std::string>& known = runtime::activationNames();
  for (const std::string& name : names) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string list;
      for (const std::string& candidate : known) {
        list += (list.empty() ? "" : ",") + candidate;
      }
      throw Error(ErrorKind::Usage, passName + ": unknown activation '" + name + "' (known: " + list + ")");
    }
  }
  return std::set<std::string>(names.begin(), names.end());
}

std::optional<ActivationMatch> matchActivation(Node* node, std::string& whyNot) {
  static const std::map<std::string, std::string> kUnary = {
      {"aten::relu", "relu"},           {"aten::relu_", "relu"},         {"aten::silu", "silu"},
      {"aten::silu_", "silu"},          {"aten::hardswish", "hardswish"}, {"aten::hardswish_", "hardswish"},
      {"aten::sigmoid", "sigmoid"},     {"aten::sigmoid_", "sigmoid"},   {"aten::tanh", "tanh"},
      {"aten::tanh_", "tanh"},         {"aten::hardsigmoid", "hardsigmoid"}, {"aten::hardsigmoid_", "hardsigmoid"},
      {"aten::mish", "mish"},           {"aten::mish_", "mish"},         {"aten::abs", "abs"},
      {"aten::abs_", "abs"},            {"aten::exp", "exp"},            {"aten::exp_", "exp"},
      {"aten::square", "square"},       {"aten::square_", "square"},     {"aten::log_sigmoid", "log_sigmoid"},
  };
  const std::string kind = node->kind().toQualString();
  ActivationMatch match{node, "", 0.0, 0.0};
  const size_t inputs = node->inputs().size();
  if (node->outputs().size() != 1) {
    whyNot = kind + " is not a fusible activation";
    return std::nullopt;
  }
  auto unary = kUnary.find(kind);
  if (unary != kUnary.end() && inputs == 1) {
    match.name = unary->second;
    return match;
  }
  if ((kind == "aten::relu6" || kind == "aten::relu6_") && inputs == 1) {
    match.name = "clamp";
    match.beta = 6.0;
    return match;
  }
  const double infinity = std::numeric_limits<double>::infinity();
  if ((kind == "aten::hardtanh" || kind == "aten::hardtanh_" || kind == "aten::clamp" || kind == "aten::clamp_") &&
      inputs == 3) {
    bool isClamp = kind.rfind("aten::clamp", 0) == 0;
    std::optional<double> lower = isClamp ? constantBound(node->input(1), -infinity) : constantDouble(node->input(1));
    std::optional<double> upper = isClamp ? constantBound(node->input(2), infinity) : constantDouble(node->input(2));
    if (!lower || !upper || std::isnan(*lower) || std::isnan(*upper)) {
      whyNot = kind + " bounds are not constant numbers";
      return std::nullopt;
    }
    match.name = "clamp";
    match.alpha = *lower;
    match.beta = *upper;
    return match;
  }
  const double notANumber = std::numeric_limits<double>::quiet_NaN();
  const bool clampMin = kind == "aten::clamp_min" || kind == "aten::clamp_min_";
  if ((clampMin || kind == "aten::clamp_max" || kind == "aten::clamp_max_") && inputs == 2) {
    std::optional<double> bound = constantBound(node->input(1), notANumber);
    if (!bound || std::isnan(*bound)) {
      whyNot = kind + " bound is not a constant number";
      return std::nullopt;
    }
    match.name = "clamp";
    match.alpha = clampMin ? *bound : -infinity;
    match.beta = clampMin ? infinity : *bound;
    return match;
  }
  if ((kind == "aten::leaky_relu" || kind == "aten::leaky_relu_") && inputs == 2) {
    std::optional<double> slope = constantBound(node->input(1), notANumber);
    if (!slope || std::isnan(*slope)) {
      whyNot = kind + " negative slope is not a constant number";
      return std::nullopt;
    }
    match.name = "leaky_relu";
    match.alpha = *slope;
    return match;
  }
  if ((kind == "aten::elu" || kind == "aten::elu_") && inputs == 4) {
    std::optional<double> alpha = constantBound(node->input(1), notANumber);
    std::optional<double> scale = constantBound(node->input(2), notANumber);
    std::optional<double> inputScale = constantBound(node->input(3), notANumber);
    if (!alpha || std::isnan(*alpha) || scale != 1.0 || inputScale != 1.0) {
      whyNot = kind + " is not alpha * (exp(x) - 1) with a constant alpha (scale and input_scale must be 1)";
      return std::nullopt;
    }
    match.name = "elu";
    match.alpha = *alpha;
    return match;
  }
  if (kind == "aten::softplus" && inputs == 3) {
    std::optional<double> beta = constantBound(node->input(1), notANumber);
    std::optional<double> threshold = constantBound(node->input(2), notANumber);
    if (!beta || !(*beta > 0.0) || !threshold || !(*threshold >= runtime::kSoftplusMinThreshold)) {
      whyNot = kind + " needs a constant beta > 0 and a constant threshold >= " +
               std::to_string(static_cast<int>(runtime::kSoftplusMinThreshold)) + " (the kernels have no threshold)";
      return std::nullopt;
    }
    match.name = "softplus";
    match.alpha = *beta;
    match.beta = *threshold;
    return match;
  }
  if ((kind == "aten::pow" || kind == "aten::pow_") && inputs == 2 && node->input(0)->type()->cast<c10::TensorType>()) {
    std::optional<double> exponent = constantBound(node->input(1), notANumber);
    if (exponent != 2.0) {
      whyNot = kind + " has an exponent other than the constant 2";
      return std::nullopt;
    }
    match.name = "square";
    return match;
  }
  if (kind == "aten::gelu" && (inputs == 1 || inputs == 2)) {
    std::optional<std::string> approximate("none");
    if (inputs == 2) {
      auto constant = torch::jit::toIValue(node->input(1));
      approximate = constant && constant->isString() ? std::optional<std::string>(constant->toStringRef())
                                                     : std::nullopt;
    }
    if (!approximate || (*approximate != "none" && *approximate != "tanh")) {
      whyNot = "aten::gelu's approximation is not the constant 'none' or 'tanh'";
      return std::nullopt;
    }
    match.name = *approximate == "none" ? "gelu" : "gelu_tanh";
    return match;
  }
  whyNot = kind + " is not a fusible activation";
  return std::nullopt;
}

std::optional<ResidualSum> matchResidualSum(Node* node, Value* operand, std::string& whyNot) {
  const c10::Symbol kind = node->kind();
  const bool inPlace = kind == c10::aten::add_ || kind == c10::aten::sub_;
  const bool subtracts = kind == c10::aten::sub || kind == c10::aten::sub_;
  if ((!inPlace && kind != c10::aten::add && kind != c10::aten::sub) || node->inputs().size() != 3) {
    whyNot = std::string(kind.toQualString()) + " is not a residual add";
    return std::nullopt;
  }
  if (!isTensor(node->input(0)) || !isTensor(node->input(1))) {
    whyNot = describeNode(node) + " adds a scalar";
    return std::nullopt;
  }
  auto alpha = constantBound(node->input(2), std::numeric_limits<double>::quiet_NaN());
  if (!alpha || !std::isfinite(*alpha)) {
    whyNot = describeNode(node) + " has an alpha that is not a constant finite number";
    return std::nullopt;
  }
  if (node->input(0) == node->input(1)) {
    whyNot = describeNode(node) + " adds a value to itself";
    return std::nullopt;
  }
  // input(0) + coefficient * input(1), as aten::add and aten::sub compute it.
  const double coefficient = subtracts ? -*alpha : *alpha;
  if (node->input(0) == operand) {
    return ResidualSum{node->input(1), coefficient, false};
  }
  if (inPlace) {
    whyNot = describeNode(node) + " writes into the residual, not into the layer's output";
    return std::nullopt;
  }
  // r + coefficient * layer: exact in the layer's weights for +-1 only.
  if (coefficient != 1.0 && coefficient != -1.0) {
    whyNot = describeNode(node) + " scales the layer's output by " + c10::str(coefficient) +
             " (only a scale of 1 or -1 is exact in its weights)";
    return std::nullopt;
  }
  return ResidualSum{node->input(0), 1.0, coefficient == -1.0};
}

std::optional<Value*> matchResidualAdd(Node* node, Value* operand, std::string& whyNot) {
  if (node->kind() != c10::aten::add && node->kind() != c10::aten::add_) {
    whyNot = std::string(node->kind().toQualString()) + " is not a residual add";
    return std::nullopt;
  }
  auto sum = matchResidualSum(node, operand, whyNot);
  if (sum && (sum->scale != 1.0 || sum->negatesOperand)) {
    whyNot = describeNode(node) + " has an alpha other than the constant 1";
    return std::nullopt;
  }
  return sum ? std::optional<Value*>(sum->residual) : std::nullopt;
}

std::optional<ConvMatch> matchFusibleConvolution(Node* node, std::string& whyNot) {
  auto layer = matchConvolution(node, whyNot);
  if (!layer) {
    return std::nullopt;
  }
  if (node->maybeSchema() == nullptr) {
    whyNot = describeNode(node) + " matches no operator schema";
    return std::nullopt;
  }
  if (layer->weight.dim() < 3 || layer->weight.dim() > 5) {
    whyNot = "not a 1-D, 2-D or 3-D convolution (" + std::to_string(layer->weight.dim()) + "-D weight)";
    return std::nullopt;
  }
  if (!kernelParameters(*layer, whyNot)) {
    return std::nullopt;
  }
  const size_t rank = layer->weight.dim() - 2;
  const bool generic = node->kind() == c10::aten::_convolution || node->kind() == c10::aten::convolution;
  auto stride = constantList(node->namedInput("stride"), rank);
  auto padding = constantList(node->namedInput("padding"), rank);
  auto dilation = constantList(node->namedInput("dilation"), rank);
  auto outputPadding = layer->layout.transposed || generic ? constantList(node->namedInput("output_padding"), rank)
                                                           : std::optional<std::vector<int64_t>>(
                                                                 std::vector<int64_t>(rank, 0));
  if (!stride || !padding || !dilation || !outputPadding) {
    whyNot = "stride, padding, dilation or output_padding is not a constant list of " + std::to_string(rank) +
             " ints (string padding is not fused)";
    return std::nullopt;
  }
  runtime::Conv2dParams params{*stride, *padding, *dilation, layer->layout.groups, *outputPadding,
                               layer->layout.transposed};
  try {
    runtime::checkConv2dParams("convolution", layer->weight.size(0), params);
  } catch (const c10::Error& error) {
    whyNot = error.what_without_backtrace();
    return std::nullopt;
  }
  return ConvMatch{*layer, std::move(params)};
}

std::optional<LayerMatch> matchFusibleLinear(Node* node, std::string& whyNot) {
  auto layer = matchLinear(node, whyNot);
  if (!layer || !kernelParameters(*layer, whyNot)) {
    return std::nullopt;
  }
  return layer;
}

bool fuseLayerChains(torch::jit::Graph& graph, PassContext& context, const ChainPolicy& policy, Statistic& fused,
                     Statistic& skipped) {
  const bool conv = policy.layer == FusedLayerKind::Conv2d;
  std::vector<torch::jit::NodeKind> kinds =
      conv ? std::vector<torch::jit::NodeKind>{c10::aten::conv1d,           c10::aten::conv2d,
                                               c10::aten::conv3d,           c10::aten::conv_transpose1d,
                                               c10::aten::conv_transpose2d, c10::aten::conv_transpose3d,
                                               c10::aten::_convolution,     c10::aten::convolution}
           : std::vector<torch::jit::NodeKind>{c10::aten::linear};
  bool changed = false;
  for (Node* node : collectNodes(graph, kinds)) {
    std::string whyNot;
    std::optional<ConvMatch> convMatch;
    std::optional<LayerMatch> linearMatch;
    std::optional<Chain> chain;
    if (conv ? bool(convMatch = matchFusibleConvolution(node, whyNot)) : bool(linearMatch = matchFusibleLinear(node, whyNot))) {
      if (policy.layer != FusedLayerKind::LinearDynamicInt8 || dynamicInt8Applies(*linearMatch, policy, whyNot)) {
        chain = findChain(node, policy, sumForms(policy, convMatch ? convMatch->layer : *linearMatch), whyNot);
      }
    }
    if (!chain) {
      ++skipped;
      context.missed(node) << whyNot;
      continue;
    }
    chain->input = node->input(0);
    if (policy.layer == FusedLayerKind::LinearDynamicInt8) {
      absorbInputScale(*chain, node->input(0), linearMatch->weight.size(1));
    }
    c10::Symbol op = fusedOp(policy.layer, *chain);
    if (!context.shouldRewrite(describeChain(*chain, op), node, chain->nodes())) {
      continue;
    }
    emitFusedCall(graph, *chain, op, packLayer(*chain, policy, convMatch, linearMatch));
    ++fused;
    changed = true;
  }
  return changed;
}

} // namespace tsopt
