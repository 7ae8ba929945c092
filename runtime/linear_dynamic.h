//===- linear_dynamic.h - Dynamic int8 linear layer with fused epilogue ---===//
///
/// The TorchScript custom class tsopt.LinearDynamicPacked (registered in
/// register_ops.cpp) behind tsopt::linear_dynamic_act, linear_dynamic_add_act
/// and linear_dynamic_act_add: a linear layer whose weights are int8,
/// symmetric per output channel (PyTorch's PerChannelMinMaxObserver with
/// qint8: scale max|w| / 127.5), quantized once; activations are quantized per
/// call to uint8 from their own min and max (0..127 with reduce-range, as
/// PyTorch's quantized::linear_dynamic on CPUs without VNNI), in one pass.
/// One oneDNN u8 x s8 matmul then applies per-output-channel scales, the bias,
/// the activation and the residual add as post-ops, writing float32.
///
/// With an input scale m (float32, one value per input feature: what
/// smooth-quant leaves as `aten::mul(x, m)` before the linear, absorbed by
/// fuse-linear-dynamic), the layer quantizes x * m instead of x: SmoothQuant's
/// per-channel smoothing, whose inverse the weights already carry.
///
/// The input's zero point is folded into a per-call bias:
///   y[m,n] = sx*sw[n] * (sum_k qx[m,k]*qw[n,k] - zx*sum_k qw[n,k]) + b[n]
/// oneDNN 2.x applies a matmul's bias before its output scales (dst =
/// scale * (acc + bias)), so the bias it is given is b[n] / (sx*sw[n]) -
/// zx * colsum[n].
///
/// run() falls back to runReference() (the same quantization through ATen
/// ops) for what the kernel does not cover: non-float32 or empty inputs,
/// inputs that need autograd, a residual that broadcasts.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "runtime/activation.h"

#include <ATen/core/ivalue.h>
#include <c10/util/Optional.h>

#include <memory>
#include <tuple>
#include <utility>

namespace tsopt::runtime {

/// An activation's dynamic quantization parameters, chosen as PyTorch's
/// quantized::linear_dynamic chooses them: the range [min(x, 0), max(x, 0)]
/// over 0..127 (reduceRange) or 0..255.
struct DynamicQuantParams {
  float scale = 1.f;
  int32_t zeroPoint = 0;
};
DynamicQuantParams dynamicQuantParams(float min, float max, bool reduceRange);

/// Whether activations should take 7 bits on this CPU: x86 without VNNI,
/// where u8 x s8 products are summed in pairs into int16 (vpmaddubsw) and
/// 8-bit activations saturate.
bool reduceRangeByDefault();

/// The smallest and largest of `count` floats (+inf and -inf when count is 0).
std::pair<float, float> minMaxOf(const float* data, int64_t count);

/// Quantizes `count` floats to uint8 with `params` (round half to even, as
/// ATen's quantize_per_tensor), clamped to 0..quantMax.
void quantizeToUint8(const float* input, int64_t count, const DynamicQuantParams& params, int32_t quantMax,
                     uint8_t* output);

class LinearDynamicPacked final : public torch::CustomClassHolder {
public:
  /// What pickling stores: format version, int8 weight (out, in), per-channel
  /// scales (out), float32 bias, reduce range, float32 input scale (in).
  /// Version 1 (before input scales) had the first five; stateFrom reads both.
  using State = std::tuple<int64_t, at::Tensor, at::Tensor, c10::optional<at::Tensor>, bool, c10::optional<at::Tensor>>;

  /// Quantizes a float32 (out, in) weight per output channel; throws
  /// c10::Error when it is not 2-D float32 or the bias or input scale does
  /// not fit it.
  LinearDynamicPacked(const at::Tensor& weight, c10::optional<at::Tensor> bias, bool reduceRange,
                      c10::optional<at::Tensor> inputScale = c10::nullopt);
  explicit LinearDynamicPacked(const State& state);
  /// The State of a pickled tuple of either version; throws c10::Error for
  /// anything else.
  static State stateFrom(const c10::IValue& pickled);
  ~LinearDynamicPacked() override;

  /// activation(linear(input) [+ residual]) or activation(linear(input)) + residual.
  at::Tensor run(const at::Tensor& input, at::Tensor residual, const Activation& activation,
                 ResidualAdd where = ResidualAdd::BeforeActivation);
  /// The same quantized arithmetic through ATen ops (quantize, dequantize,
  /// float32 linear): the fallback of run() and the reference in tests.
  at::Tensor runReference(const at::Tensor& input, const at::Tensor& residual, const Activation& activation,
                          ResidualAdd where = ResidualAdd::BeforeActivation) const;
  bool kernelApplies(const at::Tensor& input, const at::Tensor& residual) const;
  /// Whether run() multiplies on tsopt's AMX kernel (runtime/amx_gemm.h)
  /// rather than oneDNN: where the CPU has AMX-INT8, unless
  /// TSOPT_DYNAMIC_GEMM=onednn was set when the layer was packed. The AMX
  /// kernel computes GELU (erf) itself, other activations run after it in
  /// ATen; an activation other than GELU before the residual add stays on
  /// oneDNN either way.
  bool runsOnAmx() const;

  State state() const;
  const at::Tensor& weightInt8() const { return weight_; }
  const at::Tensor& weightScales() const { return scales_; }
  bool reduceRange() const { return reduceRange_; }
  const c10::optional<at::Tensor>& inputScale() const { return inputScale_; }

private:
  struct Kernel;
  at::Tensor weight_;  ///< int8, (out, in), contiguous.
  at::Tensor scales_;  ///< float32, (out).
  c10::optional<at::Tensor> bias_;
  bool reduceRange_;
  c10::optional<at::Tensor> inputScale_;  ///< float32, (in), contiguous.
  std::unique_ptr<Kernel> kernel_;
};

} // namespace tsopt::runtime
