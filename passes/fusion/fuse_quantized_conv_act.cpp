#include "passes/fusion/fuse_quantized_conv_act.h"

#include "passes/core/graph_utils.h"
#include "passes/core/value_replacement.h"
#include "passes/fusion/layer_chain_fusion.h"
#include "runtime/packed_layers.h"

#include <ATen/core/dispatch/Dispatcher.h>

#include <optional>

namespace tsopt {
namespace {

using torch::jit::Node;
using torch::jit::Value;

const c10::Symbol kQuantizedConv = c10::Symbol::fromQualString("quantized::conv2d");
const c10::Symbol kQuantizedConvRelu = c10::Symbol::fromQualString("quantized::conv2d_relu");
const c10::Symbol kQuantizedHardswish = c10::Symbol::fromQualString("quantized::hardswish");
const c10::Symbol kQuantizedAdd = c10::Symbol::fromQualString("quantized::add");
const c10::Symbol kQuantizedAddRelu = c10::Symbol::fromQualString("quantized::add_relu");
const c10::Symbol kDequantize = c10::Symbol::fromQualString("aten::dequantize");
const c10::Symbol kQuantizePerTensor = c10::Symbol::fromQualString("aten::quantize_per_tensor");
const c10::Symbol kSigmoid = c10::Symbol::fromQualString("aten::sigmoid");
const c10::Symbol kFusedOp = c10::Symbol::fromQualString("tsopt::qconv2d_act");
const c10::Symbol kFusedAddOp = c10::Symbol::fromQualString("tsopt::qconv2d_add_act");

/// A convolution and what it absorbs: `last` computes the value the fused call replaces.
struct QuantizedChain {
  Node* conv = nullptr;
  std::vector<Node*> absorbed;  ///< After the convolution, in order.
  ActivationMatch activation;   ///< name "none" when there is none.
  Value* residual = nullptr;    ///< The other operand of an absorbed quantized::add(_relu).
  Value* outScale = nullptr;
  Value* outZeroPoint = nullptr;
  double fixedScale = 0.0;       ///< Used when outScale is null (a quantized sigmoid's fixed parameters).
  int64_t fixedZeroPoint = 0;
};

/// Calls a quantized:: op on PyTorch's packed convolution parameters (boxed: no header of theirs needed).
std::vector<c10::IValue> callQuantizedOp(const char* name, const c10::IValue& packed) {
  std::vector<c10::IValue> stack{packed};
  c10::Dispatcher::singleton().findSchemaOrThrow(name, "").callBoxed(&stack);
  return stack;
}

/// PyTorch's packed parameters of a quantized::conv2d, read from the module
/// attribute (prim::GetAttr on the method's self) or a constant.
std::optional<c10::IValue> packedParams(const torch::jit::Module& module, Value* value, std::string& whyNot) {
  Node* node = value->node();
  if (node->kind() == c10::prim::Constant) {
    return torch::jit::toIValue(value);
  }
  if (node->kind() == c10::prim::GetAttr && node->input()->node()->kind() == c10::prim::Param &&
      node->input()->offset() == 0 && module.hasattr(node->s(c10::attr::name))) {
    return module.attr(node->s(c10::attr::name));
  }
  whyNot = "its packed weights are neither a constant nor an attribute of the module";
  return std::nullopt;
}

/// The tsopt.QConvPacked holding the same weights as PyTorch's `packed`.
std::optional<c10::IValue> repack(const c10::IValue& packed, std::string& whyNot) {
  if (callQuantizedOp("quantized::conv2d_transpose", packed)[0].toInt() != 0) {
    whyNot = "transposed convolution";
    return std::nullopt;
  }
  std::vector<c10::IValue> weights = callQuantizedOp("quantized::conv2d_unpack", packed);
  const at::Tensor weight = weights[0].toTensor();
  if (weight.qscheme() == at::kPerChannelAffine && !weight.q_per_channel_zero_points().eq(0).all().item<bool>()) {
    whyNot = "weight zero points are not 0";
    return std::nullopt;
  }
  runtime::Conv2dParams params{callQuantizedOp("quantized::conv2d_stride", packed)[0].toIntVector(),
                               callQuantizedOp("quantized::conv2d_padding", packed)[0].toIntVector(),
                               callQuantizedOp("quantized::conv2d_dilation", packed)[0].toIntVector(),
                               callQuantizedOp("quantized::conv2d_groups", packed)[0].toInt()};
  c10::optional<at::Tensor> bias;
  if (weights[1].isTensor()) {
    bias = weights[1].toTensor().to(at::kFloat).contiguous();
  }
  try {
    return c10::IValue(c10::make_intrusive<runtime::QConvPacked>(weight, bias, std::move(params)));
  } catch (const c10::Error& error) {
    whyNot = error.msg();
    return std::nullopt;
  }
}

/// aten::quantize_per_tensor(%value, constant scale, constant zero point, quint8).
bool matchRequantize(Node* node, std::string& whyNot) {
  if (node->kind() != kQuantizePerTensor || node->inputs().size() != 4) {
    whyNot = "the activation's user is " + describeNode(node) + ", not aten::quantize_per_tensor";
    return false;
  }
  auto dtype = torch::jit::constant_as<int64_t>(node->input(3));
  if (!dtype || *dtype != static_cast<int64_t>(at::kQUInt8)) {
    whyNot = "quantize_per_tensor to another dtype than quint8";
    return false;
  }
  if (!torch::jit::constant_as<double>(node->input(1)) || !torch::jit::constant_as<int64_t>(node->input(2))) {
    whyNot = "quantize_per_tensor with non-constant scale or zero point";
    return false;
  }
  return true;
}

/// quantized::add(_relu)(%conv, %residual, constant scale, constant zero point),
/// either operand order, whose residual is not known to be of another dtype than quint8.
bool matchResidualAdd(Node* add, Value* conv, QuantizedChain& chain, std::string& whyNot) {
  if (!torch::jit::constant_as<double>(add->input(2)) || !torch::jit::constant_as<int64_t>(add->input(3))) {
    whyNot = describeNode(add) + " with non-constant scale or zero point";
    return false;
  }
  Value* residual = add->input(0) == conv ? add->input(1) : add->input(0);
  Node* producer = residual->node();
  if (producer->kind() == kQuantizePerTensor && producer->inputs().size() == 4) {
    auto dtype = torch::jit::constant_as<int64_t>(producer->input(3));
    if (!dtype || *dtype != static_cast<int64_t>(at::kQUInt8)) {
      whyNot = "the residual of " + describeNode(add) + " is not quantized to quint8";
      return false;
    }
  }
  chain.absorbed = {add};
  chain.residual = residual;
  chain.activation.name = add->kind() == kQuantizedAddRelu ? "relu" : "none";
  chain.outScale = add->input(2);
  chain.outZeroPoint = add->input(3);
  return true;
}

/// What follows a quantized convolution that the fused op can absorb; null with `whyNot` otherwise.
std::optional<QuantizedChain> findChain(Node* conv, const std::set<std::string>& activations, bool loneConvs,
                                        bool residualAdds, std::string& whyNot) {
  QuantizedChain chain;
  chain.conv = conv;
  chain.activation.name = conv->kind() == kQuantizedConvRelu ? "relu" : "none";
  chain.outScale = conv->input(2);
  chain.outZeroPoint = conv->input(3);
  const bool hasRelu = conv->kind() == kQuantizedConvRelu;
  auto lone = [&](const std::string& reason) -> std::optional<QuantizedChain> {
    if (loneConvs) {
      return chain;
    }
    whyNot = "nothing to fuse: " + reason;
    return std::nullopt;
  };
  std::string userWhyNot;
  Node* user = soleUserInBlock(conv->output(), userWhyNot);
  if (user == nullptr) {
    return lone(userWhyNot);
  }
  if (hasRelu && (user->kind() == kDequantize || user->kind() == kQuantizedHardswish || user->kind() == kSigmoid)) {
    whyNot = "quantized::conv2d_relu followed by another activation";
    return std::nullopt;
  }
  auto allowed = [&](const std::string& name) {
    if (activations.count(name) == 0) {
      whyNot = name + " is not among the pass's activations";
      return false;
    }
    return true;
  };
  if ((user->kind() == kQuantizedAdd || user->kind() == kQuantizedAddRelu) && residualAdds) {
    if (hasRelu) {
      // The sum post-op comes before the activation: relu(conv) + residual is another computation.
      return lone("quantized::conv2d_relu followed by " + describeNode(user));
    }
    if (user->kind() == kQuantizedAddRelu && !allowed("relu")) {
      return std::nullopt;
    }
    return matchResidualAdd(user, conv->output(), chain, whyNot) ? std::optional(chain) : std::nullopt;
  }
  if (user->kind() == kDequantize) {
    Node* activationNode = soleUserInBlock(user->output(), whyNot);
    if (activationNode == nullptr) {
      return std::nullopt;
    }
    auto activation = matchActivation(activationNode, whyNot);
    if (!activation || !allowed(activation->name)) {
      return std::nullopt;
    }
    Node* requantize = soleUserInBlock(activationNode->output(), whyNot);
    if (requantize == nullptr || !matchRequantize(requantize, whyNot)) {
      return std::nullopt;
    }
    chain.absorbed = {user, activationNode, requantize};
    chain.activation = *activation;
    chain.outScale = requantize->input(1);
    chain.outZeroPoint = requantize->input(2);
    return chain;
  }
  if (user->kind() == kQuantizedHardswish) {
    if (!allowed("hardswish")) {
      return std::nullopt;
    }
    chain.absorbed = {user};
    chain.activation.name = "hardswish";
    chain.outScale = user->input(1);
    chain.outZeroPoint = user->input(2);
    return chain;
  }
  if (user->kind() == kSigmoid) {
    if (!allowed("sigmoid")) {
      return std::nullopt;
    }
    // PyTorch's quantized sigmoid has fixed output parameters for quint8.
    chain.absorbed = {user};
    chain.activation.name = "sigmoid";
    chain.outScale = nullptr;
    chain.fixedScale = 1.0 / 256.0;
    chain.fixedZeroPoint = 0;
    return chain;
  }
  std::string activationWhyNot;
  auto activation = matchActivation(user, activationWhyNot);
  if (activation && (activation->name == "relu" || activation->name == "clamp")) {
    if (hasRelu) {
      whyNot = "quantized::conv2d_relu followed by another activation";
      return std::nullopt;
    }
    if (!allowed(activation->name)) {
      return std::nullopt;
    }
    // On a quantized tensor these keep its scale and zero point: the convolution's.
    chain.absorbed = {user};
    chain.activation = *activation;
    return chain;
  }
  return lone(activation ? activation->name + " on a quantized tensor is not fused" : activationWhyNot);
}

void emitFusedCall(torch::jit::Graph& graph, const QuantizedChain& chain, const c10::IValue& packed) {
  Node* last = chain.absorbed.empty() ? chain.conv : chain.absorbed.back();
  torch::jit::WithInsertPoint guard(last);
  Value* outScale = chain.outScale != nullptr ? chain.outScale : graph.insertConstant(chain.fixedScale);
  Value* outZeroPoint = chain.outScale != nullptr ? chain.outZeroPoint : graph.insertConstant(chain.fixedZeroPoint);
  std::vector<Value*> inputs{chain.conv->input(0),
                             graph.insertConstant(packed),
                             chain.conv->input(2),
                             chain.conv->input(3),
                             graph.insertConstant(chain.activation.name),
                             graph.insertConstant(chain.activation.alpha),
                             graph.insertConstant(chain.activation.beta),
                             outScale,
                             outZeroPoint};
  if (chain.residual != nullptr) {
    inputs.insert(inputs.begin() + 1, chain.residual);
  }
  Node* call = graph.insertNode(graph.create(chain.residual != nullptr ? kFusedAddOp : kFusedOp, inputs, 1));
  call->copyMetadata(chain.conv);
  call->output()->setType(c10::TensorType::get());
  std::vector<Node*> dead(chain.absorbed.rbegin(), chain.absorbed.rend());
  dead.push_back(chain.conv);
  replaceAndDestroy(last->output(), call->output(), dead);
}

} // namespace

bool FuseQuantizedConvActivationPass::runOnModule(torch::jit::Module& module, PassContext& context) {
  const std::set<std::string> allowed = checkedActivations(name(), activations);
  std::shared_ptr<torch::jit::Graph> graph = module.get_method(context.methodName()).graph();
  bool changed = false;
  for (Node* conv : collectNodes(*graph, {kQuantizedConv, kQuantizedConvRelu})) {
    std::string whyNot;
    std::optional<QuantizedChain> chain = findChain(conv, allowed, loneConvs, residualAdds, whyNot);
    std::optional<c10::IValue> pytorchPacked;
    std::optional<c10::IValue> packed;
    if (chain) {
      pytorchPacked = packedParams(module, conv->input(1), whyNot);
    }
    if (pytorchPacked) {
      packed = repack(*pytorchPacked, whyNot);
    }
    if (!packed) {
      ++skipped;
      context.missed(conv) << whyNot;
      continue;
    }
    std::string description = "fuse " + describeNode(conv);
    for (Node* node : chain->absorbed) {
      description += ", " + describeNode(node);
    }
    const char* fusedOp = chain->residual != nullptr ? " into tsopt::qconv2d_add_act" : " into tsopt::qconv2d_act";
    if (!context.shouldRewrite(description + fusedOp, conv, chain->absorbed)) {
      continue;
    }
    emitFusedCall(*graph, *chain, *packed);
    ++fused;
    if (chain->residual != nullptr) {
      ++fusedAdds;
    }
    changed = true;
  }
  return changed;
}

} // namespace tsopt
