//===- quantize_dynamic.h - Dynamic int8 quantization of linear layers -----===//
#pragma once

#include "passes/core/pass.h"
#include "passes/core/reduce_range.h"

#include <string>
#include <vector>

namespace tsopt {

/// Whether keep-float entry `entry` names the frozen weight constant
/// `weightName`: "fc" and "fc.weight" name "self.fc.weight" (and its
/// uniqued copies, "self.fc.weight.1"); an entry also names itself.
bool keepFloatNamesWeight(const std::string& entry, const std::string& weightName);

/// The keep-float entry that names just the layer of weight `weightName`: the
/// submodule path of a frozen weight ("self.fc.weight" -> "fc"), else the name.
std::string keepFloatEntryFor(const std::string& weightName);

/// quantize-dynamic: rewrites aten::linear(x, W, b), and aten::matmul(x, C)
/// with a constant 2-D C (as linear with W = Cᵀ), as PyTorch's
/// quantized::linear_dynamic on a constant LinearPackedParamsBase object: the
/// weights are int8, symmetric per output channel, packed once; the activations
/// are quantized to uint8 on every call from their own min and max, and the
/// result is float32 again. Changes numerics (cosine ~0.9999 per layer).
/// Needs: a frozen graph (constant float32 weight and bias); otherwise a no-op.
/// Never fires for float64 weights, for weights with another use (they would
/// stay in memory twice), for layers with fewer than min-size weight elements,
/// for a left constant operand of matmul, for inputs known to be 1-D, for
/// weights that require grad, or anywhere in a graph with training-mode
/// leftovers (dropout or batch norm in training mode). quantized::linear_dynamic
/// needs inputs of 2 or more dimensions: where the rank is unknown (loaded
/// archives) a vector input fails at run time, as after PyTorch's
/// quantize_dynamic. Run it before fuse-linear-act, which would take the linears.
/// The packed weights are for the engine in effect (option engine); a saved
/// module packs them again on load, for the engine in effect at load time.
/// keep-float leaves chosen layers in float32, named by their weight: freeze
/// names a weight constant after its attribute ("self.encoder.0.fc.weight"), so
/// an entry is a submodule path ("encoder.0.fc", or "encoder" for everything in
/// it) or a full weight name; an entry that names no layer is an error.
///   %y = aten::linear(%x, %w, %b)
///   ==>   %y = quantized::linear_dynamic(%x, %packed, %reduce_range)
class QuantizeDynamicPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;
  bool changesNumerics() const override { return true; }

private:
  Option<int64_t> minSize{this, "min-size", "Leave layers with fewer weight elements in float32", 4096};
  Option<std::string> reduceRange{this, "reduce-range", kReduceRangeHelp, "auto"};
  Option<bool> matmul{this, "matmul", "Also rewrite aten::matmul with a constant 2-D right operand", true};
  Option<std::string> engine{this, "engine", "Quantized engine to pack for: current, onednn, fbgemm, qnnpack, x86",
                             "current"};
  Option<std::vector<std::string>> keepFloat{
      this, "keep-float",
      "Layers to leave in float32, by the submodule path (e.g. encoder.0.fc) or name of their frozen weight", {}};
  Statistic quantized{this, "quantized", "Layers rewritten as quantized::linear_dynamic"};
  Statistic skipped{this, "skipped", "Layers left in float32 (--debug-only says why)"};
};

} // namespace tsopt
