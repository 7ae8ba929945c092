//===- insert_observers.h - Observers for static post-training quantization ===//
#pragma once

#include "passes/core/pass.h"
#include "passes/core/reduce_range.h"

namespace tsopt {

/// insert-observers (module pass): prepares a module for static int8
/// quantization with PyTorch's own graph-mode quantization passes
/// (FoldConvBatchNorm, then InsertObservers): batch norms fold into their
/// convolutions, and every value a quantized kernel would read or write gets
/// an observer submodule (per-tensor affine uint8: running min/max, or with
/// activation-observer=histogram PyTorch's L2-minimizing histogram search) and
/// every conv/linear weight a per-channel symmetric int8 one. Submodules named
/// in keep-float (dotted paths, with everything inside them) get no
/// observers, so quantize-static leaves them in float32 between a dequantize
/// and a quantize_per_tensor: the fallback for layers too sensitive for int8.
/// Observation of a conv's output is delayed past a following relu (and of an
/// add past its relu), so those fuse later. Run calibrate, then
/// quantize-static.
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
  Option<std::string> reduceRange{this, "reduce-range", kReduceRangeHelp, "auto"};
  Option<std::string> activationObserver{
      this, "activation-observer",
      "Activation ranges: minmax (observed min and max) or histogram (least L2 error over a 2048-bin histogram)",
      "minmax"};
  Option<std::vector<std::string>> keepFloat{
      this, "keep-float", "Submodules (dotted paths, e.g. conv1,layer1.0) to leave in float32", {}};
  Statistic observers{this, "observers", "Observer modules inserted"};
};

} // namespace tsopt
