//===- smooth_quant.h - Move activation outliers into the weights (SmoothQuant) ===//
#pragma once

#include "passes/core/calibrating_pass.h"
#include "passes/core/pass.h"
#include "passes/core/reduce_range.h"

#include <string>
#include <vector>

namespace tsopt {

/// smooth-quant (module pass): SmoothQuant's per-channel smoothing (Xiao et al., ICML 2023) of the inputs of
/// linear layers, ahead of an int8 rewrite that quantizes activations per tensor. A few input features with a
/// range far above the rest (a transformer's layer-norm outputs have them) set the one activation scale and
/// leave the other features a handful of levels; the weights, quantized per output channel, have room to spare.
///
/// Every aten::linear with a constant float32 CPU weight of at least min-size elements counts; the linears
/// that read one tensor x form a group (q, k and v read one layer norm's output) and share one smoothing
/// vector s. The pass runs the method on calibration-data (tsopt --calibration-data by default) with the
/// largest |x_j| of each input feature j recorded (x seen as (-1, in_features), over every call), takes
/// max|W_j|, the largest weight magnitude of column j over the group's layers, sets s_j as below, and rewrites
/// each linear(x, W, b) of the group into linear(x * (1/s), W * s, b): one aten::mul a group, exact in real
/// arithmetic, float32 rounding aside. alpha 0 leaves the activations' ranges where they are; 1 moves all of
/// them into the weights.
///
///   s_j = max|x_j|^alpha / max|W_j|^(1 - alpha)     (1 where either maximum is 0 or s_j is not finite)
///
/// No one alpha suits every model (on the trained all-MiniLM-L6-v2, 0.5 made dynamic int8 worse than no
/// smoothing, 0.7 much better: docs/quantization.md). With alpha=auto (the default) the pass tries 0.3, 0.4,
/// ..., 0.9: for each it builds the dynamic int8 model (the groups' layers smoothed with that alpha, then on
/// tsopt::linear_dynamic_act, 7-bit activations with reduce-range: tell the int8 pass after it the same), runs
/// the calibration calls, and keeps the alpha with the highest mean over the calls of the lowest cosine
/// between an output and its float32 value; none at all where no alpha beats leaving the inputs alone (a
/// missed remark says so). Scored in two folds: s fit on the even calls is scored on the odd ones and the
/// other way round, so that the choice rewards smoothing that carries over to inputs it was not fit to (fit
/// and scored on the same calls, the search took 0.9 on MiniLM, which held-out inputs score below 0.7). The
/// result's s is then fit on every call. --debug-only=smooth-quant prints every alpha's figures. That costs
/// eight runs of the calibration set; a number for alpha skips the search and applies it to every group.
///
/// The mul costs an element-wise pass unless the int8 rewrite absorbs it: fuse-linear-dynamic does
/// (tsopt::linear_dynamic_* quantizes x * (1/s) in its quantization pass), PyTorch's quantize-dynamic does
/// not. So run smooth-quant right before fuse-linear-dynamic, after fuse-concat-linear (which merges q, k and
/// v into one layer). Needs a frozen graph. Left alone, with the reason on --debug-only: layers under
/// min-size, non-float32 or non-constant weights, and a group whose input something writes in place (an
/// alias of x written anywhere in the graph).
///   %y = aten::linear(%x, %W, %b)
///   ==>   %xs = aten::mul(%x, %inverse_s)
///         %y = aten::linear(%xs, %W_times_s, %b)
class SmoothQuantPass final : public ModulePass, public CalibratingPass {
public:
  bool runOnModule(torch::jit::Module& module, PassContext& context) override;
  void setDefaultCalibrationData(const std::string& path) override;

private:
  /// The alphas to try: the auto grid, or the one the option names; throws tsopt::Error (Usage) otherwise.
  std::vector<double> candidateAlphas() const;

  Option<std::string> alpha{this, "alpha",
                            "Migration strength: a number in [0, 1] (the share of the activations' range moved into "
                            "the weights), or auto: the one of 0.3, 0.4, ..., 0.9 (or none) whose dynamic int8 "
                            "model is closest to float32 on the calibration inputs",
                            "auto"};
  Option<std::string> reduceRangeOption{this, "reduce-range", kReduceRangeHelp, "auto"};
  Option<int64_t> minSize{this, "min-size", "Leave layers with fewer weight elements alone (fuse-linear-dynamic's)",
                          4096};
  Option<std::string> calibrationData{this, "calibration-data",
                                      "Inputs saved with torch.save (default: tsopt --calibration-data)", ""};
  Statistic layersSmoothed{this, "layers", "Linear layers smoothed"};
  Statistic inputs{this, "inputs", "Layer inputs scaled (one aten::mul each)"};
  Statistic calls{this, "calls", "Calibration calls run"};
  Statistic skipped{this, "skipped", "Linear layers left alone (--debug-only says why)"};
};

} // namespace tsopt
