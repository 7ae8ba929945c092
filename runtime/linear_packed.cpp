#include "runtime/onednn_common.h"
#include "runtime/output_pool.h"
#include "runtime/packed_gemm.h"
#include "runtime/packed_layers.h"

#include <ATen/Functions.h>
#include <memory>
#include <mutex>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <unistd.h>

namespace tsopt::runtime {
namespace {

using Format = dnnl::memory::format_tag;
using DataType = dnnl::memory::data_type;
constexpr int64_t kStateVersion = 1;

/// The weight in the layout its device's kernels read fastest: row-major
/// (out, in) on the CPU; in float32 on a GPU column-major, i.e. (in, out)
/// storage seen through a transposed view: cuBLAS's float32 kernels for that
/// layout ("NN") took 25% less time than those for row-major weights ("TN")
/// on an H200 (BERT-base, batch 8), which is also why PyTorch's
/// optimize_for_inference transposes linear weights.
at::Tensor inPreferredLayout(at::Tensor weight) {
  if (weight.dim() != 2) {
    return weight;
  }
  if (weight.is_cuda() && weight.scalar_type() == at::kFloat) {
    return weight.t().contiguous().t();
  }
  return weight.contiguous();
}

int64_t rowsOf(const at::Tensor& input) { return input.numel() / input.size(-1); }

std::vector<int64_t> outputSizes(at::IntArrayRef input, int64_t outFeatures) {
  std::vector<int64_t> sizes(input.begin(), input.end() - 1);
  sizes.push_back(outFeatures);
  return sizes;
}

} // namespace

/// From this many rows on, a oneDNN matmul (brgemm) runs the layer: measured
/// 5-10% faster than the inner product at 128 rows with weights that come from
/// memory (BERT's layers, one thread), equal at 1024; below 32 rows the inner
/// product is as fast or faster (docs/fusion.md).
constexpr int64_t kMatmulMinRows = 32;

/// From this many rows on, MKL's packed sgemm runs the layer where it is
/// available: 5-20% faster than oneDNN at 8-128 rows (BERT-base's shapes, one
/// thread); below 8 rows, a matrix-vector product in all but name, oneDNN is
/// as fast or up to 1.7x faster on weights that stream from memory (docs/fusion.md).
constexpr int64_t kPackedGemmMinRows = 8;

/// Below 8 rows, weights up to this size still go to the packed sgemm, when
/// the activation is one it applies in a loop (none, relu, clamp): they stay
/// in cache, the product takes a microsecond or two, and oneDNN's fixed cost
/// per call decides. 1 row, 10 layers, one thread (benchmarks/small_models.py
/// and docs/fusion.md): 32x64 1.0 us against oneDNN 2.4, 128x128 1.7 against
/// 3.0; 256x256 (256 KiB) 13.2 against 11.0.
constexpr int64_t kSmallWeightBytes = 128 * 1024;

/// MKL packs a weight for one row count and one number of threads: a weight
/// packed with 1 thread and run with 2 runs as slowly as with 1 (BERT-base's
/// 128x768x3072 layer, this Xeon: 3.36 ms against 1.73 packed with 2), so a
/// pack is kept per (rows, at::get_num_threads()). A layer keeps packs for
/// this many such pairs and runs any other on oneDNN (whose packed weights
/// serve every row count), so inputs of varying length never multiply the
/// weights' memory.
constexpr size_t kMaxPackedRowCounts = 4;

/// From 2 to 24 rows the panel kernel (packed_gemm.h) runs the layer on AVX2
/// CPUs, except on Intel CPUs with MKL, whose packed sgemm keeps them.
/// BERT-base's layers with weights from memory, one thread, AMD EPYC (AVX2):
/// 1.5-2.5x faster than oneDNN 2.6's inner product at 2-4 rows, 1.0-1.6x at
/// 14-24, twice as fast as MKL at 8; at 1 row and from 32 rows on, mixed; from
/// 128 rows MKL is as fast as or faster than oneDNN there (docs/fusion.md).
constexpr int64_t kPanelGemmMinRows = 2;
constexpr int64_t kPanelGemmMaxRows = 24;

/// Where MKL is in the process on a CPU not Intel's, the panel kernel keeps
/// the layer up to this many rows: MKL's packed sgemm chooses slow kernels
/// there. BERT-base's layers with weights from memory, AMD EPYC (AVX2),
/// bench_linear, panel kernel against MKL, two runs: one thread 1.04-1.34x
/// faster at 32 rows, 1.01-1.27x at 48, 0.93-1.22x at 64 (0.88-1.08x at 128);
/// two threads 1.51-1.99x at 32, 1.07-1.52x at 48, 1.10-1.46x at 64. Without
/// MKL the limit stays 24: against oneDNN 2.6 past 24 rows the panel kernel
/// is slower on three of the four shapes with two threads (0.79-0.92x at
/// 32-64 rows; docs/fusion.md). The AVX-512 kernel has its own limit below.
constexpr int64_t kPanelGemmMaxRowsOverMkl = 64;

/// With AVX-512 the panel kernel runs every row count up to this one, Intel's
/// CPUs with MKL included. BERT-base's layers with weights from memory (Xeon
/// with AVX-512, bench_linear, docs/fusion.md): 1.1-1.4x faster than MKL's
/// packed sgemm at 14 and 24 rows, level at 32, 0.7-0.95x from 48 rows on. The
/// rule is the row count alone, never a timing. Larger products run on MKL (or
/// oneDNN), which packs the weight again: a layer that sees both few and many
/// rows holds both packs (LinearPacked::algorithmFor).
constexpr int64_t kWidePanelGemmMaxRows = 32;

/// Where MKL is in the process on a CPU not Intel's, the AVX-512 panel kernel
/// keeps the layer up to this many rows: MKL does not run its best kernels
/// there. BERT-base's layers with weights from memory, AMD EPYC (Zen 4,
/// AVX-512), bench_linear, panel kernel against MKL's packed sgemm: one thread
/// 1.55-1.60x faster at 32 rows, 1.30-1.33x at 64, 1.11-1.18x at 128,
/// 1.04-1.12x at 256, 1.02-1.07x at 512; two threads 1.82-2.32x at 32,
/// 1.12-1.33x at 128, 1.07-1.23x at 256, 0.92-1.08x at 512 (docs/fusion.md).
/// The panel kernel runs at 101-109 GFLOP/s a core at every row count there;
/// MKL rises from 66 at 32 rows to 99-103 at 512 and more.
constexpr int64_t kWidePanelGemmMaxRowsOverMkl = 256;

namespace {
/// Without MKL (Debian's LibTorch), products up to this many multiply-adds
/// (no residual, or one added before the activation) go to ATen's addmm on a
/// weight transposed once (what
/// optimize_for_inference does): oneDNN's fixed cost and its splitting of a
/// tiny product over every thread lose there (1.13 line, 2-layer encoder,
/// d_model 64, 16 tokens, docs/fusion.md).
constexpr int64_t kSmallProductMacs = 256 * 1024;

/// TSOPT_LINEAR_GEMM=onednn: every call on oneDNN (tests of its kernels).
bool onednnForced() {
  static const bool forced = linearGemmChoice() == "onednn";
  return forced;
}

bool isSmallWeight(const at::Tensor& weight) {
  return weight.numel() * static_cast<int64_t>(sizeof(float)) <= kSmallWeightBytes;
}

bool usesPackedGemm(int64_t rows, const at::Tensor& weight, const Activation& activation) {
  return (rows >= kPackedGemmMinRows || (isSmallWeight(weight) && appliedInLoop(activation))) &&
         packedGemmAvailable();
}

/// The bytes of one core's L2 cache (1 MiB where the C library does not say).
int64_t l2CacheBytes() {
  static const int64_t bytes = [] {
    const long reported = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return reported > 0 ? static_cast<int64_t>(reported) : int64_t{1} << 20;
  }();
  return bytes;
}

/// The panel kernel wins by streaming weights that come from memory; a weight
/// that fits in one core's L2 stays in cache between calls, and there MKL's
/// packed sgemm is the faster from 8 rows on (this Xeon with AVX-512, one
/// thread, one layer called in a loop, thread CPU time: 256x256 to 768x768
/// weights at 8-32 rows, MKL 1.1-1.3x faster; the pattern relu(linear(x) - r)
/// at 32x256 ran at 0.79x optimize_for_inference on the panel kernel, 1.00x on
/// MKL). So with MKL, such weights take it from 8 rows on.
bool weightStaysInCache(const at::Tensor& weight) {
  return weight.numel() * static_cast<int64_t>(sizeof(float)) <= l2CacheBytes();
}

bool usesPanelGemm(int64_t rows, const at::Tensor& weight) {
  static const bool chosen = panelGemmAvailable() && linearGemmChoice().empty();
  static const bool wide = preferredPanelIsa() == PanelIsa::Avx512;
  static const bool avx2Preferred = !(packedGemmAvailable() && isIntelCpu());
  static const int64_t avx2MaxRows = packedGemmAvailable() ? kPanelGemmMaxRowsOverMkl : kPanelGemmMaxRows;
  static const int64_t wideMaxRows = packedGemmAvailable() && !isIntelCpu() ? kWidePanelGemmMaxRowsOverMkl
                                                                           : kWidePanelGemmMaxRows;
  if (!chosen || (packedGemmAvailable() && rows >= kPackedGemmMinRows && weightStaysInCache(weight))) {
    return false;
  }
  return wide ? rows <= wideMaxRows : avx2Preferred && rows >= kPanelGemmMinRows && rows <= avx2MaxRows;
}
} // namespace

/// A prepared primitive (matmul or inner product) and the bias in the layout it reads.
struct LinearPrimitive : PreparedPrimitive<dnnl::primitive> {
  dnnl::memory bias;
};

/// The kernel side of a float32 linear layer over the input seen as a (rows,
/// in_features) matrix: MKL's packed sgemm where the LibTorch has it
/// (packed_gemm.h), oneDNN otherwise. The weight is packed once per layout a
/// primitive asks for, seen as (out, in) by inner products and MKL, as (in,
/// out) by matmuls.
struct LinearPacked::Kernel {
  Kernel(const at::Tensor& weight, const c10::optional<at::Tensor>& bias)
      : denseWeight(weight.contiguous()),
        innerProductWeights(weight.contiguous(),
                            dnnl::memory::desc(dimsOf(weight.sizes()), DataType::f32, Format::ab)),
        matmulWeights(weight.contiguous(),
                      dnnl::memory::desc({weight.size(1), weight.size(0)}, DataType::f32, Format::ba)),
        bias(bias ? c10::optional<at::Tensor>(bias->contiguous()) : c10::nullopt),
        transposedWeight(!packedGemmAvailable() && !onednnForced() && isSmallWeight(weight) ? weight.t().contiguous()
                                                                                         : at::Tensor()) {}

  /// Whether a call goes to ATen's addmm (see kSmallProductMacs).
  bool usesBlasGemm(int64_t rows, const Activation& activation, ResidualAdd post) const {
    return transposedWeight.defined() && post != ResidualAdd::AfterActivation && appliedInLoop(activation) &&
           rows * transposedWeight.numel() <= kSmallProductMacs;
  }

  /// activation(src · weightᵀ + bias [+ what `dst` holds]) into `dst`, through
  /// ATen's addmm on the transposed weight; bias and activation in loops.
  void runBlasGemm(const at::Tensor& src, at::Tensor& dst, int64_t rows, bool accumulate,
                   const Activation& activation) const {
    const int64_t outFeatures = transposedWeight.size(1);
    at::Tensor out2d = dst.view({rows, outFeatures});
    at::Tensor src2d = src.view({rows, transposedWeight.size(0)});
    if (accumulate) {
      out2d.addmm_(src2d, transposedWeight);
    } else {
      at::mm_out(out2d, src2d, transposedWeight);
    }
    float* data = dst.data_ptr<float>();
    if (bias) {
      const float* biasData = bias->data_ptr<float>();
      for (int64_t row = 0; row < rows; ++row) {
        float* line = data + row * outFeatures;
        for (int64_t column = 0; column < outFeatures; ++column) {
          line[column] += biasData[column];
        }
      }
    }
    applyActivationInLoop(data, dst.numel(), activation);
  }

  /// `sumScale`: the residual's scale, for the sum post-op if oneDNN takes it.
  LinearPrimitive prepare(int64_t rows, const at::Tensor& weight, const Activation& activation,
                          ResidualAdd residual, float sumScale) {
    const int64_t outFeatures = weight.size(0);
    dnnl::memory::desc src({rows, weight.size(1)}, DataType::f32, Format::ab);
    dnnl::memory::desc dst({rows, outFeatures}, DataType::f32, Format::ab);
    bool sumSeparately = false;
    if (rows >= kMatmulMinRows) {
      dnnl::memory::desc anyWeights({weight.size(1), outFeatures}, DataType::f32, Format::any);
      dnnl::memory::desc biasDesc =
          bias ? dnnl::memory::desc({1, outFeatures}, DataType::f32, Format::ab) : dnnl::memory::desc();
      using Desc = dnnl::matmul::primitive_desc;
      Desc pd = fusedPrimitiveDesc<Desc>(
          [&](const dnnl::primitive_attr& attr) {
            return Desc(dnnl::matmul::desc(src, anyWeights, biasDesc, dst), attr, cpuEngine());
          },
          activation, residual, sumScale, sumSeparately);
      return prepared<dnnl::matmul>(pd, src, matmulWeights, biasDesc, sumScale, sumSeparately);
    }
    dnnl::memory::desc anyWeights(dimsOf(weight.sizes()), DataType::f32, Format::any);
    dnnl::memory::desc biasDesc =
        bias ? dnnl::memory::desc({outFeatures}, DataType::f32, Format::a) : dnnl::memory::desc();
    dnnl::inner_product_forward::desc desc(dnnl::prop_kind::forward_inference, src, anyWeights, biasDesc, dst);
    using Desc = dnnl::inner_product_forward::primitive_desc;
    Desc pd = fusedPrimitiveDesc<Desc>([&](const dnnl::primitive_attr& attr) { return Desc(desc, attr, cpuEngine()); },
                                       activation, residual, sumScale, sumSeparately);
    return prepared<dnnl::inner_product_forward>(pd, src, innerProductWeights, biasDesc, sumScale, sumSeparately);
  }

  /// The primitive of `pd`, the weights packed for it and the bias seen through `biasDesc`.
  template <typename Primitive>
  LinearPrimitive prepared(const typename Primitive::primitive_desc& pd, const dnnl::memory::desc& src,
                           PackedWeights& packedWeights, const dnnl::memory::desc& biasDesc, float sumScale,
                           bool sumSeparately) {
    LinearPrimitive result;
    result.sumScale = sumScale;
    result.sumSeparately = sumSeparately;
    result.primitive = Primitive(pd);
    result.weights = packedWeights.in(pd.weights_desc());
    result.src = src;
    result.dst = pd.dst_desc();
    result.scratchpad = pd.scratchpad_desc();
    if (bias) {
      result.bias = viewAsMemory(*bias, biasDesc);
    }
    return result;
  }

  /// Whether `rows` has a pack for the calling thread count, or room for one.
  bool hasPackFor(int64_t rows) {
    std::lock_guard<std::mutex> lock(gemmsMutex);
    return gemms.count(packKey(rows)) != 0 || gemms.size() < kMaxPackedRowCounts;
  }

  /// The weight packed for `rows` and the calling thread count, packed on
  /// first use; nothing once kMaxPackedRowCounts other pairs hold packs.
  std::shared_ptr<const PackedGemmWeights> packedFor(int64_t rows) {
    const int64_t key = packKey(rows);
    std::lock_guard<std::mutex> lock(gemmsMutex);
    auto found = gemms.find(key);
    if (found != gemms.end()) {
      return found->second;
    }
    if (gemms.size() >= kMaxPackedRowCounts) {
      return nullptr;
    }
    auto packed = std::make_shared<const PackedGemmWeights>(denseWeight, rows);
    gemms.emplace(key, packed);
    return packed;
  }

  /// (rows, threads) in one key: rows below 2^40, threads below 2^23.
  static int64_t packKey(int64_t rows) { return rows | (static_cast<int64_t>(at::get_num_threads()) << 40); }

  /// The weight in the panel kernel's layout, packed on first use.
  const PanelGemmWeights& panelGemm() {
    std::call_once(panelPacked, [this] { panel = std::make_unique<PanelGemmWeights>(denseWeight); });
    return *panel;
  }

  at::Tensor denseWeight;
  PackedWeights innerProductWeights;
  PackedWeights matmulWeights;
  c10::optional<at::Tensor> bias;  ///< Read-only, so shared by concurrent calls.
  at::Tensor transposedWeight;     ///< (in, out), for ATen's addmm; small layers without MKL only.
  PrimitiveCache<LinearPrimitive> primitives;
  std::mutex gemmsMutex;
  std::unordered_map<int64_t, std::shared_ptr<const PackedGemmWeights>> gemms;  ///< Per packKey.
  std::once_flag panelPacked;
  std::unique_ptr<const PanelGemmWeights> panel;
};

LinearPacked::LinearPacked(at::Tensor weight, c10::optional<at::Tensor> bias)
    : weight_(inPreferredLayout(std::move(weight))), bias_(std::move(bias)) {
  TORCH_CHECK(weight_.dim() == 2, "tsopt.LinearPacked: expected a 2-D weight, got ", weight_.dim(), "-D");
  TORCH_CHECK(!bias_ || (bias_->dim() == 1 && bias_->size(0) == weight_.size(0)),
              "tsopt.LinearPacked: the bias needs one value per output feature");
  if (isPlainFloat(weight_) && weight_.numel() > 0 && (!bias_ || isPlainFloat(*bias_))) {
    kernel_ = std::make_unique<Kernel>(weight_, bias_);
  }
}

LinearPacked::LinearPacked(const State& state) : LinearPacked(std::get<1>(state), std::get<2>(state)) {
  TORCH_CHECK(std::get<0>(state) == kStateVersion, "tsopt.LinearPacked: unknown serialized format version ",
              std::get<0>(state));
}

LinearPacked::~LinearPacked() = default;

LinearPacked::State LinearPacked::state() const { return State{kStateVersion, weight_, bias_}; }

bool LinearPacked::kernelApplies(const at::Tensor& input, const at::Tensor& residual) const {
  if (!kernel_ || !isPlainFloat(input) || input.dim() < 1 || needsAutograd(input) || input.numel() == 0 ||
      input.size(-1) != weight_.size(1)) {
    return false;
  }
  return !residual.defined() || (isPlainFloat(residual) && !needsAutograd(residual) &&
                       residual.sizes() == outputSizes(input.sizes(), weight_.size(0)));
}

at::Tensor LinearPacked::runReference(const at::Tensor& input, const at::Tensor& residual,
                                      const Activation& activation, ResidualAdd where, double residualScale,
                                      const at::Tensor& second, double secondScale) const {
  return applyEpilogue(at::linear(input, weight_, bias_), residual, activation,
                       residual.defined() ? where : ResidualAdd::None, residualScale, second, secondScale);
}

std::string LinearPacked::algorithmFor(const at::Tensor& input) const {
  if (!kernelApplies(input, at::Tensor())) {
    return "aten";
  }
  const int64_t rows = rowsOf(input);
  if (kernel_->usesBlasGemm(rows, Activation{}, ResidualAdd::None)) {
    return "aten-addmm";
  }
  if (usesPanelGemm(rows, weight_)) {
    return "panel-gemm";
  }
  if (usesPackedGemm(rows, weight_, Activation{}) && kernel_->hasPackFor(rows)) {
    return "mkl-packed-sgemm";
  }
  return rows >= kMatmulMinRows ? "onednn-matmul" : "onednn-inner-product";
}

at::Tensor LinearPacked::run(const at::Tensor& input, at::Tensor residual, const Activation& activation,
                             ResidualAdd where, double residualScale, const at::Tensor& second,
                             double secondScale) {
  if (!kernelApplies(input, residual) || !secondResidualFits(second, residual)) {
    return runReference(input, residual, activation, where, residualScale, second, secondScale);
  }
  const int64_t rows = rowsOf(input);
  const bool accumulate = residual.defined();
  const ResidualAdd post = accumulate ? where : ResidualAdd::None;
  at::Tensor src = input.contiguous();
  const std::vector<int64_t> outSizes = outputSizes(input.sizes(), weight_.size(0));
  // The output, holding the residual times residualScale / keptScale (and the
  // second residual) where there is one: keptScale is the scale the kernel
  // applies itself, 1 for the gemms of our own (they add the output at scale 1).
  const auto output = [&](double keptScale) {
    return accumulate ? accumulatorFor(std::move(residual), at::MemoryFormat::Contiguous, residualScale / keptScale,
                                       second, secondScale / keptScale)
                      : emptyOutput(outSizes, input.options(), at::MemoryFormat::Contiguous);
  };
  if (kernel_->usesBlasGemm(rows, activation, post)) {
    at::Tensor dst = output(1.0);
    kernel_->runBlasGemm(src, dst, rows, accumulate, activation);
    return dst;
  }
  const float* biasData = kernel_->bias ? kernel_->bias->data_ptr<float>() : nullptr;
  // MKL's sgemm and the panel kernel accumulate only before the activation: a
  // residual added after it takes a fresh output added to the residual.
  const auto accumulating = [&](const auto& gemm) -> at::Tensor {
    at::Tensor dst = output(1.0);
    if (post == ResidualAdd::AfterActivation) {
      at::Tensor activated = emptyOutput(outSizes, input.options(), at::MemoryFormat::Contiguous);
      gemm(activated, false);
      return dst.add_(activated);
    }
    gemm(dst, accumulate);
    return dst;
  };
  if (usesPanelGemm(rows, weight_)) {
    const PanelGemmWeights& panel = kernel_->panelGemm();
    return accumulating([&](at::Tensor& out, bool sum) {
      panel.run(src.data_ptr<float>(), rows, out, biasData, sum, activation);
    });
  }
  if (auto gemm = usesPackedGemm(rows, weight_, activation) ? kernel_->packedFor(rows) : nullptr) {
    return accumulating([&](at::Tensor& out, bool sum) {
      gemm->run(src.data_ptr<float>(), out, biasData, sum, activation);
    });
  }

  ProblemKey key{{rows}, at::get_num_threads(), activation, post};
  key.residualScale = accumulate ? residualScale : 1.0;
  auto prepared = kernel_->primitives.get(key, [&] {
    return kernel_->prepare(rows, weight_, activation, post, static_cast<float>(key.residualScale));
  });
  at::Tensor dst = output(prepared->sumScale != 1.f ? residualScale : 1.0);
  at::Tensor out = prepared->sumSeparately ? emptyOutput(outSizes, input.options(), at::MemoryFormat::Contiguous) : dst;

  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, viewAsMemory(src, prepared->src)},
                                             {DNNL_ARG_WEIGHTS, prepared->weights},
                                             {DNNL_ARG_DST, viewAsMemory(out, prepared->dst)}};
  addScratchpad(prepared->scratchpad, args);
  if (kernel_->bias) {
    args.emplace(DNNL_ARG_BIAS, prepared->bias);
  }
  prepared->primitive.execute(threadStream(), args);
  return prepared->sumSeparately ? dst.add_(out) : dst;
}

} // namespace tsopt::runtime
