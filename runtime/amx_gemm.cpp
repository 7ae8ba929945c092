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

/// The 64-byte tile configuration (palette 1): tiles 0-3 accumulate a 32 x 32
/// int32 block, 4-5 hold two 16-row input slices, 6-7 a panel's two weight tiles.
struct TileConfig {
  uint8_t palette = 1;
  uint8_t startRow = 0;
  uint8_t reserved[14] = {};
  uint16_t bytesPerRow[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};
static_assert(sizeof(TileConfig) == 64, "the AMX tile configuration is 64 bytes");

/// out = acc * scale + offset (+ residual) for `rows` rows of `columns` (<= 32) columns.
__attribute__((target("avx512f"))) void storeBlock(const int32_t* acc, int64_t rows, int64_t columns,
                                                     const float* scale, const float* offset, const float* residual,
                                                     float* output, int64_t stride) {
  for (int64_t half = 0; half < 2 && half * 16 < columns; ++half) {
    const int64_t count = std::min<int64_t>(16, columns - half * 16);
    const __mmask16 mask = static_cast<__mmask16>((1u << count) - 1);
    const __m512 s = _mm512_maskz_loadu_ps(mask, scale + half * 16);
    const __m512 o = _mm512_maskz_loadu_ps(mask, offset + half * 16);
    for (int64_t r = 0; r < rows; ++r) {
      const __m512 a = _mm512_mask_cvtepi32_ps(_mm512_setzero_ps(), 0xffff, _mm512_load_si512(acc + r * 32 + half * 16));
      __m512 y = _mm512_fmadd_ps(a, s, o);
      if (residual) {
        y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(mask, residual + r * stride + half * 16));
      }
      _mm512_mask_storeu_ps(output + r * stride + half * 16, mask, y);
    }
  }
}

/// One row block (32 rows, or the last 16) against one panel: tiles 0-3
/// accumulate, 4-5 read the input, 6-7 the panel.
__attribute__((target("amx-tile,amx-int8,avx512f"))) void multiplyBlock(const AmxInt8Weights& weights,
                                                                           const AmxLinearArgs& args, int64_t row,
                                                                           int64_t panelIndex, int32_t* acc) {
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
    for (int64_t block = 0; block < depthBlocks; ++block) {
      const int8_t* b = panel + block * 2 * kTileBytes;
      _tile_loadd(4, a + block * 64, stride);
      _tile_loadd(6, b, 64);
      _tile_dpbusd(0, 4, 6);
      _tile_loadd(7, b + kTileBytes, 64);
      _tile_dpbusd(1, 4, 7);
      _tile_loadd(5, a + kTileRows * stride + block * 64, stride);
      _tile_dpbusd(2, 5, 6);
      _tile_dpbusd(3, 5, 7);
    }
    _tile_stored(2, acc + 16 * 32, 128);
    _tile_stored(3, acc + 16 * 32 + 16, 128);
  } else {
    for (int64_t block = 0; block < depthBlocks; ++block) {
      const int8_t* b = panel + block * 2 * kTileBytes;
      _tile_loadd(4, a + block * 64, stride);
      _tile_loadd(6, b, 64);
      _tile_dpbusd(0, 4, 6);
      _tile_loadd(7, b + kTileBytes, 64);
      _tile_dpbusd(1, 4, 7);
    }
  }
  _tile_stored(0, acc, 128);
  _tile_stored(1, acc + 16, 128);
  const int64_t rows = std::min<int64_t>(2 * kTileRows, args.rows - row);
  storeBlock(acc, rows, columns, args.scale + column, args.offset + column,
             args.residual ? args.residual + row * outFeatures + column : nullptr,
             args.output + row * outFeatures + column, outFeatures);
}

/// Static: ldtilecfg's intrinsic tells the compiler it reads 8 bytes, so the
/// rest of a local configuration could be left unwritten.
const TileConfig kTileConfig;

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
  for (int64_t first = panelBegin; first < panelEnd; first += group) {
    const int64_t last = std::min(panelEnd, first + group);
    for (int64_t row = 0; row < args.rows; row += 2 * kTileRows) {
      for (int64_t panel = first; panel < last; ++panel) {
        multiplyBlock(weights, args, row, panel, acc);
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
