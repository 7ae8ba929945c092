//===- qconv_packed.cpp - Static int8 convolution with requantizing post-ops ===//
//
// tsopt.QConvPacked (packed_layers.h) on oneDNN 2.x's int8 convolution: u8
// source with its zero point (a runtime argument, as the x64 kernels want
// it), s8 weights reordered once per layout, and per output channel
//   conv[c] = clip(scale[c] * (acc_s32 + bias'[c]), conv range)
//   dst_u8 = saturate(round(act(conv[c] [+ res_scale * (res_u8 - res_zero)]) / out_scale + out_zero))
// where scale[c] = in_scale * weight_scale[c] (output scales) and bias' the
// float32 bias in accumulator units (oneDNN adds the bias before the output
// scales); a clip post-op saturates to the convolution's own uint8 range
// first, a residual (quantized::add) is a sum post-op with the residual's
// scale and zero point over a destination that holds the residual's uint8
// values, the activation is an eltwise post-op and the requantization an
// eltwise_linear post-op, so the result leaves the primitive as uint8.
//
// Zero points are folded where that is exact, because oneDNN 2.6 runs its
// brgemm convolutions (AMX, AVX-512 VNNI) only without them and falls back to
// jit kernels 2x slower (MobileNetV2 on an AMX Xeon, ONEDNN_VERBOSE): without
// padding every output reads real input pixels only, so the source zero point
// becomes -zp * sum(w[c]) in the bias; a padded convolution gets there by
// padding its uint8 input explicitly with the zero point (a scratch copy) and
// running unpadded (sourcePaddedExplicitly has the rule); with no activation
// after the residual, its zero point moves into the requantization's shift.
//
// The requantization folds into the output scales where nothing after it
// needs a shift and everything before it commutes with a positive factor
// (none, relu, clamp with its bounds scaled; a clip and a sum scaled alike):
// scale[c] / out_scale, no eltwise_linear. oneDNN 2.6's int8 kernels then run
// one post-op fewer per output (6-11% on ResNet-50's int8 convolutions at
// batch 1 in benchmarks/onednn_version_probe.cpp); results move by float
// rounding only.
//
//===----------------------------------------------------------------------===//
#include "runtime/onednn_common.h"
#include "runtime/packed_layers.h"

#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <ATen/quantized/Quantizer.h>
#include <c10/util/Exception.h>
#include <c10/util/hash.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

namespace tsopt::runtime {
namespace {

using Format = dnnl::memory::format_tag;
using DataType = dnnl::memory::data_type;
constexpr int64_t kStateVersion = 1;

/// A problem of the int8 kernel: the float kernels' key and the input's and
/// output's quantization, which the primitive's attributes bake in.
struct QuantizedProblemKey {
  ProblemKey problem;
  double inputScale = 0.0;
  int64_t inputZeroPoint = 0;
  QConvPacked::Quantization output;
  double residualScale = 0.0;  ///< 0 without a residual.
  int64_t residualZeroPoint = 0;

  bool operator==(const QuantizedProblemKey& other) const {
    return problem == other.problem && inputScale == other.inputScale && inputZeroPoint == other.inputZeroPoint &&
           residualScale == other.residualScale && residualZeroPoint == other.residualZeroPoint &&
           output.convScale == other.output.convScale && output.convZeroPoint == other.output.convZeroPoint &&
           output.outScale == other.output.outScale && output.outZeroPoint == other.output.outZeroPoint;
  }
};

struct QuantizedProblemKeyHash {
  size_t operator()(const QuantizedProblemKey& key) const {
    return c10::get_hash(ProblemKeyHash()(key.problem), key.inputScale, key.inputZeroPoint, key.residualScale,
                         key.residualZeroPoint, key.output.convScale, key.output.convZeroPoint, key.output.outScale,
                         key.output.outZeroPoint);
  }
};

/// The float32 range uint8 covers at `scale` and `zeroPoint`.
std::pair<double, double> uint8Range(double scale, int64_t zeroPoint) {
  return {scale * static_cast<double>(-zeroPoint), scale * static_cast<double>(255 - zeroPoint)};
}

/// Whether saturating to the convolution's range before the activation can
/// change the result: not for none, relu and clamp requantized at the
/// convolution's own parameters (the output saturates to the same range)
/// without a residual added in between.
bool needsConvRangeClip(const QuantizedProblemKey& key) {
  const ActivationKind kind = key.problem.activation.kind;
  const QConvPacked::Quantization& quantization = key.output;
  const bool monotoneClamp = kind == ActivationKind::None || kind == ActivationKind::Relu ||
                             kind == ActivationKind::Clamp;
  const bool sameRange = quantization.convScale == quantization.outScale &&
                         quantization.convZeroPoint == quantization.outZeroPoint;
  return key.problem.residual != ResidualAdd::None || !(monotoneClamp && sameRange);
}

bool hasPadding(const Conv2dParams& params) {
  return std::any_of(params.padding.begin(), params.padding.end(), [](int64_t pad) { return pad != 0; });
}

/// Whether a padded convolution with a non-zero source zero point runs on a copy of its input padded with the zero
/// point, without oneDNN's padding: then its zero point folds into the bias as an unpadded one's does, and oneDNN
/// 2.6 takes its brgemm kernels (brgconv, brdgmm_dw) instead of the jit ones with a runtime zero point. The copy
/// costs a pass over the input, and the jit kernels are not 2x slower on these shapes: per layer (one
/// tsopt::qconv2d_act at batch 1, 1 thread, thread CPU time, Xeon with AMX, old/new in alternating processes) the
/// copy paid on ResNet's 7x7 stem (3 -> 64, 224: 1.07-1.12x) and on depthwise layers of at most 28x28
/// (1.05-1.29x), and lost on inputs of 200-450 KiB (depthwise 32 @ 112 and 144 @ 56, 0.84x; dense 3x3 64 @ 56,
/// 0.91x) and on MobileNetV2's 3x3 stem (3 -> 32, stride 2, 72 multiply-adds per input byte: 0.94x). With 2
/// threads (wall clock) brdgmm_dw lost on those same depthwise layers (0.81-0.89x) and the stem broke even. The
/// rule: at most 160 KiB of input per image, and a depthwise convolution on one thread or 256 multiply-adds per
/// input byte or more.
bool padsSourceExplicitly(const QuantizedProblemKey& key, const Conv2dParams& params, at::IntArrayRef weightSizes) {
  if (key.inputZeroPoint == 0 || !hasPadding(params)) {
    return false;
  }
  const std::array<int64_t, 5>& input = key.problem.shape;
  const int64_t imageBytes = input[1] * input[2] * input[3];
  const bool depthwise = params.groups == input[1] && weightSizes[1] == 1;
  const int64_t macsPerByte =
      weightSizes[0] / params.groups * weightSizes[2] * weightSizes[3] / (params.stride[0] * params.stride[1]);
  return imageBytes <= 160 * 1024 && ((depthwise && key.problem.threads == 1) || macsPerByte >= 256);
}

/// Whether the source zero point folds into the bias: sum((x - zp) * w) = sum(x * w) - zp * sum(w) at every output
/// that reads real input pixels only, so without padding or with the input padded explicitly with zp (oneDNN's
/// borders would read zeros where the kernel must read the zero point).
bool foldsSourceZeroPoint(const QuantizedProblemKey& key, const Conv2dParams& params, at::IntArrayRef weightSizes) {
  return key.inputZeroPoint != 0 && (!hasPadding(params) || padsSourceExplicitly(key, params, weightSizes));
}

/// `input` [N, C, H, W] (quint8, channels-last) padded by `padding` (top/bottom, left/right) with its zero point,
/// channels-last, in a buffer of the calling thread that only grows (a fresh allocation per call costs page
/// faults) and stays valid until its next call.
uint8_t* padWithZeroPoint(const at::Tensor& input, at::IntArrayRef padding) {
  const int64_t n = input.size(0), channels = input.size(1), height = input.size(2), width = input.size(3);
  const int64_t padTop = padding[0], padLeft = padding[1];
  const int64_t paddedHeight = height + 2 * padTop, paddedWidth = width + 2 * padLeft;
  thread_local std::vector<uint8_t> buffer;
  buffer.resize(std::max(buffer.size(), static_cast<size_t>(n * paddedHeight * paddedWidth * channels)));
  const auto fill = static_cast<uint8_t>(input.q_zero_point());
  const auto* from = static_cast<const uint8_t*>(input.data_ptr());
  uint8_t* to = buffer.data();
  const int64_t rowBytes = width * channels, paddedRowBytes = paddedWidth * channels;
  const int64_t sideBytes = padLeft * channels;
  // One padded row per index: all zero point above and below the input, its row between two borders inside.
  at::parallel_for(0, n * paddedHeight, 64, [&](int64_t begin, int64_t end) {
    for (int64_t index = begin; index < end; ++index) {
      const int64_t image = index / paddedHeight, row = index % paddedHeight - padTop;
      uint8_t* out = to + index * paddedRowBytes;
      if (row < 0 || row >= height) {
        std::memset(out, fill, paddedRowBytes);
        continue;
      }
      std::memset(out, fill, sideBytes);
      std::memcpy(out + sideBytes, from + (image * height + row) * rowBytes, rowBytes);
      std::memset(out + sideBytes + rowBytes, fill, sideBytes);
    }
  });
  return to;
}

/// Whether `residual` (quint8, the output's sizes) can become the output: channels-last and dense, and no other
/// reference to it or its storage, so that no one can see it change.
bool isLastReference(const at::Tensor& residual) {
  return residual.use_count() == 1 && residual.storage().use_count() == 1 && residual.storage_offset() == 0 &&
         residual.is_contiguous(at::MemoryFormat::ChannelsLast) && !residual.requires_grad();
}

/// Whether the residual's zero point moves into the requantization: nothing between the sum and the final
/// linear post-op, so scale * (r - zp) there is scale * r with -scale * zp in the linear's shift.
bool foldsResidualZeroPoint(const QuantizedProblemKey& key) {
  return key.problem.activation.kind == ActivationKind::None;
}

/// Whether an activation commutes with a positive factor f: act(f * x) = f * act'(x), where act' is act with its
/// bounds scaled by f (clamp) or act itself.
bool scalesThrough(const Activation& activation) {
  return activation.kind == ActivationKind::None || activation.kind == ActivationKind::Relu ||
         activation.kind == ActivationKind::Clamp;
}

/// `activation` applied to values scaled by `factor`: clamp's bounds scaled.
Activation scaledActivation(Activation activation, double factor) {
  if (activation.kind == ActivationKind::Clamp) {
    activation.alpha *= factor;
    activation.beta *= factor;
  }
  return activation;
}

/// A qint8 weight's int8 values.
at::Tensor weightValues(const at::Tensor& weight) {
  TORCH_CHECK(weight.dim() == 4 && weight.scalar_type() == at::kQInt8,
              "tsopt.QConvPacked: expected a 4-D qint8 weight, got ", weight.dim(), "-D ", weight.scalar_type());
  return weight.int_repr().contiguous();
}

/// The per-channel scales of a qint8 weight; its zero points must be 0 (oneDNN takes symmetric weights).
at::Tensor symmetricWeightScales(const at::Tensor& weight) {
  const at::QScheme scheme = weight.qscheme();
  if (scheme == at::kPerTensorAffine || scheme == at::kPerTensorSymmetric) {
    TORCH_CHECK(weight.q_zero_point() == 0, "tsopt.QConvPacked: the weight's zero point must be 0, got ",
                weight.q_zero_point());
    return at::full({weight.size(0)}, weight.q_scale(), at::kDouble);
  }
  TORCH_CHECK((scheme == at::kPerChannelAffine || scheme == at::kPerChannelSymmetric) &&
                  weight.q_per_channel_axis() == 0,
              "tsopt.QConvPacked: the weight must be quantized per tensor or per output channel");
  TORCH_CHECK(weight.q_per_channel_zero_points().eq(0).all().item<bool>(),
              "tsopt.QConvPacked: the weight's zero points must be 0");
  return weight.q_per_channel_scales().to(at::kDouble).contiguous();
}

/// A prepared int8 convolution with what its attributes refer to.
struct QConvPrimitive : PreparedPrimitive<dnnl::convolution_forward> {
  at::Tensor bias;  ///< float32, in accumulator units; undefined without a bias.
  dnnl::memory biasMemory;
  at::Tensor sourceZeroPoint;  ///< int32 [1]; undefined for zero point 0.
  dnnl::memory sourceZeroPointMemory;
  bool padSource = false;  ///< The source runs padded with its zero point (padWithZeroPoint), src its padded sizes.
};

} // namespace

/// The oneDNN side of QConvPacked.
struct QConvPacked::Kernel {
  Kernel(const at::Tensor& values, int64_t groups)
      : weights(values, dnnl::memory::desc(convWeightDims(values.sizes(), groups), DataType::s8,
                                           groups == 1 ? Format::oihw : Format::goihw)) {}

  QConvPrimitive prepare(const QConvPacked& layer, at::IntArrayRef inputSizes, at::IntArrayRef outSizes,
                         const QuantizedProblemKey& key) {
    const at::Tensor& values = layer.weightValues_;
    const Conv2dParams& params = layer.params_;
    // scales[c] takes the accumulator to float32 (the bias is in its units); the output scales may also divide by
    // the output's scale, the requantization folded.
    at::Tensor scales = layer.weightScales_.mul(key.inputScale).to(at::kFloat).contiguous();
    const bool residualShift = key.problem.residual != ResidualAdd::None && foldsResidualZeroPoint(key);
    double requantizeShift = static_cast<double>(key.output.outZeroPoint);
    if (residualShift) {
      requantizeShift -= key.residualScale * static_cast<double>(key.residualZeroPoint) / key.output.outScale;
    }
    const bool foldRequantize = requantizeShift == 0.0 && scalesThrough(key.problem.activation);
    const double factor = foldRequantize ? 1.0 / key.output.outScale : 1.0;
    at::Tensor outputScales = layer.weightScales_.mul(key.inputScale * factor).to(at::kFloat).contiguous();
    dnnl::primitive_attr attr;
    attr.set_output_scales(1 << 1, std::vector<float>(outputScales.data_ptr<float>(),
                                                      outputScales.data_ptr<float>() + outputScales.numel()));
    const bool foldSourceZeroPoint = foldsSourceZeroPoint(key, params, values.sizes());
    const bool padSource = padsSourceExplicitly(key, params, values.sizes());
    if (key.inputZeroPoint != 0 && !foldSourceZeroPoint) {
      attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    }
    dnnl::post_ops ops;
    if (needsConvRangeClip(key)) {
      auto [lower, upper] = uint8Range(key.output.convScale, key.output.convZeroPoint);
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, static_cast<float>(lower * factor),
                         static_cast<float>(upper * factor));
    }
    if (key.problem.residual != ResidualAdd::None) {
      const auto sumScale = static_cast<float>(key.residualScale * factor);
      if (residualShift) {
        ops.append_sum(sumScale);
      } else {
        ops.append_sum(sumScale, static_cast<int32_t>(key.residualZeroPoint));
      }
    }
    appendActivation(ops, scaledActivation(key.problem.activation, factor));
    if (!foldRequantize) {
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, static_cast<float>(1.0 / key.output.outScale),
                         static_cast<float>(requantizeShift));
    }
    attr.set_post_ops(ops);
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);

    QConvPrimitive prepared;
    prepared.padSource = padSource;
    dnnl::memory::dims srcDims = dimsOf(inputSizes);
    dnnl::memory::dims padding = dimsOf(params.padding);
    if (padSource) {
      srcDims[2] += 2 * padding[0];
      srcDims[3] += 2 * padding[1];
      padding = {0, 0};
    }
    prepared.src = dnnl::memory::desc(srcDims, DataType::u8, Format::nhwc);
    prepared.dst = dnnl::memory::desc(dimsOf(outSizes), DataType::u8, Format::nhwc);
    dnnl::memory::desc anyWeights(convWeightDims(values.sizes(), params.groups), DataType::s8, Format::any);
    dnnl::memory::desc biasDesc;
    if (layer.bias_ || foldSourceZeroPoint) {
      biasDesc = dnnl::memory::desc({values.size(0)}, DataType::f32, Format::a);
      prepared.bias = layer.bias_ ? layer.bias_->to(at::kFloat).div(scales) : at::zeros({values.size(0)}, at::kFloat);
      if (foldSourceZeroPoint) {
        at::Tensor weightSums = values.to(at::kDouble).sum({1, 2, 3});
        prepared.bias.sub_(weightSums.mul(static_cast<double>(key.inputZeroPoint)).to(at::kFloat));
      }
      prepared.bias = prepared.bias.contiguous();
      prepared.biasMemory = viewAsMemory(prepared.bias, biasDesc);
    }
    dnnl::memory::dims dilation{params.dilation[0] - 1, params.dilation[1] - 1};
    dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                         prepared.src, anyWeights, biasDesc, prepared.dst, dimsOf(params.stride),
                                         dilation, padding, padding);
    dnnl::convolution_forward::primitive_desc pd(desc, attr, cpuEngine());
    prepared.primitive = dnnl::convolution_forward(pd);
    prepared.weights = weights.in(pd.weights_desc());
    prepared.scratchpad = pd.scratchpad_desc();
    if (key.inputZeroPoint != 0 && !foldSourceZeroPoint) {
      prepared.sourceZeroPoint = at::full({1}, key.inputZeroPoint, at::kInt);
      prepared.sourceZeroPointMemory =
          viewAsMemory(prepared.sourceZeroPoint, dnnl::memory::desc({1}, DataType::s32, Format::a));
    }
    return prepared;
  }

  PackedWeights weights;
  PrimitiveCache<QConvPrimitive, QuantizedProblemKey, QuantizedProblemKeyHash> primitives;
};

QConvPacked::QConvPacked(const at::Tensor& weight, c10::optional<at::Tensor> bias, Conv2dParams params)
    // List-initialization evaluates left to right: weightValues checks the weight first.
    : QConvPacked(State{kStateVersion, weightValues(weight), symmetricWeightScales(weight), std::move(bias), std::move(params.stride),
                        std::move(params.padding), std::move(params.dilation), params.groups}) {}

QConvPacked::QConvPacked(const State& state)
    : weightValues_(std::get<1>(state)), weightScales_(std::get<2>(state)), bias_(std::get<3>(state)),
      params_{std::get<4>(state), std::get<5>(state), std::get<6>(state), std::get<7>(state)} {
  TORCH_CHECK(std::get<0>(state) == kStateVersion, "tsopt.QConvPacked: unknown serialized format version ",
              std::get<0>(state));
  TORCH_CHECK(weightValues_.dim() == 4 && weightValues_.scalar_type() == at::kChar && weightValues_.is_contiguous(),
              "tsopt.QConvPacked: expected contiguous 4-D int8 weight values");
  TORCH_CHECK(weightScales_.dim() == 1 && weightScales_.size(0) == weightValues_.size(0) &&
                  weightScales_.scalar_type() == at::kDouble,
              "tsopt.QConvPacked: expected one float64 weight scale per output channel");
  checkConv2dParams("tsopt.QConvPacked", weightValues_.size(0), params_);
  TORCH_CHECK(!bias_ || (bias_->dim() == 1 && bias_->size(0) == weightValues_.size(0) && isPlainFloat(*bias_)),
              "tsopt.QConvPacked: the bias needs one float32 value per output channel");
  if (weightValues_.device().is_cpu()) {
    kernel_ = std::make_unique<Kernel>(weightValues_, params_.groups);
  }
}

QConvPacked::~QConvPacked() = default;

QConvPacked::State QConvPacked::state() const {
  return State{kStateVersion,   weightValues_,   weightScales_,     bias_,
               params_.stride, params_.padding, params_.dilation, params_.groups};
}

namespace {

/// Whether `tensor` is what the kernel reads: quint8 per tensor on the CPU.
bool isUint8PerTensor(const at::Tensor& tensor) {
  return tensor.defined() && tensor.device().is_cpu() && tensor.scalar_type() == at::kQUInt8 &&
         tensor.qscheme() == at::kPerTensorAffine;
}

} // namespace

bool QConvPacked::kernelApplies(const at::Tensor& input, const at::Tensor& residual) const {
  if (!kernel_ || !isUint8PerTensor(input) || input.dim() != 4 || input.numel() == 0 ||
      input.size(1) != weightValues_.size(1) * params_.groups) {
    return false;
  }
  std::vector<int64_t> outSizes = conv2dOutputSizes(input.sizes(), weightValues_.sizes(), params_);
  return outSizes[2] > 0 && outSizes[3] > 0 && (!residual.defined() || isUint8PerTensor(residual));
}

at::Tensor QConvPacked::runReference(const at::Tensor& input, const at::Tensor& residual,
                                     const Activation& activation, const Quantization& quantization) const {
  auto dequantized = [](const at::Tensor& tensor) { return tensor.is_quantized() ? tensor.dequantize() : tensor; };
  at::Tensor weight = weightValues_.to(at::kFloat).mul(weightScales_.to(at::kFloat).view({-1, 1, 1, 1}));
  at::Tensor result = at::conv2d(dequantized(input), weight, bias_, params_.stride, params_.padding,
                                 params_.dilation, params_.groups);
  auto [lower, upper] = uint8Range(quantization.convScale, quantization.convZeroPoint);
  result = result.clamp(lower, upper);
  if (residual.defined()) {
    result = result.add(dequantized(residual));
  }
  return at::quantize_per_tensor(applyActivation(result, activation), quantization.outScale,
                                 quantization.outZeroPoint, at::kQUInt8)
      .contiguous(at::MemoryFormat::ChannelsLast);
}

at::Tensor QConvPacked::run(const at::Tensor& input, const at::Tensor& residual, const Activation& activation,
                            const Quantization& quantization) {
  for (auto [scale, zeroPoint] : {std::pair(quantization.convScale, quantization.convZeroPoint),
                                  std::pair(quantization.outScale, quantization.outZeroPoint)}) {
    TORCH_CHECK(scale > 0.0 && zeroPoint >= 0 && zeroPoint <= 255,
                "tsopt::qconv2d_act: uint8 needs a positive scale and a zero point in [0, 255], got ", scale,
                " and ", zeroPoint);
  }
  if (residual.defined() && input.dim() == 4) {
    std::vector<int64_t> outSizes = conv2dOutputSizes(input.sizes(), weightValues_.sizes(), params_);
    TORCH_CHECK(residual.sizes() == at::IntArrayRef(outSizes), "tsopt::qconv2d_add_act: the residual has sizes ",
                residual.sizes(), ", the convolution's output ", at::IntArrayRef(outSizes));
  }
  // hardsigmoid's post-ops (linear, then clip to [0, 1]) before the requantizing linear come out as 0 or 1
  // from oneDNN 2.6's AVX2 int8 convolution (lit_tests/quantization/qconv2d-act.test): ATen's path.
  if (!kernelApplies(input, residual) || activation.kind == ActivationKind::Hardsigmoid) {
    return runReference(input, residual, activation, quantization);
  }
  at::Tensor src = input.contiguous(at::MemoryFormat::ChannelsLast);
  std::vector<int64_t> outSizes = conv2dOutputSizes(input.sizes(), weightValues_.sizes(), params_);
  QuantizedProblemKey key{{{input.size(0), input.size(1), input.size(2), input.size(3)},
                           at::get_num_threads(),
                           activation,
                           residual.defined() ? ResidualAdd::BeforeActivation : ResidualAdd::None},
                          input.q_scale(),
                          input.q_zero_point(),
                          quantization};
  at::Tensor dst;
  if (residual.defined()) {
    // The sum post-op reads the residual's uint8 values from the destination.
    key.residualScale = residual.q_scale();
    key.residualZeroPoint = residual.q_zero_point();
    if (isLastReference(residual)) {
      // Nothing else holds the residual or its storage (the interpreter moved its last use here): the result
      // overwrites it where it lies, as the float kernels' accumulatorFor does, with the output's parameters.
      // ResNet-50 at batch 1 copied 5.5 MB of residuals a forward otherwise.
      dst = residual;
      at::set_quantizer_(dst, at::make_per_tensor_affine_quantizer(quantization.outScale, quantization.outZeroPoint,
                                                                    at::kQUInt8));
    } else {
      dst = at::_empty_affine_quantized(outSizes, input.options(), quantization.outScale, quantization.outZeroPoint,
                                        at::MemoryFormat::ChannelsLast);
      at::Tensor values = residual.contiguous(at::MemoryFormat::ChannelsLast);
      std::memcpy(dst.data_ptr(), values.data_ptr(), values.numel());
    }
  } else {
    dst = at::_empty_affine_quantized(outSizes, input.options(), quantization.outScale, quantization.outZeroPoint,
                                      at::MemoryFormat::ChannelsLast);
  }
  auto prepared =
      kernel_->primitives.get(key, [&] { return kernel_->prepare(*this, input.sizes(), outSizes, key); });

  dnnl::memory srcMemory = prepared->padSource
                               ? dnnl::memory(prepared->src, cpuEngine(), padWithZeroPoint(src, params_.padding))
                               : viewAsMemory(src, prepared->src);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, srcMemory},
                                             {DNNL_ARG_WEIGHTS, prepared->weights},
                                             {DNNL_ARG_DST, viewAsMemory(dst, prepared->dst)}};
  if (prepared->bias.defined()) {
    args.emplace(DNNL_ARG_BIAS, prepared->biasMemory);
  }
  if (prepared->sourceZeroPoint.defined()) {
    args.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, prepared->sourceZeroPointMemory);
  }
  addScratchpad(prepared->scratchpad, args);
  prepared->primitive.execute(threadStream(), args);
  return dst;
}

} // namespace tsopt::runtime
