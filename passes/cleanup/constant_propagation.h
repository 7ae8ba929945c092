//===- constant_propagation.h - Evaluate nodes with constant inputs ------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// constant-propagation: runs every side-effect-free node whose inputs are all
/// constants and replaces it by its result; folds prim::If on constant
/// conditions (torch::jit::ConstantPropagation). Never evaluates nodes that
/// allocate random numbers, mutate, or (with ignore-custom-classes) take custom
/// class objects.
///   %c = aten::add(%two, %three, %one)   ==>   %c = prim::Constant[value=5]()
class ConstantPropagationPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Option<bool> ignoreCustomClasses{this, "ignore-custom-classes",
                                   "Do not fold nodes that take custom class objects", false};
  Statistic removedNodes{this, "removed-nodes", "Nodes folded away"};
};

} // namespace tsopt
