#include "passes/cleanup/propagate_ranks.h"

#include <torch/csrc/jit/ir/constants.h>

#include <algorithm>
#include <optional>
#include <ostream>
#include <set>
#include <string>

namespace tsopt {
namespace {

using torch::jit::Node;
using torch::jit::Value;

c10::TensorTypePtr tensorType(const Value* value) { return value->type()->cast<c10::TensorType>(); }

std::optional<int64_t> rankOf(const Value* value) {
  auto type = tensorType(value);
  if (!type) {
    return std::nullopt;
  }
  if (auto dim = type->dim()) {
    return static_cast<int64_t>(*dim);
  }
  return std::nullopt;
}

/// The length of an int list that is a constant or built by ListConstruct.
std::optional<int64_t> listLength(const Value* value) {
  if (auto constant = torch::jit::toIValue(value)) {
    return constant->isIntList() ? std::optional<int64_t>(constant->toIntList().size()) : std::nullopt;
  }
  if (value->node()->kind() == c10::prim::ListConstruct) {
    return static_cast<int64_t>(value->node()->inputs().size());
  }
  return std::nullopt;
}

/// Ops whose output has the rank of their first input.
const std::set<std::string>& shapeKeeping() {
  static const std::set<std::string> kinds = {
      "aten::relu", "aten::relu_", "aten::relu6", "aten::relu6_", "aten::hardtanh", "aten::hardtanh_", "aten::clamp",
      "aten::clamp_", "aten::sigmoid", "aten::sigmoid_", "aten::tanh", "aten::tanh_", "aten::silu", "aten::silu_",
      "aten::hardswish", "aten::hardswish_", "aten::hardsigmoid", "aten::hardsigmoid_", "aten::gelu", "aten::gelu_",
      "aten::leaky_relu", "aten::leaky_relu_", "aten::elu", "aten::elu_", "aten::mish", "aten::softplus",
      "aten::neg", "aten::abs", "aten::exp", "aten::log", "aten::sqrt", "aten::rsqrt", "aten::erf", "aten::square",
      "aten::batch_norm", "aten::layer_norm", "aten::group_norm", "aten::instance_norm", "aten::dropout",
      "aten::dropout_", "aten::feature_dropout", "aten::alpha_dropout", "aten::contiguous", "aten::clone",
      "aten::detach", "aten::softmax", "aten::log_softmax", "aten::max_pool1d", "aten::max_pool2d",
      "aten::max_pool3d", "aten::avg_pool1d", "aten::avg_pool2d", "aten::avg_pool3d", "aten::adaptive_avg_pool1d",
      "aten::adaptive_avg_pool2d", "aten::adaptive_avg_pool3d", "aten::conv1d", "aten::conv2d", "aten::conv3d",
      "aten::conv_transpose1d", "aten::conv_transpose2d", "aten::conv_transpose3d", "aten::_convolution",
      "aten::upsample_nearest2d", "aten::upsample_bilinear2d", "aten::pad", "aten::constant_pad_nd",
      "aten::masked_fill_", "aten::permute", "aten::transpose", "aten::t", "aten::cumsum", "aten::roll",
      "aten::flip", "aten::pixel_shuffle", "aten::channel_shuffle", "aten::slice", "aten::narrow", "aten::type_as"};
  return kinds;
}

/// Element-wise ops over several operands: broadcasting gives the largest
/// rank of their tensor operands (scalars do not count).
const std::set<std::string>& broadcasting() {
  static const std::set<std::string> kinds = {"aten::add",     "aten::add_",    "aten::sub",         "aten::sub_",
                                              "aten::mul",     "aten::mul_",    "aten::div",         "aten::div_",
                                              "aten::maximum", "aten::minimum", "aten::rsub",        "aten::pow",
                                              "aten::where",   "aten::masked_fill"};
  return kinds;
}

/// The largest rank among the tensor operands, when every one has a rank.
std::optional<int64_t> broadcastRank(const Node* node) {
  std::optional<int64_t> rank;
  for (const Value* operand : node->inputs()) {
    if (!tensorType(operand)) {
      continue;
    }
    auto operandRank = rankOf(operand);
    if (!operandRank) {
      return std::nullopt;
    }
    rank = std::max(rank.value_or(0), *operandRank);
  }
  return rank;
}

const std::set<std::string>& reductions() {
  static const std::set<std::string> kinds = {"aten::mean", "aten::sum", "aten::amax", "aten::amin"};
  return kinds;
}

/// The output rank the rules give `node`, or nothing.
std::optional<int64_t> outputRank(const Node* node) {
  const std::string kind = node->kind().toQualString();
  if (node->inputs().empty() || node->outputs().size() != 1) {
    return std::nullopt;
  }
  std::optional<int64_t> input = rankOf(node->input(0));
  if (shapeKeeping().count(kind) != 0) {
    return input;
  }
  if (broadcasting().count(kind) != 0) {
    return broadcastRank(node);
  }
  if (!input) {
    return std::nullopt;
  }
  if (kind == "aten::linear" && node->inputs().size() == 3) {
    auto weight = rankOf(node->input(1));
    return weight && *weight == 2 ? input : std::nullopt;
  }
  if (kind == "aten::matmul" && node->inputs().size() == 2) {
    auto other = rankOf(node->input(1));
    if (!other || *input == 0 || *other == 0) {
      return std::nullopt;
    }
    if (*input == 1 || *other == 1) {
      return std::max(*input, *other) - 1;
    }
    return std::max(*input, *other);
  }
  if (kind == "aten::flatten" && node->inputs().size() == 3) {
    auto start = torch::jit::constant_as<int64_t>(node->input(1));
    auto end = torch::jit::constant_as<int64_t>(node->input(2));
    if (!start || !end || *input == 0) {
      return std::nullopt;
    }
    int64_t first = *start < 0 ? *start + *input : *start;
    int64_t last = *end < 0 ? *end + *input : *end;
    return first <= last && first >= 0 && last < *input ? std::optional<int64_t>(*input - (last - first))
                                                       : std::nullopt;
  }
  if (reductions().count(kind) != 0 && node->inputs().size() >= 3) {
    auto dims = listLength(node->input(1));
    auto keepdim = torch::jit::constant_as<bool>(node->input(2));
    if (!dims || !keepdim || *dims == 0) {
      return std::nullopt;
    }
    return *keepdim ? *input : *input - *dims;
  }
  if ((kind == "aten::view" || kind == "aten::reshape" || kind == "aten::expand") && node->inputs().size() >= 2) {
    return listLength(node->input(1));
  }
  if (kind == "aten::unsqueeze" || kind == "aten::unsqueeze_") {
    return *input + 1;
  }
  return std::nullopt;
}

/// cat's rank is its elements'.
std::optional<int64_t> catRank(const Node* node) {
  if (node->kind() != c10::aten::cat || node->input(0)->node()->kind() != c10::prim::ListConstruct) {
    return std::nullopt;
  }
  std::optional<int64_t> rank;
  for (const Value* element : node->input(0)->node()->inputs()) {
    auto elementRank = rankOf(element);
    if (!elementRank || (rank && *rank != *elementRank)) {
      return std::nullopt;
    }
    rank = elementRank;
  }
  return rank;
}

size_t propagate(torch::jit::Block* block) {
  size_t count = 0;
  for (Node* node : block->nodes()) {
    for (torch::jit::Block* nested : node->blocks()) {
      count += propagate(nested);
    }
    if (node->outputs().size() != 1) {
      continue;
    }
    Value* output = node->output();
    auto type = tensorType(output);
    if (!type || type->dim()) {
      continue;
    }
    std::optional<int64_t> rank = node->kind() == c10::aten::cat ? catRank(node) : outputRank(node);
    if (!rank || *rank < 0) {
      continue;
    }
    // The rank only: dtypes follow promotion rules a table would get wrong,
    // and remove-no-ops trusts the dtypes types record.
    output->setType(c10::TensorType::create(c10::nullopt, c10::nullopt, static_cast<size_t>(*rank), c10::nullopt));
    ++count;
  }
  return count;
}

} // namespace

bool PropagateRanksPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  bool rankedInput = std::any_of(graph->inputs().begin(), graph->inputs().end(),
                                 [](const Value* input) { return rankOf(input).has_value(); });
  if (!rankedInput) {
    context.missedText() << "no graph input records a rank: nothing to propagate";
    return false;
  }
  size_t count = propagate(graph->block());
  ranked += count;
  return count != 0;
}

} // namespace tsopt
