#include "runtime/packed_gemm.h"

#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <dlfcn.h>
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace tsopt::runtime {
namespace {

// MKL's CBLAS enumerators and its LP64 interface (MKL_INT is int): the
// wheels export the ILP64 variants with a _64 suffix.
constexpr int kRowMajor = 101;
constexpr int kNoTrans = 111;
constexpr int kTrans = 112;
constexpr int kPacked = 151;
constexpr int kBMatrix = 162;

struct MklPackedApi {
  size_t (*getSize)(int identifier, int m, int n, int k) = nullptr;
  void (*pack)(int layout, int identifier, int trans, int m, int n, int k, float alpha, const float* src, int ld,
               float* dest) = nullptr;
  void (*compute)(int layout, int transa, int transb, int m, int n, int k, const float* a, int lda, const float* b,
                  int ldb, float beta, float* c, int ldc) = nullptr;

  bool complete() const { return getSize && pack && compute; }
};

/// The functions in the library that defines ATen's own symbols (libtorch_cpu),
/// which is loaded already: RTLD_NOLOAD never loads anything.
MklPackedApi findApi() {
  MklPackedApi api;
  if (linearGemmChoice() == "onednn") {
    return api;
  }
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&at::get_num_threads), &info) == 0 || info.dli_fname == nullptr) {
    return api;
  }
  void* library = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
  if (library == nullptr) {
    return api;
  }
  api.getSize = reinterpret_cast<decltype(api.getSize)>(dlsym(library, "cblas_sgemm_pack_get_size"));
  api.pack = reinterpret_cast<decltype(api.pack)>(dlsym(library, "cblas_sgemm_pack"));
  api.compute = reinterpret_cast<decltype(api.compute)>(dlsym(library, "cblas_sgemm_compute"));
  return api;
}

const MklPackedApi& api() {
  static const MklPackedApi instance = findApi();
  return instance;
}

int asMklInt(int64_t value) {
  TORCH_CHECK(value >= 0 && value <= std::numeric_limits<int>::max(), "tsopt: matrix dimension ", value,
              " is out of range for MKL's packed sgemm");
  return static_cast<int>(value);
}

} // namespace

std::string linearGemmChoice() {
  const char* setting = std::getenv("TSOPT_LINEAR_GEMM");
  return setting != nullptr ? setting : "";
}

bool isIntelCpu() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_is("intel");
#else
  return false;
#endif
}

bool packedGemmAvailable() { return api().complete(); }

PackedGemmWeights::PackedGemmWeights(const at::Tensor& weight, int64_t rows)
    : rows_(asMklInt(rows)), outFeatures_(asMklInt(weight.size(0))), inFeatures_(asMklInt(weight.size(1))) {
  TORCH_CHECK(packedGemmAvailable(), "tsopt: MKL's packed sgemm is not available");
  TORCH_CHECK(weight.is_contiguous() && weight.scalar_type() == at::kFloat, "tsopt: packed sgemm needs a dense "
              "float32 weight");
  const size_t bytes = api().getSize(kBMatrix, rows_, outFeatures_, inFeatures_);
  packed_ = at::empty({static_cast<int64_t>(bytes)}, weight.options().dtype(at::kByte));
  // B = weightᵀ, (in, out): the weight is its row-major transpose.
  api().pack(kRowMajor, kBMatrix, kTrans, rows_, outFeatures_, inFeatures_, 1.0f, weight.data_ptr<float>(),
             inFeatures_, reinterpret_cast<float*>(packed_.data_ptr()));
}

namespace {

/// Rows split between threads from this many floats of output on: below it
/// a thread's start costs more than the loop.
constexpr int64_t kParallelFloats = 32 * 1024;

/// Presets the (rows, columns) output to the bias (added to what it holds when
/// `accumulate`): the product is then added on top. Plain loops (rows split
/// between threads), not ATen ops: at a few rows the dispatch of a bias copy
/// would cost more than the product (benchmarks/small_models.py).
void presetBias(float* c, int64_t rows, int64_t columns, const float* bias, bool accumulate) {
  if (bias == nullptr) {
    return;
  }
  const int64_t grain = std::max<int64_t>(1, kParallelFloats / std::max<int64_t>(1, columns));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      float* line = c + row * columns;
      if (accumulate) {
        for (int64_t column = 0; column < columns; ++column) {
          line[column] += bias[column];
        }
      } else {
        std::memcpy(line, bias, sizeof(float) * static_cast<size_t>(columns));
      }
    }
  });
}

void finishActivation(at::Tensor& out, const Activation& activation) {
  if (activation.kind == ActivationKind::None) {
    return;
  }
  if (appliedInLoop(activation)) {
    float* data = out.data_ptr<float>();
    at::parallel_for(0, out.numel(), kParallelFloats, [&](int64_t begin, int64_t end) {
      applyActivationInLoop(data + begin, end - begin, activation);
    });
  } else {
    applyActivationInPlace(out, activation);
  }
}

} // namespace

void PackedGemmWeights::run(const float* input, at::Tensor& out, const float* bias, bool accumulate,
                            const Activation& activation) const {
  TORCH_CHECK(out.is_contiguous() && out.numel() == static_cast<int64_t>(rows_) * outFeatures_,
              "tsopt: packed sgemm needs a dense output of the packed row count");
  float* c = out.data_ptr<float>();
  presetBias(c, rows_, outFeatures_, bias, accumulate);
  const float beta = bias != nullptr || accumulate ? 1.0f : 0.0f;
  api().compute(kRowMajor, kNoTrans, kPacked, rows_, outFeatures_, inFeatures_, input, inFeatures_,
                reinterpret_cast<const float*>(packed_.data_ptr()), inFeatures_, beta, c, outFeatures_);
  finishActivation(out, activation);
}

// --- the panel kernel ---------------------------------------------------------

namespace {

constexpr int64_t kPanelColumns = 16;  ///< Two AVX2 vectors.
constexpr int64_t kRowBlock = 6;       ///< 6 x 2 accumulators + 2 weight vectors + 1 broadcast: 15 of 16 registers.
/// Input features per pass over the row blocks: 256 x 16 floats of a panel
/// (16 KiB) stay in L1 while every row block uses them.
constexpr int64_t kDepthChunk = 256;
constexpr int64_t kPrefetchSteps = 16;  ///< Panel rows (one cache line each) prefetched ahead.

/// How a block of the output starts and ends. A product runs in chunks of
/// kDepthChunk input features: the first chunk starts the output from the
/// bias (and from what the output holds, the residual, when accumulating),
/// the others from the partial sums; the last one applies the activation
/// (none, relu or clamp) in registers before it stores. So neither the bias
/// nor the activation takes a pass of its own over the output, and both are
/// split between the threads with the panels.
struct BlockEnds {
  bool load = true;              ///< Read the output first (partial sums, or the residual).
  const float* bias = nullptr;   ///< This panel's 16 bias values, added at the start; or none.
  ActivationKind activation = ActivationKind::None;  ///< None, Relu or Clamp.
  float lower = 0.0f;            ///< Clamp's bounds.
  float upper = 0.0f;
};

/// relu or clamp on 8 floats, with applyActivationInLoop's results (NaN
/// stays NaN; clamp takes the lower bound first).
__attribute__((target("avx2,fma"))) inline __m256 activate8(__m256 value, const BlockEnds& ends) {
  if (ends.activation == ActivationKind::Relu) {
    return _mm256_and_ps(value, _mm256_cmp_ps(value, _mm256_setzero_ps(), _CMP_NLE_UQ));  // > 0 or NaN
  }
  // As std::min(std::max(value, lower), upper), by comparisons that are false for NaN.
  const __m256 lower = _mm256_set1_ps(ends.lower);
  const __m256 upper = _mm256_set1_ps(ends.upper);
  const __m256 raised = _mm256_blendv_ps(value, lower, _mm256_cmp_ps(value, lower, _CMP_LT_OQ));
  return _mm256_blendv_ps(raised, upper, _mm256_cmp_ps(raised, upper, _CMP_GT_OQ));
}

/// c (rows x 16, leading dimension ldc) += a (rows x depth, lda) · panel
/// (depth x 16, dense), for Rows <= kRowBlock, started and ended as `ends`
/// says; `columns` < 16 at the right edge, whose c is read and written
/// through a scratch line.
template <int Rows, bool Prefetch>
__attribute__((target("avx2,fma"))) void panelBlock(const float* a, int64_t lda, const float* panel, int64_t depth,
                                                    float* c, int64_t ldc, int64_t columns, const BlockEnds& ends) {
  // Named accumulators, not an array: GCC 12 kept an array's copy in memory
  // too and stored every accumulator on every step.
  __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
  alignas(32) float edge[Rows][kPanelColumns] = {};
  const auto line = [&](int row) { return columns < kPanelColumns ? edge[row] : c + row * ldc; };
  for (int row = 0; ends.load && columns < kPanelColumns && row < Rows; ++row) {
    std::memcpy(edge[row], c + row * ldc, sizeof(float) * static_cast<size_t>(columns));
  }
  const __m256 bias0 = ends.bias != nullptr ? _mm256_loadu_ps(ends.bias) : _mm256_setzero_ps();
  const __m256 bias1 = ends.bias != nullptr ? _mm256_loadu_ps(ends.bias + 8) : _mm256_setzero_ps();
#define TSOPT_PANEL_ROWS(STEP) STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5)
#define TSOPT_PANEL_LOAD(R)                                                                                       \
  if constexpr (Rows > R) {                                                                                       \
    c##R##0 = ends.load ? _mm256_add_ps(_mm256_loadu_ps(line(R)), bias0) : bias0;                                 \
    c##R##1 = ends.load ? _mm256_add_ps(_mm256_loadu_ps(line(R) + 8), bias1) : bias1;                             \
  }
#define TSOPT_PANEL_FMA(R)                                                                                        \
  if constexpr (Rows > R) {                                                                                       \
    const __m256 x = _mm256_broadcast_ss(a + R * lda + k);                                                        \
    c##R##0 = _mm256_fmadd_ps(x, low, c##R##0);                                                                  \
    c##R##1 = _mm256_fmadd_ps(x, high, c##R##1);                                                                  \
  }
#define TSOPT_PANEL_ACTIVATE(R)                                                                                   \
  if constexpr (Rows > R) {                                                                                       \
    c##R##0 = activate8(c##R##0, ends);                                                                           \
    c##R##1 = activate8(c##R##1, ends);                                                                           \
  }
#define TSOPT_PANEL_STORE(R)                                                                                      \
  if constexpr (Rows > R) {                                                                                       \
    _mm256_storeu_ps(line(R), c##R##0);                                                                           \
    _mm256_storeu_ps(line(R) + 8, c##R##1);                                                                       \
  }
  TSOPT_PANEL_ROWS(TSOPT_PANEL_LOAD)
  for (int64_t k = 0; k < depth; ++k) {
    if (Prefetch) {
      _mm_prefetch(reinterpret_cast<const char*>(panel + (k + kPrefetchSteps) * kPanelColumns), _MM_HINT_T0);
    }
    const __m256 low = _mm256_load_ps(panel + k * kPanelColumns);
    const __m256 high = _mm256_load_ps(panel + k * kPanelColumns + 8);
    TSOPT_PANEL_ROWS(TSOPT_PANEL_FMA)
  }
  if (ends.activation != ActivationKind::None) {
    TSOPT_PANEL_ROWS(TSOPT_PANEL_ACTIVATE)
  }
  TSOPT_PANEL_ROWS(TSOPT_PANEL_STORE)
#undef TSOPT_PANEL_STORE
#undef TSOPT_PANEL_ACTIVATE
#undef TSOPT_PANEL_FMA
#undef TSOPT_PANEL_LOAD
#undef TSOPT_PANEL_ROWS
  for (int row = 0; columns < kPanelColumns && row < Rows; ++row) {
    std::memcpy(c + row * ldc, edge[row], sizeof(float) * static_cast<size_t>(columns));
  }
}

using PanelBlockFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int64_t,
                             const BlockEnds&);
/// [prefetch][rows]: the first row block of a chunk brings the panel in from
/// memory (prefetching ahead); the others find it in L1.
constexpr PanelBlockFn kPanelBlocks[2][kRowBlock + 1] = {
    {nullptr, panelBlock<1, false>, panelBlock<2, false>, panelBlock<3, false>, panelBlock<4, false>,
     panelBlock<5, false>, panelBlock<6, false>},
    {nullptr, panelBlock<1, true>, panelBlock<2, true>, panelBlock<3, true>, panelBlock<4, true>,
     panelBlock<5, true>, panelBlock<6, true>}};

/// AVX-512: a panel row is one vector, so a block holds 16 rows of the output
/// in 16 of the 32 registers.
constexpr int64_t kWideRowBlock = 16;
/// Panel rows (8 KiB) ahead that the AVX-512 kernel also asks into L2: with
/// the L1 prefetch alone, 14 rows of 768 x 3072 took 1030 us from memory, with
/// this 770 (64 to 192 ahead were alike; Xeon with AVX-512, bench_linear).
constexpr int64_t kFarPrefetchSteps = 128;

/// relu or clamp on 16 floats, as activate8.
__attribute__((target("avx512f"))) inline __m512 activate16(__m512 value, const BlockEnds& ends) {
  if (ends.activation == ActivationKind::Relu) {
    const __mmask16 kept = _mm512_cmp_ps_mask(value, _mm512_setzero_ps(), _CMP_NLE_UQ);  // > 0 or NaN
    return _mm512_maskz_mov_ps(kept, value);
  }
  // As std::min(std::max(value, lower), upper), by comparisons that are false for NaN.
  const __m512 lower = _mm512_set1_ps(ends.lower);
  const __m512 upper = _mm512_set1_ps(ends.upper);
  const __m512 raised = _mm512_mask_mov_ps(value, _mm512_cmp_ps_mask(value, lower, _CMP_LT_OQ), lower);
  return _mm512_mask_mov_ps(raised, _mm512_cmp_ps_mask(raised, upper, _CMP_GT_OQ), upper);
}

/// c (Rows x 16, leading dimension ldc) += block · panel (depth x 16, dense),
/// where `block` holds the input's Rows rows side by side (depth x Rows, dense:
/// every broadcast is at a fixed offset from one pointer), started and ended
/// as `ends` says. `columns` masks the panel's right edge.
template <int Rows, bool Prefetch>
__attribute__((target("avx512f"))) void widePanelBlock(const float* block, const float* panel, int64_t depth,
                                                       float* c, int64_t ldc, __mmask16 columns,
                                                       const BlockEnds& ends) {
  const __m512 bias = ends.bias != nullptr ? _mm512_maskz_loadu_ps(columns, ends.bias) : _mm512_setzero_ps();
  __m512 sums[Rows];
#pragma GCC unroll 16
  for (int row = 0; row < Rows; ++row) {
    sums[row] = ends.load ? _mm512_add_ps(_mm512_maskz_loadu_ps(columns, c + row * ldc), bias) : bias;
  }
  for (int64_t k = 0; k < depth; ++k) {
    if (Prefetch) {
      _mm_prefetch(reinterpret_cast<const char*>(panel + (k + kPrefetchSteps) * kPanelColumns), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(panel + (k + kFarPrefetchSteps) * kPanelColumns), _MM_HINT_T1);
    }
    const __m512 weights = _mm512_load_ps(panel + k * kPanelColumns);
    const float* x = block + k * Rows;
#pragma GCC unroll 16
    for (int row = 0; row < Rows; ++row) {
      sums[row] = _mm512_fmadd_ps(_mm512_set1_ps(x[row]), weights, sums[row]);
    }
  }
  if (ends.activation != ActivationKind::None) {
#pragma GCC unroll 16
    for (int row = 0; row < Rows; ++row) {
      sums[row] = activate16(sums[row], ends);
    }
  }
#pragma GCC unroll 16
  for (int row = 0; row < Rows; ++row) {
    _mm512_mask_storeu_ps(c + row * ldc, columns, sums[row]);
  }
}

using WidePanelBlockFn = void (*)(const float*, const float*, int64_t, float*, int64_t, __mmask16, const BlockEnds&);

/// Entry r runs r rows (entry 0: none).
template <bool Prefetch, size_t... Rows>
constexpr std::array<WidePanelBlockFn, sizeof...(Rows) + 1> widePanelBlocks(std::index_sequence<Rows...>) {
  return {nullptr, widePanelBlock<static_cast<int>(Rows) + 1, Prefetch>...};
}

/// [prefetch][rows], as kPanelBlocks.
constexpr std::array<WidePanelBlockFn, kWideRowBlock + 1> kWidePanelBlocks[2] = {
    widePanelBlocks<false>(std::make_index_sequence<kWideRowBlock>()),
    widePanelBlocks<true>(std::make_index_sequence<kWideRowBlock>())};

/// The input's rows in blocks of kWideRowBlock, each block's rows side by side
/// (in_features x rows of the block): block b starts at b * kWideRowBlock *
/// inFeatures. A buffer per calling thread, reused.
const float* interleaveRowBlocks(const float* input, int64_t rows, int64_t inFeatures) {
  thread_local std::vector<float> buffer;
  buffer.resize(static_cast<size_t>(rows * inFeatures));
  for (int64_t first = 0; first < rows; first += kWideRowBlock) {
    const int64_t count = std::min(kWideRowBlock, rows - first);
    float* block = buffer.data() + first * inFeatures;
    for (int64_t row = 0; row < count; ++row) {
      const float* line = input + (first + row) * inFeatures;
      for (int64_t k = 0; k < inFeatures; ++k) {
        block[k * count + row] = line[k];
      }
    }
  }
  return buffer.data();
}

/// Calls block(panel, k, depth, row, rows) for every panel, every kDepthChunk
/// chunk of it, and every block of up to `rowBlock` rows, panels split between
/// threads: each thread runs every row block over a chunk while the chunk is
/// in L1, so the weight is read from memory once, in order.
template <typename Block>
void forEachPanelBlock(int64_t panels, int64_t inFeatures, int64_t rows, int64_t rowBlock, const Block& block) {
  const int64_t panelSize = inFeatures * kPanelColumns;
  const int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, panelSize * rows));
  at::parallel_for(0, panels, grain, [&](int64_t begin, int64_t end) {
    for (int64_t panel = begin; panel < end; ++panel) {
      for (int64_t k = 0; k < inFeatures; k += kDepthChunk) {
        const int64_t depth = std::min(kDepthChunk, inFeatures - k);
        for (int64_t row = 0; row < rows; row += rowBlock) {
          block(panel, k, depth, row, std::min(rowBlock, rows - row));
        }
      }
    }
  });
}

} // namespace

/// The bias, residual and activation of one product, told to each block.
struct PanelGemmWeights::ProductEnds {
  const float* bias;      ///< 16 values a panel (the last one padded), or none.
  bool accumulate;        ///< The output holds a residual to add to.
  Activation activation;  ///< None, relu or clamp: applied in registers.
  int64_t inFeatures;

  /// How the block over input features [k, k + depth) of `panel` starts and ends.
  BlockEnds at(int64_t panel, int64_t k, int64_t depth) const {
    BlockEnds ends;
    if (k == 0) {
      ends.load = accumulate;
      ends.bias = bias != nullptr ? bias + panel * kPanelColumns : nullptr;
    }
    if (k + depth >= inFeatures) {
      ends.activation = activation.kind;
      ends.lower = static_cast<float>(activation.alpha);
      ends.upper = static_cast<float>(activation.beta);
    }
    return ends;
  }
};

bool panelGemmAvailable() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return available;
#else
  return false;
#endif
}

PanelIsa preferredPanelIsa() {
#if defined(__x86_64__) || defined(__i386__)
  static const PanelIsa isa = [] {
    const char* limit = std::getenv("ONEDNN_MAX_CPU_ISA");
    const std::string held = limit != nullptr ? limit : "";
    const bool heldBelowAvx512 = !held.empty() && held != "ALL" && held.rfind("AVX512", 0) != 0 &&
                                 held.rfind("AVX10", 0) != 0 && held.rfind("AMX", 0) != 0;
    return __builtin_cpu_supports("avx512f") && !heldBelowAvx512 ? PanelIsa::Avx512 : PanelIsa::Avx2;
  }();
  return isa;
#else
  return PanelIsa::Avx2;
#endif
}

PanelGemmWeights::PanelGemmWeights(const at::Tensor& weight, PanelIsa isa)
    : outFeatures_(weight.size(0)), inFeatures_(weight.size(1)),
      panels_((outFeatures_ + kPanelColumns - 1) / kPanelColumns), isa_(isa) {
  TORCH_CHECK(panelGemmAvailable(), "tsopt: the panel kernel needs AVX2 and FMA");
  TORCH_CHECK(isa != PanelIsa::Avx512 || __builtin_cpu_supports("avx512f"),
              "tsopt: the AVX-512 panel kernel needs a CPU with AVX512F");
  TORCH_CHECK(weight.dim() == 2 && weight.scalar_type() == at::kFloat && weight.device().is_cpu(),
              "tsopt: the panel kernel needs a float32 CPU weight");
  // Panel p holds columns [16p, 16p + 16) of weightᵀ, row k after row k: the
  // kernel streams it front to back. The last panel is padded with zeros.
  at::Tensor padded = at::zeros({panels_ * kPanelColumns, inFeatures_}, weight.options());
  padded.narrow(0, 0, outFeatures_).copy_(weight);
  packed_ = padded.view({panels_, kPanelColumns, inFeatures_}).transpose(1, 2).contiguous();
}

void PanelGemmWeights::run(const float* input, int64_t rows, at::Tensor& out, const float* bias, bool accumulate,
                           const Activation& activation) const {
  TORCH_CHECK(out.is_contiguous() && out.numel() == rows * outFeatures_,
              "tsopt: the panel kernel needs a dense output of the input's row count");
  float* c = out.data_ptr<float>();
  if (inFeatures_ == 0) {  // No depth chunk to start or end the output.
    if (bias == nullptr && !accumulate) {
      std::memset(c, 0, sizeof(float) * static_cast<size_t>(out.numel()));
    }
    presetBias(c, rows, outFeatures_, bias, accumulate);
    finishActivation(out, activation);
    return;
  }
  // The blocks read 16 bias values a panel: the last panel's are padded.
  const float* panelBias = bias;
  thread_local std::vector<float> padded;
  if (bias != nullptr && outFeatures_ % kPanelColumns != 0) {
    padded.assign(static_cast<size_t>(panels_ * kPanelColumns), 0.0f);
    std::copy(bias, bias + outFeatures_, padded.begin());
    panelBias = padded.data();
  }
  const bool inLoop = appliedInLoop(activation);
  const ProductEnds ends{panelBias, accumulate, inLoop ? activation : Activation{}, inFeatures_};
  if (isa_ == PanelIsa::Avx512) {
    runAvx512(input, rows, c, ends);
  } else {
    runAvx2(input, rows, c, ends);
  }
  if (!inLoop) {
    applyActivationInPlace(out, activation);
  }
}

void PanelGemmWeights::runAvx2(const float* input, int64_t rows, float* c, const ProductEnds& ends) const {
  const float* panels = packed_.data_ptr<float>();
  forEachPanelBlock(panels_, inFeatures_, rows, kRowBlock, [&](int64_t panel, int64_t k, int64_t depth, int64_t row,
                                                               int64_t block) {
    const int64_t column = panel * kPanelColumns;
    kPanelBlocks[row == 0][block](input + row * inFeatures_ + k, inFeatures_,
                                  panels + (panel * inFeatures_ + k) * kPanelColumns, depth,
                                  c + row * outFeatures_ + column, outFeatures_,
                                  std::min(kPanelColumns, outFeatures_ - column), ends.at(panel, k, depth));
  });
}

void PanelGemmWeights::runAvx512(const float* input, int64_t rows, float* c, const ProductEnds& ends) const {
  const float* panels = packed_.data_ptr<float>();
  const float* blocks = interleaveRowBlocks(input, rows, inFeatures_);
  forEachPanelBlock(panels_, inFeatures_, rows, kWideRowBlock, [&](int64_t panel, int64_t k, int64_t depth,
                                                                   int64_t row, int64_t block) {
    const int64_t column = panel * kPanelColumns;
    const int64_t columns = std::min(kPanelColumns, outFeatures_ - column);
    kWidePanelBlocks[row == 0][block](blocks + row * inFeatures_ + k * block,
                                      panels + (panel * inFeatures_ + k) * kPanelColumns, depth,
                                      c + row * outFeatures_ + column, outFeatures_,
                                      static_cast<__mmask16>((1u << columns) - 1), ends.at(panel, k, depth));
  });
}

} // namespace tsopt::runtime
