//===- onednn_pooling.h - Max pooling after fused convolutions on oneDNN ---===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// onednn-pooling: an aten::max_pool2d whose input a fused convolution
/// computes (tsopt::conv2d_act, conv2d_add_act, conv2d_act_add, their .scaled
/// forms, or tsopt::from_blocked at the end of a blocked chain) becomes
/// tsopt::max_pool2d, oneDNN's pooling primitive in the layout the chain
/// keeps (channels-last): ResNet-50's stem max-pool takes 0.44 ms on ATen
/// 2.14 and 0.21 ms on oneDNN (one thread, Xeon; docs/fusion.md).
/// Runs after propagate-layout, which treats aten::max_pool2d as layout-free.
/// Never fires for ceil_mode or a dilation other than 1 (oneDNN's windows
/// would differ from ATen's), for arguments that are not constants, for
/// max_pool2d_with_indices, or for an input no fused convolution computes
/// (its dtype, device and layout are unknown). The runtime op still returns
/// at::max_pool2d for anything its kernel does not cover (runtime/pooling.h).
///   %y = tsopt::conv2d_act(%x, ...)   %z = aten::max_pool2d(%y, %k, %s, %p, %d, %false)
///   ==>   %y = tsopt::conv2d_act(%x, ...)   %z = tsopt::max_pool2d(%y, %k, %s, %p, %d, %false)
class OneDnnPoolingPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic rewritten{this, "rewritten", "max_pool2d nodes rewritten as tsopt::max_pool2d"};
  Statistic skipped{this, "skipped", "max_pool2d nodes after a fused convolution left alone (--debug-only says why)"};
};

} // namespace tsopt
