#include "passes/core/compat.h"
#include "runtime/measured_choice.h"
#include "runtime/onednn_common.h"
#include "runtime/output_pool.h"
#include "runtime/packed_layers.h"

#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <string>

namespace tsopt::runtime {
namespace {

using Format = dnnl::memory::format_tag;
using DataType = dnnl::memory::data_type;
constexpr int64_t kStateVersion = 2;
/// 2-D convolutions only, without output padding and transposed flag.
constexpr int64_t kFirstStateVersion = 1;

int64_t outputPaddingAt(const Conv2dParams& params, size_t dim) {
  return params.outputPadding.empty() ? 0 : params.outputPadding[dim];
}

} // namespace

std::vector<int64_t> conv2dOutputSizes(at::IntArrayRef input, at::IntArrayRef weight, const Conv2dParams& params) {
  std::vector<int64_t> sizes{input[0], params.transposed ? weight[1] * params.groups : weight[0]};
  for (size_t dim = 0; dim < params.stride.size(); ++dim) {
    const int64_t window = params.dilation[dim] * (weight[2 + dim] - 1);
    if (params.transposed) {
      int64_t extent = (input[2 + dim] - 1) * params.stride[dim] - 2 * params.padding[dim] + window +
                       outputPaddingAt(params, dim) + 1;
      sizes.push_back(extent < 0 ? 0 : extent);
      continue;
    }
    int64_t extent = input[2 + dim] + 2 * params.padding[dim] - window - 1;
    sizes.push_back(extent < 0 ? 0 : extent / params.stride[dim] + 1);
  }
  return sizes;
}

void checkConv2dParams(const char* owner, int64_t outChannels, const Conv2dParams& params) {
  const size_t rank = params.stride.size();
  TORCH_CHECK(rank >= 1 && rank <= 3 && params.padding.size() == rank && params.dilation.size() == rank &&
                  (params.outputPadding.empty() || params.outputPadding.size() == rank),
              owner, ": stride, padding, dilation and output padding need one value per spatial dimension (1 to 3)");
  TORCH_CHECK(params.groups >= 1 && outChannels % params.groups == 0, owner, ": ", outChannels,
              " channels do not split into ", params.groups, " groups");
  for (size_t dim = 0; dim < rank; ++dim) {
    TORCH_CHECK(params.stride[dim] >= 1 && params.dilation[dim] >= 1 && params.padding[dim] >= 0, owner,
                ": stride and dilation must be positive, padding non-negative");
    const int64_t outputPadding = outputPaddingAt(params, dim);
    TORCH_CHECK(outputPadding == 0 || (params.transposed && outputPadding > 0 &&
                                       (outputPadding < params.stride[dim] || outputPadding < params.dilation[dim])),
                owner, ": output padding must be non-negative, smaller than stride or dilation, and only transposed");
  }
}

std::vector<int64_t> subPixelTaps(at::IntArrayRef weightSizes, const Conv2dParams& params) {
  const size_t rank = params.stride.size();
  if (!params.transposed || rank < 2 || weightSizes.size() != rank + 2) {
    return {};
  }
  std::vector<int64_t> taps;
  int64_t computed = 1;
  int64_t real = 1;
  bool strided = false;
  for (size_t dim = 0; dim < rank; ++dim) {
    const int64_t kernel = weightSizes[2 + dim];
    const int64_t stride = params.stride[dim];
    if (params.dilation[dim] != 1 ||
        kernel + outputPaddingAt(params, dim) - params.padding[dim] > (kernel + stride - 1) / stride * stride) {
      return {};
    }
    taps.push_back((kernel + stride - 1) / stride);
    computed *= taps.back() * stride;
    real *= kernel;
    strided = strided || stride > 1;
  }
  if (!strided || computed > 2 * real) {
    return {};
  }
  return taps;
}

std::pair<at::Tensor, c10::optional<at::Tensor>> subPixelWeights(const at::Tensor& weight,
                                                                 const c10::optional<at::Tensor>& bias,
                                                                 const Conv2dParams& params, at::IntArrayRef taps) {
  const int64_t rank = static_cast<int64_t>(taps.size());
  const int64_t groups = params.groups;
  const int64_t inChannels = weight.size(0);
  const int64_t groupOut = weight.size(1);
  // Zero taps up to K * s a dimension (at::constant_pad_nd lists the last dimension first).
  std::vector<int64_t> pad;
  int64_t phases = 1;
  for (int64_t dim = rank - 1; dim >= 0; --dim) {
    pad.push_back(0);
    pad.push_back(taps[dim] * params.stride[dim] - weight.size(2 + dim));
    phases *= params.stride[dim];
  }
  // (g, in / g, out / g, K1, s1, ..., Kd, sd): tap phase + s * j at (j, phase).
  std::vector<int64_t> split{groups, inChannels / groups, groupOut};
  for (int64_t dim = 0; dim < rank; ++dim) {
    split.push_back(taps[dim]);
    split.push_back(params.stride[dim]);
  }
  at::Tensor gathered = at::constant_pad_nd(weight, pad).reshape(split);
  // -> (g, s1, ..., sd, out / g, in / g, K1, ..., Kd), taps flipped: the convolution's tap m is j = K - 1 - m.
  std::vector<int64_t> order{0};
  std::vector<int64_t> tapDims;
  for (int64_t dim = 0; dim < rank; ++dim) {
    order.push_back(4 + 2 * dim);
  }
  order.push_back(2);
  order.push_back(1);
  for (int64_t dim = 0; dim < rank; ++dim) {
    order.push_back(3 + 2 * dim);
    tapDims.push_back(3 + rank + dim);
  }
  std::vector<int64_t> sizes{groups * groupOut * phases, inChannels / groups};
  sizes.insert(sizes.end(), taps.begin(), taps.end());
  at::Tensor convWeight = gathered.permute(order).flip(tapDims).reshape(sizes).contiguous();
  c10::optional<at::Tensor> convBias;
  if (bias) {
    convBias = bias->view({groups, 1, groupOut}).expand({groups, phases, groupOut}).reshape({-1}).contiguous();
  }
  return {convWeight, convBias};
}

namespace {

/// What the kernel computes a 1-D convolution as: a 2-D one of height 1.
at::Tensor kernelWeight(const at::Tensor& weight) { return weight.dim() == 3 ? weight.unsqueeze(2) : weight; }

Conv2dParams kernelParams(Conv2dParams params) {
  if (params.stride.size() == 1) {
    params.stride.insert(params.stride.begin(), 1);
    params.padding.insert(params.padding.begin(), 0);
    params.dilation.insert(params.dilation.begin(), 1);
    params.outputPadding.insert(params.outputPadding.begin(), 0);
  }
  return params;
}

/// oneDNN's name for the layout of a PyTorch weight: (out, in / groups, k...),
/// or (in, out / groups, k...) transposed; `dims` is 4 or 5.
Format weightFormat(size_t dims, int64_t groups, bool transposed) {
  if (dims == 5) {
    return transposed ? (groups == 1 ? Format::iodhw : Format::giodhw) : (groups == 1 ? Format::oidhw : Format::goidhw);
  }
  return transposed ? (groups == 1 ? Format::iohw : Format::giohw) : (groups == 1 ? Format::oihw : Format::goihw);
}

/// Channels-last: how the kernel reads and writes activations, except where
/// contiguousLayoutPays, or where they arrive blocked (toBlockedChannels).
Format activationFormat(size_t dims) { return dims == 5 ? Format::ndhwc : Format::nhwc; }
Format contiguousFormat(size_t dims) { return dims == 5 ? Format::ncdhw : Format::nchw; }

int64_t channelBlocks(int64_t channels) { return (channels + kBlockedChannels - 1) / kBlockedChannels; }

/// A blocked activation's sizes, [N, ceil(C / 16), H, W, 16], for the plain sizes [N, C, H, W].
std::vector<int64_t> blockedSizes(at::IntArrayRef plain) {
  return {plain[0], channelBlocks(plain[1]), plain[2], plain[3], kBlockedChannels};
}
at::MemoryFormat channelsLastFormat(int64_t dims) {
  return dims == 5 ? at::MemoryFormat::ChannelsLast3d : at::MemoryFormat::ChannelsLast;
}

/// The ATen op for the layer: aten::convolution has no unbatched inputs.
at::Tensor atenConvolution(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                           const Conv2dParams& p) {
  if (p.transposed) {
    switch (weight.dim()) {
    case 3: return at::conv_transpose1d(input, weight, bias, p.stride, p.padding, p.outputPadding, p.groups, p.dilation);
    case 4: return at::conv_transpose2d(input, weight, bias, p.stride, p.padding, p.outputPadding, p.groups, p.dilation);
    default: return at::conv_transpose3d(input, weight, bias, p.stride, p.padding, p.outputPadding, p.groups, p.dilation);
    }
  }
  switch (weight.dim()) {
  case 3: return at::conv1d(input, weight, bias, p.stride, p.padding, p.dilation, p.groups);
  case 4: return at::conv2d(input, weight, bias, p.stride, p.padding, p.dilation, p.groups);
  default: return at::conv3d(input, weight, bias, p.stride, p.padding, p.dilation, p.groups);
  }
}

} // namespace

namespace {

/// The blocked kernels pay with at least two images per thread. oneDNN 2.6's
/// blocked depthwise kernel (jit_dw) splits the work by image first: on
/// MobileNetV2's layers all 51 after the stem are 1.19x faster than on NHWC at
/// batch 8 with one thread and 1.21x with two, but 1.05x at batch 1 with one
/// thread (no more than the conversions cost: level in the whole network) and
/// 0.99x with two (docs/fusion.md). Decided per call, like Winograd's thread
/// rule: the batch is known only here.
bool blockedLayoutPays(const at::Tensor& input) { return input.size(0) >= 2 * at::get_num_threads(); }

} // namespace

at::Tensor toBlockedChannels(const at::Tensor& input) {
  TORCH_CHECK(input.dim() == 4, "tsopt::to_blocked: expected a 4-D (N, C, H, W) tensor, got ", input.dim(), "-D");
  if (!blockedLayoutPays(input)) {
    // The chain runs channels-last, the layout propagate-layout gave it before
    // blocking it (to_blocked may stand where its channels-last conversion stood).
    return input.contiguous(at::MemoryFormat::ChannelsLast);
  }
  const std::vector<int64_t> sizes = blockedSizes(input.sizes());
  if (!isPlainFloat(input) || needsAutograd(input) || input.numel() == 0) {
    at::Tensor padded = at::constant_pad_nd(input, {0, 0, 0, 0, 0, sizes[1] * kBlockedChannels - input.size(1)});
    return padded.view({sizes[0], sizes[1], kBlockedChannels, sizes[2], sizes[3]}).permute({0, 1, 3, 4, 2}).contiguous();
  }
  const at::Tensor source = input.is_non_overlapping_and_dense() ? input : input.contiguous();
  at::Tensor blocked = emptyOutput(sizes, input.options(), at::MemoryFormat::Contiguous);
  const dnnl::memory::dims dims = dimsOf(input.sizes());
  dnnl::memory from = viewAsMemory(source, dnnl::memory::desc(dims, DataType::f32, dimsOf(source.strides())));
  dnnl::memory to = viewAsMemory(blocked, dnnl::memory::desc(dims, DataType::f32, Format::nChw16c));
  dnnl::reorder(from, to).execute(threadStream(), from, to);  // oneDNN's primitive cache keeps the reorder
  return blocked;
}

at::Tensor fromBlockedChannels(const at::Tensor& blocked, int64_t channels) {
  if (blocked.dim() == 4) {
    return blocked;  // to_blocked left the chain channels-last
  }
  TORCH_CHECK(blocked.dim() == 5 && blocked.size(4) == kBlockedChannels && channels > 0 &&
                  blocked.size(1) == channelBlocks(channels),
              "tsopt::from_blocked: expected an (N, ceil(", channels, " / 16), H, W, 16) tensor, got ",
              blocked.sizes());
  const std::vector<int64_t> sizes{blocked.size(0), channels, blocked.size(2), blocked.size(3)};
  if (!isPlainFloat(blocked) || needsAutograd(blocked) || !blocked.is_contiguous() || blocked.numel() == 0) {
    return blocked.permute({0, 1, 4, 2, 3})
        .reshape({sizes[0], blocked.size(1) * kBlockedChannels, sizes[2], sizes[3]})
        .narrow(1, 0, channels)
        .contiguous(at::MemoryFormat::ChannelsLast);
  }
  at::Tensor plain = emptyOutput(sizes, blocked.options(), at::MemoryFormat::ChannelsLast);
  dnnl::memory from = viewAsMemory(blocked, dnnl::memory::desc(dimsOf(sizes), DataType::f32, Format::nChw16c));
  dnnl::memory to = viewAsMemory(plain, dnnl::memory::desc(dimsOf(sizes), DataType::f32, Format::nhwc));
  dnnl::reorder(from, to).execute(threadStream(), from, to);
  return plain;
}

/// A convolution or deconvolution primitive, or `unsupported` when oneDNN has
/// none for the problem (run() then takes the ATen path). Winograd convolutions
/// compute on oneDNN's blocked layout: `blocked` is then set, with the reorders
/// between the NHWC tensors the op exchanges and that layout.
struct ConvPrimitive : PreparedPrimitive<dnnl::primitive> {
  bool unsupported = false;
  /// `src` and `dst` are the contiguous layout (NCHW, NCDHW), not channels-last.
  bool contiguous = false;
  bool winograd = false;
  bool blocked = false;
  dnnl::memory::desc blockedSrc;
  dnnl::memory::desc blockedDst;
  dnnl::reorder srcToBlocked;
  dnnl::reorder dstToBlocked;    ///< An accumulator (compute()), for the sum post-op.
  /// The residual itself, for the sum post-op, scaled by what of its scale
  /// the post-op does not apply (2.6's AVX2 kernels: all of it): where the
  /// layer computes on another layout, this reorder is the only pass that
  /// reads the residual, so its scale costs no pass of its own.
  dnnl::reorder residualToBlocked;
  dnnl::reorder dstFromBlocked;
};

/// Whether 3x3 stride-1 convolutions may use Winograd (F(2x2, 3x3), oneDNN's
/// jit_fp32_wino_2x3): 1.8-2.4x faster than direct on ResNet's 3x3 layers at
/// float32 rounding-level differences (docs/fusion.md). TSOPT_CONV_ALGORITHM=direct turns it off.
bool winogradAllowed() {
  static const bool allowed = [] {
    const char* setting = std::getenv("TSOPT_CONV_ALGORITHM");
    return setting == nullptr || std::string(setting) != "direct";
  }();
  return allowed;
}

/// Winograd pays here with one thread only: with two, the NHWC <-> blocked
/// reorders around it (each its own OpenMP region) cost more than it saves
/// (ResNet-50's 3x3 layers, warm: 28x28 0.46 ms direct against 0.51 ms
/// Winograd with reorders; -O2 at batch 1, two threads: 21.9 ms direct, 22.5 ms
/// Winograd). With one thread it wins on every such layer (docs/fusion.md).
bool winogradPays(int threads) { return threads == 1; }

/// Nor on small images: with few output positions per weight the layer streams
/// its weights from memory, and Winograd's transformed weights are 16/9 as
/// large (a 512-channel 3x3 layer on 2x2 outputs, batch 2: 1.6 ms, 23 GFLOP/s,
/// against 1 ms direct). From 64 output positions on (8x8 at batch 1) it wins.
constexpr int64_t kWinogradMinOutputPositions = 64;

/// Where a convolution's input arrives contiguous (NCHW, NCDHW; propagate-layout
/// leaves a lone convolution between contiguous ops so), the kernel may run on
/// that layout instead of converting the input to channels-last and the
/// result back. oneDNN 2.6 runs a pointwise layer (1x1, stride 1, no padding,
/// one group) there as one sgemm on the tensors in place (gemm:jit): AVX2, one
/// thread, 48 -> 32 channels on 64x64: 134 us against 118 us channels-last
/// plus 153 us of conversions; 64 -> 256 on 56x56: 1050 against 848 + 475.
/// Any other layer is im2col and sgemm there (3x3, 64 channels on 56x56: 3145
/// against 1834 + 196 us), and 2.6's gemm convolution runs eltwise post-ops in
/// a slow loop (the 48 -> 32 layer with relu: 975 us), so those convert. A sum
/// post-op is fine. `weight` is the kernel's (4-D or 5-D).
bool contiguousLayoutPays(const at::Tensor& weight, const Conv2dParams& params, const Activation& activation) {
  if (params.transposed || params.groups != 1 || activation.kind != ActivationKind::None) {
    return false;
  }
  for (size_t dim = 0; dim < params.stride.size(); ++dim) {
    if (weight.size(2 + dim) != 1 || params.stride[dim] != 1 || params.padding[dim] != 0) {
      return false;
    }
  }
  return true;
}

bool winogradShape(const at::Tensor& weight, const Conv2dParams& params) {
  return params.groups == 1 && weight.size(2) == 3 && weight.size(3) == 3 && params.stride[0] == 1 &&
         params.stride[1] == 1 && params.dilation[0] == 1 && params.dilation[1] == 1;
}

dnnl::reorder reorderBetween(const dnnl::memory::desc& from, const dnnl::memory::desc& to) {
  return dnnl::reorder(dnnl::reorder::primitive_desc(cpuEngine(), from, cpuEngine(), to));
}

/// The layout a convolution's activations arrive and leave in.
enum class ActivationLayout {
  ChannelsLast,
  Contiguous,  ///< NCHW, NCDHW: see contiguousLayoutPays.
  Blocked,     ///< nChw16c in a plain (N, C / 16, H, W, 16) tensor: toBlockedChannels.
};

/// Whether oneDNN's implementation is one of its direct or Winograd kernels:
/// a gemm-based or reference one loses to ATen's convolution (or to another layout).
bool isOptimizedKernel(const std::string& implementation) {
  return implementation.find("gemm") == std::string::npos && implementation.rfind("ref", 0) != 0;
}

/// TSOPT_CONV_KINDS=onednn: transposed and 1-D layers run on oneDNN too
/// (read when a layer is packed, so a test can set it).
bool oneDnnForEveryKind() {
  const char* setting = std::getenv("TSOPT_CONV_KINDS");
  return setting != nullptr && std::string(setting) == "onednn";
}

/// The oneDNN side of a float32 convolution: the layer as the kernel sees it
/// (a 1-D convolution as 2-D), its weights in the layouts oneDNN asked for.
struct ConvPacked::Kernel {
  Kernel(const at::Tensor& layerWeight, const c10::optional<at::Tensor>& layerBias, const Conv2dParams& layerParams)
      : weight(kernelWeight(layerWeight)),
        params(kernelParams(layerParams)),
        outChannels(params.transposed ? weight.size(1) * params.groups : weight.size(0)),
        weights(weight.contiguous(),
                dnnl::memory::desc(convWeightDims(weight.sizes(), params.groups, params.transposed), DataType::f32,
                                   weightFormat(weight.dim(), params.groups, params.transposed))),
        bias(layerBias ? c10::optional<at::Tensor>(layerBias->contiguous()) : c10::nullopt),
        chooseLayout(params.transposed || layerWeight.dim() != 4),
        atenFaster((params.transposed || layerWeight.dim() == 3) && !oneDnnForEveryKind()) {
    if (bias) {
      biasMemory = viewAsMemory(*bias, biasDesc());
    }
  }

  dnnl::memory::desc biasDesc() const {
    return bias ? dnnl::memory::desc({outChannels}, DataType::f32, Format::a) : dnnl::memory::desc();
  }

  dnnl::memory::desc anyWeights() const {
    return dnnl::memory::desc(convWeightDims(weight.sizes(), params.groups, params.transposed), DataType::f32,
                              Format::any);
  }

  /// oneDNN counts dilation from 0.
  dnnl::memory::dims dilation() const {
    dnnl::memory::dims dims;
    for (int64_t extent : params.dilation) {
      dims.push_back(extent - 1);
    }
    return dims;
  }

  dnnl::convolution_forward::desc describe(dnnl::algorithm algorithm, const dnnl::memory::desc& src,
                                           const dnnl::memory::desc& dst) const {
    return dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, algorithm, src, anyWeights(),
                                           biasDesc(), dst, dimsOf(params.stride), dilation(), dimsOf(params.padding),
                                           dimsOf(params.padding));
  }

  /// PyTorch's output padding extends the end of each dimension; oneDNN's
  /// deconvolution has the same as a smaller (possibly negative) right padding.
  dnnl::deconvolution_forward::desc describeTransposed(const dnnl::memory::desc& src,
                                                       const dnnl::memory::desc& dst) const {
    dnnl::memory::dims paddingRight;
    for (size_t dim = 0; dim < params.padding.size(); ++dim) {
      paddingRight.push_back(params.padding[dim] - params.outputPadding[dim]);
    }
    return dnnl::deconvolution_forward::desc(dnnl::prop_kind::forward_inference,
                                             dnnl::algorithm::deconvolution_direct, src, anyWeights(), biasDesc(), dst,
                                             dimsOf(params.stride), dilation(), dimsOf(params.padding), paddingRight);
  }

  /// The primitive for `desc` with the post-ops, its weights packed; returns
  /// oneDNN's name for the implementation.
  template <typename Primitive, typename OperationDesc>
  std::string finish(ConvPrimitive& prepared, const OperationDesc& desc, const Activation& activation,
                     ResidualAdd residual) {
    using Desc = typename Primitive::primitive_desc;
    Desc pd = fusedPrimitiveDesc<Desc>(
        [&](const dnnl::primitive_attr& fused) { return Desc(desc, fused, cpuEngine()); }, activation, residual,
        prepared.sumScale, prepared.sumSeparately);
    prepared.primitive = Primitive(pd);
    prepared.weights = weights.in(pd.weights_desc());
    prepared.scratchpad = pd.scratchpad_desc();
    if (!chooseLayout) {
      prepared.dst = pd.dst_desc();
    } else if (pd.src_desc() != prepared.src || pd.dst_desc() != prepared.dst) {
      useBlockedLayout(prepared, pd.src_desc(), pd.dst_desc());
    }
    return pd.impl_info_str();
  }

  /// The primitive computes on `src` and `dst`, oneDNN's choice: reorders
  /// from and to the tensors the op exchanges (none where they are the same layout).
  static void useBlockedLayout(ConvPrimitive& prepared, const dnnl::memory::desc& src, const dnnl::memory::desc& dst) {
    prepared.blocked = src != prepared.src || dst != prepared.dst;
    if (!prepared.blocked) {
      return;
    }
    prepared.blockedSrc = src;
    prepared.blockedDst = dst;
    prepared.srcToBlocked = reorderBetween(prepared.src, src);
    prepared.dstToBlocked = reorderBetween(prepared.dst, dst);
    prepared.dstFromBlocked = reorderBetween(dst, prepared.dst);
  }

  /// Winograd for the 2-D layers it pays on; false when oneDNN has no
  /// Winograd implementation for the problem. It computes on oneDNN's blocked
  /// layout, reordering from and to `prepared`'s src and dst (channels-last or
  /// contiguous: either costs one reorder).
  bool prepareWinograd(ConvPrimitive& prepared, at::IntArrayRef inputSizes, at::IntArrayRef outSizes,
                       const Activation& activation, ResidualAdd residual) {
    if (params.transposed || inputSizes.size() != 4 || !winogradAllowed() || !winogradPays(at::get_num_threads()) ||
        !winogradShape(weight, params) || outSizes[0] * outSizes[2] * outSizes[3] < kWinogradMinOutputPositions) {
      return false;
    }
    dnnl::memory::desc anySrc(dimsOf(inputSizes), DataType::f32, Format::any);
    dnnl::memory::desc anyDst(dimsOf(outSizes), DataType::f32, Format::any);
    const auto desc = describe(dnnl::algorithm::convolution_winograd, anySrc, anyDst);
    // The residual's scale in the sum post-op if the kernel takes it, else in the accumulator.
    for (float sumScale : {prepared.sumScale, 1.f}) {
      try {
        dnnl::convolution_forward::primitive_desc pd(desc, fusedAttr(activation, residual, sumScale), cpuEngine());
        prepared.primitive = dnnl::convolution_forward(pd);
        prepared.weights = weights.in(pd.weights_desc());
        prepared.scratchpad = pd.scratchpad_desc();
        prepared.sumScale = sumScale;
        useBlockedLayout(prepared, pd.src_desc(), pd.dst_desc());
        prepared.winograd = true;
        return true;
      } catch (const dnnl::error&) {
        prepared.blocked = false;
      }
    }
    return false;
  }

  /// `inputSizes` and `outSizes` are the kernel's (4-D or 5-D; a blocked
  /// layer's plain N, C, H, W); `sumScale` the residual's scale; `layout` the
  /// one the activations arrive in (see contiguousLayoutPays, toBlockedChannels).
  ConvPrimitive prepare(at::IntArrayRef inputSizes, at::IntArrayRef outSizes, const Activation& activation,
                        ResidualAdd residual, float sumScale, ActivationLayout layout) {
    ConvPrimitive prepared = prepareKernel(inputSizes, outSizes, activation, residual, sumScale, layout);
    if (prepared.blocked && residual != ResidualAdd::None && !prepared.unsupported) {
      // prepared.sumScale is the part of the residual's scale the sum post-op applies.
      const float reorderScale = sumScale / prepared.sumScale;
      dnnl::primitive_attr scaled;
      if (reorderScale != 1.f) {
        scaled.set_output_scales(0, {reorderScale});
      }
      prepared.residualToBlocked = dnnl::reorder(
          dnnl::reorder::primitive_desc(cpuEngine(), prepared.dst, cpuEngine(), prepared.blockedDst, scaled));
    }
    return prepared;
  }

  /// prepare() without the residual's reorder: the primitive, its weights and the layouts it computes on.
  ConvPrimitive prepareKernel(at::IntArrayRef inputSizes, at::IntArrayRef outSizes, const Activation& activation,
                              ResidualAdd residual, float sumScale, ActivationLayout layout) {
    ConvPrimitive prepared;
    prepared.sumScale = sumScale;
    if (atenFaster) {
      prepared.unsupported = true;
      return prepared;
    }
    const auto setLayout = [&](ConvPrimitive& candidate, ActivationLayout candidateLayout) {
      const Format format = candidateLayout == ActivationLayout::Contiguous ? contiguousFormat(inputSizes.size())
                            : candidateLayout == ActivationLayout::Blocked  ? Format::nChw16c
                                                                            : activationFormat(inputSizes.size());
      candidate.contiguous = candidateLayout == ActivationLayout::Contiguous;
      candidate.sumScale = sumScale;
      candidate.src = dnnl::memory::desc(dimsOf(inputSizes), DataType::f32, format);
      candidate.dst = dnnl::memory::desc(dimsOf(outSizes), DataType::f32, format);
    };
    setLayout(prepared, layout);
    if (prepareWinograd(prepared, inputSizes, outSizes, activation, residual)) {
      return prepared;
    }
    if (layout == ActivationLayout::Contiguous && contiguousLayoutPays(weight, params, activation)) {
      try {
        ConvPrimitive candidate;
        setLayout(candidate, ActivationLayout::Contiguous);
        if (create(candidate, candidate.src, candidate.dst, activation, residual).find("gemm") != std::string::npos) {
          return candidate;
        }
      } catch (const dnnl::error&) {
      }
    }
    if (layout == ActivationLayout::Blocked) {
      return prepareBlocked(inputSizes, outSizes, activation, residual, setLayout);
    }
    if (layout == ActivationLayout::Contiguous && !chooseLayout) {
      return channelsLastKernelBetween(ActivationLayout::Contiguous, activation, residual, setLayout);
    }
    setLayout(prepared, ActivationLayout::ChannelsLast);
    try {
      if (!chooseLayout) {
        create(prepared, prepared.src, prepared.dst, activation, residual);
        return prepared;
      }
      // oneDNN's preferred layout first, then plain channels-last; a kernel
      // that is gemm-based or oneDNN's reference one loses to ATen's convolution.
      for (bool anyLayout : {true, false}) {
        ConvPrimitive candidate;
        setLayout(candidate, ActivationLayout::ChannelsLast);
        const dnnl::memory::desc anySrc(dimsOf(inputSizes), DataType::f32, Format::any);
        const dnnl::memory::desc anyDst(dimsOf(outSizes), DataType::f32, Format::any);
        const std::string implementation = create(candidate, anyLayout ? anySrc : candidate.src,
                                                  anyLayout ? anyDst : candidate.dst, activation, residual);
        if (isOptimizedKernel(implementation)) {
          return candidate;
        }
      }
      prepared.unsupported = true;
    } catch (const dnnl::error&) {
      prepared.unsupported = true;
    }
    return prepared;
  }

  /// A 2-D layer on blocked activations: oneDNN's kernel for nChw16c, or,
  /// where it has no optimized one (a layer with few input channels, whose
  /// blocks would be mostly padding), its channels-last kernel with reorders
  /// from and to the blocked tensors.
  template <typename SetLayout>
  ConvPrimitive prepareBlocked(at::IntArrayRef inputSizes, at::IntArrayRef outSizes, const Activation& activation,
                               ResidualAdd residual, const SetLayout& setLayout) {
    try {
      ConvPrimitive candidate;
      setLayout(candidate, ActivationLayout::Blocked);
      if (isOptimizedKernel(create(candidate, candidate.src, candidate.dst, activation, residual))) {
        return candidate;
      }
    } catch (const dnnl::error&) {
    }
    return channelsLastKernelBetween(ActivationLayout::Blocked, activation, residual, setLayout);
  }

  /// The channels-last kernel with oneDNN's reorders from and to activations
  /// in `layout`. For a direct 2-D layer whose activations arrive contiguous
  /// (NCHW) the reorders replace ATen's copies to and from
  /// channels-last, which take 2.5-6x as long (1x64x28x28, one thread,
  /// this Xeon: a reorder 9.5 us each way, ATen's copies 24 and 55 us), and
  /// the residual's reorder takes its scale (residualToBlocked).
  template <typename SetLayout>
  ConvPrimitive channelsLastKernelBetween(ActivationLayout layout, const Activation& activation, ResidualAdd residual,
                                          const SetLayout& setLayout) {
    ConvPrimitive channelsLast;
    try {
      setLayout(channelsLast, ActivationLayout::ChannelsLast);
      create(channelsLast, channelsLast.src, channelsLast.dst, activation, residual);
      const dnnl::memory::desc computeSrc = channelsLast.src;
      const dnnl::memory::desc computeDst = channelsLast.dst;
      const float kernelSumScale = channelsLast.sumScale;
      setLayout(channelsLast, layout);
      channelsLast.sumScale = kernelSumScale;
      useBlockedLayout(channelsLast, computeSrc, computeDst);
    } catch (const dnnl::error&) {
      channelsLast.unsupported = true;
    }
    return channelsLast;
  }

  /// Runs `prepared` on `src` (in its layout), into a new tensor of `dstSizes`
  /// in `format`, or into the residual's accumulator (see accumulatorFor).
  at::Tensor compute(const ConvPrimitive& prepared, const at::Tensor& src, at::Tensor residual, at::MemoryFormat format,
                     at::IntArrayRef dstSizes, double residualScale, const at::Tensor& second, double secondScale) {
    const bool accumulate = residual.defined();
    // Where the layer computes on another layout, the reorder into it reads a
    // residual dense in `format` (residualToBlocked): no accumulator.
    const bool reorderResidual = accumulate && prepared.blocked && !prepared.sumSeparately && !second.defined() &&
                                 residual.is_contiguous(format);
    // Where the sum post-op applies the residual's scale, the accumulator holds the residual unscaled.
    const double keptScale = prepared.sumScale != 1.f ? residualScale : 1.0;
    at::Tensor dst = accumulate && !reorderResidual
                         ? accumulatorFor(std::move(residual), format, residualScale / keptScale, second,
                                          secondScale / keptScale)
                         : emptyOutput(dstSizes, src.options(), format);
    at::Tensor residualHolder;
    if (prepared.sumSeparately) {
      residualHolder = std::move(dst);
      dst = emptyOutput(dstSizes, src.options(), format);
    }
    dnnl::stream& stream = threadStream();
    dnnl::memory srcMemory = viewAsMemory(src, prepared.src);
    dnnl::memory dstMemory = viewAsMemory(dst, prepared.dst);
    dnnl::memory computeSrc = srcMemory;
    dnnl::memory computeDst = dstMemory;
    if (prepared.blocked) {
      computeSrc = threadBuffer(BufferSlot::BlockedSource, prepared.blockedSrc);
      computeDst = threadBuffer(BufferSlot::BlockedDestination, prepared.blockedDst);
      prepared.srcToBlocked.execute(stream, srcMemory, computeSrc);
      if (reorderResidual) {
        dnnl::memory residualMemory = viewAsMemory(residual, prepared.dst);
        prepared.residualToBlocked.execute(stream, residualMemory, computeDst);
      } else if (accumulate && !prepared.sumSeparately) {
        prepared.dstToBlocked.execute(stream, dstMemory, computeDst);
      }
    }
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, computeSrc}, {DNNL_ARG_WEIGHTS, prepared.weights}, {DNNL_ARG_DST, computeDst}};
    addScratchpad(prepared.scratchpad, args);
    if (bias) {
      args.emplace(DNNL_ARG_BIAS, biasMemory);
    }
    prepared.primitive.execute(stream, args);
    if (prepared.blocked) {
      prepared.dstFromBlocked.execute(stream, computeDst, dstMemory);
    }
    if (prepared.sumSeparately) {
      dst = residualHolder.add_(dst);
    }
    return dst;
  }

  std::string create(ConvPrimitive& prepared, const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                     const Activation& activation, ResidualAdd residual) {
    if (params.transposed) {
      return finish<dnnl::deconvolution_forward>(prepared, describeTransposed(src, dst), activation, residual);
    }
    return finish<dnnl::convolution_forward>(prepared, describe(dnnl::algorithm::convolution_direct, src, dst),
                                             activation, residual);
  }

  at::Tensor weight;
  Conv2dParams params;
  int64_t outChannels;
  PackedWeights weights;
  c10::optional<at::Tensor> bias;
  /// 3-D, 1-D and transposed layers let oneDNN choose the layout it computes
  /// on, with reorders around the primitive, or else plain channels-last;
  /// where oneDNN 2.6 has only a gemm-based kernel for both (a transposed 3-D
  /// layer, 24 to 16 channels on 16x32x32, one thread: 208 ms, where
  /// PyTorch's whole block takes 100 ms; a 1-D layer with one input channel),
  /// run() takes the ATen path (docs/fusion.md).
  bool chooseLayout;
  /// Transposed and 1-D layers run ATen's convolution (run() takes the ATen
  /// path, the activation and add after it): oneDNN 2.6's AVX2 deconvolution
  /// takes 6.5-19 ms a layer where ATen (oneDNN 3.x on the 2.x line) runs the
  /// whole transposed decoder of docs/fusion.md in 3.5 ms, and its 1-D layers
  /// pay channels-last copies of every activation (audio stack: 23.2 ms
  /// against 14.9 ms). TSOPT_CONV_KINDS=onednn runs them on oneDNN (tests).
  bool atenFaster;
  dnnl::memory biasMemory;  ///< Views `bias`; read-only, so shared by concurrent calls.
  PrimitiveCache<ConvPrimitive> primitives;
};

ConvPacked::ConvPacked(at::Tensor weight, c10::optional<at::Tensor> bias, Conv2dParams params)
    : weight_(std::move(weight)), bias_(std::move(bias)), params_(std::move(params)) {
  TORCH_CHECK(weight_.dim() >= 3 && weight_.dim() <= 5, "tsopt.ConvPacked: expected a 3-D to 5-D weight, got ",
              weight_.dim(), "-D");
  TORCH_CHECK(params_.stride.size() == static_cast<size_t>(spatialRank()), "tsopt.ConvPacked: a ", spatialRank(),
              "-D convolution needs ", spatialRank(), " values of stride, padding and dilation");
  checkConv2dParams("tsopt.ConvPacked", weight_.size(0), params_);
  if (params_.outputPadding.empty()) {
    params_.outputPadding.assign(params_.stride.size(), 0);
  }
  const int64_t outChannels = params_.transposed ? weight_.size(1) * params_.groups : weight_.size(0);
  TORCH_CHECK(!bias_ || (bias_->dim() == 1 && bias_->size(0) == outChannels),
              "tsopt.ConvPacked: the bias needs one value per output channel");
  if (isPlainFloat(weight_) && (!bias_ || isPlainFloat(*bias_))) {
    kernel_ = std::make_unique<Kernel>(weight_, bias_, params_);
    const std::vector<int64_t> taps = oneDnnForEveryKind() ? std::vector<int64_t>{} : subPixelTaps(weight_.sizes(), params_);
    if (!taps.empty()) {
      auto [convWeight, convBias] = subPixelWeights(weight_, bias_, params_, taps);
      Conv2dParams convParams{std::vector<int64_t>(taps.size(), 1), {}, std::vector<int64_t>(taps.size(), 1),
                              params_.groups};
      for (int64_t extent : taps) {
        convParams.padding.push_back(extent - 1);
      }
      subPixel_ = std::make_unique<ConvPacked>(std::move(convWeight), std::move(convBias), std::move(convParams));
    }
  }
  if (weight_.is_cuda() && weight_.dim() == 4) {
    channelsLastWeight_ = weight_.contiguous(at::MemoryFormat::ChannelsLast);
  }
}

ConvPacked::ConvPacked(const State& state)
    : ConvPacked(std::get<1>(state), std::get<2>(state),
                 Conv2dParams{std::get<3>(state), std::get<4>(state), std::get<5>(state), std::get<6>(state),
                              std::get<7>(state), std::get<8>(state)}) {
  TORCH_CHECK(std::get<0>(state) == kStateVersion, "tsopt.ConvPacked: unknown serialized format version ",
              std::get<0>(state));
}

ConvPacked::State ConvPacked::stateFrom(const c10::IValue& pickled) {
  TORCH_CHECK(pickled.isTuple(), "tsopt.ConvPacked: the serialized state is not a tuple");
  // A copy: GCC's -Warray-bounds misreads indexing into the tuple's inline storage.
  const std::vector<c10::IValue> fields = pickled.toTupleRef().elements().vec();
  TORCH_CHECK(!fields.empty() && fields[0].isInt(), "tsopt.ConvPacked: the serialized state has no version");
  const int64_t version = fields[0].toInt();
  const bool first = version == kFirstStateVersion && fields.size() == 7;
  TORCH_CHECK(first || (version == kStateVersion && fields.size() == std::tuple_size<State>::value),
              "tsopt.ConvPacked: unknown serialized format version ", version, " (", fields.size(), " fields)");
  c10::optional<at::Tensor> bias = fields[2].isNone() ? c10::nullopt : c10::optional<at::Tensor>(fields[2].toTensor());
  return State{kStateVersion,
               fields[1].toTensor(),
               std::move(bias),
               fields[3].toIntVector(),
               fields[4].toIntVector(),
               fields[5].toIntVector(),
               fields[6].toInt(),
               first ? std::vector<int64_t>{} : fields[7].toIntVector(),
               first ? false : fields[8].toBool()};
}

ConvPacked::~ConvPacked() = default;

ConvPacked::State ConvPacked::state() const {
  return State{kStateVersion,   weight_, bias_, params_.stride, params_.padding, params_.dilation, params_.groups,
               params_.outputPadding, params_.transposed};
}

bool ConvPacked::kernelApplies(const at::Tensor& input, const at::Tensor& residual) const {
  const int64_t inChannels = params_.transposed ? weight_.size(0) : weight_.size(1) * params_.groups;
  if (!kernel_ || !isPlainFloat(input) || input.dim() != weight_.dim() || needsAutograd(input) ||
      input.numel() == 0 || input.size(1) != inChannels) {
    return false;
  }
  std::vector<int64_t> outSizes = conv2dOutputSizes(input.sizes(), weight_.sizes(), params_);
  if (std::any_of(outSizes.begin() + 2, outSizes.end(), [](int64_t extent) { return extent <= 0; })) {
    return false;
  }
  return !residual.defined() || (isPlainFloat(residual) && !needsAutograd(residual) && residual.sizes() == outSizes);
}

at::Tensor ConvPacked::runReference(const at::Tensor& input, const at::Tensor& residual,
                                    const Activation& activation, ResidualAdd where, double residualScale,
                                    const at::Tensor& second, double secondScale) const {
  return applyEpilogue(atenConvolution(input, weight_, bias_, params_), residual, activation,
                       residual.defined() ? where : ResidualAdd::None, residualScale, second, secondScale);
}

namespace {

ProblemKey problemKey(at::IntArrayRef kernelInputSizes, const Activation& activation, ResidualAdd residual,
                      double residualScale, ActivationLayout layout) {
  ProblemKey key{{}, at::get_num_threads(), activation, residual};
  std::copy(kernelInputSizes.begin(), kernelInputSizes.end(), key.shape.begin());
  key.residualScale = residual == ResidualAdd::None ? 1.0 : residualScale;
  key.contiguousLayout = layout == ActivationLayout::Contiguous;
  key.blockedLayout = layout == ActivationLayout::Blocked;
  return key;
}

ActivationLayout layoutOf(bool contiguousInput) {
  return contiguousInput ? ActivationLayout::Contiguous : ActivationLayout::ChannelsLast;
}

/// Whether a 2-D or 3-D convolution's input is in the contiguous layout and
/// not also channels-last (as a tensor with one channel is).
bool arrivesContiguous(const at::Tensor& input, int64_t spatialRank) {
  return spatialRank >= 2 && input.is_contiguous() && !input.is_contiguous(channelsLastFormat(input.dim()));
}

/// A 1-D convolution's tensor as the kernel's 2-D one of height 1.
at::Tensor asKernelTensor(const at::Tensor& tensor, int64_t spatialRank) {
  return spatialRank == 1 ? tensor.unsqueeze(2) : tensor;
}

/// Writes the sub-pixel convolution's channels-last result `phases` (N,
/// g * s^d * out / g, Q...) into `out` (N, out, O...), either layout: output
/// position o = s * q + phase - padding of channel (group, c) reads position q,
/// channel (group, phase, c). One pass over the output, a row of the last
/// dimension at a time (its sources, s * out values per q, stay in cache).
void interleavePhases(const at::Tensor& phases, at::Tensor& out, const Conv2dParams& params) {
  const int64_t rank = out.dim() - 2;
  const int64_t channels = out.size(1);
  const int64_t groupChannels = channels / params.groups;
  int64_t phaseCount = 1;
  for (int64_t dim = 0; dim < rank; ++dim) {
    phaseCount *= params.stride[dim];
  }
  const int64_t lastExtent = out.size(1 + rank);
  int64_t rows = out.size(0);
  for (int64_t dim = 0; dim + 1 < rank; ++dim) {
    rows *= out.size(2 + dim);
  }
  const float* source = phases.data_ptr<float>();
  float* target = out.data_ptr<float>();
  const at::IntArrayRef sourceStrides = phases.strides();
  const at::IntArrayRef targetStrides = out.strides();
  const int64_t last = rank - 1;
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> sourceOffsets(lastExtent);
    for (int64_t row = begin; row < end; ++row) {
      // (n, o1, ..., o_{d-1}) of this row; the phase index counts the last dimension's phase fastest.
      int64_t rest = row;
      int64_t sourceBase = 0;
      int64_t targetBase = 0;
      int64_t outerPhase = 0;
      int64_t phaseWeight = params.stride[last];  // phases of the dimensions after `dim`
      for (int64_t dim = last - 1; dim >= 0; --dim) {
        const int64_t position = rest % out.size(2 + dim);
        rest /= out.size(2 + dim);
        const int64_t shifted = position + params.padding[dim];
        sourceBase += shifted / params.stride[dim] * sourceStrides[2 + dim];
        targetBase += position * targetStrides[2 + dim];
        outerPhase += shifted % params.stride[dim] * phaseWeight;
        phaseWeight *= params.stride[dim];
      }
      sourceBase += rest * sourceStrides[0];
      targetBase += rest * targetStrides[0];
      // Where each output position of the row reads: (q, phase) of the last dimension.
      for (int64_t position = 0; position < lastExtent; ++position) {
        const int64_t shifted = position + params.padding[last];
        sourceOffsets[position] = sourceBase + shifted / params.stride[last] * sourceStrides[1 + rank] +
                                  (outerPhase + shifted % params.stride[last]) * groupChannels;
      }
      for (int64_t group = 0; group < params.groups; ++group) {
        const float* groupFrom = source + group * phaseCount * groupChannels;
        float* groupTo = target + targetBase + group * groupChannels * targetStrides[1];
        if (targetStrides[1] == 1) {  // channels-last: a run of the group's channels a position
          for (int64_t position = 0; position < lastExtent; ++position) {
            const float* from = groupFrom + sourceOffsets[position];
            std::copy(from, from + groupChannels, groupTo + position * targetStrides[1 + rank]);
          }
          continue;
        }
        // Contiguous: a row a channel. (A position at a time would write one
        // stream a channel, planes a multiple of 4 KiB apart: cache conflicts.)
        for (int64_t channel = 0; channel < groupChannels; ++channel) {
          float* to = groupTo + channel * targetStrides[1];
          for (int64_t position = 0; position < lastExtent; ++position) {
            to[position * targetStrides[1 + rank]] = groupFrom[sourceOffsets[position] + channel];
          }
        }
      }
    }
  });
}

/// Layers from this many multiply-adds on time tsopt's kernel against ATen's
/// convolution on their first call (measured_choice.h): from about 0.2 ms a
/// call, where the eight trial calls cost little next to a model's run and a
/// timer's microseconds do not decide. Below it the kernel stays, whose fused
/// post-ops save ATen's separate passes over small outputs. The rules before
/// (paddingFavoursAten, Kernel::atenFaster) keep deciding the layers they know;
/// the measurement covers the rest: RegNetX-16GF's grouped 3x3 layers (2-4
/// groups on 56x56 and 28x28 maps) run 0.81x as fast on oneDNN 2.6's AVX2
/// kernel as on the 2.x wheel's oneDNN 3.x, with no rule that says so in advance.
constexpr int64_t kMeasureFromMultiplyAdds = 16'000'000;

/// A problem of a layer of some shape: layers of the same shape (weight sizes,
/// parameters, bias or not) share the measured choice, so a network measures
/// each distinct problem once.
struct ShapedProblem {
  std::vector<int64_t> layer;
  ProblemKey problem;
  bool operator==(const ShapedProblem& other) const { return layer == other.layer && problem == other.problem; }
};

struct ShapedProblemHash {
  size_t operator()(const ShapedProblem& key) const {
    size_t hash = ProblemKeyHash()(key.problem);
    for (int64_t value : key.layer) {
      hash = c10::hash_combine(hash, std::hash<int64_t>()(value));
    }
    return hash;
  }
};

ShapedProblem shapedProblem(const at::Tensor& weight, bool hasBias, const Conv2dParams& params, ProblemKey problem) {
  std::vector<int64_t> layer(weight.sizes().begin(), weight.sizes().end());
  for (const std::vector<int64_t>* values : {&params.stride, &params.padding, &params.dilation}) {
    layer.push_back(-1);  // a separator: the lists' lengths follow the weight's rank
    layer.insert(layer.end(), values->begin(), values->end());
  }
  layer.push_back(params.groups);
  layer.push_back(hasBias);
  return {std::move(layer), std::move(problem)};
}

/// Per problem, whether ATen's convolution was measured faster than tsopt's kernel (ConvPacked::run).
KeyedCache<bool, ShapedProblem, ShapedProblemHash>& atenMeasuredFaster() {
  static KeyedCache<bool, ShapedProblem, ShapedProblemHash> choices;
  return choices;
}

/// A convolution's multiply-adds for an output of `outSizes`.
int64_t multiplyAdds(const at::Tensor& weight, at::IntArrayRef outSizes) {
  int64_t perOutput = weight.numel() / weight.size(0);  // input channels per group x taps
  int64_t outputs = 1;
  for (int64_t extent : outSizes) {
    outputs *= extent;
  }
  return perOutput * outputs;
}

/// The layer and its problem, for TSOPT_MEASURE=log.
std::string describeProblem(const at::Tensor& weight, const Conv2dParams& params, at::IntArrayRef inputSizes) {
  std::ostringstream text;
  text << "convolution " << weight.sizes() << " groups " << params.groups << " stride " << at::IntArrayRef(params.stride)
       << " padding " << at::IntArrayRef(params.padding) << " dilation " << at::IntArrayRef(params.dilation) << " on "
       << inputSizes << ", " << at::get_num_threads() << " thread(s)";
  return text.str();
}

} // namespace

bool ConvPacked::runsAtenConvolution() const { return kernel_ && kernel_->atenFaster; }

bool ConvPacked::paddingFavoursAten(at::IntArrayRef inputSizes) const {
  const bool dilated = std::any_of(params_.dilation.begin(), params_.dilation.end(), [](int64_t d) { return d > 1; });
  return compat::kAtenConvolutionSkipsPadding && spatialRank() == 2 && dilated && !params_.transposed &&
         params_.groups == 1 && !oneDnnForEveryKind() &&
         inputTapFraction(inputSizes, weight_.sizes(), params_) < kAtenBelowInputTapFraction;
}

std::vector<int64_t> croppedTaps(at::IntArrayRef inputSizes, at::IntArrayRef weightSizes, const Conv2dParams& params) {
  if (params.transposed || inputSizes.size() != weightSizes.size() || weightSizes.size() < 3) {
    return {};
  }
  const std::vector<int64_t> outSizes = conv2dOutputSizes(inputSizes, weightSizes, params);
  std::vector<int64_t> taps;
  bool dropsAny = false;
  for (size_t d = 0; d + 2 < weightSizes.size(); ++d) {
    const int64_t extent = inputSizes[d + 2], kernel = weightSizes[d + 2], outputs = outSizes[d + 2];
    const int64_t stride = params.stride[d], padding = params.padding[d], dilation = params.dilation[d];
    if (outputs <= 0) {
      return {};
    }
    const auto readsInput = [&](int64_t tap) {
      const int64_t first = tap * dilation - padding;
      return first <= extent - 1 && first + (outputs - 1) * stride >= 0;
    };
    int64_t lo = 0;
    while (lo < kernel && !readsInput(lo)) {
      ++lo;
    }
    int64_t hi = kernel - 1;
    while (hi >= lo && !readsInput(hi)) {
      --hi;
    }
    // No tap reads the input (the result is the bias): rare, left as it is.
    // Uneven cuts would need uneven padding, which the layer cannot express.
    if (lo > hi || lo != kernel - 1 - hi || padding - lo * dilation < 0) {
      return {};
    }
    dropsAny = dropsAny || lo > 0;
    taps.push_back(lo);
    taps.push_back(hi);
  }
  return dropsAny ? taps : std::vector<int64_t>{};
}

double inputTapFraction(at::IntArrayRef inputSizes, at::IntArrayRef weightSizes, const Conv2dParams& params) {
  const std::vector<int64_t> outSizes = conv2dOutputSizes(inputSizes, weightSizes, params);
  double fraction = 1.0;
  for (size_t d = 0; d + 2 < weightSizes.size() && d + 2 < inputSizes.size(); ++d) {
    const int64_t extent = inputSizes[d + 2], kernel = weightSizes[d + 2], outputs = outSizes[d + 2];
    if (outputs <= 0 || kernel <= 0) {
      return 1.0;
    }
    int64_t reading = 0;
    for (int64_t tap = 0; tap < kernel; ++tap) {
      // Outputs o with 0 <= first + o * stride <= extent - 1.
      const int64_t first = tap * params.dilation[d] - params.padding[d], stride = params.stride[d];
      const int64_t lowest = first >= 0 ? 0 : (-first + stride - 1) / stride;
      const int64_t highest = extent - 1 - first < 0 ? -1 : std::min(outputs - 1, (extent - 1 - first) / stride);
      reading += std::max<int64_t>(0, highest - lowest + 1);
    }
    fraction *= static_cast<double>(reading) / static_cast<double>(kernel * outputs);
  }
  return fraction;
}

ConvPacked* ConvPacked::croppedFor(at::IntArrayRef inputSizes) {
  if (!kernel_ || params_.transposed) {
    return nullptr;
  }
  const std::vector<int64_t> taps = croppedTaps(inputSizes, weight_.sizes(), params_);
  if (taps.empty()) {
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(croppedMutex_);
  std::unique_ptr<ConvPacked>& cropped = cropped_[taps];
  if (!cropped) {
    at::Tensor weight = weight_;
    Conv2dParams params = params_;
    for (size_t d = 0; d < taps.size() / 2; ++d) {
      const int64_t lo = taps[2 * d], hi = taps[2 * d + 1];
      weight = weight.narrow(static_cast<int64_t>(d) + 2, lo, hi - lo + 1);
      params.padding[d] -= lo * params.dilation[d];
      if (lo == hi) {
        params.dilation[d] = 1;  // one tap: a pointwise dimension, whatever its dilation was
      }
    }
    cropped = std::make_unique<ConvPacked>(weight.contiguous(), bias_, std::move(params));
  }
  return cropped.get();
}

std::string ConvPacked::algorithmFor(const at::Tensor& input) {
  if (!kernelApplies(input, at::Tensor())) {
    return "aten";
  }
  if (subPixel_) {
    return "sub-pixel";
  }
  if (ConvPacked* cropped = croppedFor(input.sizes())) {
    return "cropped " + cropped->algorithmFor(input);
  }
  if (paddingFavoursAten(input.sizes())) {
    return "aten";
  }
  at::Tensor kernelInput = asKernelTensor(input, spatialRank());
  std::vector<int64_t> outSizes = conv2dOutputSizes(kernelInput.sizes(), kernel_->weight.sizes(), kernel_->params);
  Activation none;
  const ActivationLayout layout = layoutOf(arrivesContiguous(input, spatialRank()));
  auto prepared = kernel_->primitives.get(problemKey(kernelInput.sizes(), none, ResidualAdd::None, 1.0, layout), [&] {
    return kernel_->prepare(kernelInput.sizes(), outSizes, none, ResidualAdd::None, 1.f, layout);
  });
  if (prepared->unsupported) {
    return "aten";
  }
  if (params_.transposed) {
    return "deconvolution";
  }
  const auto measured = atenMeasuredFaster().find(
      shapedProblem(weight_, bias_.has_value(), params_, problemKey(kernelInput.sizes(), none, ResidualAdd::None, 1.0, layout)));
  if (measured && *measured) {
    return "aten (measured)";
  }
  return prepared->winograd ? "winograd" : prepared->contiguous && !prepared->blocked ? "contiguous-gemm" : "direct";
}

at::Tensor ConvPacked::run(const at::Tensor& input, at::Tensor residual, const Activation& activation,
                           ResidualAdd where, double residualScale, const at::Tensor& second, double secondScale) {
  if (spatialRank() == 2 && input.dim() == 5) {
    return runBlocked(input, std::move(residual), activation, where, residualScale, second, secondScale);
  }
  if (!kernelApplies(input, residual) || !secondResidualFits(second, residual)) {
    return runReference(input, residual, activation, where, residualScale, second, secondScale);
  }
  if (subPixel_) {
    return runSubPixel(input, residual, activation, where, residualScale, second, secondScale);
  }
  if (ConvPacked* cropped = croppedFor(input.sizes())) {
    return cropped->run(input, std::move(residual), activation, where, residualScale, second, secondScale);
  }
  if (paddingFavoursAten(input.sizes())) {
    return runReference(input, residual, activation, where, residualScale, second, secondScale);
  }
  const ResidualAdd post = residual.defined() ? where : ResidualAdd::None;
  at::Tensor kernelInput = asKernelTensor(input, spatialRank());
  std::vector<int64_t> outSizes = conv2dOutputSizes(kernelInput.sizes(), kernel_->weight.sizes(), kernel_->params);
  const ActivationLayout layout = layoutOf(arrivesContiguous(input, spatialRank()));
  auto prepared = kernel_->primitives.get(problemKey(kernelInput.sizes(), activation, post, residualScale, layout), [&] {
    return kernel_->prepare(kernelInput.sizes(), outSizes, activation, post, static_cast<float>(residualScale), layout);
  });
  if (prepared->unsupported) {
    return runReference(input, residual, activation, where, residualScale, second, secondScale);
  }
  const at::MemoryFormat tensorLayout =
      prepared->contiguous ? at::MemoryFormat::Contiguous : channelsLastFormat(kernelInput.dim());
  const auto runKernel = [&](at::Tensor sum) {
    at::Tensor dst = kernel_->compute(*prepared, kernelInput.contiguous(tensorLayout), std::move(sum), tensorLayout,
                                      outSizes, residualScale,
                                      asKernelTensor(second, second.defined() ? spatialRank() : 0), secondScale);
    if (spatialRank() == 1) {
      return dst.squeeze(2).contiguous();  // ATen has no channels-last 3-D tensors
    }
    // oneDNN reads and writes channels-last (NHWC, NDHWC) plain tensors, or
    // contiguous ones where that pays (contiguousLayoutPays); an input in the
    // other layout pays a reorder each way, which propagate-layout removes
    // between 2-D convolutions.
    return dst.contiguous(input.suggest_memory_format());
  };
  const auto runAten = [&] {
    return runReference(input, residual, activation, where, residualScale, second, secondScale);
  };
  const auto kernelResidual = [&] { return asKernelTensor(residual, residual.defined() ? spatialRank() : 0); };
  if (measuringEnabled() && !params_.transposed && !oneDnnForEveryKind() &&
      multiplyAdds(weight_, outSizes) >= kMeasureFromMultiplyAdds &&
      *atenMeasuredFaster().get(
          shapedProblem(weight_, bias_.has_value(), params_,
                        problemKey(kernelInput.sizes(), activation, post, residualScale, layout)),
          [&] {
            // The kernel's trials get a residual this call still holds, so none sums into it in place.
            const Measurement measurement =
                challengerMeasuredFaster([&] { runKernel(kernelResidual()); }, [&] { runAten(); });
            logMeasurement(describeProblem(weight_, params_, input.sizes()), measurement, "tsopt", "aten");
            return measurement.challengerFaster;
          })) {
    return runAten();
  }
  if (residual.defined() && spatialRank() == 1) {
    at::Tensor view = kernelResidual();
    residual = std::move(view);
  }
  return runKernel(std::move(residual));
}

at::Tensor ConvPacked::runSubPixel(const at::Tensor& input, const at::Tensor& residual, const Activation& activation,
                                   ResidualAdd where, double residualScale, const at::Tensor& second,
                                   double secondScale) {
  // The convolution computes channels-last (no conversion of its result back);
  // interleavePhases writes the output in the input's format.
  const Activation none;
  const Activation& fused = residual.defined() ? none : activation;
  const at::Tensor phases =
      subPixel_->run(input.contiguous(channelsLastFormat(input.dim())), at::Tensor(), fused, ResidualAdd::None);
  const std::vector<int64_t> outSizes = conv2dOutputSizes(input.sizes(), weight_.sizes(), params_);
  at::Tensor out = emptyOutput(outSizes, input.options(), input.suggest_memory_format());
  interleavePhases(phases.contiguous(channelsLastFormat(phases.dim())), out, params_);
  if (!residual.defined()) {
    return out;
  }
  return applyEpilogue(std::move(out), residual, activation, where, residualScale, second, secondScale);
}

at::Tensor ConvPacked::runBlocked(const at::Tensor& input, at::Tensor residual, const Activation& activation,
                                  ResidualAdd where, double residualScale, const at::Tensor& second,
                                  double secondScale) {
  const int64_t inChannels = params_.transposed ? weight_.size(0) : weight_.size(1) * params_.groups;
  TORCH_CHECK(input.size(4) == kBlockedChannels && input.size(1) == channelBlocks(inChannels),
              "tsopt.ConvPacked: a blocked input of ", inChannels, " channels has shape (N, ",
              channelBlocks(inChannels), ", H, W, 16), got ", input.sizes());
  const std::vector<int64_t> inSizes{input.size(0), inChannels, input.size(2), input.size(3)};
  const std::vector<int64_t> outSizes = conv2dOutputSizes(inSizes, weight_.sizes(), params_);
  const std::vector<int64_t> blockedOut = blockedSizes(outSizes);
  const auto fits = [&](const at::Tensor& tensor) {
    return isPlainFloat(tensor) && !needsAutograd(tensor) && tensor.sizes() == blockedOut;
  };
  const bool applies = kernel_ && !kernel_->atenFaster && isPlainFloat(input) && !needsAutograd(input) &&
                       input.numel() != 0 && outSizes[2] > 0 && outSizes[3] > 0 &&
                       (!residual.defined() || fits(residual)) && (!second.defined() || fits(second));
  const ResidualAdd post = residual.defined() ? where : ResidualAdd::None;
  std::shared_ptr<const ConvPrimitive> prepared;
  if (applies) {
    prepared = kernel_->primitives.get(
        problemKey(inSizes, activation, post, residualScale, ActivationLayout::Blocked), [&] {
          return kernel_->prepare(inSizes, outSizes, activation, post, static_cast<float>(residualScale),
                                  ActivationLayout::Blocked);
        });
  }
  if (!prepared || prepared->unsupported) {
    // The unfused computation on the plain tensors, blocked again.
    const auto plain = [&](const at::Tensor& tensor) {
      return tensor.defined() ? fromBlockedChannels(tensor, outSizes[1]) : tensor;
    };
    return toBlockedChannels(runReference(fromBlockedChannels(input, inChannels), plain(residual), activation, where,
                                          residualScale, plain(second), secondScale));
  }
  return kernel_->compute(*prepared, input.contiguous(), std::move(residual), at::MemoryFormat::Contiguous,
                          blockedOut, residualScale, second, secondScale);
}

} // namespace tsopt::runtime
