#include "passes/fusion/propagate_layout.h"

#include "passes/core/graph_utils.h"
#include "runtime/packed_layers.h"

#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/constants.h>

#include <algorithm>
#include <map>
#include <ostream>
#include <utility>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace tsopt {
namespace {

using torch::jit::Node;
using torch::jit::Use;
using torch::jit::Value;

bool isFusedConvolution(const Node* node) {
  static const c10::Symbol act = c10::Symbol::fromQualString("tsopt::conv2d_act");
  static const c10::Symbol addAct = c10::Symbol::fromQualString("tsopt::conv2d_add_act");
  static const c10::Symbol actAdd = c10::Symbol::fromQualString("tsopt::conv2d_act_add");
  return node->kind() == act || node->kind() == addAct || node->kind() == actAdd;
}

/// A fused convolution whose kernel is fastest on channels-last activations:
/// oneDNN's on the CPU, and cuDNN's in half precision (its tensor-core
/// kernels are NHWC). In float32 on a GPU cuDNN's NHWC engines are few: it
/// transposes to NCHW and back around most convolutions (measured on an H200,
/// ResNet-50 batch 8, TF32 off: 144 layout kernels a forward, 20% slower than
/// NCHW), so those stay contiguous unless `cudaFloat32` says otherwise.
bool isChannelsLastConvolution(const Node* node, bool cudaFloat32) {
  if (!isFusedConvolution(node)) {
    return false;
  }
  const c10::optional<c10::IValue> packed = torch::jit::toIValue(node->namedInput("packed"));
  if (!packed || !packed->isCustomClass()) {
    return true;  // not frozen: the device is unknown, and the CPU is the common case
  }
  const auto layer = packed->toCustomClass<runtime::ConvPacked>();
  if (layer->spatialRank() == 1) {
    return false;  // ATen has no channels-last 3-D tensors: the kernel converts its own.
  }
  if (layer->runsAtenConvolution()) {
    return false;  // ATen's transposed convolution: channels-last buys nothing, the conversions cost (docs/fusion.md)
  }
  const at::Tensor& weight = layer->weight();
  if (weight.is_cuda() && layer->spatialRank() == 3) {
    return false;  // the CUDA ops run 3-D layers through ATen's convolution
  }
  return cudaFloat32 || !weight.is_cuda() || weight.scalar_type() != at::kFloat;
}

/// The channels-last format of a fused convolution's activations: NDHWC for a
/// 3-D layer, NHWC otherwise (also when the packed layer is not a constant).
c10::MemoryFormat channelsLastFormatOf(const Node* convolution) {
  const c10::optional<c10::IValue> packed = torch::jit::toIValue(convolution->namedInput("packed"));
  const bool volumetric = packed && packed->isCustomClass() &&
                          packed->toCustomClass<runtime::ConvPacked>()->spatialRank() == 3;
  return volumetric ? c10::MemoryFormat::ChannelsLast3d : c10::MemoryFormat::ChannelsLast;
}

/// Ops whose results have the same values whatever the memory layout of
/// their tensor inputs; their tensor results may come out channels-last too.
bool isLayoutAgnostic(const Node* node) {
  static const std::set<std::string> kinds = {
      "aten::relu",     "aten::relu_",      "aten::relu6",     "aten::hardtanh", "aten::hardtanh_",
      "aten::clamp",    "aten::clamp_",     "aten::sigmoid",   "aten::sigmoid_", "aten::tanh",
      "aten::tanh_",    "aten::silu",       "aten::silu_",     "aten::hardswish", "aten::hardswish_",
      "aten::gelu",     "aten::add",        "aten::add_",      "aten::mul",      "aten::mul_",
      "aten::sub",      "aten::div",        "aten::max_pool2d", "aten::avg_pool2d",
      "aten::adaptive_avg_pool2d",          "aten::batch_norm", "aten::size",    "aten::dim",
      "aten::hardsigmoid", "aten::hardsigmoid_", "aten::leaky_relu", "aten::leaky_relu_", "aten::elu",
      "aten::mean",     "aten::adaptive_max_pool2d", "aten::max_pool3d", "aten::avg_pool3d",
      "aten::adaptive_avg_pool3d", "aten::adaptive_max_pool3d", "aten::constant_pad_nd", "aten::pad"};
  return kinds.count(node->kind().toQualString()) != 0;
}

/// A list built only to be concatenated (aten::cat's first operand): cat's
/// values do not depend on its inputs' layouts.
bool isListIntoCat(const Node* node) {
  static const c10::Symbol cat = c10::Symbol::fromQualString("aten::cat");
  if (node->kind() != c10::prim::ListConstruct || node->output()->uses().empty()) {
    return false;
  }
  for (const Use& use : node->output()->uses()) {
    if (use.user->kind() != cat || use.offset != 0) {
      return false;
    }
  }
  return true;
}

/// aten::cat of a list whose tensors are all channels-last: ATen then returns channels-last too.
bool catsChannelsLast(const Node* node, const std::set<Value*>& values) {
  static const c10::Symbol cat = c10::Symbol::fromQualString("aten::cat");
  if (node->kind() != cat || !isListIntoCat(node->input(0)->node())) {
    return false;
  }
  for (const Value* element : node->input(0)->node()->inputs()) {
    if (values.count(const_cast<Value*>(element)) == 0) {
      return false;
    }
  }
  return true;
}

bool isConversionTo(const Node* node, c10::MemoryFormat format) {
  static const c10::Symbol contiguous = c10::Symbol::fromQualString("aten::contiguous");
  if (node->kind() != contiguous || node->inputs().size() != 2) {
    return false;
  }
  auto target = torch::jit::constant_as<int64_t>(node->input(1));
  return target && *target == static_cast<int64_t>(format);
}

/// A conversion to channels-last read only by fused convolutions: where a
/// chain starts (this pass inserted it on an earlier run, or it is as good).
bool startsChain(const Node* node, bool cudaFloat32) {
  if (!(isConversionTo(node, c10::MemoryFormat::ChannelsLast) ||
        isConversionTo(node, c10::MemoryFormat::ChannelsLast3d)) ||
      node->output()->uses().empty()) {
    return false;
  }
  for (const Use& use : node->output()->uses()) {
    if (!isChannelsLastConvolution(use.user, cudaFloat32)) {
      return false;
    }
  }
  return true;
}

/// Values that may be channels-last once chains start in channels-last, in program order.
void collectChannelsLast(torch::jit::Block* block, bool cudaFloat32, std::vector<Value*>& order,
                         std::set<Value*>& values) {
  for (Node* node : block->nodes()) {
    bool readsChannelsLast = false;
    for (Value* input : node->inputs()) {
      readsChannelsLast |= values.count(input) != 0;
    }
    if (isChannelsLastConvolution(node, cudaFloat32) || startsChain(node, cudaFloat32) ||
        (isLayoutAgnostic(node) && readsChannelsLast) ||
        catsChannelsLast(node, values)) {
      for (Value* output : node->outputs()) {
        if (isTensor(output) && values.insert(output).second) {
          order.push_back(output);
        }
      }
    }
    for (torch::jit::Block* child : node->blocks()) {
      collectChannelsLast(child, cudaFloat32, order, values);
    }
  }
}

/// The chain a channels-last value belongs to: values joined through the ops
/// that read and produce them (union-find over `values`).
class Chains {
public:
  explicit Chains(const std::vector<Value*>& order) {
    for (Value* value : order) {
      parent_[value] = value;
    }
    for (Value* value : order) {
      Node* node = value->node();
      for (Value* input : node->inputs()) {
        join(value, input);
        if (isListIntoCat(input->node())) {
          for (Value* element : input->node()->inputs()) {
            join(value, element);
          }
        }
      }
    }
  }

  Value* find(Value* value) {
    while (parent_.at(value) != value) {
      value = parent_[value] = parent_.at(parent_.at(value));
    }
    return value;
  }

private:
  void join(Value* value, Value* other) {
    if (parent_.count(other) != 0) {
      parent_[find(value)] = find(other);
    }
  }

  std::map<Value*, Value*> parent_;
};

/// A chain of one fused convolution whose input is not channels-last: both
/// its input and whatever leaves the chain would need a conversion, the two
/// the kernel makes itself when its input is contiguous, where it may also run
/// on the contiguous layout when that pays (ConvPacked's contiguousLayoutPays:
/// a pointwise layer without activation runs as one sgemm in place, where
/// converting its input alone cost more than oneDNN saved over ATen in the
/// transposed decoder of docs/fusion.md). Returns that convolution, or null.
/// A layer on a GPU keeps its chain: its kernels convert nothing themselves.
Node* loneConvolution(const std::vector<Value*>& chain, const std::set<Value*>& values, bool cudaFloat32) {
  Node* convolution = nullptr;
  for (Value* value : chain) {
    Node* node = value->node();
    if (!isChannelsLastConvolution(node, cudaFloat32)) {
      continue;
    }
    if (convolution != nullptr) {
      return nullptr;
    }
    convolution = node;
  }
  if (convolution == nullptr || values.count(convolution->input(0)) != 0) {
    return nullptr;
  }
  const c10::optional<c10::IValue> packed = torch::jit::toIValue(convolution->namedInput("packed"));
  if (packed && packed->isCustomClass() && packed->toCustomClass<runtime::ConvPacked>()->weight().is_cuda()) {
    return nullptr;
  }
  return convolution;
}

const c10::Symbol kToBlocked = c10::Symbol::fromQualString("tsopt::to_blocked");
const c10::Symbol kFromBlocked = c10::Symbol::fromQualString("tsopt::from_blocked");

bool hasBlockedActivations(torch::jit::Block* block) {
  for (Node* node : block->nodes()) {
    if (node->kind() == kToBlocked || node->kind() == kFromBlocked) {
      return true;
    }
    for (torch::jit::Block* child : node->blocks()) {
      if (hasBlockedActivations(child)) {
        return true;
      }
    }
  }
  return false;
}

/// A fused convolution that can read and write blocked activations
/// (runtime::toBlockedChannels): a frozen 2-D float32 CPU layer on oneDNN with
/// at least a block of input channels (fewer would be mostly padding, and
/// oneDNN 2.6 has no blocked kernel for them).
struct BlockableLayer {
  int64_t outChannels = 0;
  bool depthwise = false;
  bool dense = false;  ///< groups 1 and a window larger than 1x1
};

c10::optional<BlockableLayer> blockableLayer(const Node* node) {
  if (!isFusedConvolution(node)) {
    return c10::nullopt;
  }
  const c10::optional<c10::IValue> packed = torch::jit::toIValue(node->namedInput("packed"));
  if (!packed || !packed->isCustomClass()) {
    return c10::nullopt;
  }
  const auto layer = packed->toCustomClass<runtime::ConvPacked>();
  const at::Tensor& weight = layer->weight();
  const runtime::Conv2dParams& params = layer->params();
  if (layer->spatialRank() != 2 || params.transposed || layer->runsAtenConvolution() || !weight.device().is_cpu() ||
      weight.scalar_type() != at::kFloat) {
    return c10::nullopt;
  }
  const int64_t inChannels = weight.size(1) * params.groups;
  if (inChannels < runtime::kBlockedChannels) {
    return c10::nullopt;
  }
  return BlockableLayer{weight.size(0), params.groups > 1 && params.groups == inChannels,
                        params.groups == 1 && (weight.size(2) > 1 || weight.size(3) > 1)};
}

/// The inputs of a fused convolution that carry activations: the input, the
/// residual and a second residual.
std::vector<size_t> activationInputs(const Node* convolution) {
  std::vector<size_t> offsets{0};
  for (const char* name : {"other", "second"}) {
    const c10::optional<int> index = convolution->schema().argumentIndexWithName(name);
    if (index && convolution->input(*index)->type()->kind() != c10::TypeKind::NoneType) {
      offsets.push_back(static_cast<size_t>(*index));
    }
  }
  return offsets;
}

Value* insertContiguous(torch::jit::Graph& graph, Value* value, Node* before, c10::MemoryFormat format) {
  torch::jit::WithInsertPoint guard(before);
  Node* copy = graph.create(c10::Symbol::fromQualString("aten::contiguous"),
                            {value, graph.insertConstant(static_cast<int64_t>(format))}, 1);
  graph.insertNode(copy);
  copy->output()->setType(c10::TensorType::get());
  return copy->output();
}

/// --debug-only: how each CPU transposed layer runs on the layout it is given
/// (ConvPacked's choice, made when it was packed: subPixelTaps' cost rule).
void describeTransposedLayers(torch::jit::Block* block, PassContext& context) {
  for (Node* node : block->nodes()) {
    for (torch::jit::Block* inner : node->blocks()) {
      describeTransposedLayers(inner, context);
    }
    const c10::optional<c10::IValue> packed =
        isFusedConvolution(node) ? torch::jit::toIValue(node->namedInput("packed")) : c10::nullopt;
    if (!packed || !packed->isCustomClass()) {
      continue;
    }
    const auto layer = packed->toCustomClass<runtime::ConvPacked>();
    if (!layer->params().transposed || !layer->runsAtenConvolution()) {
      continue;
    }
    context.debug() << "%" << node->output()->debugName() << ": transposed layer on its input's layout, "
                    << (layer->runsSubPixel() ? "sub-pixel form (one convolution and an interleaving pass)"
                                              : "ATen's convolution (the sub-pixel form does not apply or pay)")
                    << "\n";
  }
}

} // namespace

bool PropagateLayoutPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  if (hasBlockedActivations(graph->block())) {
    context.missedText() << "left the layout alone: the graph already holds blocked activations (an earlier run)";
    return false;
  }
  if (context.debugEnabled()) {
    describeTransposedLayers(graph->block(), context);
  }
  const bool changed = keepChannelsLast(graph, context);
  return (blockedChains && keepBlocked(graph, context)) || changed;
}

bool PropagateLayoutPass::keepChannelsLast(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  std::vector<Value*> order;
  std::set<Value*> channelsLast;
  collectChannelsLast(graph->block(), cudaFloat32ChannelsLast, order, channelsLast);
  leaveLoneConvolutionsContiguous(order, channelsLast, context);
  if (order.empty()) {
    return false;
  }
  // A value needs a conversion for each user outside the chain; the copy
  // is only sound when nothing writes to the value afterwards.
  std::vector<Use> exits;
  {
    torch::jit::AliasDb aliasDb(graph);
    for (Value* value : order) {
      for (const Use& use : value->uses()) {
        if (isChannelsLastConvolution(use.user, cudaFloat32ChannelsLast) || isLayoutAgnostic(use.user) ||
            isListIntoCat(use.user)) {
          continue;
        }
        if (aliasDb.hasWriters(value)) {
          context.missedText(use.user) << "left the layout alone: %" << value->debugName() << " would need a copy for "
                                       << use.user->kind().toQualString() << " but is written in place";
          return false;
        }
        if (!isConversionTo(use.user, c10::MemoryFormat::Contiguous)) {
          exits.push_back(use);
        }
      }
    }
  }
  std::vector<Node*> starts;
  for (Value* value : order) {
    Node* node = value->node();
    if (isChannelsLastConvolution(node, cudaFloat32ChannelsLast) && channelsLast.count(node->input(0)) == 0) {
      starts.push_back(node);
    }
  }
  if (starts.empty() && exits.empty()) {
    return false;
  }
  if (!context.shouldRewrite("keep " + std::to_string(order.size()) + " values channels-last (" +
                             std::to_string(starts.size()) + " conversions in, " + std::to_string(exits.size()) +
                             " out)")) {
    return false;
  }
  // Chains that start from the same value in the same block share one conversion.
  std::map<std::pair<Value*, torch::jit::Block*>, Value*> converted;
  for (Node* convolution : starts) {
    Value*& conversion = converted[{convolution->input(0), convolution->owningBlock()}];
    if (conversion == nullptr) {
      conversion = insertContiguous(*graph, convolution->input(0), convolution, channelsLastFormatOf(convolution));
      ++toChannelsLast;
    }
    convolution->replaceInput(0, conversion);
  }
  for (const Use& use : exits) {
    Value* value = use.user->input(use.offset);
    use.user->replaceInput(use.offset, insertContiguous(*graph, value, use.user, c10::MemoryFormat::Contiguous));
    ++toContiguous;
  }
  return true;
}

void PropagateLayoutPass::leaveLoneConvolutionsContiguous(std::vector<Value*>& order, std::set<Value*>& values,
                                                          PassContext& context) {
  Chains chains(order);
  std::map<Value*, std::vector<Value*>> members;
  for (Value* value : order) {
    members[chains.find(value)].push_back(value);
  }
  std::set<Value*> left;
  for (const auto& chain : members) {
    Node* convolution = loneConvolution(chain.second, values, cudaFloat32ChannelsLast);
    if (convolution == nullptr) {
      continue;
    }
    context.missedText(convolution) << "left %" << convolution->output()->debugName()
                                    << " contiguous: a lone convolution between contiguous values (its input and "
                                       "result would be converted); the kernel picks its layout by shape";
    ++loneConvolutions;
    left.insert(chain.second.begin(), chain.second.end());
  }
  order.erase(std::remove_if(order.begin(), order.end(), [&](Value* value) { return left.count(value) != 0; }),
              order.end());
  for (Value* value : left) {
    values.erase(value);
  }
}

namespace {

/// Chains of blockable convolutions in one block joined by the activations
/// they pass each other (union-find over the convolutions).
class ConvolutionChains {
public:
  explicit ConvolutionChains(const std::map<Node*, BlockableLayer>& layers) {
    for (const auto& entry : layers) {
      parent_[entry.first] = entry.first;
    }
    for (const auto& entry : layers) {
      Node* node = entry.first;
      for (size_t offset : activationInputs(node)) {
        Node* producer = node->input(offset)->node();
        if (parent_.count(producer) != 0 && producer->owningBlock() == node->owningBlock()) {
          parent_[find(node)] = find(producer);
        }
      }
    }
  }

  Node* find(Node* node) {
    while (parent_.at(node) != node) {
      node = parent_[node] = parent_.at(parent_.at(node));
    }
    return node;
  }

private:
  std::map<Node*, Node*> parent_;
};

bool readsAsActivation(const Use& use, const std::set<Node*>& members) {
  if (members.count(use.user) == 0) {
    return false;
  }
  const std::vector<size_t> offsets = activationInputs(use.user);
  return std::find(offsets.begin(), offsets.end(), use.offset) != offsets.end();
}

/// What one conversion in or out of a blocked chain costs, in depthwise layers' gains (keepChainBlocked).
constexpr int64_t kDepthwiseGainsPerConversion = 3;

/// Blocks one chain where that pays (see the pass's header), counting the conversions it inserts.
bool keepChainBlocked(torch::jit::Graph& graph, const std::vector<Node*>& chain,
                      const std::map<Node*, BlockableLayer>& layers, const torch::jit::AliasDb& aliasDb,
                      PassContext& context, Statistic& toBlocked, Statistic& fromBlocked) {
  const std::set<Node*> members(chain.begin(), chain.end());
  // The cost decision. On nChw16c oneDNN 2.6 runs a depthwise layer 16-35%
  // faster than on NHWC (MobileNetV2's, batch 8): 0.42 ms on its 32x112x112
  // layer, where converting that activation in or out costs 1.19 ms, about
  // three depthwise gains; a dense KxK layer is 4-23% faster on NHWC
  // (ResNet-50's 3x3 layers), counted as a conversion. 1x1 layers run alike on
  // both or faster blocked; they do not count.
  std::vector<Value*> entries;
  std::vector<Value*> exits;
  int64_t depthwise = 0;
  int64_t dense = 0;
  for (Node* node : chain) {
    depthwise += layers.at(node).depthwise ? 1 : 0;
    dense += layers.at(node).dense ? 1 : 0;
    for (size_t offset : activationInputs(node)) {
      Value* value = node->input(offset);
      if (members.count(value->node()) == 0 && std::find(entries.begin(), entries.end(), value) == entries.end()) {
        entries.push_back(value);
      }
    }
    for (const Use& use : node->output()->uses()) {
      if (!readsAsActivation(use, members)) {
        exits.push_back(node->output());
        break;
      }
    }
  }
  const int64_t costs = kDepthwiseGainsPerConversion * (static_cast<int64_t>(entries.size() + exits.size()) + dense);
  std::ostringstream summary;
  summary << chain.size() << " convolutions from %" << chain.front()->output()->debugName() << " (" << depthwise
          << " depthwise against " << entries.size() << " conversions in, " << exits.size() << " out, " << dense
          << " dense KxK)";
  if (depthwise <= costs) {
    if (depthwise > 0) {
      context.missedText(chain.front()) << "left " << summary.str()
                                        << " channels-last: the depthwise layers do not outnumber three times the "
                                           "conversions and dense layers blocking costs";
    }
    return false;
  }
  // The conversions are copies: a write in place to a value the chain reads
  // or makes (or to an alias of one) would reach one copy and not the other.
  std::vector<Value*> activations(entries);
  for (Node* node : chain) {
    activations.push_back(node->output());
  }
  for (Value* value : activations) {
    if (aliasDb.hasWriters(value)) {
      context.missedText(chain.front()) << "left " << summary.str() << " channels-last: %" << value->debugName()
                                        << " is written in place, and a blocked copy would not see the write";
      return false;
    }
  }
  if (!context.shouldRewrite("keep " + summary.str() + " in the blocked nChw16c layout", chain.front())) {
    return false;
  }
  for (Value* entry : entries) {
    std::vector<Use> reads;
    for (const Use& use : entry->uses()) {
      if (readsAsActivation(use, members)) {
        reads.push_back(use);
      }
    }
    Node* first = reads.front().user;
    for (const Use& use : reads) {
      first = use.user->isBefore(first) ? use.user : first;
    }
    // A channels-last conversion read only here (a chain start) has nothing left to do.
    Node* producer = entry->node();
    const bool skipConversion = isConversionTo(producer, c10::MemoryFormat::ChannelsLast) &&
                                reads.size() == entry->uses().size();
    torch::jit::WithInsertPoint guard(first);
    Node* conversion = graph.insertNode(graph.create(kToBlocked, {skipConversion ? producer->input(0) : entry}, 1));
    conversion->output()->setType(c10::TensorType::get());
    ++toBlocked;
    for (const Use& use : reads) {
      use.user->replaceInput(use.offset, conversion->output());
    }
    if (skipConversion) {
      producer->destroy();
    }
  }
  for (Value* exit : exits) {
    std::vector<Use> leaving;
    for (const Use& use : exit->uses()) {
      if (!readsAsActivation(use, members)) {
        leaving.push_back(use);
      }
    }
    torch::jit::WithInsertPoint guard(exit->node()->next());
    Value* channels = graph.insertConstant(layers.at(exit->node()).outChannels);
    Node* conversion = graph.insertNode(graph.create(kFromBlocked, {exit, channels}, 1));
    conversion->output()->setType(c10::TensorType::get());
    ++fromBlocked;
    // from_blocked's result is channels-last, as the value was: the conversions keepChannelsLast made stay right.
    for (const Use& use : leaving) {
      use.user->replaceInput(use.offset, conversion->output());
    }
  }
  return true;
}


} // namespace

bool PropagateLayoutPass::keepBlocked(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  std::map<Node*, BlockableLayer> layers;
  std::vector<Node*> order;
  std::vector<torch::jit::Block*> blocks{graph->block()};
  while (!blocks.empty()) {
    torch::jit::Block* block = blocks.back();
    blocks.pop_back();
    for (Node* node : block->nodes()) {
      if (c10::optional<BlockableLayer> layer = blockableLayer(node)) {
        layers.emplace(node, *layer);
        order.push_back(node);
      }
      blocks.insert(blocks.end(), node->blocks().begin(), node->blocks().end());
    }
  }
  ConvolutionChains chains(layers);
  std::map<Node*, std::vector<Node*>> members;
  for (Node* node : order) {
    members[chains.find(node)].push_back(node);
  }
  // Built before any chain is rewritten: the conversions inserted are pure,
  // so what writes to the original values stays what this saw.
  const torch::jit::AliasDb aliasDb(graph);
  bool changed = false;
  for (const auto& chain : members) {
    if (keepChainBlocked(*graph, chain.second, layers, aliasDb, context, toBlocked, fromBlocked)) {
      ++blockedChainCount;
      changed = true;
    }
  }
  return changed;
}

} // namespace tsopt
