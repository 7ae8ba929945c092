//===- fuse_linear_dynamic.h - Dynamic int8 linear + bias/act/residual ----===//
#pragma once

#include "passes/core/pass.h"
#include "passes/core/reduce_range.h"
#include "runtime/activation.h"

namespace tsopt {

/// fuse-linear-dynamic: a linear layer, with the residual add and the
/// activation after it (in either order, as fuse-linear-act takes them),
/// becomes one tsopt::linear_dynamic_act, linear_dynamic_add_act or
/// linear_dynamic_act_add call: int8 weights (symmetric per output channel,
/// quantized once), the activation quantized to uint8 on every call from its
/// own min and max in one pass, one oneDNN u8 x s8 matmul with the scales,
/// bias, activation and residual as post-ops, float32 out
/// (runtime/linear_dynamic.h). Changes numerics as quantize-dynamic does (the
/// same weight and activation quantization); needs libtsopt_runtime to load.
/// Needs: a frozen graph (constant float32 CPU weight and bias); otherwise a no-op.
/// Never fires in a graph with a dropout in training mode (or of unknown mode),
/// for float64 or CUDA weights, weights that require grad, layers
/// with fewer than min-size weight elements; never absorbs an add or an
/// activation whose input has another use. With lone-linears (the default) a
/// linear with nothing to fuse is rewritten too: alone the kernel measured level
/// with quantized::linear_dynamic (1.00x, BERT-base's q/k/v at 128 rows, one
/// thread; docs/quantization.md), so the whole model needs one pass; with
/// lone-linears=false, quantize-dynamic after it takes those layers. Run it
/// before quantize-dynamic and before fuse-linear-act. A linear whose input is
/// x * m with m a constant float32 vector of in_features values (smooth-quant's
/// smoothing) reads x, and its packed layer quantizes x * m itself (no pass of
/// its own over the activation); not across an in-place write between the mul
/// and the layer, nor for an m of another shape (a [1, in] m broadcasts x up).
///   %y = aten::linear(%x, %w, %b)   %z = aten::gelu(%y, "none")
///   ==>   %z = tsopt::linear_dynamic_act(%x, %packed, "gelu", 0., 0.)
class FuseLinearDynamicPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;
  bool changesNumerics() const override { return true; }

private:
  Option<std::vector<std::string>> activations{
      this, "activations", "Activations to fuse (" + optionValueText(runtime::activationNames()) + ")",
      runtime::activationNames()};
  Option<bool> residualAdd{this, "residual-add", "Also fuse a residual add after the linear", true};
  Option<bool> loneLinears{this, "lone-linears", "Also rewrite linears with nothing to fuse", true};
  Option<int64_t> minSize{this, "min-size", "Leave layers with fewer weight elements in float32", 4096};
  Option<std::string> reduceRange{this, "reduce-range", kReduceRangeHelp, "auto"};
  Statistic fused{this, "fused", "Linear layers rewritten as tsopt::linear_dynamic_*"};
  Statistic skipped{this, "skipped", "Linear layers left alone (--debug-only says why)"};
};

} // namespace tsopt
