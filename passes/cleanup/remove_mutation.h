//===- remove_mutation.h - In-place ops to functional ops ----------------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// remove-mutation: rewrites in-place tensor ops (aten::relu_, aten::add_, ...)
/// into their functional forms when alias analysis proves no other value observes
/// the write (torch::jit::RemoveTensorMutation), so later patterns see pure ops.
/// Never rewrites writes to graph inputs, to values with aliases that are read
/// later, or to values captured by a list.
///   %y = aten::relu_(%x)   ==>   %y = aten::relu(%x)
class RemoveMutationPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic rewrittenNodes{this, "rewritten-nodes", "In-place nodes made functional"};
};

} // namespace tsopt
