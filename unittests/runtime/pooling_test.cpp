#include "runtime/pooling.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace tsopt::runtime {
namespace {

struct PoolCase {
  std::vector<int64_t> sizes;  ///< N, C, H, W
  std::vector<int64_t> kernel, stride, padding;
};

// ResNet's stem pool, a non-overlapping 2x2 pool with the default stride, an
// odd extent the windows do not cover exactly, rectangular windows.
const std::vector<PoolCase> kCases = {{{1, 64, 112, 112}, {3, 3}, {2, 2}, {1, 1}},
                                      {{2, 16, 8, 8}, {2, 2}, {}, {0, 0}},
                                      {{1, 24, 15, 13}, {3}, {2}, {1}},
                                      {{3, 8, 9, 11}, {3, 2}, {1, 2}, {1, 0}}};

// Whether oneDNN 2.6 has a bfloat16 pooling kernel here (AVX512-core and up); elsewhere it has only its
// reference implementation, which maxPool2d leaves for ATen's.
bool onednnPoolsBf16() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}

// Max pooling compares and copies: oneDNN's result is ATen's bit for bit, in
// float32 and bfloat16 (tolerance 0), in both layouts, and keeps ATen's layout,
// on the measured first call and after it.
// bfloat16 runs on oneDNN where it has a kernel for it (onednnPoolsBf16), on
// ATen elsewhere (an AVX2 CPU): the same result either way.
TEST(MaxPool2dTest, MatchesATenExactlyInBothLayoutsAndDtypes) {
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    for (const auto format : {at::MemoryFormat::ChannelsLast, at::MemoryFormat::Contiguous}) {
      for (const PoolCase& pool : kCases) {
        at::manual_seed(0);
        const at::Tensor input = at::randn(pool.sizes).to(dtype).contiguous(format);
        const std::vector<int64_t> dilation{1, 1};
        ASSERT_EQ(maxPool2dOnOneDnn(input, pool.kernel, pool.stride, pool.padding, dilation, false),
                  dtype == at::kFloat || onednnPoolsBf16())
            << at::IntArrayRef(pool.sizes) << " " << dtype;
        const at::Tensor expected = at::max_pool2d(input, pool.kernel, pool.stride, pool.padding, dilation, false);
        const at::Tensor result = maxPool2d(input, pool.kernel, pool.stride, pool.padding, dilation, false);
        EXPECT_EQ(result.sizes(), expected.sizes());
        EXPECT_EQ(result.scalar_type(), dtype);
        EXPECT_TRUE(result.is_contiguous(expected.suggest_memory_format()));
        EXPECT_TRUE(at::equal(result, expected)) << at::IntArrayRef(pool.sizes) << " " << dtype;
        // The stem pool is large enough to be measured on its first call (oneDNN against ATen, measured_choice.h);
        // later calls take the winner, which must give the same result.
        EXPECT_TRUE(at::equal(maxPool2d(input, pool.kernel, pool.stride, pool.padding, dilation, false), expected))
            << at::IntArrayRef(pool.sizes) << " " << dtype << ", second call";
      }
    }
  }
}

// What the kernel does not cover returns ATen's own result: ceil_mode, a
// dilation, a float64 tensor (ATen 1.13 pools no integers), one that needs
// autograd, a non-dense view, a 3-D input, a window larger than the padded
// input (ATen raises that error).
TEST(MaxPool2dTest, FallsBackToATenOutsideTheKernel) {
  const at::Tensor input = at::randn({1, 8, 9, 9}).contiguous(at::MemoryFormat::ChannelsLast);
  const std::vector<int64_t> kernel{3, 3}, stride{2, 2}, padding{1, 1}, ones{1, 1}, twos{2, 2};
  EXPECT_FALSE(maxPool2dOnOneDnn(input, kernel, stride, padding, ones, true));
  EXPECT_TRUE(at::equal(maxPool2d(input, kernel, stride, padding, ones, true),
                        at::max_pool2d(input, kernel, stride, padding, ones, true)));
  EXPECT_FALSE(maxPool2dOnOneDnn(input, kernel, stride, padding, twos, false));
  EXPECT_TRUE(at::equal(maxPool2d(input, kernel, stride, padding, twos, false),
                        at::max_pool2d(input, kernel, stride, padding, twos, false)));
  const at::Tensor doubles = at::randn({1, 8, 9, 9}, at::kDouble);
  EXPECT_FALSE(maxPool2dOnOneDnn(doubles, kernel, stride, padding, ones, false));
  EXPECT_TRUE(at::equal(maxPool2d(doubles, kernel, stride, padding, ones, false),
                        at::max_pool2d(doubles, kernel, stride, padding, ones, false)));
  const at::Tensor trained = at::randn({1, 8, 9, 9}).requires_grad_();
  EXPECT_FALSE(maxPool2dOnOneDnn(trained, kernel, stride, padding, ones, false));
  const at::Tensor pooled = maxPool2d(trained, kernel, stride, padding, ones, false);
  EXPECT_TRUE(pooled.requires_grad());
  const at::Tensor strided = at::randn({1, 8, 9, 18}).slice(3, 0, 18, 2);
  EXPECT_FALSE(maxPool2dOnOneDnn(strided, kernel, stride, padding, ones, false));
  EXPECT_TRUE(at::equal(maxPool2d(strided, kernel, stride, padding, ones, false),
                        at::max_pool2d(strided, kernel, stride, padding, ones, false)));
  EXPECT_FALSE(maxPool2dOnOneDnn(input[0], kernel, stride, padding, ones, false));
  EXPECT_FALSE(maxPool2dOnOneDnn(at::randn({1, 8, 2, 2}), {5, 5}, stride, padding, ones, false));
  EXPECT_THROW(maxPool2d(at::randn({1, 8, 2, 2}), {5, 5}, stride, padding, ones, false), c10::Error);
}

} // namespace
} // namespace tsopt::runtime
