// tsopt::add_layer_norm: layer_norm(input + other) over the last `columns`
// elements, one block per row. The sum is never stored: each pass re-reads
// input and other (the row stays in L1/L2 between passes). Mean and variance
// are float32, in two passes (no cancellation of a one-pass sum of squares).
#include "runtime/cuda/element_type.cuh"
#include "runtime/cuda/kernels.h"

namespace tsopt::runtime::cuda {
namespace {

constexpr int kThreads = 256;  // A multiple of the warp size.
constexpr int kWarps = kThreads / 32;

/// The sum of `value` over the block; every thread gets it.
__device__ float blockSum(float value) {
  __shared__ float partial[kWarps];
  __shared__ float total;
  for (int offset = 16; offset > 0; offset /= 2) {
    value += __shfl_xor_sync(0xffffffffu, value, offset);
  }
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  if (lane == 0) {
    partial[warp] = value;
  }
  __syncthreads();
  if (warp == 0) {
    value = lane < kWarps ? partial[lane] : 0.f;
    for (int offset = 16; offset > 0; offset /= 2) {
      value += __shfl_xor_sync(0xffffffffu, value, offset);
    }
    if (lane == 0) {
      total = value;
    }
  }
  __syncthreads();
  const float result = total;
  __syncthreads();  // `partial` and `total` are reused by the next call.
  return result;
}

template <typename T> __global__ void addLayerNormKernel(AddLayerNormArguments arguments) {
  const int64_t columns = arguments.columns;
  const int64_t offset = static_cast<int64_t>(blockIdx.x) * columns;
  const T* input = static_cast<const T*>(arguments.input) + offset;
  const T* other = static_cast<const T*>(arguments.other) + offset;
  const T* weight = static_cast<const T*>(arguments.weight);
  const T* bias = static_cast<const T*>(arguments.bias);
  T* out = static_cast<T*>(arguments.out) + offset;

  float sum = 0.f;
  for (int64_t column = threadIdx.x; column < columns; column += blockDim.x) {
    sum += toFloat(input[column]) + toFloat(other[column]);
  }
  const float mean = blockSum(sum) / static_cast<float>(columns);
  float squares = 0.f;
  for (int64_t column = threadIdx.x; column < columns; column += blockDim.x) {
    const float centered = toFloat(input[column]) + toFloat(other[column]) - mean;
    squares += centered * centered;
  }
  const float variance = blockSum(squares) / static_cast<float>(columns);
  const float scale = rsqrtf(variance + arguments.eps);
  for (int64_t column = threadIdx.x; column < columns; column += blockDim.x) {
    float value = (toFloat(input[column]) + toFloat(other[column]) - mean) * scale;
    if (weight != nullptr) {
      value *= toFloat(weight[column]);
    }
    if (bias != nullptr) {
      value += toFloat(bias[column]);
    }
    out[column] = fromFloat<T>(value);
  }
}

template <typename T> cudaError_t launch(const AddLayerNormArguments& arguments, cudaStream_t stream) {
  addLayerNormKernel<T><<<static_cast<unsigned>(arguments.rows), kThreads, 0, stream>>>(arguments);
  return cudaGetLastError();
}

} // namespace

cudaError_t launchAddLayerNorm(const AddLayerNormArguments& arguments, ElementType type, cudaStream_t stream) {
  if (arguments.rows == 0) {
    return cudaSuccess;
  }
  // One block per row: the grid's x dimension holds 2^31 - 1 blocks.
  if (arguments.columns <= 0 || arguments.rows > 2147483647) {
    return cudaErrorInvalidValue;
  }
  return withElementType(type, [&](auto element) { return launch<decltype(element)>(arguments, stream); });
}

} // namespace tsopt::runtime::cuda
