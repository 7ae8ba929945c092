//===- convert_half.h - A frozen graph in float16 or bfloat16 --------------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// convert-half: runs a frozen graph in half precision (float16 or bfloat16),
/// for GPU inference. Floating-point tensor constants (float32 and float64
/// weights) become the half dtype; explicit float32/float64 dtype arguments
/// (x.float(), aten::to, factory ops, softmax's dtype) and factory ops that
/// default to float32 (zeros, ones, empty, rand, randn, eye, linspace with
/// dtype None) produce the half dtype, so nothing in the graph promotes back to
/// float32 and meets a half layer. Tensor inputs are cast to the half dtype on
/// entry and tensor outputs (also those a returned tuple or list holds) back
/// to float32 (or the float64 their type records) on exit, so callers keep
/// passing and receiving float32. Where the graph does not know an input's or
/// output's dtype (loaded archives), the cast is conditional on
/// is_floating_point, so token ids, masks and indices pass through untouched.
/// Finite constants beyond the half dtype's range saturate to its largest
/// finite value (a traced finfo(float32).min mask value would become -inf, and
/// 0 * -inf a NaN). Changes numerics (fp16 keeps 11 mantissa bits, bf16 8).
/// Never converts integer, boolean, complex or quantized constants, nor a
/// constant read as a number (aten::item, Float, Int...), handed to a
/// quantization op or used as exact boundaries (searchsorted, bucketize,
/// histc), nor one the graph returns. Refuses (one-line error) a graph holding
/// prepacked weights (tsopt:: fused ops, quantized packed parameters): their
/// float32 weights are sealed in, so convert-half goes after -O1 (which folds
/// batch norms in float32) and before fusion: --passes=O1,convert-half,O2
/// (O2 runs O1 again: on the frozen half graph it finds nothing more to fold);
/// and refuses a graph that is not frozen (reads tensor or module attributes).
///   %y = aten::conv2d(%x, %w, %b, ...)   return (%y)
///   ==>   %xh = aten::to(%x, 5, ...)   %yh = aten::conv2d(%xh, %w_fp16, %b_fp16, ...)
///         %y = aten::to(%yh, 6, ...)   return (%y)
class ConvertHalfPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;
  bool changesNumerics() const override { return true; }

private:
  bool convertConstants(torch::jit::Graph& graph, at::ScalarType half, PassContext& context);
  bool convertDtypeArguments(torch::jit::Graph& graph, at::ScalarType half, PassContext& context);
  bool castInputs(torch::jit::Graph& graph, at::ScalarType half, PassContext& context);
  bool castOutputs(torch::jit::Graph& graph, PassContext& context);
  torch::jit::Value* castBack(torch::jit::Graph& graph, torch::jit::Value* output, torch::jit::Node* before);

  Option<std::string> dtype{this, "dtype", "Half precision to run in: fp16 (float16) or bf16 (bfloat16)", "fp16"};
  Statistic constants{this, "constants", "Floating-point tensor constants converted"};
  Statistic keptConstants{this, "kept-constants", "Floating-point constants left as they are (--debug-only says why)"};
  Statistic dtypeArguments{this, "dtype-arguments", "Float32/float64 dtype arguments (explicit or default) set to half"};
  Statistic inputCasts{this, "input-casts", "Tensor inputs cast to half on entry"};
  Statistic outputCasts{this, "output-casts", "Tensor outputs cast back on exit"};
};

} // namespace tsopt
