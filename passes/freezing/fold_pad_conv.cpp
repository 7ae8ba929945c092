#include "passes/freezing/fold_pad_conv.h"

#include "passes/core/graph_utils.h"

#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <ostream>

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

/// The spatial rank of aten::conv1d/2d/3d with an int padding list
/// (input, weight, bias, stride, padding, dilation, groups); 0 for anything else.
size_t convolutionRank(const Node* node) {
  size_t rank = 0;
  if (node->kind() == c10::aten::conv1d) {
    rank = 1;
  } else if (node->kind() == c10::aten::conv2d) {
    rank = 2;
  } else if (node->kind() == c10::aten::conv3d) {
    rank = 3;
  }
  if (rank == 0 || node->inputs().size() != 7 || node->input(4)->type()->kind() == c10::TypeKind::StringType) {
    return 0;
  }
  return rank;
}

const c10::Symbol kPad = c10::Symbol::fromQualString("aten::pad");

bool isPad(const Node* node) { return node->kind() == kPad || node->kind() == c10::aten::constant_pad_nd; }

/// Whether `value` is the constant zero (int or float) or, where `noneIsZero`, None.
bool isZeroConstant(const Value* value, bool noneIsZero) {
  if (isNoneConstant(value)) {
    return noneIsZero;
  }
  auto constant = torch::jit::toIValue(value);
  if (!constant) {
    return false;
  }
  if (constant->isInt()) {
    return constant->toInt() == 0;
  }
  return constant->isDouble() && constant->toDouble() == 0.0;
}

/// The zero padding `pad` adds, as (pad list), or why it is not one:
/// aten::pad(self, pad, mode, value) and aten::constant_pad_nd(self, pad, value).
std::optional<std::vector<int64_t>> zeroPadding(const Node* pad, std::string& whyNot) {
  const Value* value = nullptr;
  if (pad->kind() == kPad && pad->inputs().size() == 4) {
    auto mode = torch::jit::constant_as<std::string>(pad->input(2));
    if (!mode || *mode != "constant") {
      whyNot = "the pad's mode is not the constant \"constant\"";
      return std::nullopt;
    }
    value = pad->input(3);
  } else if (pad->kind() == c10::aten::constant_pad_nd && pad->inputs().size() == 3) {
    value = pad->input(2);
  } else {
    whyNot = "its input is not made by aten::pad or aten::constant_pad_nd";
    return std::nullopt;
  }
  if (!isZeroConstant(value, pad->kind() == kPad)) {
    whyNot = "the pad's value is not the constant 0";
    return std::nullopt;
  }
  auto amounts = constantIntList(pad->input(1));
  if (!amounts || amounts->empty() || amounts->size() % 2 != 0) {
    whyNot = "the pad list is not a constant of even length";
    return std::nullopt;
  }
  return amounts;
}

/// The convolution's padding with `pad` (last dimension first, as aten::pad
/// takes it) added, or why it cannot hold it.
std::optional<std::vector<int64_t>> foldedPadding(const Node* conv, size_t rank, const std::vector<int64_t>& pad,
                                                  std::string& whyNot) {
  auto padding = constantIntList(conv->input(4));
  if (padding && padding->size() == 1) {
    padding->resize(rank, padding->front());
  }
  if (!padding || padding->size() != rank) {
    whyNot = "the convolution's padding is not a constant list of one value per spatial dimension";
    return std::nullopt;
  }
  const size_t paddedDims = pad.size() / 2;
  if (paddedDims > rank) {
    whyNot = "the pad reaches past the convolution's " + std::to_string(rank) + " spatial dimension(s)";
    return std::nullopt;
  }
  for (size_t j = 0; j < paddedDims; ++j) {
    const int64_t before = pad[2 * j];
    const int64_t after = pad[2 * j + 1];
    if (before < 0 || after < 0) {
      whyNot = "the pad crops (a negative amount)";
      return std::nullopt;
    }
    if (before != after) {
      whyNot = "the pad differs between the two sides of spatial dimension " + std::to_string(rank - 1 - j) +
               " (" + std::to_string(before) + " and " + std::to_string(after) +
               "); the convolution pads both sides alike";
      return std::nullopt;
    }
    (*padding)[rank - 1 - j] += before;
  }
  return padding;
}

} // namespace

bool FoldPadConvPass::runOnGraph(std::shared_ptr<Graph>& graph, PassContext& context) {
  std::unique_ptr<torch::jit::AliasDb> aliasDb;
  bool changed = false;
  for (Node* conv : collectNodes(*graph)) {
    const size_t rank = convolutionRank(conv);
    if (rank == 0) {
      continue;
    }
    Node* pad = conv->input(0)->node();
    if (!isPad(pad)) {
      continue;
    }
    std::string whyNot;
    std::optional<std::vector<int64_t>> padding;
    if (auto amounts = zeroPadding(pad, whyNot)) {
      padding = foldedPadding(conv, rank, *amounts, whyNot);
    }
    if (padding) {
      if (!aliasDb) {
        aliasDb = std::make_unique<torch::jit::AliasDb>(graph);
      }
      if (aliasDb->hasWriters(pad->input(0))) {
        whyNot = "the padded value is written in place somewhere (the convolution would read it after the write)";
        padding.reset();
      }
    }
    if (!padding) {
      ++kept;
      context.missed(conv) << "pad kept before the convolution: " << whyNot;
      continue;
    }
    if (!context.shouldRewrite(describeNode(pad) + " folded into " + describeNode(conv), conv)) {
      continue;
    }
    torch::jit::WithInsertPoint guard(conv);
    conv->replaceInput(4, graph->insertConstant(c10::IValue(*padding)));
    conv->replaceInput(0, pad->input(0));
    ++folded;
    changed = true;
  }
  if (changed) {
    torch::jit::EliminateDeadCode(graph);
  }
  return changed;
}

} // namespace tsopt
