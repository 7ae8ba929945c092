//===- insert_observers.h - Observers for static post-training quantization ===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// insert-observers (module pass): prepares a module for static int8
/// quantization with PyTorch's own graph-mode quantization passes
/// (FoldConvBatchNorm, then InsertObservers): batch norms fold into their
/// convolutions, and every value a quantized kernel would read or write gets
/// an observer submodule (running min/max, per-tensor affine uint8) and every
/// conv/linear weight a per-channel symmetric int8 one. Observation of a
/// conv's output is delayed past a following relu (and of an add past its
/// relu), so those fuse later. Run calibrate, then quantize-static.
/// Needs: an unfrozen module in eval mode (weights are read through their
/// submodules), method forward. Never touches a frozen module (no submodules
/// left to observe) or a graph without quantizable ops. Changes no numerics
/// by itself; the observers only record.
///   %y = prim::CallMethod[name="forward"](%conv, %x)
///   ==>   %y = prim::CallMethod[name="forward"](%conv, %x)
///         %y.obs = prim::CallMethod[name="forward"](%_observer_3, %y)
class InsertObserversPass final : public ModulePass {
public:
  bool runOnModule(torch::jit::Module& module, PassContext& context) override;

private:
  Option<bool> reduceRange{this, "reduce-range",
                           "Observe activations for 7 bits (fbgemm on CPUs without VNNI needs it)", false};
  Statistic observers{this, "observers", "Observer modules inserted"};
};

} // namespace tsopt
