//===- quantize_static.h - Static post-training int8 quantization ----------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// quantize-static (module pass): turns a calibrated, observed module into an
/// int8 one with PyTorch's graph-mode quantization (InsertQuantDeQuant, then
/// Finalize, which fuses and freezes): observed convolutions become
/// quantized::conv2d (quantized::conv2d_relu with a following relu), linears
/// quantized::linear, residual add + relu quantized::add_relu, with prepacked
/// per-channel int8 weights, and activations stay uint8 between them; ops
/// without int8 kernels run in fp32 between dequantize and quantize_per_tensor,
/// placed only at fp32 boundaries (pooling and flatten pass uint8 through).
/// Needs: insert-observers, then calibrate, on method forward. Fails when an
/// observer has seen no data. The result is frozen; the packed weights are for
/// the engine in effect (option engine) and are packed again on load.
///   %q = aten::quantize_per_tensor(%x, ...)   %y = quantized::conv2d_relu(%q, %packed, ...)
///   ...   %out = aten::dequantize(%z)
class QuantizeStaticPass final : public ModulePass {
public:
  bool runOnModule(torch::jit::Module& module, PassContext& context) override;
  bool changesNumerics() const override { return true; }

private:
  Option<std::string> engine{this, "engine", "Quantized engine to pack for: current, onednn, fbgemm, qnnpack, x86",
                             "current"};
  Statistic quantizedOps{this, "quantized-ops", "quantized:: kernels in the result"};
  Statistic boundaries{this, "boundaries", "quantize_per_tensor and dequantize nodes at fp32 boundaries"};
};

} // namespace tsopt
