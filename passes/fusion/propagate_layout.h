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
/// pads, size queries) and
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
/// Chains of 2-D CPU convolutions go further where oneDNN's blocked kernels
/// win: the activations between them become tsopt::to_blocked tensors
/// (oneDNN's nChw16c as an (N, C/16, H, W, 16) tensor) that only fused
/// convolutions read, converted once in and back (tsopt::from_blocked, to
/// channels-last) wherever a value leaves the chain. A chain is blocked when
/// its depthwise layers outnumber three times the conversions this needs plus
/// its dense KxK layers (a conversion costs about three depthwise layers'
/// gain; option `blocked`; docs/fusion.md has the measurements); layers with
/// fewer than 16 input channels stay outside. At run time to_blocked leaves a
/// batch of fewer than two images per thread channels-last (the blocked
/// kernels gain no more than the conversions cost there).
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
  bool keepChannelsLast(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context);
  /// The blocked chains (see the class comment), after keepChannelsLast.
  bool keepBlocked(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context);
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
  Option<bool> blockedChains{this, "blocked",
                             "Keep chains of 2-D convolutions in oneDNN's blocked nChw16c layout where their "
                             "depthwise layers outnumber the conversions and dense KxK layers it costs",
                             true};
  Statistic blockedChainCount{this, "blocked-chains", "Chains of convolutions kept in the blocked layout"};
  Statistic toBlocked{this, "to-blocked", "Conversions to the blocked layout where blocked chains start"};
  Statistic fromBlocked{this, "from-blocked", "Conversions from the blocked layout where values leave them"};
};

} // namespace tsopt
