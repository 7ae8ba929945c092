//===- form_linear.h - addmm and matmul with a constant weight as linear --===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// form-linear: rewrites addmm(b, x, W^T) and matmul(x, W^T), where W^T is
/// aten::t of a constant or the constant freezing folded it into, as
/// aten::linear(x, W, b), so the folding and fusion passes see one form. An
/// add(_, b, 1) of a constant 1-D bias that is the matmul's only use folds into it.
/// Needs constant weights (a frozen graph); otherwise a no-op.
/// Never: a weight that is not a constant 2-D tensor (matmul of two
/// activations), alpha or beta not 1, or a bias that would broadcast the output
/// to another shape or promote its dtype.
///   %m = aten::matmul(%x, %WT)   %y = aten::add(%m, %b, %one)   ==>   %y = aten::linear(%x, %W, %b)
class FormLinearPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic linears{this, "linears", "addmm or matmul rewritten as aten::linear"};
  Statistic biasesFolded{this, "biases-folded", "Bias adds folded into the new aten::linear"};
  Statistic linearsKept{this, "linears-kept",
                        "addmm or matmul kept: weight not a constant 2-D tensor, alpha/beta not 1, or bias unsuitable"};
};

} // namespace tsopt
