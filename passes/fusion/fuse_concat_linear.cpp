#include "passes/fusion/fuse_concat_linear.h"

#include "passes/core/graph_utils.h"
#include "passes/core/ir_matchers.h"

#include <ATen/Functions.h>
#include <torch/csrc/jit/ir/alias_analysis.h>

#include <map>
#include <ostream>
#include <set>

namespace tsopt {
namespace {

using torch::jit::Node;
using torch::jit::Value;

/// Users that read any strides and return a new tensor, or read only sizes: they need no copy of a slice.
bool isStrideAgnostic(const Node* user) {
  static const std::set<std::string> kinds = {
      "aten::linear",  "aten::matmul", "aten::mm",   "aten::bmm",     "aten::add",         "aten::sub",
      "aten::mul",     "aten::div",    "aten::relu", "aten::gelu",    "aten::tanh",        "aten::sigmoid",
      "aten::softmax", "aten::layer_norm", "tsopt::linear_act", "tsopt::linear_add_act",
      "tsopt::linear_act_add",
      // They read the sizes only.
      "aten::size", "aten::dim", "aten::numel"};
  return kinds.count(user->kind().toQualString()) != 0;
}

/// The linears of one group that can merge: same dtype, device and in_features as the first.
std::vector<LayerMatch> mergeableLinears(const std::vector<Node*>& linears, PassContext& context, Statistic& skipped) {
  std::vector<LayerMatch> layers;
  for (Node* node : linears) {
    std::string whyNot;
    auto layer = matchLinear(node, whyNot);
    if (layer && !layers.empty()) {
      const at::Tensor& first = layers.front().weight;
      if (layer->weight.scalar_type() != first.scalar_type() || layer->weight.device() != first.device() ||
          layer->weight.size(1) != first.size(1)) {
        whyNot = "its weight's dtype, device or in_features differs from " + describeNode(layers.front().node) + "'s";
        layer.reset();
      } else if (layer->bias && layer->bias->scalar_type() != first.scalar_type()) {
        whyNot = "its bias's dtype differs from the weight's";
        layer.reset();
      }
    }
    if (!layer) {
      ++skipped;
      context.missed(node) << whyNot;
      continue;
    }
    layers.push_back(*layer);
  }
  return layers;
}

/// The aten::view(x, sizes) nodes reading `value`.
std::vector<Node*> shapeViewsOf(Value* value) {
  std::vector<Node*> views;
  for (const torch::jit::Use& use : value->uses()) {
    if (use.user->kind() == c10::aten::view && use.offset == 0 && use.user->inputs().size() == 2 &&
        use.user->input(1)->type()->cast<c10::ListType>() != nullptr) {
      views.push_back(use.user);
    }
  }
  return views;
}

/// aten::view(original, sizes) becomes aten::reshape(slice, sizes): a view of
/// the slice wherever its strides allow one (BERT's heads split the last
/// dimension: always), a copy otherwise. Only for an output nothing writes
/// in place, where a view and a copy cannot differ.
void reshapeViewsOf(torch::jit::Graph& graph, Value* original, Value* slice) {
  for (Node* view : shapeViewsOf(original)) {
    torch::jit::WithInsertPoint guard(view);
    Node* reshape = graph.insertNode(graph.create(c10::aten::reshape, {slice, view->input(1)}, 1));
    reshape->copyMetadata(view);
    reshape->output()->copyMetadata(view->output());
    // The slice's reshape need not be dense: the strides the view's type may record no longer hold.
    if (auto type = view->output()->type()->cast<c10::TensorType>()) {
      reshape->output()->setType(type->withStrides(c10::VaryingShape<c10::Stride>(type->sizes().size())));
    }
    view->output()->replaceAllUsesWith(reshape->output());
    view->destroy();
  }
}

void mergeLinears(torch::jit::Graph& graph, const std::vector<LayerMatch>& layers,
                  const std::set<Value*>& writtenOutputs) {
  std::vector<at::Tensor> weights;
  std::vector<at::Tensor> biases;
  std::vector<int64_t> sizes;
  bool anyBias = false;
  for (const LayerMatch& layer : layers) {
    weights.push_back(layer.weight);
    sizes.push_back(layer.weight.size(0));
    anyBias |= layer.bias.has_value();
  }
  for (const LayerMatch& layer : layers) {
    biases.push_back(layer.bias ? *layer.bias : at::zeros({layer.weight.size(0)}, layer.weight.options()));
  }
  Node* first = layers.front().node;
  torch::jit::WithInsertPoint guard(first);
  at::Tensor weight = at::cat(weights, 0);
  Value* weightValue = graph.insertConstant(weight);
  weightValue->setType(c10::TensorType::create(weight));
  Value* biasValue = graph.insertConstant(c10::IValue());
  if (anyBias) {
    at::Tensor bias = at::cat(biases, 0);
    biasValue = graph.insertConstant(bias);
    biasValue->setType(c10::TensorType::create(bias));
  }
  Node* linear = graph.insertNode(graph.create(c10::aten::linear, {first->input(0), weightValue, biasValue}, 1));
  linear->copyMetadata(first);
  linear->output()->setType(c10::TensorType::get());
  Node* split = graph.insertNode(graph.create(
      c10::aten::split_with_sizes, {linear->output(), graph.insertConstant(sizes), graph.insertConstant(-1)}, 1));
  split->output()->setType(c10::ListType::ofTensors());
  Node* unpack = graph.insertNode(graph.createListUnpack(split->output(), layers.size()));
  for (size_t index = 0; index < layers.size(); ++index) {
    Value* original = layers[index].node->output();
    Value* slice = unpack->output(index);
    slice->setType(c10::TensorType::get());
    // Nothing writes the output: a reshape of the slice computes what one of the output did.
    const bool reshapes = writtenOutputs.count(original) == 0;
    if (reshapes) {
      reshapeViewsOf(graph, original, slice);
    }
    bool needsCopy = false;
    for (const torch::jit::Use& use : original->uses()) {
      needsCopy |= !isStrideAgnostic(use.user) && !(reshapes && use.user->kind() == c10::aten::reshape);
    }
    Value* replacement = slice;
    if (needsCopy) {
      replacement = graph.insertNode(graph.create(c10::aten::contiguous,
                                                  {slice, graph.insertConstant(c10::MemoryFormat::Contiguous)}, 1))
                        ->output();
      replacement->setType(c10::TensorType::get());
    }
    if (original->hasDebugName()) {
      std::string name = original->debugName();
      original->replaceAllUsesWith(replacement);
      replacement->setDebugName(name);
    } else {
      original->replaceAllUsesWith(replacement);
    }
  }
  for (const LayerMatch& layer : layers) {
    layer.node->destroy();
  }
}

} // namespace

bool FuseConcatLinearPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  // Groups in program order of their first linear, so rewrites are numbered stably.
  std::vector<std::pair<Value*, torch::jit::Block*>> order;
  std::map<std::pair<Value*, torch::jit::Block*>, std::vector<Node*>> groupsByInput;
  for (Node* node : collectNodes(*graph, {c10::aten::linear})) {
    auto key = std::make_pair(node->input(0), node->owningBlock());
    if (groupsByInput[key].empty()) {
      order.push_back(key);
    }
    groupsByInput[key].push_back(node);
  }
  // Decided before any rewrite: the alias database does not follow graph edits.
  std::set<Value*> writtenInputs;
  std::set<Value*> writtenOutputs;
  {
    torch::jit::AliasDb aliasDb(graph);
    for (const auto& key : order) {
      if (groupsByInput[key].size() < 2) {
        continue;
      }
      if (aliasDb.hasWriters(key.first)) {
        writtenInputs.insert(key.first);
      }
      for (Node* linear : groupsByInput[key]) {
        if (aliasDb.hasWriters(linear->output())) {
          writtenOutputs.insert(linear->output());
        }
      }
    }
  }
  bool changed = false;
  for (const auto& key : order) {
    const std::vector<Node*>& linears = groupsByInput[key];
    if (linears.size() < 2) {
      continue;
    }
    if (writtenInputs.count(key.first) != 0) {
      skipped += linears.size();
      context.missedText(linears.front()) << "kept " << linears.size() << " linears of %" << key.first->debugName()
                                          << ": the input is written in place";
      continue;
    }
    std::vector<LayerMatch> layers = mergeableLinears(linears, context, skipped);
    if (layers.size() < 2) {
      skipped += layers.size();
      for (const LayerMatch& layer : layers) {
        context.missed(layer.node) << "no other mergeable linear reads %" << key.first->debugName();
      }
      continue;
    }
    std::string description = "merge";
    for (const LayerMatch& layer : layers) {
      description += " " + describeNode(layer.node);
    }
    if (!context.shouldRewrite(description, layers.front().node)) {
      continue;
    }
    mergeLinears(*graph, layers, writtenOutputs);
    ++groups;
    merged += layers.size();
    changed = true;
  }
  return changed;
}

} // namespace tsopt
