//===- fold_pad_conv.h - Fold explicit zero padding into convolutions -----===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// fold-pad-conv: folds a zero padding written out before a convolution
/// (aten::pad in "constant" mode with value 0 or None, or aten::constant_pad_nd
/// with value 0: what models ported from TensorFlow's "SAME" padding, and
/// F.pad by hand, record) into the convolution's own padding, so the padded
/// copy is never made and the layer fuses and keeps its layout like any other.
/// Works on aten::conv1d/2d/3d with an int padding list (canonicalize-convolutions
/// gives traced convolutions that form); the pad list and the value must be constants.
/// Never: a pad that is not the same on both sides of a dimension (the conv's
/// padding is symmetric: TensorFlow's stride-2 "SAME" pads [0, 1, 0, 1]),
/// negative (cropping) pads, a pad that reaches past the convolution's spatial
/// dimensions (channels, batch), other modes (reflect, replicate, circular) or
/// values, transposed convolutions (their padding crops the output), or an input
/// some node writes in place (the convolution would read it after the write).
/// The pad stays where it has other uses.
///   %p = aten::pad(%x, [1, 1, 2, 2], "constant", None)
///   %y = aten::conv2d(%p, %w, %b, %s, [0, 1], %d, %g)
///   ==>   %y = aten::conv2d(%x, %w, %b, %s, [2, 2], %d, %g)
class FoldPadConvPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic folded{this, "folded", "Zero pads folded into the convolution after them"};
  Statistic kept{this, "kept", "Pads before a convolution left in place (--debug-only says why)"};
};

} // namespace tsopt
