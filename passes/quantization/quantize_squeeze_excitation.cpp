#include "passes/quantization/quantize_squeeze_excitation.h"

#include "passes/core/graph_utils.h"
#include "passes/quantization/quantization_params.h"

#include <ATen/ATen.h>
#include <c10/core/ScalarType.h>
#include <torch/csrc/jit/ir/constants.h>

#include <optional>
#include <set>
#include <string>

namespace tsopt {
namespace {

using torch::jit::Node;
using torch::jit::Value;

const c10::Symbol kDequantize = c10::Symbol::fromQualString("aten::dequantize");
const c10::Symbol kQuantizePerTensor = c10::Symbol::fromQualString("aten::quantize_per_tensor");
const c10::Symbol kMul = c10::Symbol::fromQualString("aten::mul");
const c10::Symbol kQuantizedMul = c10::Symbol::fromQualString("quantized::mul");
const c10::Symbol kAdaptiveAvgPool = c10::Symbol::fromQualString("aten::adaptive_avg_pool2d");
const c10::Symbol kMean = c10::Symbol::fromQualString("aten::mean");

/// The activations whose uint8 output range follows from their input's; each maps to its ATen function.
at::Tensor applyActivation(c10::Symbol kind, const at::Tensor& values) {
  const std::string name = kind.toUnqualString();
  return name.rfind("silu", 0) == 0 ? at::silu(values) : at::hardswish(values);
}
const std::vector<c10::Symbol>& activationKinds() {
  static const std::vector<c10::Symbol> kinds = {
      c10::Symbol::fromQualString("aten::silu"), c10::Symbol::fromQualString("aten::silu_"),
      c10::Symbol::fromQualString("aten::hardswish"), c10::Symbol::fromQualString("aten::hardswish_")};
  return kinds;
}

/// Whether `value` is the constant quint8 dtype (13).
bool isQUInt8(Value* value) {
  auto dtype = torch::jit::constant_as<int64_t>(value);
  return dtype && *dtype == static_cast<int64_t>(at::kQUInt8);
}

/// The constant scale and zero point of the uint8 tensor `quantized`, read off the op that produced it:
/// a quantize_per_tensor, or a quantized op whose last two inputs are its output's scale and zero point.
std::optional<AffineParams> producerParams(Value* quantized, std::string& whyNot) {
  static const std::set<std::string> kOutputParamsLast = {
      "quantized::conv2d", "quantized::conv2d_relu", "quantized::add", "quantized::add_relu", "quantized::mul",
      "quantized::linear", "quantized::hardswish", "tsopt::qconv2d_act", "tsopt::qconv2d_add_act"};
  Node* producer = quantized->node();
  const size_t inputs = producer->inputs().size();
  Value* scale = nullptr;
  Value* zeroPoint = nullptr;
  if (producer->kind() == kQuantizePerTensor && inputs == 4 && isQUInt8(producer->input(3))) {
    scale = producer->input(1);
    zeroPoint = producer->input(2);
  } else if (kOutputParamsLast.count(producer->kind().toQualString()) != 0 && inputs >= 2) {
    scale = producer->input(inputs - 2);
    zeroPoint = producer->input(inputs - 1);
  } else if (producer->kind() == c10::prim::Param) {
    whyNot = "the dequantized tensor is a graph input, whose uint8 parameters are unknown";
    return std::nullopt;
  } else {
    whyNot = "the dequantized tensor comes from " + describeNode(producer) + ", whose uint8 parameters are unknown";
    return std::nullopt;
  }
  auto scaleValue = torch::jit::constant_as<double>(scale);
  auto zeroPointValue = torch::jit::constant_as<int64_t>(zeroPoint);
  if (!scaleValue || !zeroPointValue) {
    whyNot = "the scale or zero point of " + describeNode(producer) + " is not a constant";
    return std::nullopt;
  }
  return AffineParams{*scaleValue, *zeroPointValue};
}

/// 8-bit parameters covering `kind` applied to each of the input's 256 uint8 values. No convolution reads
/// the result (only poolings and multiplies), so the 7 bits of reduce-range are not needed.
AffineParams activationParams(c10::Symbol kind, const AffineParams& input) {
  at::Tensor values = (at::arange(256, at::kDouble) - static_cast<double>(input.zeroPoint)) * input.scale;
  at::Tensor activated = applyActivation(kind, values.to(at::kFloat));
  return affineParamsForRange(activated.min().item<double>(), activated.max().item<double>(), /*reduceRange=*/false);
}

/// A multiply of the activation by another dequantized uint8 tensor, requantized to uint8.
struct GatingMultiply {
  Node* mul = nullptr;
  Value* factor = nullptr;  ///< The uint8 tensor the other operand dequantizes.
  Node* requantize = nullptr;
};

/// What the activation feeds: poolings and gating multiplies, nothing else.
struct SqueezeExcitationUses {
  std::vector<Node*> poolings;
  std::vector<GatingMultiply> multiplies;
};

bool matchPooling(Node* user, Value* activation) {
  if (user->input(0) != activation) {
    return false;
  }
  if (user->kind() == kAdaptiveAvgPool) {
    return user->inputs().size() == 2;
  }
  // aten::mean.dim(self, dim, keepdim, dtype=None): quint8 mean keeps the input's parameters.
  return user->kind() == kMean && user->inputs().size() == 4 && isNoneConstant(user->input(3));
}

std::optional<GatingMultiply> matchGatingMultiply(Node* mul, Value* activation, std::string& whyNot) {
  if (mul->kind() != kMul || mul->inputs().size() != 2 || !isTensor(mul->input(0)) || !isTensor(mul->input(1))) {
    return std::nullopt;
  }
  GatingMultiply gate;
  gate.mul = mul;
  Value* other = mul->input(0) == activation ? mul->input(1) : mul->input(0);
  if (other == activation || other->node()->kind() != kDequantize) {
    whyNot = describeNode(mul) + ": the other factor is not a dequantized tensor";
    return std::nullopt;
  }
  gate.factor = other->node()->input(0);
  if (mul->output()->uses().size() != 1) {
    whyNot = describeNode(mul) + ": its result has " + std::to_string(mul->output()->uses().size()) +
             " uses, not one quantize_per_tensor";
    return std::nullopt;
  }
  Node* requantize = mul->output()->uses()[0].user;
  if (requantize->kind() != kQuantizePerTensor || requantize->inputs().size() != 4 ||
      !isQUInt8(requantize->input(3))) {
    whyNot = describeNode(mul) + ": its result is used by " + describeNode(requantize) +
             ", not a quantize_per_tensor to quint8";
    return std::nullopt;
  }
  if (!torch::jit::constant_as<double>(requantize->input(1)) ||
      !torch::jit::constant_as<int64_t>(requantize->input(2))) {
    whyNot = describeNode(requantize) + " has a non-constant scale or zero point";
    return std::nullopt;
  }
  gate.requantize = requantize;
  return gate;
}

std::optional<SqueezeExcitationUses> matchUses(Value* activation, std::string& whyNot) {
  SqueezeExcitationUses uses;
  for (const torch::jit::Use& use : activation->uses()) {
    Node* user = use.user;
    if (matchPooling(user, activation)) {
      uses.poolings.push_back(user);
      continue;
    }
    std::string gateWhyNot;
    if (auto gate = matchGatingMultiply(user, activation, gateWhyNot)) {
      uses.multiplies.push_back(*gate);
      continue;
    }
    whyNot = gateWhyNot.empty() ? "its user " + describeNode(user) + " needs float32" : gateWhyNot;
    return std::nullopt;
  }
  if (uses.multiplies.empty()) {
    whyNot = "no gating multiply among its users";
    return std::nullopt;
  }
  return uses;
}

/// The graph surgery: one quantize_per_tensor of the activation read by the poolings and quantized::mul.
void rewrite(torch::jit::Graph& graph, Node* activation, const AffineParams& params,
             const SqueezeExcitationUses& uses) {
  Value* quantized = nullptr;
  {
    torch::jit::WithInsertPoint guard(activation->next());
    Node* quantize = graph.create(kQuantizePerTensor,
                                  {activation->output(), graph.insertConstant(params.scale),
                                   graph.insertConstant(params.zeroPoint),
                                   graph.insertConstant(static_cast<int64_t>(at::kQUInt8))});
    graph.insertNode(quantize);
    quantize->output()->setType(c10::TensorType::get());
    quantized = quantize->output();
  }
  for (Node* pooling : uses.poolings) {
    pooling->replaceInput(0, quantized);
    torch::jit::WithInsertPoint guard(pooling->next());
    Node* dequantize = graph.insertNode(graph.create(kDequantize, {pooling->output()}));
    dequantize->output()->setType(c10::TensorType::get());
    pooling->output()->replaceAllUsesAfterNodeWith(dequantize, dequantize->output());
  }
  for (const GatingMultiply& gate : uses.multiplies) {
    // The activation first: quantized::mul's result takes its layout (channels-last after the fused convolutions).
    torch::jit::WithInsertPoint guard(gate.requantize);
    Node* mul = graph.insertNode(
        graph.create(kQuantizedMul, {quantized, gate.factor, gate.requantize->input(1), gate.requantize->input(2)}));
    mul->copyMetadata(gate.mul);
    mul->output()->copyMetadata(gate.requantize->output());
    gate.requantize->output()->replaceAllUsesWith(mul->output());
    gate.requantize->destroy();
    gate.mul->destroy();
  }
}

} // namespace

bool QuantizeSqueezeExcitationPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  bool changed = false;
  for (Node* activation : collectNodes(*graph, activationKinds())) {
    Value* input = activation->input(0);
    if (input->node()->kind() != kDequantize) {
      continue;  // Not a float island between uint8 tensors.
    }
    std::string whyNot;
    std::optional<AffineParams> inputParams;
    std::optional<SqueezeExcitationUses> uses;
    if (input->uses().size() != 1) {
      whyNot = "the dequantized input has " + std::to_string(input->uses().size()) + " uses";
    } else if ((inputParams = producerParams(input->node()->input(0), whyNot))) {
      uses = matchUses(activation->output(), whyNot);
    }
    if (!uses) {
      ++skipped;
      context.missed(activation) << whyNot;
      continue;
    }
    AffineParams params = activationParams(activation->kind(), *inputParams);
    std::string description = "quantize " + describeNode(activation) + " (scale " + std::to_string(params.scale) +
                              ", zero point " + std::to_string(params.zeroPoint) + ") for " +
                              std::to_string(uses->poolings.size()) + " pooling(s) and " +
                              std::to_string(uses->multiplies.size()) + " quantized::mul";
    if (!context.shouldRewrite(description, activation)) {
      continue;
    }
    rewrite(*graph, activation, params, *uses);
    ++activations;
    multiplies += uses->multiplies.size();
    changed = true;
  }
  return changed;
}

} // namespace tsopt
