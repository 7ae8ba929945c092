//===- peephole.h - Local algebraic and shape simplifications ------------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// peephole: PyTorch's local simplifications (torch::jit::PeepholeOptimize):
/// x.expand(same shape), double transposes, `aten::size` of tensors with complete
/// shapes, list and dict idioms, integer arithmetic identities. Never changes
/// numerics of floating-point tensors.
///   %y = aten::t(aten::t(%x))   ==>   uses of %y use %x
class PeepholePass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Option<bool> disableShapePeepholes{this, "disable-shape-peepholes",
                                     "Skip rewrites that rely on recorded tensor shapes", false};
  Statistic removedNodes{this, "removed-nodes", "Nodes simplified away"};
};

} // namespace tsopt
