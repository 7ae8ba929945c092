//===- constant_pooling.h - Deduplicate constants ------------------------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// constant-pooling: merges equal prim::Constant nodes into one and hoists
/// constants to the top of the graph, keeping their order, as
/// torch::jit::ConstantPooling does but in linear time (passes/core/node_hashing.h).
/// Never merges tensors that are not bit-for-bit identical (0.0 vs -0.0), nor
/// two distinct objects whose aliasing alias analysis says must not change
/// (one written in place, or both returned).
///   %a = prim::Constant[value=1]()  %b = prim::Constant[value=1]()   ==>   one %a
class ConstantPoolingPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic pooledConstants{this, "pooled-constants", "Duplicate constants removed"};
};

} // namespace tsopt
