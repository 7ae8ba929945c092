#include "runtime/output_pool.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace tsopt::runtime {
namespace {

TEST(OutputPoolTest, LargeResultsReuseTheirBlockInEitherLayout) {
  const std::vector<int64_t> sizes{8, 64, 64, 64};  // 8 MiB of floats: pooled
  at::Tensor first = emptyOutput(sizes, at::TensorOptions(at::kFloat), at::MemoryFormat::ChannelsLast);
  EXPECT_EQ(first.sizes(), at::IntArrayRef(sizes));
  EXPECT_TRUE(first.is_contiguous(at::MemoryFormat::ChannelsLast));
  const void* block = first.data_ptr();
  const size_t cachedBefore = pooledOutputBytes();
  first = at::Tensor();
  EXPECT_GE(pooledOutputBytes(), cachedBefore + (size_t{8} << 20));

  at::Tensor second = emptyOutput(sizes, at::TensorOptions(at::kFloat), at::MemoryFormat::Contiguous);
  EXPECT_EQ(second.data_ptr(), block);
  EXPECT_TRUE(second.is_contiguous());
  EXPECT_EQ(pooledOutputBytes(), cachedBefore);
  second.fill_(0.5);
  EXPECT_DOUBLE_EQ(second.sum().item<double>(), 0.5 * static_cast<double>(second.numel()));
}

// A pooled 5-D result in ChannelsLast3d had contiguous strides, so a 3-D
// layer's NDHWC kernel output of 8 MiB or more was read in the wrong layout
// (found by the sub-pixel form of the UNet block's transposed layer).
TEST(OutputPoolTest, LargeFiveDimensionalResultsKeepChannelsLast3d) {
  const std::vector<int64_t> sizes{1, 128, 16, 32, 32};  // 8 MiB of floats: pooled
  at::Tensor result = emptyOutput(sizes, at::TensorOptions(at::kFloat), at::MemoryFormat::ChannelsLast3d);
  EXPECT_EQ(result.sizes(), at::IntArrayRef(sizes));
  EXPECT_TRUE(result.is_contiguous(at::MemoryFormat::ChannelsLast3d));
  EXPECT_TRUE(emptyOutput(sizes, at::TensorOptions(at::kFloat), at::MemoryFormat::Contiguous).is_contiguous());
}

TEST(OutputPoolTest, SmallResultsComeFromATen) {
  const size_t cachedBefore = pooledOutputBytes();
  at::Tensor small = emptyOutput({2, 3, 4, 5}, at::TensorOptions(at::kFloat), at::MemoryFormat::ChannelsLast);
  EXPECT_TRUE(small.is_contiguous(at::MemoryFormat::ChannelsLast));
  small = at::Tensor();
  EXPECT_EQ(pooledOutputBytes(), cachedBefore);
}

} // namespace
} // namespace tsopt::runtime
