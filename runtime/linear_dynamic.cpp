#include "runtime/linear_dynamic.h"

#include "runtime/amx_gemm.h"
#include "runtime/onednn_common.h"
#include "runtime/output_pool.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <cpuid.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tsopt::runtime {
namespace {

using Format = dnnl::memory::format_tag;
using DataType = dnnl::memory::data_type;
constexpr int64_t kFirstStateVersion = 1;  ///< Before input scales.
constexpr int64_t kStateVersion = 2;

int64_t rowsOf(const at::Tensor& input) { return input.numel() / input.size(-1); }

std::vector<int64_t> outputSizes(at::IntArrayRef input, int64_t outFeatures) {
  std::vector<int64_t> sizes(input.begin(), input.end() - 1);
  sizes.push_back(outFeatures);
  return sizes;
}

int32_t quantMaxOf(bool reduceRange) { return reduceRange ? 127 : 255; }

bool hasAvx2() {
  static const bool available = __builtin_cpu_supports("avx2");
  return available;
}

bool hasAvx512() {
  static const bool available = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  return available;
}

void minMaxScalar(const float* data, int64_t count, float& min, float& max) {
  for (int64_t i = 0; i < count; ++i) {
    min = std::min(min, data[i]);
    max = std::max(max, data[i]);
  }
}

__attribute__((target("avx2"))) void minMaxAvx2(const float* data, int64_t count, float& min, float& max) {
  __m256 low = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  __m256 high = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    __m256 v = _mm256_loadu_ps(data + i);
    low = _mm256_min_ps(low, v);
    high = _mm256_max_ps(high, v);
  }
  alignas(32) float lows[8];
  alignas(32) float highs[8];
  _mm256_store_ps(lows, low);
  _mm256_store_ps(highs, high);
  for (int lane = 0; lane < 8; ++lane) {
    min = std::min(min, lows[lane]);
    max = std::max(max, highs[lane]);
  }
  minMaxScalar(data + i, count - i, min, max);
}

// Four independent accumulator pairs: with one, each vminps waits for the one before (4 cycles), a quarter of the
// load rate (BERT-base seq 128 spent 1.5 ms a forward in min/max on an AVX-512 Xeon with the AVX2 loop above).
__attribute__((target("avx512f"))) void minMaxAvx512(const float* data, int64_t count, float& min, float& max) {
  __m512 low[4];
  __m512 high[4];
  for (int lane = 0; lane < 4; ++lane) {
    low[lane] = _mm512_set1_ps(std::numeric_limits<float>::infinity());
    high[lane] = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  }
  int64_t i = 0;
  for (; i + 64 <= count; i += 64) {
    for (int lane = 0; lane < 4; ++lane) {
      __m512 v = _mm512_loadu_ps(data + i + 16 * lane);
      low[lane] = _mm512_min_ps(low[lane], v);
      high[lane] = _mm512_max_ps(high[lane], v);
    }
  }
  for (; i + 16 <= count; i += 16) {
    __m512 v = _mm512_loadu_ps(data + i);
    low[0] = _mm512_min_ps(low[0], v);
    high[0] = _mm512_max_ps(high[0], v);
  }
  const __m512 lowest = _mm512_min_ps(_mm512_min_ps(low[0], low[1]), _mm512_min_ps(low[2], low[3]));
  const __m512 highest = _mm512_max_ps(_mm512_max_ps(high[0], high[1]), _mm512_max_ps(high[2], high[3]));
  min = std::min(min, _mm512_reduce_min_ps(lowest));
  max = std::max(max, _mm512_reduce_max_ps(highest));
  minMaxScalar(data + i, count - i, min, max);
}

uint8_t quantizeOne(float value, float inverseScale, int32_t zeroPoint, int32_t quantMax) {
  const float rounded = std::nearbyint(value * inverseScale) + static_cast<float>(zeroPoint);
  return static_cast<uint8_t>(std::min(std::max(rounded, 0.f), static_cast<float>(quantMax)));
}

__attribute__((target("avx2"))) void quantizeAvx2(const float* input, int64_t count, float inverseScale,
                                                  int32_t zeroPoint, int32_t quantMax, uint8_t* output) {
  const __m256 inverse = _mm256_set1_ps(inverseScale);
  const __m256i zero = _mm256_set1_epi32(zeroPoint);
  const __m256i upper = _mm256_set1_epi8(static_cast<char>(quantMax));
  // packs/packus interleave the two 128-bit lanes; this puts the 4-byte groups back in order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  int64_t i = 0;
  for (; i + 32 <= count; i += 32) {
    __m256i a = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(input + i), inverse)), zero);
    __m256i b = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(input + i + 8), inverse)), zero);
    __m256i c = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(input + i + 16), inverse)), zero);
    __m256i d = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(input + i + 24), inverse)), zero);
    __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    bytes = _mm256_min_epu8(_mm256_permutevar8x32_epi32(bytes, order), upper);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(output + i), bytes);
  }
  for (; i < count; ++i) {
    output[i] = quantizeOne(input[i], inverseScale, zeroPoint, quantMax);
  }
}

__attribute__((target("avx512f,avx512bw"))) void quantizeAvx512(const float* input, int64_t count,
                                                               float inverseScale, int32_t zeroPoint,
                                                               int32_t quantMax, uint8_t* output) {
  const __m512 inverse = _mm512_set1_ps(inverseScale);
  const __m512i zero = _mm512_set1_epi32(zeroPoint);
  const __m512i lower = _mm512_setzero_si512();
  const __m512i upper = _mm512_set1_epi32(quantMax);
  int64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    // cvtps rounds half to even (the default MXCSR mode), as nearbyint and the AVX2 path do.
    __m512i value = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(input + i), inverse)), zero);
    value = _mm512_min_epi32(_mm512_max_epi32(value, lower), upper);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(output + i), _mm512_cvtepi32_epi8(value));
  }
  for (; i < count; ++i) {
    output[i] = quantizeOne(input[i], inverseScale, zeroPoint, quantMax);
  }
}

// The same with a per-column multiplier (an input scale): rows x cols floats, each row times scale[0..cols).
// Each value is x * m in float32 first, as runReference computes it, so the quantized bytes are the same.
void minMaxScaledScalar(const float* row, const float* scale, int64_t begin, int64_t cols, float& min, float& max) {
  for (int64_t j = begin; j < cols; ++j) {
    const float value = row[j] * scale[j];
    min = std::min(min, value);
    max = std::max(max, value);
  }
}

__attribute__((target("avx2"))) void minMaxScaledAvx2(const float* data, const float* scale, int64_t rows,
                                                      int64_t cols, float& min, float& max) {
  __m256 low[2] = {_mm256_set1_ps(std::numeric_limits<float>::infinity()),
                   _mm256_set1_ps(std::numeric_limits<float>::infinity())};
  __m256 high[2] = {_mm256_set1_ps(-std::numeric_limits<float>::infinity()),
                    _mm256_set1_ps(-std::numeric_limits<float>::infinity())};
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = data + r * cols;
    int64_t j = 0;
    for (; j + 16 <= cols; j += 16) {
      for (int lane = 0; lane < 2; ++lane) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(row + j + 8 * lane), _mm256_loadu_ps(scale + j + 8 * lane));
        low[lane] = _mm256_min_ps(low[lane], v);
        high[lane] = _mm256_max_ps(high[lane], v);
      }
    }
    minMaxScaledScalar(row, scale, j, cols, min, max);
  }
  alignas(32) float lows[8];
  alignas(32) float highs[8];
  _mm256_store_ps(lows, _mm256_min_ps(low[0], low[1]));
  _mm256_store_ps(highs, _mm256_max_ps(high[0], high[1]));
  for (int lane = 0; lane < 8; ++lane) {
    min = std::min(min, lows[lane]);
    max = std::max(max, highs[lane]);
  }
}

__attribute__((target("avx512f"))) void minMaxScaledAvx512(const float* data, const float* scale, int64_t rows,
                                                          int64_t cols, float& min, float& max) {
  __m512 low[2] = {_mm512_set1_ps(std::numeric_limits<float>::infinity()),
                   _mm512_set1_ps(std::numeric_limits<float>::infinity())};
  __m512 high[2] = {_mm512_set1_ps(-std::numeric_limits<float>::infinity()),
                    _mm512_set1_ps(-std::numeric_limits<float>::infinity())};
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = data + r * cols;
    int64_t j = 0;
    for (; j + 32 <= cols; j += 32) {
      for (int lane = 0; lane < 2; ++lane) {
        __m512 v = _mm512_mul_ps(_mm512_loadu_ps(row + j + 16 * lane), _mm512_loadu_ps(scale + j + 16 * lane));
        low[lane] = _mm512_min_ps(low[lane], v);
        high[lane] = _mm512_max_ps(high[lane], v);
      }
    }
    minMaxScaledScalar(row, scale, j, cols, min, max);
  }
  min = std::min(min, _mm512_reduce_min_ps(_mm512_min_ps(low[0], low[1])));
  max = std::max(max, _mm512_reduce_max_ps(_mm512_max_ps(high[0], high[1])));
}

__attribute__((target("avx2"))) void quantizeScaledAvx2(const float* input, const float* scale, int64_t rows,
                                                        int64_t cols, float inverseScale, int32_t zeroPoint,
                                                        int32_t quantMax, uint8_t* output) {
  const __m256 inverse = _mm256_set1_ps(inverseScale);
  const __m256i zero = _mm256_set1_epi32(zeroPoint);
  const __m256i upper = _mm256_set1_epi8(static_cast<char>(quantMax));
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = input + r * cols;
    uint8_t* out = output + r * cols;
    int64_t j = 0;
    for (; j + 32 <= cols; j += 32) {
      __m256i parts[4];
      for (int k = 0; k < 4; ++k) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(in + j + 8 * k), _mm256_loadu_ps(scale + j + 8 * k));
        parts[k] = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(v, inverse)), zero);
      }
      __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(parts[0], parts[1]), _mm256_packs_epi32(parts[2], parts[3]));
      bytes = _mm256_min_epu8(_mm256_permutevar8x32_epi32(bytes, order), upper);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + j), bytes);
    }
    for (; j < cols; ++j) {
      out[j] = quantizeOne(in[j] * scale[j], inverseScale, zeroPoint, quantMax);
    }
  }
}

__attribute__((target("avx512f,avx512bw"))) void quantizeScaledAvx512(const float* input, const float* scale,
                                                                     int64_t rows, int64_t cols, float inverseScale,
                                                                     int32_t zeroPoint, int32_t quantMax,
                                                                     uint8_t* output) {
  const __m512 inverse = _mm512_set1_ps(inverseScale);
  const __m512i zero = _mm512_set1_epi32(zeroPoint);
  const __m512i lower = _mm512_setzero_si512();
  const __m512i upper = _mm512_set1_epi32(quantMax);
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = input + r * cols;
    uint8_t* out = output + r * cols;
    int64_t j = 0;
    for (; j + 16 <= cols; j += 16) {
      __m512 v = _mm512_mul_ps(_mm512_loadu_ps(in + j), _mm512_loadu_ps(scale + j));
      __m512i value = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v, inverse)), zero);
      value = _mm512_min_epi32(_mm512_max_epi32(value, lower), upper);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j), _mm512_cvtepi32_epi8(value));
    }
    for (; j < cols; ++j) {
      out[j] = quantizeOne(in[j] * scale[j], inverseScale, zeroPoint, quantMax);
    }
  }
}

/// min and max of x * scale over rows x cols, merged into min and max.
void minMaxScaledSerial(const float* data, const float* scale, int64_t rows, int64_t cols, float& min, float& max) {
  if (hasAvx512()) {
    minMaxScaledAvx512(data, scale, rows, cols, min, max);
  } else if (hasAvx2()) {
    minMaxScaledAvx2(data, scale, rows, cols, min, max);
  } else {
    for (int64_t r = 0; r < rows; ++r) {
      minMaxScaledScalar(data + r * cols, scale, 0, cols, min, max);
    }
  }
}

void quantizeScaledSerial(const float* input, const float* scale, int64_t rows, int64_t cols, float inverseScale,
                          int32_t zeroPoint, int32_t quantMax, uint8_t* output) {
  if (hasAvx512()) {
    quantizeScaledAvx512(input, scale, rows, cols, inverseScale, zeroPoint, quantMax, output);
  } else if (hasAvx2()) {
    quantizeScaledAvx2(input, scale, rows, cols, inverseScale, zeroPoint, quantMax, output);
  } else {
    for (int64_t i = 0; i < rows * cols; ++i) {
      output[i] = quantizeOne(input[i] * scale[i % cols], inverseScale, zeroPoint, quantMax);
    }
  }
}

/// The passes over an activation run on ATen's threads in chunks of this many
/// floats (rows for the scaled ones), fixed whatever the thread count, so the
/// result does not depend on it. With two threads they took about 1.3% of
/// BERT-base seq 128's dynamic int8 forward on one.
constexpr int64_t kChunkFloats = 1 << 15;

/// Rows per chunk of a rows x cols pass.
int64_t rowsPerChunk(int64_t cols) { return std::max<int64_t>(1, kChunkFloats / std::max<int64_t>(cols, 1)); }

/// min and max over chunks [0, chunks), each by `minMaxOfChunk(chunk, min, max)`, merged in chunk order.
template <typename ChunkMinMax>
std::pair<float, float> minMaxOverChunks(int64_t chunks, const ChunkMinMax& minMaxOfChunk) {
  std::vector<std::pair<float, float>> partial(static_cast<size_t>(chunks),
                                               {std::numeric_limits<float>::infinity(),
                                                -std::numeric_limits<float>::infinity()});
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t chunk = begin; chunk < end; ++chunk) {
      auto& [min, max] = partial[static_cast<size_t>(chunk)];
      minMaxOfChunk(chunk, min, max);
    }
  });
  float min = std::numeric_limits<float>::infinity();
  float max = -std::numeric_limits<float>::infinity();
  for (const auto& [chunkMin, chunkMax] : partial) {
    min = std::min(min, chunkMin);
    max = std::max(max, chunkMax);
  }
  return {min, max};
}

int64_t chunksOf(int64_t count, int64_t perChunk) { return (count + perChunk - 1) / perChunk; }

/// min and max of x * scale over rows x cols (+inf and -inf when empty).
std::pair<float, float> minMaxScaledOf(const float* data, const float* scale, int64_t rows, int64_t cols) {
  const int64_t perChunk = rowsPerChunk(cols);
  return minMaxOverChunks(chunksOf(rows, perChunk), [&](int64_t chunk, float& min, float& max) {
    const int64_t first = chunk * perChunk;
    minMaxScaledSerial(data + first * cols, scale, std::min(perChunk, rows - first), cols, min, max);
  });
}

void quantizeScaledToUint8(const float* input, const float* scale, int64_t rows, int64_t cols,
                           const DynamicQuantParams& params, int32_t quantMax, uint8_t* output) {
  const float inverseScale = 1.f / params.scale;
  const int64_t perChunk = rowsPerChunk(cols);
  at::parallel_for(0, chunksOf(rows, perChunk), 1, [&](int64_t begin, int64_t end) {
    for (int64_t chunk = begin; chunk < end; ++chunk) {
      const int64_t first = chunk * perChunk;
      quantizeScaledSerial(input + first * cols, scale, std::min(perChunk, rows - first), cols, inverseScale,
                           params.zeroPoint, quantMax, output + first * cols);
    }
  });
}

/// A buffer per thread that only grows: a fresh allocation per call costs page faults.
at::Tensor& threadTensor(int slot, int64_t bytes) {
  thread_local std::array<at::Tensor, 2> buffers;
  at::Tensor& buffer = buffers[static_cast<size_t>(slot)];
  if (!buffer.defined() || buffer.numel() < bytes) {
    buffer = at::empty({bytes}, at::kByte);
  }
  return buffer;
}

} // namespace

DynamicQuantParams dynamicQuantParams(float min, float max, bool reduceRange) {
  // fbgemm's ChooseQuantizationParams, which quantized::linear_dynamic calls.
  min = std::min(min, 0.f);
  max = std::max(max, 0.f);
  const int32_t quantMax = quantMaxOf(reduceRange);
  double scale = (static_cast<double>(max) - min) / quantMax;
  if (static_cast<float>(scale) == 0.f || std::isinf(1.f / static_cast<float>(scale))) {
    scale = 0.1;
  }
  const double fromMin = -min / scale;
  const double fromMax = quantMax - max / scale;
  const double fromMinError = -std::abs(min / scale);
  const double fromMaxError = quantMax - std::abs(max / scale);
  const double initial = fromMinError < fromMaxError ? fromMin : fromMax;
  DynamicQuantParams params;
  params.scale = static_cast<float>(scale);
  params.zeroPoint = static_cast<int32_t>(std::nearbyint(std::min<double>(std::max(initial, 0.0), quantMax)));
  return params;
}

bool reduceRangeByDefault() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // AVX-VNNI is CPUID leaf 7, subleaf 1, EAX bit 4: clang 14 (the sanitizer
  // build's compiler) has no "avxvnni" for __builtin_cpu_supports.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool avxVnni = __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 4)) != 0;
  return !(__builtin_cpu_supports("avx512vnni") || avxVnni);
#else
  return false;
#endif
}

std::pair<float, float> minMaxOf(const float* data, int64_t count) {
  return minMaxOverChunks(chunksOf(count, kChunkFloats), [&](int64_t chunk, float& min, float& max) {
    const float* first = data + chunk * kChunkFloats;
    const int64_t size = std::min(kChunkFloats, count - chunk * kChunkFloats);
    if (hasAvx512()) {
      minMaxAvx512(first, size, min, max);
    } else if (hasAvx2()) {
      minMaxAvx2(first, size, min, max);
    } else {
      minMaxScalar(first, size, min, max);
    }
  });
}

void quantizeToUint8(const float* input, int64_t count, const DynamicQuantParams& params, int32_t quantMax,
                     uint8_t* output) {
  const float inverseScale = 1.f / params.scale;
  at::parallel_for(0, chunksOf(count, kChunkFloats), 1, [&](int64_t begin, int64_t end) {
    const int64_t first = begin * kChunkFloats;
    const int64_t size = std::min(end * kChunkFloats, count) - first;
    if (hasAvx512()) {
      quantizeAvx512(input + first, size, inverseScale, params.zeroPoint, quantMax, output + first);
    } else if (hasAvx2()) {
      quantizeAvx2(input + first, size, inverseScale, params.zeroPoint, quantMax, output + first);
    } else {
      for (int64_t i = first; i < first + size; ++i) {
        output[i] = quantizeOne(input[i], inverseScale, params.zeroPoint, quantMax);
      }
    }
  });
}

/// The fewest AMX panels (32 output columns each) a thread takes: a panel is a
/// few microseconds of work.
constexpr int64_t kAmxPanelsPerTask = 4;

/// A matmul primitive for one row count and epilogue.
struct DynamicPrimitive : PreparedPrimitive<dnnl::primitive> {
  /// The per-call input scale is a binary multiply post-op (the output scales, the weights', are fixed at
  /// creation), not part of runtime output scales.
  bool inputScalePostOp = false;
};

/// fusedAttr's epilogue behind a multiply by a runtime scalar (the input's scale), with the weights' scales as
/// output scales fixed at creation.
dnnl::primitive_attr inputScaledAttr(const std::vector<float>& weightScales, const Activation& activation,
                                     ResidualAdd residual) {
  dnnl::post_ops ops;
  ops.append_binary(dnnl::algorithm::binary_mul, dnnl::memory::desc({1, 1}, DataType::f32, Format::ab));
  appendEpilogue(ops, activation, residual);
  dnnl::primitive_attr attr;
  attr.set_output_scales(1 << 1, weightScales);
  attr.set_post_ops(ops);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

namespace {

/// Whether a layer packed now runs tsopt's AMX kernel (where the CPU has AMX):
/// TSOPT_DYNAMIC_GEMM=onednn keeps it on oneDNN, for comparisons; read when
/// a layer is packed, so that one process can hold both kinds.
bool useAmxKernel() {
  const char* choice = std::getenv("TSOPT_DYNAMIC_GEMM");
  return (choice == nullptr || std::string(choice) != "onednn") && amxInt8Available();
}

} // namespace

/// The oneDNN side: the int8 weight seen as (in, out), reordered once per
/// layout a primitive asks for, and its column sums for the zero-point term.
/// Where the CPU has AMX the weight is packed for tsopt's AMX kernel instead
/// (runtime/amx_gemm.h), which streams it at memory speed.
struct LinearDynamicPacked::Kernel {
  Kernel(const at::Tensor& weight, const c10::optional<at::Tensor>& bias, const at::Tensor& scales)
      : weights(weight, dnnl::memory::desc({weight.size(1), weight.size(0)}, DataType::s8, Format::ba)),
        columnSums(weight.sum(1, false, at::kFloat).contiguous()),
        bias(bias ? bias->contiguous() : at::zeros({weight.size(0)})),
        scales(scales.contiguous()),
        inFeatures(weight.size(1)),
        outFeatures(weight.size(0)) {
    if (useAmxKernel()) {
      amx = std::make_unique<AmxInt8Weights>(weight.data_ptr<int8_t>(), outFeatures, inFeatures);
    }
  }

  DynamicPrimitive prepare(int64_t rows, const Activation& activation, ResidualAdd residual) {
    dnnl::memory::desc src({rows, inFeatures}, DataType::u8, Format::ab);
    dnnl::memory::desc dst({rows, outFeatures}, DataType::f32, Format::ab);
    dnnl::memory::desc anyWeights({inFeatures, outFeatures}, DataType::s8, Format::any);
    dnnl::memory::desc biasDesc({1, outFeatures}, DataType::f32, Format::ab);
    bool sumSeparately = false;
    using Desc = dnnl::matmul::primitive_desc;
    // oneDNN 2.6 runs its brgemm int8 matmul (AMX, AVX-512 VNNI) only with output scales fixed at creation; with
    // runtime ones it takes gemm:jit, 8x slower on an AMX Xeon (128 x 768 x 3072). So the weights' scales are fixed
    // and the input's, known per call, is a binary multiply post-op, where that gives a brgemm kernel.
    const std::vector<float> weightScales(scales.data_ptr<float>(), scales.data_ptr<float>() + scales.numel());
    std::optional<Desc> scaled;
    try {
      scaled.emplace(dnnl::matmul::desc(src, anyWeights, biasDesc, dst),
                     inputScaledAttr(weightScales, activation, residual), cpuEngine());
    } catch (const dnnl::error&) {
      // No implementation takes the binary post-op here: runtime output scales below.
    }
    const bool inputScalePostOp = scaled && std::string(scaled->impl_info_str()).rfind("brg", 0) == 0;
    Desc pd = inputScalePostOp ? *scaled
                               : fusedPrimitiveDesc<Desc>(
                                     [&](dnnl::primitive_attr attr) {
                                       attr.set_output_scales(1 << 1, {DNNL_RUNTIME_F32_VAL});
                                       return Desc(dnnl::matmul::desc(src, anyWeights, biasDesc, dst), attr,
                                                   cpuEngine());
                                     },
                                     activation, residual, sumSeparately);
    DynamicPrimitive result;
    result.inputScalePostOp = inputScalePostOp;
    result.sumSeparately = sumSeparately;
    result.primitive = dnnl::matmul(pd);
    std::lock_guard<std::mutex> lock(weightsMutex);
    result.weights = weights.in(pd.weights_desc());
    result.src = src;
    result.dst = pd.dst_desc();
    result.scratchpad = pd.scratchpad_desc();
    return result;
  }

  PackedWeights weights;
  std::mutex weightsMutex;
  at::Tensor columnSums;  ///< float32 (out): sum over k of qw[n, k].
  at::Tensor bias;        ///< float32 (out), zeros without a bias.
  at::Tensor scales;      ///< float32 (out).
  int64_t inFeatures;
  int64_t outFeatures;
  PrimitiveCache<DynamicPrimitive> primitives;
  std::unique_ptr<AmxInt8Weights> amx;  ///< Null where AMX is not used.
};

namespace {

/// Symmetric per-output-channel int8, as PerChannelMinMaxObserver(qint8,
/// per_channel_symmetric): scale max|w| / 127.5 (at least float epsilon).
std::pair<at::Tensor, at::Tensor> quantizeWeight(const at::Tensor& weight) {
  at::Tensor scales = (std::get<0>(weight.abs().max(1)) / 127.5).clamp_min(std::numeric_limits<float>::epsilon());
  at::Tensor quantized = at::round(weight / scales.unsqueeze(1)).clamp(-128, 127).to(at::kChar).contiguous();
  return {quantized, scales.contiguous()};
}

} // namespace

namespace {

/// The input scale as a contiguous float32 vector of `inFeatures`; throws c10::Error when it is not one.
c10::optional<at::Tensor> checkedInputScale(const c10::optional<at::Tensor>& scale, int64_t inFeatures) {
  if (!scale) {
    return c10::nullopt;
  }
  TORCH_CHECK(scale->scalar_type() == at::kFloat && scale->device().is_cpu() && scale->numel() == inFeatures &&
                  scale->dim() >= 1 && scale->size(-1) == inFeatures,
              "tsopt.LinearDynamicPacked: the input scale needs one float32 CPU value per input feature");
  return scale->detach().reshape({inFeatures}).contiguous();
}

} // namespace

LinearDynamicPacked::LinearDynamicPacked(const at::Tensor& weight, c10::optional<at::Tensor> bias, bool reduceRange,
                                         c10::optional<at::Tensor> inputScale)
    : bias_(std::move(bias)), reduceRange_(reduceRange) {
  TORCH_CHECK(weight.dim() == 2 && weight.scalar_type() == at::kFloat && weight.device().is_cpu(),
              "tsopt.LinearDynamicPacked: expected a 2-D float32 CPU weight");
  TORCH_CHECK(!bias_ || (bias_->dim() == 1 && bias_->size(0) == weight.size(0) &&
                         bias_->scalar_type() == at::kFloat),
              "tsopt.LinearDynamicPacked: the bias needs one float32 value per output feature");
  inputScale_ = checkedInputScale(inputScale, weight.size(1));
  std::tie(weight_, scales_) = quantizeWeight(weight.detach());
  if (bias_) {
    bias_ = bias_->detach().contiguous();
  }
  if (weight_.numel() > 0) {
    kernel_ = std::make_unique<Kernel>(weight_, bias_, scales_);
  }
}

LinearDynamicPacked::LinearDynamicPacked(const State& state)
    : weight_(std::get<1>(state).contiguous()), scales_(std::get<2>(state).contiguous()), bias_(std::get<3>(state)),
      reduceRange_(std::get<4>(state)) {
  TORCH_CHECK(std::get<0>(state) == kStateVersion, "tsopt.LinearDynamicPacked: unknown serialized format version ",
              std::get<0>(state));
  TORCH_CHECK(weight_.dim() == 2 && weight_.scalar_type() == at::kChar && scales_.dim() == 1 &&
                  scales_.size(0) == weight_.size(0),
              "tsopt.LinearDynamicPacked: malformed state");
  inputScale_ = checkedInputScale(std::get<5>(state), weight_.size(1));
  if (weight_.numel() > 0) {
    kernel_ = std::make_unique<Kernel>(weight_, bias_, scales_);
  }
}

LinearDynamicPacked::State LinearDynamicPacked::stateFrom(const c10::IValue& pickled) {
  TORCH_CHECK(pickled.isTuple(), "tsopt.LinearDynamicPacked: the serialized state is not a tuple");
  const std::vector<c10::IValue> fields = pickled.toTupleRef().elements().vec();
  TORCH_CHECK(!fields.empty() && fields[0].isInt(), "tsopt.LinearDynamicPacked: the serialized state has no version");
  const int64_t version = fields[0].toInt();
  const bool first = version == kFirstStateVersion && fields.size() == 5;
  TORCH_CHECK(first || (version == kStateVersion && fields.size() == std::tuple_size<State>::value),
              "tsopt.LinearDynamicPacked: unknown serialized format version ", version, " (", fields.size(),
              " fields)");
  TORCH_CHECK(fields[1].isTensor() && fields[2].isTensor() && (fields[3].isNone() || fields[3].isTensor()) &&
                  fields[4].isBool() && (first || fields[5].isNone() || fields[5].isTensor()),
              "tsopt.LinearDynamicPacked: malformed state");
  auto optionalTensor = [](const c10::IValue& value) {
    return value.isNone() ? c10::nullopt : c10::optional<at::Tensor>(value.toTensor());
  };
  return State{kStateVersion,
               fields[1].toTensor(),
               fields[2].toTensor(),
               optionalTensor(fields[3]),
               fields[4].toBool(),
               first ? c10::nullopt : optionalTensor(fields[5])};
}

LinearDynamicPacked::~LinearDynamicPacked() = default;

LinearDynamicPacked::State LinearDynamicPacked::state() const {
  return State{kStateVersion, weight_, scales_, bias_, reduceRange_, inputScale_};
}

bool LinearDynamicPacked::runsOnAmx() const { return kernel_ && kernel_->amx; }

bool LinearDynamicPacked::kernelApplies(const at::Tensor& input, const at::Tensor& residual) const {
  if (!kernel_ || !isPlainFloat(input) || input.dim() < 1 || needsAutograd(input) || input.numel() == 0 ||
      input.size(-1) != weight_.size(1)) {
    return false;
  }
  return !residual.defined() || (isPlainFloat(residual) && !needsAutograd(residual) &&
                                 residual.sizes() == outputSizes(input.sizes(), weight_.size(0)));
}

at::Tensor LinearDynamicPacked::runReference(const at::Tensor& input, const at::Tensor& residual,
                                             const Activation& activation, ResidualAdd where) const {
  at::Tensor floats = input.contiguous().to(at::kFloat);
  if (inputScale_) {
    floats = floats * *inputScale_;
  }
  float min = 0.f;
  float max = 0.f;
  if (floats.numel() > 0) {
    min = floats.min().item<float>();
    max = floats.max().item<float>();
  }
  const DynamicQuantParams params = dynamicQuantParams(min, max, reduceRange_);
  at::Tensor quantized =
      at::clamp(at::round(floats * (1.f / params.scale)) + static_cast<double>(params.zeroPoint), 0, quantMaxOf(reduceRange_));
  at::Tensor dequantized = ((quantized - static_cast<double>(params.zeroPoint)) * params.scale).to(input.scalar_type());
  at::Tensor weight = (weight_.to(at::kFloat) * scales_.unsqueeze(1)).to(input.scalar_type());
  c10::optional<at::Tensor> bias = bias_ ? c10::optional<at::Tensor>(bias_->to(input.scalar_type())) : c10::nullopt;
  return applyEpilogue(at::linear(dequantized, weight, bias), residual, activation,
                       residual.defined() ? where : ResidualAdd::None);
}

at::Tensor LinearDynamicPacked::run(const at::Tensor& input, at::Tensor residual, const Activation& activation,
                                    ResidualAdd where) {
  if (!kernelApplies(input, residual)) {
    return runReference(input, residual, activation, where);
  }
  const int64_t rows = rowsOf(input);
  const int64_t outFeatures = weight_.size(0);
  const bool accumulate = residual.defined();
  const ResidualAdd post = accumulate ? where : ResidualAdd::None;
  at::Tensor src = input.contiguous();
  const std::vector<int64_t> outSizes = outputSizes(input.sizes(), outFeatures);
  at::Tensor dst = accumulate ? accumulatorFor(std::move(residual), at::MemoryFormat::Contiguous)
                              : emptyOutput(outSizes, input.options(), at::MemoryFormat::Contiguous);

  const int64_t inFeatures = weight_.size(1);
  // The AMX kernel computes GELU and the residual add in either order; other activations run in place after it
  // (so only with the residual, if any, before them).
  const bool amxActivation = activation.kind == ActivationKind::None || activation.kind == ActivationKind::Gelu;
  const bool onAmx = kernel_->amx && (amxActivation || post != ResidualAdd::AfterActivation);
  // It reads whole tiles: rows rounded up to 16 and 64 bytes past the last (results from them are not kept).
  const int64_t quantizedBytes =
      onAmx ? inputRowsNeeded(rows) * inFeatures + AmxInt8Weights::kBlockDepth : src.numel();
  at::Tensor& quantized = threadTensor(0, quantizedBytes);
  std::fill(quantized.data_ptr<uint8_t>() + src.numel(), quantized.data_ptr<uint8_t>() + quantizedBytes, 0);
  DynamicQuantParams params;
  if (inputScale_) {
    // x * m (the input scale) inside the two passes over x: no copy of it.
    const float* scale = inputScale_->data_ptr<float>();
    const auto [min, max] = minMaxScaledOf(src.data_ptr<float>(), scale, rows, inFeatures);
    params = dynamicQuantParams(min, max, reduceRange_);
    quantizeScaledToUint8(src.data_ptr<float>(), scale, rows, inFeatures, params, quantMaxOf(reduceRange_),
                          quantized.data_ptr<uint8_t>());
  } else {
    const auto [min, max] = minMaxOf(src.data_ptr<float>(), src.numel());
    params = dynamicQuantParams(min, max, reduceRange_);
    quantizeToUint8(src.data_ptr<float>(), src.numel(), params, quantMaxOf(reduceRange_),
                    quantized.data_ptr<uint8_t>());
  }

  // Per call: the output scales sx * sw[n] and, for oneDNN, the bias b[n] / (sx * sw[n]) - zx * colsum[n].
  at::Tensor& perCall = threadTensor(1, 2 * outFeatures * static_cast<int64_t>(sizeof(float)));
  float* callScales = reinterpret_cast<float*>(perCall.data_ptr<uint8_t>());
  float* callBias = callScales + outFeatures;
  const float* weightScales = kernel_->scales.data_ptr<float>();
  const float* bias = kernel_->bias.data_ptr<float>();
  const float* columnSums = kernel_->columnSums.data_ptr<float>();
  const float zeroPoint = static_cast<float>(params.zeroPoint);
  for (int64_t n = 0; n < outFeatures; ++n) {
    callScales[n] = params.scale * weightScales[n];
    // The AMX kernel computes acc * scales + offset (+ residual): the bias term in output units.
    callBias[n] = onAmx ? bias[n] - zeroPoint * columnSums[n] * callScales[n]
                        : bias[n] / callScales[n] - zeroPoint * columnSums[n];
  }
  if (onAmx) {
    AmxLinearArgs args;
    args.input = quantized.data_ptr<uint8_t>();
    args.inputStride = inFeatures;
    args.rows = rows;
    args.scale = callScales;
    args.offset = callBias;
    args.residual = accumulate ? dst.data_ptr<float>() : nullptr;
    args.output = dst.data_ptr<float>();
    args.outputStride = outFeatures;
    args.activation = activation.kind == ActivationKind::Gelu ? AmxActivation::Gelu : AmxActivation::None;
    args.residualAfterActivation = post == ResidualAdd::AfterActivation;
    const AmxInt8Weights& amx = *kernel_->amx;
    at::parallel_for(0, amx.panels(), kAmxPanelsPerTask, [&](int64_t begin, int64_t end) {
      amxLinearU8S8(amx, args, begin, end);
    });
    if (!amxActivation) {
      applyActivationInPlace(dst, activation);
    }
    return dst;
  }

  ProblemKey key{{rows}, at::get_num_threads(), activation, post};
  auto prepared = kernel_->primitives.get(key, [&] { return kernel_->prepare(rows, activation, post); });
  at::Tensor out = prepared->sumSeparately ? emptyOutput(outSizes, input.options(), at::MemoryFormat::Contiguous) : dst;
  dnnl::memory::desc vector({outFeatures}, DataType::f32, Format::a);
  dnnl::memory::desc biasDesc({1, outFeatures}, DataType::f32, Format::ab);
  float inputScale = params.scale;
  std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC, dnnl::memory(prepared->src, cpuEngine(), quantized.data_ptr())},
      {DNNL_ARG_WEIGHTS, prepared->weights},
      {DNNL_ARG_BIAS, dnnl::memory(biasDesc, cpuEngine(), callBias)},
      {DNNL_ARG_DST, viewAsMemory(out, prepared->dst)}};
  if (prepared->inputScalePostOp) {
    args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1,
                 dnnl::memory(dnnl::memory::desc({1, 1}, DataType::f32, Format::ab), cpuEngine(), &inputScale));
  } else {
    args.emplace(DNNL_ARG_ATTR_OUTPUT_SCALES, dnnl::memory(vector, cpuEngine(), callScales));
  }
  addScratchpad(prepared->scratchpad, args);
  prepared->primitive.execute(threadStream(), args);
  return prepared->sumSeparately ? dst.add_(out) : dst;
}

} // namespace tsopt::runtime
