#include "runtime/activation.h"
#include "runtime/gelu_tanh.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace tsopt::runtime {
namespace {

bool hasAvx2Fma() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

// The vectorized GELU (tanh form) against ATen's on values across its range,
// tiny ones, the region where 1 + tanh(u) cancels, and large ones: within 2e-6
// relative plus 1e-6 absolute. The absolute term is for x below about -4.5,
// where ATen's 1 + tanh(u) cancels (it gives exactly 0 from x = -5 on, where
// GELU is -1.5e-7; x / (1 + exp(-2u)) keeps those values).
TEST(GeluTanhTest, MatchesATenAcrossTheRange) {
  if (!hasAvx2Fma()) {
    GTEST_SKIP() << "no AVX2 and FMA: ATen's gelu runs instead";
  }
  std::vector<float> values;
  for (float x = -12.0f; x <= 12.0f; x += 0.001953125f) {
    values.push_back(x);
  }
  for (float x : {1e-30f, -1e-30f, 1e-8f, -1e-8f, 0.0f, -0.0f, 30.0f, -30.0f, 1e6f, -1e6f, 3e12f, -3e12f, 1e30f,
                  -1e30f}) {
    values.push_back(x);
  }
  values.push_back(0.5f);  // an odd count: the last group of eight goes through the scratch line
  at::Tensor input = at::tensor(values);
  const at::Tensor expected = at::gelu(input, "tanh");
  at::Tensor result = input.clone();
  ASSERT_TRUE(geluTanhInPlace(result));
  const at::Tensor excess = (result - expected).abs() - (expected.abs() * 2e-6 + 1e-6);
  const int64_t worst = excess.argmax().item<int64_t>();
  EXPECT_TRUE(at::allclose(result, expected, 2e-6, 1e-6))
      << "worst at x = " << input[worst].item<float>() << ": " << result[worst].item<float>() << " against ATen's "
      << expected[worst].item<float>();
}

// Infinities and NaN give ATen's results (its -inf is NaN: 0 times infinity),
// and the elements around them in the same group of eight are unaffected.
TEST(GeluTanhTest, SpecialValuesGiveATensResults) {
  if (!hasAvx2Fma()) {
    GTEST_SKIP() << "no AVX2 and FMA";
  }
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  at::Tensor input = at::tensor(std::vector<float>{1.0f, inf, -2.0f, -inf, nan, 0.25f, -0.5f, 3.0f, nan});
  const at::Tensor expected = at::gelu(input, "tanh");
  at::Tensor result = input.clone();
  ASSERT_TRUE(geluTanhInPlace(result));
  EXPECT_TRUE(at::allclose(result, expected, 2e-6, 1e-6, /*equal_nan=*/true)) << result << expected;
}

// What the vector path does not take stays ATen's: other dtypes, autograd,
// non-dense views; the fused ops' epilogue (applyActivationInPlace) falls back to at::gelu_.
TEST(GeluTanhTest, DeclinesWhatItDoesNotCover) {
  at::Tensor doubles = at::randn({4, 8}, at::kDouble);
  EXPECT_FALSE(geluTanhInPlace(doubles));
  at::Tensor trained = at::randn({4, 8}).requires_grad_();
  EXPECT_FALSE(geluTanhInPlace(trained));
  at::Tensor strided = at::randn({4, 16}).slice(1, 0, 16, 2);
  EXPECT_FALSE(geluTanhInPlace(strided));
  const at::Tensor expected = at::gelu(strided, "tanh");
  applyActivationInPlace(strided, Activation{ActivationKind::GeluTanh});
  EXPECT_TRUE(at::allclose(strided, expected, 2e-6, 1e-6));
  at::Tensor large = at::randn({3, 40000});  // several parallel chunks
  const at::Tensor largeExpected = at::gelu(large, "tanh");
  applyActivationInPlace(large, Activation{ActivationKind::GeluTanh});
  EXPECT_TRUE(at::allclose(large, largeExpected, 2e-6, 1e-6));
}

} // namespace
} // namespace tsopt::runtime
