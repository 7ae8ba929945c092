//===- constant_pooling.h - Deduplicate constants ------------------------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// constant-pooling: merges equal prim::Constant nodes into one and hoists
/// constants to the top of the graph (torch::jit::ConstantPooling). Never merges
/// tensors that are merely equal in value but not the same storage.
///   %a = prim::Constant[value=1]()  %b = prim::Constant[value=1]()   ==>   one %a
class ConstantPoolingPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic pooledConstants{this, "pooled-constants", "Duplicate constants removed"};
};

} // namespace tsopt
