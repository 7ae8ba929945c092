#include "passes/freezing/canonicalize_convolutions.h"

#include "passes/core/graph_utils.h"

#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <algorithm>
#include <ostream>

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

/// Length of an int[] built in the graph, even when its elements are not constants.
std::optional<size_t> listLength(const Value* list) {
  if (list->node()->kind() == c10::prim::ListConstruct) {
    return list->node()->inputs().size();
  }
  auto elements = constantIntList(list);
  return elements ? std::optional(elements->size()) : std::nullopt;
}

/// The conv*d or conv_transpose*d call equivalent to an aten::_convolution or
/// aten::convolution, or why there is none. Both start with
/// (input, weight, bias, stride, padding, dilation, transposed, output_padding, groups).
struct CanonicalConvolution {
  c10::Symbol kind;
  std::vector<Value*> inputs;
  std::string whyNot;
};

CanonicalConvolution canonicalConvolution(Node* node) {
  CanonicalConvolution result;
  Value* stride = node->input(3);
  Value* padding = node->input(4);
  Value* dilation = node->input(5);
  Value* outputPadding = node->input(7);
  auto transposed = torch::jit::constant_as<bool>(node->input(6));
  if (!transposed) {
    result.whyNot = "the transposed flag is not a constant";
    return result;
  }
  auto rank = listLength(stride);
  if (!rank || *rank < 1 || *rank > 3) {
    result.whyNot = "the stride list length is not known to be 1, 2 or 3";
    return result;
  }
  for (const Value* list : {padding, dilation, outputPadding}) {
    if (listLength(list) != rank) {
      result.whyNot = "the padding, dilation or output_padding list is not known to be as long as stride";
      return result;
    }
  }
  auto weightRank = knownRank(node->input(1));
  auto inputRank = knownRank(node->input(0));
  if ((weightRank && *weightRank != *rank + 2) || (inputRank && *inputRank != *rank + 2)) {
    result.whyNot = "the input or weight rank does not match the stride list length";
    return result;
  }
  // _convolution expands a one-element list to any rank, so [1] alone does not
  // say the convolution is 1-D.
  if (*rank == 1 && !weightRank && !inputRank) {
    result.whyNot = "one-element lists fit any rank and the input and weight ranks are not known";
    return result;
  }
  std::string dims = std::to_string(*rank) + "d";
  Value* groups = node->input(8);
  Value* head[] = {node->input(0), node->input(1), node->input(2), stride, padding};
  result.inputs.assign(std::begin(head), std::end(head));
  if (*transposed) {
    result.kind = c10::Symbol::fromQualString("aten::conv_transpose" + dims);
    result.inputs.insert(result.inputs.end(), {outputPadding, groups, dilation});
    return result;
  }
  auto outputPaddingValues = constantIntList(outputPadding);
  if (!outputPaddingValues ||
      std::any_of(outputPaddingValues->begin(), outputPaddingValues->end(), [](int64_t v) { return v != 0; })) {
    result.whyNot = "output_padding is not known to be zero and conv" + dims + " has no such argument";
    return result;
  }
  result.kind = c10::Symbol::fromQualString("aten::conv" + dims);
  result.inputs.insert(result.inputs.end(), {dilation, groups});
  return result;
}

/// A weight's sizes: from its type, or from the tensor when it is a constant.
std::optional<std::vector<int64_t>> weightSizes(const Value* weight) {
  if (auto type = weight->type()->cast<c10::TensorType>()) {
    if (auto sizes = type->sizes().concrete_sizes()) {
      return *sizes;
    }
  }
  auto constant = constantTensor(weight);
  return constant ? std::optional(constant->sizes().vec()) : std::nullopt;
}

/// Whether `node` is a convolution with string padding: aten::_convolution_mode
/// (traced) or conv1d/2d/3d's padding overload (scripted); both take
/// (input, weight, bias, stride, padding, dilation, groups).
bool hasStringPadding(const Node* node) {
  static const c10::Symbol convolutionMode = c10::Symbol::fromQualString("aten::_convolution_mode");
  const bool kind = node->kind() == convolutionMode || node->kind() == c10::aten::conv1d ||
                    node->kind() == c10::aten::conv2d || node->kind() == c10::aten::conv3d;
  return kind && node->inputs().size() == 7 && node->input(4)->type()->kind() == c10::TypeKind::StringType;
}

/// The conv*d call with int padding that "valid" or "same" amounts to: zeros,
/// or dilation * (kernel - 1) / 2 per dimension where that is a whole number
/// (otherwise ATen pads one more on the right, which conv*d cannot say).
CanonicalConvolution explicitPadding(Graph& graph, Node* node) {
  CanonicalConvolution result;
  auto mode = torch::jit::constant_as<std::string>(node->input(4));
  auto sizes = weightSizes(node->input(1));
  auto stride = constantIntList(node->input(3));
  auto dilation = constantIntList(node->input(5));
  if (!mode || (*mode != "valid" && *mode != "same")) {
    result.whyNot = "the padding is not the constant 'valid' or 'same'";
    return result;
  }
  if (!sizes || sizes->size() < 3 || sizes->size() > 5 || !stride || !dilation) {
    result.whyNot = "the weight's sizes, the stride or the dilation are not known";
    return result;
  }
  const size_t rank = sizes->size() - 2;
  if (dilation->size() == 1) {
    dilation->resize(rank, dilation->front());
  }
  if (dilation->size() != rank) {
    result.whyNot = "the dilation list does not have one value per spatial dimension";
    return result;
  }
  std::vector<int64_t> padding(rank, 0);
  if (*mode == "same") {
    if (std::any_of(stride->begin(), stride->end(), [](int64_t s) { return s != 1; })) {
      result.whyNot = "'same' padding with a stride other than 1";
      return result;
    }
    for (size_t d = 0; d < rank; ++d) {
      const int64_t total = (*dilation)[d] * ((*sizes)[d + 2] - 1);
      if (total % 2 != 0) {
        result.whyNot = "'same' padding is uneven in dimension " + std::to_string(d) +
                        " (ATen pads one more on the right; conv*d pads both sides alike)";
        return result;
      }
      padding[d] = total / 2;
    }
  }
  torch::jit::WithInsertPoint guard(node);
  result.kind = c10::Symbol::fromQualString("aten::conv" + std::to_string(rank) + "d");
  result.inputs = {node->input(0), node->input(1), node->input(2), node->input(3),
                   graph.insertConstant(c10::IValue(padding)), node->input(5), node->input(6)};
  return result;
}

bool isConvolution(const Node* node) {
  return (node->kind() == c10::aten::_convolution && (node->inputs().size() == 12 || node->inputs().size() == 13)) ||
         (node->kind() == c10::aten::convolution && node->inputs().size() == 9);
}

} // namespace

bool CanonicalizeConvolutionsPass::runOnGraph(std::shared_ptr<Graph>& graph, PassContext& context) {
  bool changed = false;
  for (Node* node : collectNodes(*graph)) {
    const bool stringPadding = hasStringPadding(node);
    if (!stringPadding && !isConvolution(node)) {
      continue;
    }
    CanonicalConvolution canonical = stringPadding ? explicitPadding(*graph, node) : canonicalConvolution(node);
    Node* replacement = nullptr;
    if (canonical.whyNot.empty()) {
      replacement = graph->create(canonical.kind, canonical.inputs, 1)->insertBefore(node);
      if (!replacement->maybeSchema()) {
        replacement->destroy();
        replacement = nullptr;
        canonical.whyNot = std::string("no schema of ") + canonical.kind.toQualString() + " takes its arguments";
      }
    }
    if (!replacement) {
      ++convolutionsKept;
      context.missed(node) << canonical.whyNot;
      continue;
    }
    if (!context.shouldRewrite(describeNode(node) + " -> " + canonical.kind.toQualString(), node)) {
      replacement->destroy();
      continue;
    }
    replacement->copyMetadata(node);
    replacement->output()->copyMetadata(node->output());
    node->output()->replaceAllUsesWith(replacement->output());
    node->destroy();
    ++convolutions;
    changed = true;
  }
  if (changed) {
    torch::jit::EliminateDeadCode(graph);
  }
  return changed;
}

} // namespace tsopt
