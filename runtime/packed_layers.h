//===- packed_layers.h - Convolution and linear layers with packed weights -===//
///
/// The TorchScript custom classes tsopt.ConvPacked and tsopt.LinearPacked
/// (registered in register_ops.cpp) behind the fused ops. Each holds a layer's
/// weights (on the module's device) and parameters, which is all it pickles,
/// and for float32 CPU weights the oneDNN state built from them: primitives per
/// problem, and the weights reordered into the layout those primitives prefer,
/// once per layout, never per call. CUDA weights build no oneDNN state: the
/// CUDA companion library (runtime/cuda/) registers kernels for the same ops
/// under the CUDA dispatch key and reads the layer through the accessors. A
/// packed layer stays on the device it was built on (.to() cannot move it).
///
/// run() computes activation(layer(input) [+ residual]), or
/// activation(layer(input)) + residual, with one oneDNN primitive when it can; for anything the kernel does not cover (dtype other
/// than float32, an input that needs autograd, a residual that broadcasts, an
/// empty tensor) it returns the unfused ATen computation instead, so a fused op
/// never changes what the graph computes beyond float rounding.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "runtime/activation.h"

#include <ATen/core/ivalue.h>
#include <c10/util/Optional.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace tsopt::runtime {

/// A convolution's parameters (aten::convolution's), one value per spatial
/// dimension (1 to 3). `outputPadding` only for a transposed convolution
/// (empty: zeros). The name stays from when only 2-D convolutions were packed.
struct Conv2dParams {
  std::vector<int64_t> stride;
  std::vector<int64_t> padding;
  std::vector<int64_t> dilation;
  int64_t groups = 1;
  std::vector<int64_t> outputPadding{};
  bool transposed = false;
};

/// The output sizes of the convolution `params` describes for an input and a
/// weight of these sizes (a transposed weight is (in, out / groups, k...)); a
/// zero extent when the input is too small.
std::vector<int64_t> conv2dOutputSizes(at::IntArrayRef input, at::IntArrayRef weight, const Conv2dParams& params);
/// Throws c10::Error, naming `owner`, when `params` do not fit a convolution with `outChannels` outputs.
void checkConv2dParams(const char* owner, int64_t outChannels, const Conv2dParams& params);

/// Blocked activations (propagate-layout's blocked chains, docs/fusion.md): a
/// 2-D convolution's activation (N, C, H, W) held in oneDNN's nChw16c layout,
/// as a plain contiguous tensor of shape (N, ceil(C / 16), H, W, 16) whose
/// channels past C are zero. ConvPacked::run takes one for a 2-D layer and
/// returns one; oneDNN 2.6's depthwise and thin 1x1 kernels are faster on it
/// than on channels-last.
constexpr int64_t kBlockedChannels = 16;
/// tsopt::to_blocked: a 4-D tensor (any strides, any dtype) as a blocked one;
/// with fewer than two images per thread the tensor itself, where the blocked
/// kernels gain no more than the conversions cost (the chain then runs channels-last).
at::Tensor toBlockedChannels(const at::Tensor& input);
/// tsopt::from_blocked: a blocked tensor of `channels` channels as a
/// channels-last (N, C, H, W) one, the layout propagate-layout keeps around
/// the chain; a 4-D tensor (a chain to_blocked left channels-last) comes back as it is.
at::Tensor fromBlockedChannels(const at::Tensor& blocked, int64_t channels);

class ConvPacked final : public torch::CustomClassHolder {
public:
  /// What pickling stores: format version (2), weight, bias, stride, padding,
  /// dilation, groups, output padding, transposed. Version 1 (2-D only) ended
  /// at groups: stateFrom still reads it.
  using State = std::tuple<int64_t, at::Tensor, c10::optional<at::Tensor>, std::vector<int64_t>,
                           std::vector<int64_t>, std::vector<int64_t>, int64_t, std::vector<int64_t>, bool>;

  /// A 1-D, 2-D or 3-D convolution, transposed when params.transposed (the
  /// weight is then (in, out / groups, k...)). Throws c10::Error when the
  /// weight is not 3-D to 5-D or the parameters do not fit it.
  ConvPacked(at::Tensor weight, c10::optional<at::Tensor> bias, Conv2dParams params);
  explicit ConvPacked(const State& state);
  ~ConvPacked() override;
  /// The state a pickled tsopt.ConvPacked holds, of either format version;
  /// throws c10::Error for anything else.
  static State stateFrom(const c10::IValue& pickled);

  /// activation(conv(input) [+ residual]), no residual when it is undefined;
  /// activation(conv(input)) + residual when `where` is AfterActivation. The
  /// residual is added times `residualScale` (-1 for conv(input) - residual),
  /// as aten::add's alpha, then `second` (defined: two sums into the layer)
  /// times `secondScale`; the kernels sum the two residuals first.
  /// The kernel covers 2-D and 3-D convolutions, plain and transposed, with
  /// oneDNN's own descriptors; a 1-D one runs as 2-D with height 1 (as ATen's
  /// does). The result has the input's memory format, as aten::convolution's
  /// does; the kernel computes channels-last, or on a contiguous input in that
  /// layout where it pays (pointwise layers without an activation). A 2-D
  /// layer's blocked input (5-D, see toBlockedChannels) gives a blocked result,
  /// and its residual and `second` are blocked too. A
  /// residual handed over with std::move, when no other tensor shares its
  /// memory, receives the result in place (see accumulatorFor).
  at::Tensor run(const at::Tensor& input, at::Tensor residual, const Activation& activation,
                 ResidualAdd where = ResidualAdd::BeforeActivation, double residualScale = 1.0,
                 const at::Tensor& second = at::Tensor(), double secondScale = 1.0);
  /// The same through ATen ops: the fallback of run().
  at::Tensor runReference(const at::Tensor& input, const at::Tensor& residual, const Activation& activation,
                          ResidualAdd where = ResidualAdd::BeforeActivation, double residualScale = 1.0,
                          const at::Tensor& second = at::Tensor(), double secondScale = 1.0) const;
  /// Whether run() would use the oneDNN kernel for these arguments.
  bool kernelApplies(const at::Tensor& input, const at::Tensor& residual) const;
  /// The algorithm run() uses for `input` without post-ops at the current
  /// thread count: "winograd" (3x3 stride-1 2-D layers, one thread, unless
  /// TSOPT_CONV_ALGORITHM=direct), "direct" (channels-last; a contiguous
  /// input and result through oneDNN's reorders), "contiguous-gemm"
  /// (a pointwise 2-D or 3-D layer whose input is contiguous: oneDNN's sgemm on
  /// the NCHW tensors, no conversion to channels-last), "deconvolution"
  /// (transposed, TSOPT_CONV_KINDS=onednn), "sub-pixel" (a transposed layer as
  /// one ordinary convolution and an interleaving copy: subPixelTaps),
  /// "cropped " and the algorithm of the layer without the taps that read only
  /// padding for this input (croppedTaps), "aten (measured)" (ATen's
  /// convolution was measured faster on an earlier call: measured_choice.h),
  /// or "aten" (fallback).
  std::string algorithmFor(const at::Tensor& input);
  /// Whether run() takes ATen's convolution, or the sub-pixel form, for every
  /// input: a float32 CPU transposed or 1-D layer, unless TSOPT_CONV_KINDS=onednn
  /// (set when the layer is packed). Either computes on the input's own layout.
  bool runsAtenConvolution() const;
  /// Whether run() computes the transposed layer in its sub-pixel form.
  bool runsSubPixel() const { return subPixel_ != nullptr; }

  State state() const;

  /// The layer as given (on its device), for the CUDA kernels (runtime/cuda/).
  /// The weight is (out, in); in float32 on a GPU its storage is column-major
  /// (a transposed view of (in, out) memory), elsewhere contiguous.
  const at::Tensor& weight() const { return weight_; }
  const c10::optional<at::Tensor>& bias() const { return bias_; }
  const Conv2dParams& params() const { return params_; }
  /// 1, 2 or 3.
  int64_t spatialRank() const { return weight_.dim() - 2; }
  /// The weight in channels-last layout, made once for a CUDA weight (cuDNN
  /// runs NHWC convolutions on it); undefined for a CPU weight.
  const at::Tensor& channelsLastWeight() const { return channelsLastWeight_; }

private:
  struct Kernel;
  /// run() for a blocked input.
  at::Tensor runBlocked(const at::Tensor& input, at::Tensor residual, const Activation& activation, ResidualAdd where,
                        double residualScale, const at::Tensor& second, double secondScale);
  /// run() for a transposed layer in its sub-pixel form.
  at::Tensor runSubPixel(const at::Tensor& input, const at::Tensor& residual, const Activation& activation,
                         ResidualAdd where, double residualScale, const at::Tensor& second, double secondScale);

  at::Tensor weight_;
  c10::optional<at::Tensor> bias_;
  Conv2dParams params_;
  at::Tensor channelsLastWeight_;
  std::unique_ptr<Kernel> kernel_;
  /// The ordinary convolution of the sub-pixel form (subPixelTaps), if the layer takes it.
  std::unique_ptr<ConvPacked> subPixel_;
  /// The layer without the taps that read only padding for an input size (croppedTaps), or null
  /// when every tap reads the input; made on the first call of each input size.
  ConvPacked* croppedFor(at::IntArrayRef inputSizes);
  /// Whether ATen's convolution runs the layer for this input: a dilated 2-D
  /// layer most of whose taps read padding, where ATen skips them (kAtenBelowInputTapFraction).
  bool paddingFavoursAten(at::IntArrayRef inputSizes) const;
  std::mutex croppedMutex_;
  std::map<std::vector<int64_t>, std::unique_ptr<ConvPacked>> cropped_;
};

/// The taps of a convolution that read the input at all, for an input of
/// `inputSizes`: per spatial dimension the first and last such tap, {lo0,
/// hi0, lo1, hi1, ...}; empty when every tap does, or when dropping the others
/// would leave uneven padding. A tap k reads input rows k * dilation - padding
/// + o * stride for the outputs o; where all of them fall in the zero padding
/// (a dilated layer whose dilation outgrows the image: DeepLabV3's ASPP, rate
/// 36 on a 28x28 map, keeps its centre tap only; a 3x3 layer on a 1x1 map),
/// the tap adds nothing and the layer without it (padding lowered by lo *
/// dilation on both sides) computes the same result with less work.
/// Non-transposed layers only.
std::vector<int64_t> croppedTaps(at::IntArrayRef inputSizes, at::IntArrayRef weightSizes, const Conv2dParams& params);

/// The share of a convolution's multiply-adds whose input is not padding:
/// per spatial dimension, the (tap, output) pairs that read the input over
/// all of them, multiplied over the dimensions (1 for a layer without padding).
double inputTapFraction(at::IntArrayRef inputSizes, at::IntArrayRef weightSizes, const Conv2dParams& params);

/// Below this share (inputTapFraction) a dilated 2-D layer without groups
/// runs ATen's convolution where that skips the padding
/// (compat::kAtenConvolutionSkipsPadding): oneDNN 2.6's dilated direct kernel
/// spends the time of every tap. Undilated layers keep tsopt's kernel (a 3x3
/// layer with padding 1 on a 7x7 map has a share of 0.82, and no measurement
/// says ATen wins there), and so do 3-D layers (not measured). Measured on an
/// AVX2 core, one thread, ATen against tsopt's kernel: DeepLabV3's ASPP
/// (2048 -> 256, 3x3 on 28x28) at rate 12 (share 0.51) 58 against 132 ms, rate
/// 24 (0.18) 28 against 145 ms; 512 channels at dilation 4 (0.82) 47 against
/// 59 ms; at dilation 2 (0.91) 57 against 45 ms, 256 channels at dilation 2
/// (0.91) level. Depthwise layers stay on tsopt's kernel (960 channels, 5x5,
/// dilation 2 on 14x14, share 0.69: 0.37 against ATen's 0.57 ms).
constexpr double kAtenBelowInputTapFraction = 0.85;

/// The sub-pixel form of a transposed convolution with stride s and kernel k
/// (per dimension): output position o = s * q + phase - padding takes the taps
/// phase + s * j of the input at q - j, so the s^d phases are s^d ordinary
/// convolutions over the input, each with K = ceil(k / s) taps a dimension
/// (those past k are zero), computed as one convolution with out * s^d
/// channels, stride 1, padding K - 1, and interleaved into the output.
/// Returns K per dimension where the form applies and pays, else empty. The
/// cost rule: a 2-D or 3-D float32 layer, dilation 1, a stride above 1; the
/// zero taps at most as many as the real ones (prod(K * s) <= 2 prod(k): the
/// direct kernel does at most twice the layer's products, where ATen's
/// slow_conv_transpose does its products as a gemm and then scatters
/// out * k^d values per input position in a scalar col2im); and every output
/// position inside the computed grid (k + output padding - padding <= K * s).
std::vector<int64_t> subPixelTaps(at::IntArrayRef weightSizes, const Conv2dParams& params);

/// The ordinary convolution's weight and bias for subPixelTaps' form: weight
/// (out * s^d, in / groups, K...), output channels ordered (group, phase,
/// channel in the group) with phases in row-major order, the transposed taps
/// gathered and flipped; the bias repeated s^d times in that order.
std::pair<at::Tensor, c10::optional<at::Tensor>> subPixelWeights(const at::Tensor& weight,
                                                                 const c10::optional<at::Tensor>& bias,
                                                                 const Conv2dParams& params,
                                                                 at::IntArrayRef taps);

class LinearPacked final : public torch::CustomClassHolder {
public:
  /// What pickling stores: format version, weight, bias.
  using State = std::tuple<int64_t, at::Tensor, c10::optional<at::Tensor>>;

  /// Throws c10::Error when the weight is not 2-D or the bias does not fit it.
  LinearPacked(at::Tensor weight, c10::optional<at::Tensor> bias);
  explicit LinearPacked(const State& state);
  ~LinearPacked() override;

  /// activation(linear(input) [+ residual]) for an input of shape (..., in_features);
  /// residual, `where`, the scales and `second` as for ConvPacked::run.
  at::Tensor run(const at::Tensor& input, at::Tensor residual, const Activation& activation,
                 ResidualAdd where = ResidualAdd::BeforeActivation, double residualScale = 1.0,
                 const at::Tensor& second = at::Tensor(), double secondScale = 1.0);
  at::Tensor runReference(const at::Tensor& input, const at::Tensor& residual, const Activation& activation,
                          ResidualAdd where = ResidualAdd::BeforeActivation, double residualScale = 1.0,
                          const at::Tensor& second = at::Tensor(), double secondScale = 1.0) const;
  bool kernelApplies(const at::Tensor& input, const at::Tensor& residual) const;
  /// The kernel run() uses for `input` with activation none:
  ///  - "panel-gemm" (runtime/packed_gemm.h), unless TSOPT_LINEAR_GEMM is set:
  ///    1 to 32 rows on a CPU with AVX-512 (unless ONEDNN_MAX_CPU_ISA holds
  ///    the kernels below it), 1 to 256 where the LibTorch carries MKL and
  ///    the CPU is not Intel's; with AVX2 only, 2 to 24 rows, or 2 to 64
  ///    where the LibTorch carries MKL and the CPU is not Intel's (none on
  ///    Intel CPUs with MKL). Its pack serves every row count;
  ///  - "mkl-packed-sgemm" where the LibTorch carries MKL (unless
  ///    TSOPT_LINEAR_GEMM=onednn): 8 rows or more, or fewer on a weight of at
  ///    most 128 KiB; for up to 4 distinct row counts per layer, each its own
  ///    pack (beside the panel pack where the layer also ran few rows);
  ///  - "aten-addmm" without MKL: products of at most 256Ki multiply-adds on
  ///    such a weight (a residual only before the activation);
  ///  - "onednn-matmul" (32 rows or more), "onednn-inner-product", or "aten"
  ///    (the fallback).
  std::string algorithmFor(const at::Tensor& input) const;

  State state() const;

  /// The layer as given (on its device), for the CUDA kernels (runtime/cuda/).
  /// The weight is (out, in); in float32 on a GPU its storage is column-major
  /// (a transposed view of (in, out) memory), elsewhere contiguous.
  const at::Tensor& weight() const { return weight_; }
  const c10::optional<at::Tensor>& bias() const { return bias_; }

private:
  struct Kernel;
  at::Tensor weight_;
  c10::optional<at::Tensor> bias_;
  std::unique_ptr<Kernel> kernel_;
};

/// tsopt.QConvPacked: a static int8 2-D convolution (runtime/qconv_packed.cpp).
/// It holds int8 weights with one scale per output channel (symmetric: zero
/// point 0), a float32 bias and the parameters, which is all it pickles. run()
/// takes a PyTorch quint8 per-tensor input and returns quint8 at the scale and
/// zero point it is given, channels-last, as quantized::conv2d does: one oneDNN
/// u8 x s8 primitive computes
///   quantize(activation(clamp(conv2d(dequantize(input), weight) + bias, range) [+ dequantize(residual)]),
///            out_scale, out_zero_point)
/// where `range` is what uint8 at the convolution's own scale and zero point
/// covers (the unfused chain saturates there before its activation or
/// quantized::add), the residual a quint8 tensor of the output's sizes (a sum
/// post-op with its scale and zero point), with the
/// activation applied to the float32 result (output scales, clip and eltwise
/// post-ops, then a linear post-op and uint8 saturation requantize), so the
/// activations PyTorch runs in float32 between dequantize and quantize_per_tensor
/// (SiLU, sigmoid) stay inside the int8 chain. Other inputs (not quint8
/// per-tensor, not on the CPU, needing autograd, empty) take runReference.
class QConvPacked final : public torch::CustomClassHolder {
public:
  /// What pickling stores: format version, int8 weight values, float64 weight
  /// scales (one per output channel), bias, stride, padding, dilation, groups.
  using State = std::tuple<int64_t, at::Tensor, at::Tensor, c10::optional<at::Tensor>, std::vector<int64_t>,
                           std::vector<int64_t>, std::vector<int64_t>, int64_t>;

  /// `weight` is a qint8 tensor quantized per tensor or per output channel
  /// with zero points 0, as PyTorch's int8 convolutions pack it. Throws
  /// c10::Error when it is not, or the parameters do not fit it.
  QConvPacked(const at::Tensor& weight, c10::optional<at::Tensor> bias, Conv2dParams params);
  explicit QConvPacked(const State& state);
  ~QConvPacked() override;

  /// The convolution's uint8 range and the output's parameters.
  struct Quantization {
    double convScale = 1.0;
    int64_t convZeroPoint = 0;
    double outScale = 1.0;
    int64_t outZeroPoint = 0;
  };

  /// No residual when it is undefined. Throws c10::Error for a non-positive
  /// scale, a zero point outside [0, 255] or a residual of other sizes than the output's.
  at::Tensor run(const at::Tensor& input, const at::Tensor& residual, const Activation& activation,
                 const Quantization& quantization);
  /// The same through ATen ops on dequantized values: the fallback of run().
  at::Tensor runReference(const at::Tensor& input, const at::Tensor& residual, const Activation& activation,
                          const Quantization& quantization) const;
  /// Whether run() uses the oneDNN kernel for `input` and `residual`.
  bool kernelApplies(const at::Tensor& input, const at::Tensor& residual) const;

  State state() const;

private:
  struct Kernel;
  at::Tensor weightValues_;  ///< int8, (out, in / groups, kh, kw), contiguous.
  at::Tensor weightScales_;  ///< float64, one per output channel.
  c10::optional<at::Tensor> bias_;
  Conv2dParams params_;
  std::unique_ptr<Kernel> kernel_;
};

} // namespace tsopt::runtime
