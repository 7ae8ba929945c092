//===- propagate_layout.h - Channels-last activations between fused convs ---===//
#pragma once

#include "passes/core/pass.h"

#include <set>
#include <vector>

namespace tsopt {

/// propagate-layout: keeps the activations of tsopt::conv2d_act /
/// conv2d_add_act chains of 2-D or 3-D convolutions in channels-last (NHWC,
/// NDHWC) memory, the layout the oneDNN
/// kernels read and write natively, so the kernels stop converting each input
/// and output. It converts a convolution's input to channels-last where a chain
/// starts, lets the value flow through ops whose results do not depend on the
/// input layout (element-wise ops, pooling, means, batch norm, concatenation,
/// size queries) and
/// converts back to contiguous wherever a value reaches any other user or
/// leaves the graph or a block, so those see the layout they saw before.
/// Float32 convolutions on a GPU stay contiguous (NCHW): cuDNN runs few of
/// them in NHWC and would transpose around each (`cuda-float32` changes that).
/// A chain of one CPU convolution whose input is not channels-last (a lone
/// layer between contiguous ops: graph inputs and outputs, upsampling,
/// transposed or 1-D layers on ATen's convolution, views) stays contiguous
/// too: converting there costs what the kernel's own conversions cost, and a
/// contiguous input lets the kernel pick its layout by shape (pointwise layers
/// without an activation run in place on NCHW; docs/fusion.md).
/// Needs: fused convolutions (run fuse-conv-act / fuse-conv-add-act first);
/// otherwise a no-op. Never fires when a value that would need a conversion is
/// written in place (a copy would break the aliasing the graph relies on).
///   %y = tsopt::conv2d_act(%x, ...)   %z = tsopt::conv2d_act(%y, ...)   %f = aten::flatten(%z, ...)
///   ==>   %xc = aten::contiguous(%x, 2)   %y = tsopt::conv2d_act(%xc, ...)   %z = tsopt::conv2d_act(%y, ...)
///         %zc = aten::contiguous(%z, 0)   %f = aten::flatten(%zc, ...)
class PropagateLayoutPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  /// Takes the chains of one convolution out of `order` and `values` (see the
  /// class comment), saying why.
  void leaveLoneConvolutionsContiguous(std::vector<torch::jit::Value*>& order, std::set<torch::jit::Value*>& values,
                                       PassContext& context);

  Option<bool> cudaFloat32ChannelsLast{this, "cuda-float32",
                                       "Also chain float32 convolutions on a GPU (cuDNN mostly transposes them)",
                                       false};
  Statistic toChannelsLast{this, "to-channels-last", "Conversions to channels-last where chains start"};
  Statistic toContiguous{this, "to-contiguous", "Conversions to contiguous where values leave chains"};
  Statistic loneConvolutions{this, "lone-convolutions", "Lone convolutions left in the contiguous layout"};
};

} // namespace tsopt
