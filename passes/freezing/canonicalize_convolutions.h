//===- canonicalize_convolutions.h - Traced convolutions as conv*d --------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// canonicalize-convolutions: rewrites what the tracer records for a
/// convolution, aten::_convolution (and aten::convolution), as the
/// aten::conv1d/2d/3d or aten::conv_transpose1d/2d/3d call scripting emits, so
/// later patterns match both. The rank comes from the stride list; the
/// cuDNN/benchmark flags are dropped, as conv*d reads them from the global context.
/// String padding (aten::_convolution_mode, traced, and conv*d's padding
/// overload, scripted) becomes int padding: "valid" zeros, "same"
/// dilation * (kernel - 1) / 2 per dimension, from the weight's sizes (its type
/// or a constant); an uneven "same" stays, ATen pads it asymmetrically.
/// Works on any graph (weights need not be constants).
/// Never: a convolution whose transposed flag or list lengths are not known, a
/// one-element stride list when neither input nor weight rank is known (it fits
/// any rank), or a non-zero output_padding without transposition.
///   %y = aten::_convolution(%x, %w, %b, %s, %p, %d, %false, %zeros, %g, ...)
///     ==>   %y = aten::conv2d(%x, %w, %b, %s, %p, %d, %g)
class CanonicalizeConvolutionsPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic convolutions{this, "convolutions", "aten::_convolution rewritten as conv*d or conv_transpose*d"};
  Statistic convolutionsKept{this, "convolutions-kept",
                             "aten::_convolution kept: flags or list lengths not known, or no equivalent form"};
};

} // namespace tsopt
