//===- output_pool.h - Kernel results from blocks kept across calls --------===//
///
/// Internal to the runtime. A kernel's result of 8 MiB or more comes from a
/// pool of blocks that outlive the tensors using them, as ONNX Runtime's arena
/// keeps its buffers. glibc serves such sizes with mmap (above 32 MiB always,
/// below after its trim threshold returns freed memory), so every call pays
/// page faults on fresh pages: MobileNetV2 -O2 at batch 8 spent a third of its
/// time in them (79-87 ms per call; 61 ms with the pool).
///
/// A block returns to the pool when its last tensor dies and serves the next
/// request of the same rounded size; at most TSOPT_OUTPUT_POOL_MB (default
/// 1024) MiB stay cached, and TSOPT_OUTPUT_POOL_MB=0 turns the pool off.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <ATen/core/Tensor.h>

namespace tsopt::runtime {

/// An uninitialized tensor of `sizes` in `format` (contiguous or channels-last).
at::Tensor emptyOutput(at::IntArrayRef sizes, const at::TensorOptions& options, at::MemoryFormat format);

/// Bytes the pool holds for reuse now (for tests).
size_t pooledOutputBytes();

} // namespace tsopt::runtime
