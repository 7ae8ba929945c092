//===- fuse_conv_act.h - Convolution + activation as one oneDNN call -------===//
#pragma once

#include "passes/core/pass.h"
#include "runtime/activation.h"

namespace tsopt {

/// fuse-conv-act: a convolution (aten::conv1d/2d/3d, conv_transpose1d/2d/3d,
/// _convolution, convolution) followed by a supported activation (relu,
/// relu6/hardtanh/clamp/clamp_min/clamp_max with constant bounds, silu, hardswish, hardsigmoid, gelu,
/// sigmoid, tanh, leaky_relu, elu, softplus, mish, abs, exp, square or pow(x, 2),
/// log_sigmoid; in-place forms too) becomes one tsopt::conv2d_act call whose weights are
/// a tsopt.ConvPacked constant, packed for oneDNN on first use.
/// Needs: a frozen graph (constant float32 weight and bias, or float16/bfloat16
/// on CUDA, constant stride, padding, dilation, output padding, groups);
/// otherwise a no-op. Never fires when the convolution's output has another
/// use, for string padding ("same", "valid"), or float64 weights. The fused
/// op keeps its conv2d name for every kind; the packed constant holds the kind. With lone-convs=true it
/// also rewrites a convolution with nothing to fuse (activation "none"), so
/// every convolution runs prepacked. Run fuse-conv-add-act first: this pass
/// would otherwise take the convolution of a conv + add + relu chain alone.
///   %y = aten::conv2d(%x, %w, %b, %s, %p, %d, %g)   %z = aten::relu(%y)
///   ==>   %z = tsopt::conv2d_act(%x, %packed, "relu", 0., 0.)
class FuseConvActivationPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Option<std::vector<std::string>> activations{
      this, "activations", "Activations to fuse (" + optionValueText(runtime::activationNames()) + ")",
      runtime::activationNames()};
  Option<bool> loneConvs{this, "lone-convs", "Also rewrite convolutions with no activation to fuse", false};
  Statistic fused{this, "fused", "Convolutions rewritten as tsopt::conv2d_act"};
  Statistic skipped{this, "skipped", "Convolutions left alone (--debug-only says why)"};
};

} // namespace tsopt
