#include "runtime/gelu_tanh.h"

#include "runtime/packed_gemm.h"

#include <ATen/Parallel.h>

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace tsopt::runtime {
namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kCubic = 0.044715f;

/// ATen's formula (aten/src/ATen/native/cpu/Activation.cpp): the lanes the
/// vector path leaves to it (infinities, NaN) get ATen's exact result.
float geluTanhScalar(float x) { return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + kCubic * x * x * x))); }

/// exp(x) for x in [-88.38, 88.38] (the caller clamps): Cephes' expf, a
/// degree-5 polynomial after reduction by ln 2, about 1e-7 relative error.
__attribute__((target("avx2,fma"))) __m256 exp256(__m256 x) {
  const __m256 log2e = _mm256_set1_ps(1.44269504088896341f);
  const __m256 c1 = _mm256_set1_ps(0.693359375f);
  const __m256 c2 = _mm256_set1_ps(-2.12194440e-4f);
  __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, log2e, _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(n, c1, x);
  x = _mm256_fnmadd_ps(n, c2, x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  // 2^n, built in the exponent field; n >= -127 after the caller's clamp gives 0 for -127.
  const __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(exponent));
}

/// Eight elements, in place.
__attribute__((target("avx2,fma"))) void geluTanh8(float* data) {
  const __m256 k = _mm256_set1_ps(kSqrt2OverPi);
  const __m256 cubic = _mm256_set1_ps(kCubic);
  const __m256 minusTwo = _mm256_set1_ps(-2.0f);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 low = _mm256_set1_ps(-88.3762626647949f);
  const __m256 high = _mm256_set1_ps(88.3762626647949f);
  const __m256 infinity = _mm256_set1_ps(INFINITY);
  const __m256 signMask = _mm256_set1_ps(-0.0f);
  const __m256 x = _mm256_loadu_ps(data);
  const __m256 x2 = _mm256_mul_ps(x, x);
  const __m256 u = _mm256_mul_ps(k, _mm256_fmadd_ps(_mm256_mul_ps(cubic, x2), x, x));
  // min/max return their second operand when the first is NaN: t stays in range.
  const __m256 t = _mm256_max_ps(_mm256_min_ps(_mm256_mul_ps(minusTwo, u), high), low);
  const __m256 result = _mm256_div_ps(x, _mm256_add_ps(one, exp256(t)));
  // Infinities and NaN: ATen's formula, lane by lane (its -inf gives NaN, as 0 * inf).
  const __m256 special = _mm256_cmp_ps(_mm256_andnot_ps(signMask, x), infinity, _CMP_NLT_UQ);
  _mm256_storeu_ps(data, result);
  if (_mm256_movemask_ps(special) != 0) {
    alignas(32) float original[8];
    _mm256_store_ps(original, x);
    const int lanes = _mm256_movemask_ps(special);
    for (int lane = 0; lane < 8; ++lane) {
      if (lanes & (1 << lane)) {
        data[lane] = geluTanhScalar(original[lane]);
      }
    }
  }
}

/// The whole range, the last partial group of eight through a scratch line,
/// so every element gets the same computation wherever the range is split.
__attribute__((target("avx2,fma"))) void geluTanhAvx2(float* data, int64_t count) {
  int64_t index = 0;
  for (; index + 8 <= count; index += 8) {
    geluTanh8(data + index);
  }
  if (index < count) {
    float line[8] = {};
    std::copy(data + index, data + count, line);
    geluTanh8(line);
    std::copy(line, line + (count - index), data + index);
  }
}

/// Elements per parallel task: large enough that a second thread pays for itself.
constexpr int64_t kGrain = 32 * 1024;

} // namespace

bool geluTanhInPlace(at::Tensor& tensor) {
  if (!panelGemmAvailable() ||  // the same AVX2 + FMA check
      !tensor.device().is_cpu() || tensor.scalar_type() != at::kFloat ||
      tensor.layout() != at::kStrided || !tensor.is_non_overlapping_and_dense() || tensor.requires_grad()) {
    return false;
  }
  float* data = tensor.data_ptr<float>();
  at::parallel_for(0, tensor.numel(), kGrain, [data](int64_t begin, int64_t end) {
    geluTanhAvx2(data + begin, end - begin);
  });
  return true;
}

} // namespace tsopt::runtime
