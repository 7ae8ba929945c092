//===- kernels.h - tsopt's own CUDA kernels --------------------------------===//
///
/// The element-wise epilogue of the fused layers and the add + layer norm
/// kernel, on raw device pointers, so that the .cu files include no ATen
/// header. cuda_ops.cpp checks the tensors (dtype, device, contiguity) and
/// launches these on PyTorch's current stream. Every kernel reads and writes
/// float32, float16 or bfloat16 and computes in float32.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace tsopt::runtime::cuda {

enum class ElementType { Float, Half, BFloat16 };

/// Whether work enqueued on `stream` now would be captured into a CUDA graph
/// (true also when the query fails: callers then skip what a capture forbids).
inline bool isCapturing(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  return cudaStreamIsCapturing(stream, &status) != cudaSuccess || status != cudaStreamCaptureStatusNone;
}

/// The largest power of two, up to `most`, that divides the address: the
/// alignment cuBLASLt and cuDNN are told an operand has.
inline uint32_t alignmentUpTo(const void* pointer, uint32_t most) {
  const auto address = reinterpret_cast<uintptr_t>(pointer);
  uint32_t alignment = most;
  while (alignment > 1 && address % alignment != 0) {
    alignment /= 2;
  }
  return alignment;
}

/// runtime/activation.h's ActivationKind, mapped one to one by cuda_ops.cpp.
enum class EpilogueActivation {
  None, Relu, Clamp, Silu, Hardswish, Gelu, GeluTanh, Sigmoid, Tanh,
  LeakyRelu, Elu, Hardsigmoid, Mish, Abs, Exp, Square, LogSigmoid, Softplus,
};

/// out[i] = activation(out[i] + bias[channel(i)] [+ residual[i]]) [+ residual[i]]
/// in place over `count` elements of a dense tensor, where channel(i) =
/// (i / inner) % channels: inner = 1 for channels-last and (..., features)
/// layouts, H * W for NCHW. bias and residual may be null; the residual has
/// out's layout and is added before the activation unless residualAfter.
struct EpilogueArguments {
  void* out = nullptr;
  const void* bias = nullptr;
  const void* residual = nullptr;
  int64_t count = 0;
  int64_t channels = 1;
  int64_t inner = 1;
  EpilogueActivation activation = EpilogueActivation::None;
  float alpha = 0.f;  ///< As runtime/activation.h's Activation::alpha.
  float beta = 0.f;   ///< As runtime/activation.h's Activation::beta.
  bool residualAfter = false;
};

/// Launches the epilogue; returns the launch's status.
cudaError_t launchEpilogue(const EpilogueArguments& arguments, ElementType type, cudaStream_t stream);

/// out = layer_norm(input + other) over rows of `columns` elements: every
/// operand dense and of `type`; weight and bias (`columns` elements each) may be
/// null. Mean and variance in float32 (two passes over the row).
struct AddLayerNormArguments {
  void* out = nullptr;
  const void* input = nullptr;
  const void* other = nullptr;
  const void* weight = nullptr;
  const void* bias = nullptr;
  int64_t rows = 0;
  int64_t columns = 0;
  float eps = 0.f;
};

cudaError_t launchAddLayerNorm(const AddLayerNormArguments& arguments, ElementType type, cudaStream_t stream);

} // namespace tsopt::runtime::cuda
