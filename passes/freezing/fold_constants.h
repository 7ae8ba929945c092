//===- fold_constants.h - Propagate constants and pool equal ones ---------===//
#pragma once

#include "passes/core/pass.h"

#include <ATen/core/Tensor.h>

namespace tsopt {

/// Whether two tensors are interchangeable as graph constants: same dtype,
/// shape, strides, device and requires_grad, and bit-for-bit equal elements.
/// Stricter than at::equal, which calls 0.0 and -0.0 equal (1/x tells them apart).
/// Quantized, sparse, MKL-DNN and lazily conjugated or negated tensors are never identical.
bool identicalTensors(const at::Tensor& a, const at::Tensor& b);

/// fold-constants: runs torch::jit::ConstantPropagation, then merges tensor
/// constants that identicalTensors() calls identical, whatever types the graph
/// records for them, then pools the remaining duplicate constants with
/// torch::jit::ConstantPooling, which also hoists constants to the top of the
/// graph. (ConstantPooling merges equal tensors too, but only when their recorded
/// types match, and it compares them with at::equal.)
/// Preconditions: none; on a frozen graph it also pools equal weights.
/// Never merges a tensor constant that is written in place, nor two that are
/// both returned from the graph (alias analysis); never runs ConstantPooling on
/// a graph holding tensor constants that at::equal calls equal but that are not
/// identical (0.0 vs -0.0), since it would merge them.
///   %a = aten::add(%two, %three, %one)   ==>   %a = prim::Constant[value=5]()
///   %w1 = prim::Constant[value=<ones(8)>]()  %w2 = prim::Constant[value=<ones(8)>]()
///   ==>   %w1 used wherever %w2 was
class FoldConstantsPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  bool poolIdenticalTensors(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context);

  Statistic foldedNodes{this, "folded-nodes", "Nodes evaluated or removed by constant propagation"};
  Statistic pooledTensors{this, "pooled-tensors", "Tensor constants merged into an identical one"};
  Statistic pooledConstants{this, "pooled-constants", "Other duplicate constants removed by constant pooling"};
  Statistic keptWritten{this, "kept-written", "Tensor constants not pooled: written in place"};
  Statistic keptEscaping{this, "kept-escaping", "Tensor constants not pooled: returned, like their twin"};
  Statistic poolingSkipped{this, "pooling-skipped",
                           "Graphs where constant pooling was skipped: tensors equal only by at::equal"};
};

} // namespace tsopt
