#include "passes/fusion/onednn_pooling.h"

#include "passes/core/graph_utils.h"
#include "passes/core/value_replacement.h"

#include <torch/csrc/jit/ir/constants.h>

#include <algorithm>
#include <ostream>

namespace tsopt {
namespace {

using torch::jit::Node;
using torch::jit::Value;

/// Whether a fused convolution (or the end of a blocked chain) computes `value`.
bool fromFusedConvolution(const Value* value) {
  static const std::vector<c10::Symbol> kinds = {
      c10::Symbol::fromQualString("tsopt::conv2d_act"), c10::Symbol::fromQualString("tsopt::conv2d_add_act"),
      c10::Symbol::fromQualString("tsopt::conv2d_act_add"), c10::Symbol::fromQualString("tsopt::from_blocked")};
  return std::find(kinds.begin(), kinds.end(), value->node()->kind()) != kinds.end();
}

/// Why oneDNN's windows would not be ATen's for `pool`'s arguments; empty when they are.
std::string whyNotOneDnn(const Node* pool) {
  for (size_t index = 1; index <= 4; ++index) {
    if (!torch::jit::toIValue(pool->input(index))) {
      return "argument " + std::to_string(index) + " is not a constant";
    }
  }
  const auto ceilMode = torch::jit::constant_as<bool>(pool->input(5));
  if (!ceilMode) {
    return "ceil_mode is not a constant";
  }
  if (*ceilMode) {
    return "ceil_mode is on";
  }
  const auto dilation = torch::jit::constant_as<c10::List<int64_t>>(pool->input(4));
  if (!dilation || std::any_of(dilation->begin(), dilation->end(), [](int64_t step) { return step != 1; })) {
    return "the dilation is not 1";
  }
  return "";
}

} // namespace

bool OneDnnPoolingPass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  static const c10::Symbol kMaxPool = c10::Symbol::fromQualString("tsopt::max_pool2d");
  bool changed = false;
  for (Node* pool : collectNodes(*graph, {c10::aten::max_pool2d})) {
    if (pool->inputs().size() != 6 || !fromFusedConvolution(pool->input(0))) {
      continue;
    }
    const std::string whyNot = whyNotOneDnn(pool);
    if (!whyNot.empty()) {
      ++skipped;
      context.missed(pool) << whyNot;
      continue;
    }
    if (!context.shouldRewrite("run " + describeNode(pool) + " as tsopt::max_pool2d", pool, {pool})) {
      continue;
    }
    torch::jit::WithInsertPoint guard(pool);
    Node* call = graph->insertNode(graph->create(kMaxPool, pool->inputs(), 1));
    call->copyMetadata(pool);
    call->output()->setType(pool->output()->type());
    replaceAndDestroy(pool->output(), call->output(), {pool});
    ++rewritten;
    changed = true;
  }
  return changed;
}

} // namespace tsopt
