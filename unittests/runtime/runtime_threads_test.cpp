// The runtime's at::parallel_for calls really use the threads: ATen opens the
// OpenMP region in the caller's code, so a runtime file built without
// -fopenmp runs every split on one thread, silently (the dynamic linear, its
// quantization, the zero-point padding and gelu_tanh did until 2026-12-08).
#include "runtime/onednn_common.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

namespace tsopt::runtime {
namespace {

TEST(RuntimeThreadsTest, ParallelForUsesTheThreads) {
  const int saved = at::get_num_threads();
  at::set_num_threads(2);
  EXPECT_EQ(parallelForThreads(2), 2);
  EXPECT_EQ(parallelForThreads(1), 1);
  at::set_num_threads(1);
  EXPECT_EQ(parallelForThreads(4), 1);
  at::set_num_threads(saved);
}

} // namespace
} // namespace tsopt::runtime
