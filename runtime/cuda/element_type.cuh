//===- element_type.cuh - Loads and stores of float, half and bfloat16 ----===//
#pragma once

#include "runtime/cuda/kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace tsopt::runtime::cuda {

__device__ __forceinline__ float toFloat(float value) { return value; }
__device__ __forceinline__ float toFloat(__half value) { return __half2float(value); }
__device__ __forceinline__ float toFloat(__nv_bfloat16 value) { return __bfloat162float(value); }

template <typename T> __device__ __forceinline__ T fromFloat(float value);
template <> __device__ __forceinline__ float fromFloat<float>(float value) { return value; }
template <> __device__ __forceinline__ __half fromFloat<__half>(float value) { return __float2half_rn(value); }
template <> __device__ __forceinline__ __nv_bfloat16 fromFloat<__nv_bfloat16>(float value) {
  return __float2bfloat16_rn(value);
}

/// Calls `launch(T{})` with T the element type `type` names (float, __half or
/// __nv_bfloat16): a kernel's launcher picks its instantiation with it.
template <typename Launch> cudaError_t withElementType(ElementType type, Launch&& launch) {
  switch (type) {
  case ElementType::Float:
    return launch(float{});
  case ElementType::Half:
    return launch(__half{});
  case ElementType::BFloat16:
    return launch(__nv_bfloat16{});
  }
  return cudaErrorInvalidValue;
}

} // namespace tsopt::runtime::cuda
