#include "runtime/onednn_common.h"
#include "runtime/output_pool.h"
#include "runtime/packed_layers.h"

#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <cstdlib>
#include <string>

namespace tsopt::runtime {
namespace {

using Format = dnnl::memory::format_tag;
using DataType = dnnl::memory::data_type;
constexpr int64_t kStateVersion = 1;

} // namespace

std::vector<int64_t> conv2dOutputSizes(at::IntArrayRef input, at::IntArrayRef weight, const Conv2dParams& params) {
  std::vector<int64_t> sizes{input[0], weight[0]};
  for (size_t dim = 0; dim < 2; ++dim) {
    int64_t extent = input[2 + dim] + 2 * params.padding[dim] - params.dilation[dim] * (weight[2 + dim] - 1) - 1;
    sizes.push_back(extent < 0 ? 0 : extent / params.stride[dim] + 1);
  }
  return sizes;
}

void checkConv2dParams(const char* owner, int64_t outChannels, const Conv2dParams& params) {
  TORCH_CHECK(params.stride.size() == 2 && params.padding.size() == 2 && params.dilation.size() == 2, owner,
              ": stride, padding and dilation need two values each");
  TORCH_CHECK(params.groups >= 1 && outChannels % params.groups == 0, owner, ": ", outChannels,
              " output channels do not split into ", params.groups, " groups");
  for (size_t dim = 0; dim < 2; ++dim) {
    TORCH_CHECK(params.stride[dim] >= 1 && params.dilation[dim] >= 1 && params.padding[dim] >= 0, owner,
                ": stride and dilation must be positive, padding non-negative");
  }
}

/// A convolution primitive. Winograd convolutions compute on oneDNN's blocked
/// layout: `blocked` is then set, with the reorders between the NHWC tensors
/// the op exchanges and that layout.
struct ConvPrimitive : PreparedPrimitive<dnnl::convolution_forward> {
  bool blocked = false;
  dnnl::memory::desc blockedSrc;
  dnnl::memory::desc blockedDst;
  dnnl::reorder srcToBlocked;
  dnnl::reorder dstToBlocked;    ///< The residual, for the sum post-op.
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

bool winogradShape(const at::Tensor& weight, const Conv2dParams& params) {
  return params.groups == 1 && weight.size(2) == 3 && weight.size(3) == 3 && params.stride[0] == 1 &&
         params.stride[1] == 1 && params.dilation[0] == 1 && params.dilation[1] == 1;
}

dnnl::reorder reorderBetween(const dnnl::memory::desc& from, const dnnl::memory::desc& to) {
  return dnnl::reorder(dnnl::reorder::primitive_desc(cpuEngine(), from, cpuEngine(), to));
}

/// The oneDNN side of a float32 convolution.
struct ConvPacked::Kernel {
  Kernel(const at::Tensor& weight, const c10::optional<at::Tensor>& bias, int64_t groups)
      : weights(weight.contiguous(), dnnl::memory::desc(convWeightDims(weight.sizes(), groups), DataType::f32,
                                                         groups == 1 ? Format::oihw : Format::goihw)),
        bias(bias ? c10::optional<at::Tensor>(bias->contiguous()) : c10::nullopt) {
    if (this->bias) {
      biasMemory = viewAsMemory(*this->bias, dnnl::memory::desc({weight.size(0)}, DataType::f32, Format::a));
    }
  }

  dnnl::convolution_forward::desc describe(dnnl::algorithm algorithm, const dnnl::memory::desc& src,
                                           const dnnl::memory::desc& dst, const at::Tensor& weight,
                                           const Conv2dParams& params) const {
    dnnl::memory::desc anyWeights(convWeightDims(weight.sizes(), params.groups), DataType::f32, Format::any);
    dnnl::memory::desc biasDesc =
        bias ? dnnl::memory::desc({weight.size(0)}, DataType::f32, Format::a) : dnnl::memory::desc();
    dnnl::memory::dims dilation{params.dilation[0] - 1, params.dilation[1] - 1};
    return dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, algorithm, src, anyWeights, biasDesc,
                                           dst, dimsOf(params.stride), dilation, dimsOf(params.padding),
                                           dimsOf(params.padding));
  }

  ConvPrimitive prepare(at::IntArrayRef inputSizes, at::IntArrayRef outSizes, const at::Tensor& weight,
                        const Conv2dParams& params, const Activation& activation, ResidualAdd residual) {
    dnnl::memory::desc src(dimsOf(inputSizes), DataType::f32, Format::nhwc);
    dnnl::memory::desc dst(dimsOf(outSizes), DataType::f32, Format::nhwc);
    dnnl::primitive_attr attr = fusedAttr(activation, residual);
    ConvPrimitive prepared;
    prepared.src = src;
    prepared.dst = dst;
    if (winogradAllowed() && winogradPays(at::get_num_threads()) && winogradShape(weight, params) &&
        outSizes[0] * outSizes[2] * outSizes[3] >= kWinogradMinOutputPositions) {
      try {
        dnnl::memory::desc anySrc(dimsOf(inputSizes), DataType::f32, Format::any);
        dnnl::memory::desc anyDst(dimsOf(outSizes), DataType::f32, Format::any);
        dnnl::convolution_forward::primitive_desc pd(
            describe(dnnl::algorithm::convolution_winograd, anySrc, anyDst, weight, params), attr, cpuEngine());
        prepared.primitive = dnnl::convolution_forward(pd);
        prepared.weights = weights.in(pd.weights_desc());
        prepared.scratchpad = pd.scratchpad_desc();
        prepared.blocked = true;
        prepared.blockedSrc = pd.src_desc();
        prepared.blockedDst = pd.dst_desc();
        prepared.srcToBlocked = reorderBetween(src, prepared.blockedSrc);
        prepared.dstToBlocked = reorderBetween(dst, prepared.blockedDst);
        prepared.dstFromBlocked = reorderBetween(prepared.blockedDst, dst);
        return prepared;
      } catch (const dnnl::error&) {
        prepared.blocked = false;  // No Winograd implementation for this problem: direct.
      }
    }
    using Desc = dnnl::convolution_forward::primitive_desc;
    Desc pd = fusedPrimitiveDesc<Desc>(
        [&](const dnnl::primitive_attr& fused) {
          return Desc(describe(dnnl::algorithm::convolution_direct, src, dst, weight, params), fused, cpuEngine());
        },
        activation, residual, prepared.sumSeparately);
    prepared.primitive = dnnl::convolution_forward(pd);
    prepared.weights = weights.in(pd.weights_desc());
    prepared.dst = pd.dst_desc();
    prepared.scratchpad = pd.scratchpad_desc();
    return prepared;
  }

  PackedWeights weights;
  c10::optional<at::Tensor> bias;
  dnnl::memory biasMemory;  ///< Views `bias`; read-only, so shared by concurrent calls.
  PrimitiveCache<ConvPrimitive> primitives;
};

ConvPacked::ConvPacked(at::Tensor weight, c10::optional<at::Tensor> bias, Conv2dParams params)
    : weight_(std::move(weight)), bias_(std::move(bias)), params_(std::move(params)) {
  TORCH_CHECK(weight_.dim() == 4, "tsopt.ConvPacked: expected a 4-D weight, got ", weight_.dim(), "-D");
  checkConv2dParams("tsopt.ConvPacked", weight_.size(0), params_);
  TORCH_CHECK(!bias_ || (bias_->dim() == 1 && bias_->size(0) == weight_.size(0)),
              "tsopt.ConvPacked: the bias needs one value per output channel");
  if (isPlainFloat(weight_) && (!bias_ || isPlainFloat(*bias_))) {
    kernel_ = std::make_unique<Kernel>(weight_, bias_, params_.groups);
  }
  if (weight_.is_cuda()) {
    channelsLastWeight_ = weight_.contiguous(at::MemoryFormat::ChannelsLast);
  }
}

ConvPacked::ConvPacked(const State& state)
    : ConvPacked(std::get<1>(state), std::get<2>(state),
                 Conv2dParams{std::get<3>(state), std::get<4>(state), std::get<5>(state), std::get<6>(state)}) {
  TORCH_CHECK(std::get<0>(state) == kStateVersion, "tsopt.ConvPacked: unknown serialized format version ",
              std::get<0>(state));
}

ConvPacked::~ConvPacked() = default;

ConvPacked::State ConvPacked::state() const {
  return State{kStateVersion, weight_, bias_, params_.stride, params_.padding, params_.dilation, params_.groups};
}

bool ConvPacked::kernelApplies(const at::Tensor& input, const at::Tensor& residual) const {
  if (!kernel_ || !isPlainFloat(input) || input.dim() != 4 || needsAutograd(input) || input.numel() == 0 ||
      input.size(1) != weight_.size(1) * params_.groups) {
    return false;
  }
  std::vector<int64_t> outSizes = conv2dOutputSizes(input.sizes(), weight_.sizes(), params_);
  if (outSizes[2] <= 0 || outSizes[3] <= 0) {
    return false;
  }
  return !residual.defined() || (isPlainFloat(residual) && !needsAutograd(residual) && residual.sizes() == outSizes);
}

at::Tensor ConvPacked::runReference(const at::Tensor& input, const at::Tensor& residual,
                                    const Activation& activation, ResidualAdd where) const {
  return applyEpilogue(
      at::conv2d(input, weight_, bias_, params_.stride, params_.padding, params_.dilation, params_.groups), residual,
      activation, residual.defined() ? where : ResidualAdd::None);
}

std::string ConvPacked::algorithmFor(const at::Tensor& input) {
  if (!kernelApplies(input, at::Tensor())) {
    return "aten";
  }
  std::vector<int64_t> outSizes = conv2dOutputSizes(input.sizes(), weight_.sizes(), params_);
  Activation none;
  ProblemKey key{{input.size(0), input.size(1), input.size(2), input.size(3)}, at::get_num_threads(), none,
                 ResidualAdd::None};
  auto prepared = kernel_->primitives.get(
      key, [&] { return kernel_->prepare(input.sizes(), outSizes, weight_, params_, none, ResidualAdd::None); });
  return prepared->blocked ? "winograd" : "direct";
}

at::Tensor ConvPacked::run(const at::Tensor& input, at::Tensor residual, const Activation& activation,
                           ResidualAdd where) {
  if (!kernelApplies(input, residual)) {
    return runReference(input, residual, activation, where);
  }
  // oneDNN reads and writes NHWC (channels-last) plain tensors; a contiguous
  // input pays a reorder each way, which propagate-layout removes between convolutions.
  const at::MemoryFormat format = input.suggest_memory_format();
  const bool accumulate = residual.defined();
  at::Tensor src = input.contiguous(at::MemoryFormat::ChannelsLast);
  std::vector<int64_t> outSizes = conv2dOutputSizes(input.sizes(), weight_.sizes(), params_);
  at::Tensor dst = accumulate ? accumulatorFor(std::move(residual), at::MemoryFormat::ChannelsLast)
                              : emptyOutput(outSizes, input.options(), at::MemoryFormat::ChannelsLast);

  const ResidualAdd post = accumulate ? where : ResidualAdd::None;
  ProblemKey key{{input.size(0), input.size(1), input.size(2), input.size(3)}, at::get_num_threads(), activation,
                 post};
  auto prepared = kernel_->primitives.get(
      key, [&] { return kernel_->prepare(input.sizes(), outSizes, weight_, params_, activation, post); });

  at::Tensor residualHolder;
  if (prepared->sumSeparately) {
    residualHolder = std::move(dst);
    dst = emptyOutput(outSizes, input.options(), at::MemoryFormat::ChannelsLast);
  }
  dnnl::stream& stream = threadStream();
  dnnl::memory srcMemory = viewAsMemory(src, prepared->src);
  dnnl::memory dstMemory = viewAsMemory(dst, prepared->dst);
  dnnl::memory computeSrc = srcMemory;
  dnnl::memory computeDst = dstMemory;
  if (prepared->blocked) {
    computeSrc = threadBuffer(BufferSlot::BlockedSource, prepared->blockedSrc);
    computeDst = threadBuffer(BufferSlot::BlockedDestination, prepared->blockedDst);
    prepared->srcToBlocked.execute(stream, srcMemory, computeSrc);
    if (accumulate && !prepared->sumSeparately) {
      prepared->dstToBlocked.execute(stream, dstMemory, computeDst);
    }
  }
  std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC, computeSrc}, {DNNL_ARG_WEIGHTS, prepared->weights}, {DNNL_ARG_DST, computeDst}};
  addScratchpad(prepared->scratchpad, args);
  if (kernel_->bias) {
    args.emplace(DNNL_ARG_BIAS, kernel_->biasMemory);
  }
  prepared->primitive.execute(stream, args);
  if (prepared->blocked) {
    prepared->dstFromBlocked.execute(stream, computeDst, dstMemory);
  }
  if (prepared->sumSeparately) {
    dst = residualHolder.add_(dst);
  }
  return format == at::MemoryFormat::ChannelsLast ? dst : dst.contiguous(format);
}

} // namespace tsopt::runtime
