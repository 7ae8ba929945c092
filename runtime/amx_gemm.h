//===- amx_gemm.h - u8 x s8 matrix products on AMX tiles, weights streamed --===//
///
/// Internal to the runtime. The dynamic-quantized linear layers of a
/// transformer read every weight once a forward: BERT-base streams 85 MB of
/// int8 weights through 128-row products. On an AMX Xeon the tiles need a
/// sixth of the time the product takes under oneDNN 2.6's brgemm, and one
/// core reads memory at about 15 GB/s (benchmarks/bench_peak: int8-amx,
/// mem-read): the product is bound by how it streams the weights.
///
/// The weights are packed once into the tiles' VNNI layout, 32 output columns
/// (two tiles) by 64 input features a block, each panel of 32 columns
/// contiguous. Panels go in groups that fit a share of L2; within a group each
/// row block of 32 rows (input in L1) meets every panel, 2 x 2 tiles. The
/// first row block reads the group from memory, the others from L2; while a
/// group runs, the next one is prefetched into L2 a few lines a step, and the
/// first row block prefetches the next panel a step ahead.
///
/// The epilogue is what linear_dynamic needs: y[m][n] = acc[m][n] * scale[n]
/// + offset[n], float32, with the input's zero point and the bias folded into
/// `offset` by the caller, then a residual and GELU in either order.
///
/// Only x86-64 CPUs with AMX-INT8 whose kernel grants the tile state
/// (Linux 5.16+) run it; amxInt8Available() says so.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <memory>

namespace tsopt::runtime {

/// The 64-byte AMX tile configuration (palette 1) with eight tiles of 16 rows
/// x 64 bytes, what amx_gemm and benchmarks/bench_peak load. Keep one in static
/// storage: ldtilecfg's intrinsic tells the compiler it reads 8 bytes, so the
/// rest of a local configuration could be left unwritten.
struct AmxTileConfig {
  uint8_t palette = 1;
  uint8_t startRow = 0;
  uint8_t reserved[14] = {};
  uint16_t bytesPerRow[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};
static_assert(sizeof(AmxTileConfig) == 64, "the AMX tile configuration is 64 bytes");

/// Whether this process can run AMX-INT8 tiles: the CPU has them and Linux
/// granted the tile state (asked once per process).
bool amxInt8Available();

/// An int8 weight (out_features x in_features, row-major) packed for
/// amxLinearU8S8. Only constructed where amxInt8Available().
class AmxInt8Weights {
public:
  static constexpr int64_t kPanelColumns = 32;  ///< Output columns a panel holds (two tiles).
  static constexpr int64_t kBlockDepth = 64;    ///< Input features a tile spans.

  AmxInt8Weights(const int8_t* weight, int64_t outFeatures, int64_t inFeatures);

  int64_t outFeatures() const { return outFeatures_; }
  int64_t inFeatures() const { return inFeatures_; }
  int64_t panels() const { return panels_; }
  /// One panel's bytes: depth blocks x two 16 x 64-byte tiles.
  const int8_t* panel(int64_t index) const { return data_.get() + index * depthBlocks_ * 2048; }
  int64_t depthBlocks() const { return depthBlocks_; }

private:
  struct Free {
    void operator()(int8_t* p) const;
  };
  int64_t outFeatures_;
  int64_t inFeatures_;
  int64_t depthBlocks_;
  int64_t panels_;
  std::unique_ptr<int8_t, Free> data_;
};

/// The activations the epilogue computes itself.
enum class AmxActivation { None, Gelu /* erf form, absolute error under 1e-6 for |x| < 10 */ };

/// The operands of one product. `input` holds `rows` rows of in_features u8
/// values, `inputStride` bytes apart, and must stay readable up to
/// inputRowsNeeded(rows) rows plus kBlockDepth bytes: the tiles read 16 rows
/// and 64 columns at a time. What the extra rows and the columns past
/// in_features hold does not matter (those columns meet zero weights, those
/// rows' results are not stored).
struct AmxLinearArgs {
  const uint8_t* input = nullptr;
  int64_t inputStride = 0;
  int64_t rows = 0;
  const float* scale = nullptr;     ///< out_features values.
  const float* offset = nullptr;    ///< out_features values.
  const float* residual = nullptr;  ///< rows x out_features, row-major, or null.
  float* output = nullptr;          ///< rows x out_features, row-major; may be `residual`.
  int64_t outputStride = 0;         ///< Of output and residual: out_features for dense rows.
  AmxActivation activation = AmxActivation::None;
  bool residualAfterActivation = false;  ///< activation(y) + residual instead of activation(y + residual).
};

/// `rows` rounded up to the tiles' 16 rows.
inline int64_t inputRowsNeeded(int64_t rows) { return (rows + 15) / 16 * 16; }

/// The output columns of panels [panelBegin, panelEnd): one thread's share.
void amxLinearU8S8(const AmxInt8Weights& weights, const AmxLinearArgs& args, int64_t panelBegin, int64_t panelEnd);

} // namespace tsopt::runtime
