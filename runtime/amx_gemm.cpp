//===- amx_gemm.cpp - u8 x s8 matrix products on AMX tiles, weights streamed --===//
#include "runtime/amx_gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace tsopt::runtime {

#if defined(__x86_64__)

namespace {

constexpr int64_t kTileRows = 16;
constexpr int64_t kTileBytes = 1024;  ///< 16 rows x 64 bytes.
constexpr int64_t kGroupBytes = 512 * 1024;  ///< Weights multiplied by every row block in turn: a share of L2.

/// exp(w) for -87 <= w <= 0 (below, about 1e-38): w = n ln2 + r with
/// |r| <= ln2 / 2, e^r by its Taylor polynomial of degree 6 (relative error
/// under 2e-7), times 2^n.
__attribute__((target("avx512f"))) __m512 expNonPositive(__m512 w) {
  // The all-lanes masked forms: GCC 12 warns that the plain ones' undefined pass-through is uninitialized.
  constexpr __mmask16 kAll = 0xffff;
  const __m512 zero = _mm512_setzero_ps();
  w = _mm512_mask_max_ps(zero, kAll, w, _mm512_set1_ps(-87.f));
  const __m512 n = _mm512_mask_roundscale_ps(zero, kAll, _mm512_mul_ps(w, _mm512_set1_ps(1.44269504f)),
                                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145752f), w);  // ln2, high bits
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860677e-6f), r);        // ln2, the rest
  __m512 p = _mm512_set1_ps(1.f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_mask_scalef_ps(zero, kAll, p, n);
}

/// GELU, x * (1 + erf(x / sqrt 2)) / 2, with erf by Abramowitz and Stegun
/// 7.1.26 (absolute error under 1.5e-7): for z = |x| / sqrt 2,
/// erfc(z) = t (a1 + t (a2 + ... + t a5)) exp(-z^2), t = 1 / (1 + p z), and
/// 1 + erf(x / sqrt 2) is 2 - erfc(z) for x >= 0, erfc(z) below (no
/// cancellation for negative x). NaN stays NaN.
__attribute__((target("avx512f"))) __m512 gelu(__m512 x) {
  // Past z = 9 erfc(z) < 4.2e-37 is taken as 0; z is clamped there so that no
  // intermediate is subnormal (a subnormal result costs a microcode assist,
  // about a hundred cycles: GELU of large inputs ran 30x slower).
  const __m512 unclamped = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0.707106781f));
  const __mmask16 small = _mm512_cmp_ps_mask(unclamped, _mm512_set1_ps(9.f), _CMP_LT_OQ);
  const __m512 z = _mm512_mask_min_ps(_mm512_setzero_ps(), 0xffff, unclamped, _mm512_set1_ps(9.f));
  // t = 1 / d by vrcp14ps and one Newton step (relative error about 2^-28; a
  // division costs 16 cycles a vector).
  const __m512 d = _mm512_fmadd_ps(z, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.f));
  const __m512 estimate = _mm512_maskz_rcp14_ps(0xffff, d);
  const __m512 t = _mm512_mul_ps(estimate, _mm512_fnmadd_ps(d, estimate, _mm512_set1_ps(2.f)));
  __m512 poly = _mm512_set1_ps(1.061405429f);
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(-1.453152027f));
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(1.421413741f));
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(-0.284496736f));
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(0.254829592f));
  const __m512 minusZSquared = _mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), z), z);
  const __m512 erfc = _mm512_maskz_mul_ps(small, _mm512_mul_ps(poly, t), expNonPositive(minusZSquared));
  const __mmask16 negative = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  const __m512 onePlusErf = _mm512_mask_blend_ps(negative, _mm512_sub_ps(_mm512_set1_ps(2.f), erfc), erfc);
  return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), onePlusErf);
}

/// out = acc * scale + offset, then the residual and the activation in the
/// order args asks for, for `rows` rows of `columns` (<= 32) columns.
__attribute__((target("avx512f"))) void storeBlock(const int32_t* acc, int64_t rows, int64_t columns,
                                                     const AmxLinearArgs& args, int64_t start,
                                                     int64_t column) {
  const int64_t stride = args.outputStride;
  const float* residual = args.residual ? args.residual + start : nullptr;
  float* output = args.output + start;
  const bool applyGelu = args.activation == AmxActivation::Gelu;
  const bool residualFirst = !args.residualAfterActivation;
  for (int64_t half = 0; half < 2 && half * 16 < columns; ++half) {
    const int64_t count = std::min<int64_t>(16, columns - half * 16);
    const __mmask16 mask = static_cast<__mmask16>((1u << count) - 1);
    const __m512 s = _mm512_maskz_loadu_ps(mask, args.scale + column + half * 16);
    const __m512 o = _mm512_maskz_loadu_ps(mask, args.offset + column + half * 16);
    for (int64_t r = 0; r < rows; ++r) {
      const __m512 a =
          _mm512_mask_cvtepi32_ps(_mm512_setzero_ps(), 0xffff, _mm512_load_si512(acc + r * 32 + half * 16));
      __m512 y = _mm512_fmadd_ps(a, s, o);
      const __m512 res =
          residual ? _mm512_maskz_loadu_ps(mask, residual + r * stride + half * 16) : _mm512_setzero_ps();
      if (residual && residualFirst) {
        y = _mm512_add_ps(y, res);
      }
      if (applyGelu) {
        y = gelu(y);
      }
      if (residual && !residualFirst) {
        y = _mm512_add_ps(y, res);
      }
      _mm512_mask_storeu_ps(output + r * stride + half * 16, mask, y);
    }
  }
}

/// Software prefetches into L2, issued between the tile instructions. A block
/// against a panel in L2 computes for as long as memory takes to deliver about
/// half a panel, so with weights that come from memory the tiles would wait
/// on every first row block: while a group's row blocks run, the next group
/// comes in (a few lines each step, evenly: a burst of prefetches stalls), and
/// the first row block asks for the next panel's lines a step ahead (`ahead`:
/// what the first group, or a late prefetch, has not brought yet).
struct Prefetches {
  const char* next = nullptr;  ///< The next group's first line not yet prefetched.
  const char* end = nullptr;
  int64_t linesPerStep = 0;
  const int8_t* ahead = nullptr;  ///< The panel after the one being multiplied, or null.

  void step(int64_t depth) {
    for (int64_t line = 0; line < linesPerStep && next < end; ++line, next += 64) {
      _mm_prefetch(next, _MM_HINT_T1);
    }
    if (ahead) {
      const char* lines = reinterpret_cast<const char*>(ahead + depth * 2 * kTileBytes);
      for (int64_t offset = 0; offset < 2 * kTileBytes; offset += 64) {
        _mm_prefetch(lines + offset, _MM_HINT_T1);
      }
    }
  }
};

/// The depth loop of a block: tiles 0-1 accumulate the first 16 rows of `a`
/// against the panel's two tiles, 2-3 the next 16 when there are two row tiles;
/// 4-5 hold the input, 6-7 the panel.
template <bool kTwoRowTiles>
__attribute__((target("amx-tile,amx-int8"))) void accumulate(const int8_t* panel, const uint8_t* a, int64_t stride,
                                                                int64_t depthBlocks, Prefetches& prefetches) {
  for (int64_t block = 0; block < depthBlocks; ++block) {
    const int8_t* b = panel + block * 2 * kTileBytes;
    _tile_loadd(4, a + block * 64, stride);
    _tile_loadd(6, b, 64);
    _tile_dpbusd(0, 4, 6);
    _tile_loadd(7, b + kTileBytes, 64);
    _tile_dpbusd(1, 4, 7);
    if constexpr (kTwoRowTiles) {
      _tile_loadd(5, a + kTileRows * stride + block * 64, stride);
      _tile_dpbusd(2, 5, 6);
      _tile_dpbusd(3, 5, 7);
    }
    prefetches.step(block);
  }
}

/// One row block (32 rows, or the last 16) against one panel: tiles 0-3
/// accumulate, 4-5 read the input, 6-7 the panel.
__attribute__((target("amx-tile,amx-int8,avx512f"))) void multiplyBlock(const AmxInt8Weights& weights,
                                                                           const AmxLinearArgs& args, int64_t row,
                                                                           int64_t panelIndex, int32_t* acc,
                                                                           Prefetches& prefetches) {
  const int8_t* panel = weights.panel(panelIndex);
  const int64_t depthBlocks = weights.depthBlocks();
  const int64_t stride = args.inputStride;
  const int64_t outFeatures = weights.outFeatures();
  const int64_t column = panelIndex * AmxInt8Weights::kPanelColumns;
  const int64_t columns = std::min<int64_t>(AmxInt8Weights::kPanelColumns, outFeatures - column);
  const uint8_t* a = args.input + row * stride;
  _tile_zero(0);
  _tile_zero(1);
  if (row + kTileRows < args.rows) {
    _tile_zero(2);
    _tile_zero(3);
    accumulate<true>(panel, a, stride, depthBlocks, prefetches);
    _tile_stored(2, acc + 16 * 32, 128);
    _tile_stored(3, acc + 16 * 32 + 16, 128);
  } else {
    accumulate<false>(panel, a, stride, depthBlocks, prefetches);
  }
  _tile_stored(0, acc, 128);
  _tile_stored(1, acc + 16, 128);
  const int64_t rows = std::min<int64_t>(2 * kTileRows, args.rows - row);
  storeBlock(acc, rows, columns, args, row * args.outputStride + column, column);
}

/// In static storage (see AmxTileConfig).
const AmxTileConfig kTileConfig;

__attribute__((target("amx-tile"))) void configureTiles() { _tile_loadconfig(&kTileConfig); }

__attribute__((target("amx-tile"))) void releaseTiles() { _tile_release(); }

} // namespace

bool amxInt8Available() {
  static const bool available = [] {
    __builtin_cpu_init();
    // CPUID.(7, 0):EDX bits 24 and 25 (AMX-TILE, AMX-INT8); clang 14's
    // __builtin_cpu_supports does not know "amx-int8".
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    constexpr unsigned kAmxTileAndInt8 = (1u << 24) | (1u << 25);
    if (!__builtin_cpu_supports("avx512f") || !__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) ||
        (edx & kAmxTileAndInt8) != kAmxTileAndInt8) {
      return false;
    }
    constexpr long kArchReqXcompPerm = 0x1023;  // <asm/prctl.h>
    constexpr long kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return available;
}

void amxLinearU8S8(const AmxInt8Weights& weights, const AmxLinearArgs& args, int64_t panelBegin, int64_t panelEnd) {
  if (panelBegin >= panelEnd || args.rows == 0) {
    return;
  }
  alignas(64) int32_t acc[32 * 32];
  configureTiles();
  // Panels in groups that stay in L2 (the first row block reads them from
  // memory, the others from L2), and within a group each row block against
  // every panel, so that the block's input stays in L1.
  const int64_t panelBytes = weights.depthBlocks() * 2 * kTileBytes;
  const int64_t group = std::max<int64_t>(1, kGroupBytes / panelBytes);
  const int64_t rowBlocks = (args.rows + 2 * kTileRows - 1) / (2 * kTileRows);
  for (int64_t first = panelBegin; first < panelEnd; first += group) {
    const int64_t last = std::min(panelEnd, first + group);
    Prefetches prefetches;
    prefetches.next = reinterpret_cast<const char*>(weights.panel(last));
    prefetches.end = reinterpret_cast<const char*>(weights.panel(std::min(panelEnd, last + group)));
    const int64_t steps = rowBlocks * (last - first) * weights.depthBlocks();
    prefetches.linesPerStep = ((prefetches.end - prefetches.next) / 64 + steps - 1) / steps;
    for (int64_t row = 0; row < args.rows; row += 2 * kTileRows) {
      for (int64_t panel = first; panel < last; ++panel) {
        prefetches.ahead = row == 0 && panel + 1 < panelEnd ? weights.panel(panel + 1) : nullptr;
        multiplyBlock(weights, args, row, panel, acc, prefetches);
      }
    }
  }
  releaseTiles();
}

#else // !__x86_64__

bool amxInt8Available() { return false; }

void amxLinearU8S8(const AmxInt8Weights&, const AmxLinearArgs&, int64_t, int64_t) { std::abort(); }

#endif

AmxInt8Weights::AmxInt8Weights(const int8_t* weight, int64_t outFeatures, int64_t inFeatures)
    : outFeatures_(outFeatures),
      inFeatures_(inFeatures),
      depthBlocks_((inFeatures + kBlockDepth - 1) / kBlockDepth),
      panels_((outFeatures + kPanelColumns - 1) / kPanelColumns) {
  const size_t bytes = static_cast<size_t>(panels_ * depthBlocks_ * 2048);
  data_.reset(static_cast<int8_t*>(std::aligned_alloc(64, std::max<size_t>(bytes, 64))));
  if (!data_) {
    throw std::bad_alloc();
  }
  std::memset(data_.get(), 0, bytes);
  // Panel p, depth block d, tile t (columns p*32 + t*16 + j): row r holds, for
  // each column j, the four weights of inputs d*64 + 4r .. 4r+3 (VNNI order).
  for (int64_t n = 0; n < outFeatures; ++n) {
    const int64_t p = n / kPanelColumns, t = (n % kPanelColumns) / 16, j = n % 16;
    for (int64_t k = 0; k < inFeatures; ++k) {
      const int64_t d = k / kBlockDepth, r = (k % kBlockDepth) / 4, q = k % 4;
      data_.get()[((p * depthBlocks_ + d) * 2 + t) * 1024 + r * 64 + j * 4 + q] = weight[n * inFeatures + k];
    }
  }
}

void AmxInt8Weights::Free::operator()(int8_t* p) const { std::free(p); }

} // namespace tsopt::runtime
