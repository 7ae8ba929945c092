//===- inline.h - Inline function and method calls -----------------------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// inline: replaces every prim::CallFunction and prim::CallMethod whose callee
/// graph is known with the callee's body (torch::jit::Inline), recursively.
/// Never touches calls through interfaces whose target is unknown until run time.
///   %y = prim::CallMethod[name="forward"](%conv, %x)   ==>   %y = aten::conv2d(%x, ...)
class InlinePass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic inlinedCalls{this, "inlined-calls", "Calls inlined"};
};

} // namespace tsopt
