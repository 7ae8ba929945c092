// The fused layers' element-wise epilogue: bias, activation and residual in
// one pass over the layer's output, in place.
#include "runtime/cuda/element_type.cuh"
#include "runtime/cuda/kernels.h"

#include <cmath>

namespace tsopt::runtime::cuda {
namespace {

/// ATen's formulas in float32; NaN propagates as in ATen's relu and clamp.
__device__ __forceinline__ float activate(float value, EpilogueActivation activation, float alpha, float beta) {
  switch (activation) {
  case EpilogueActivation::None:
    return value;
  case EpilogueActivation::Relu:
    return value > 0.f || isnan(value) ? value : 0.f;
  case EpilogueActivation::Clamp:
    // As at::clamp: the lower bound first.
    return isnan(value) ? value : fminf(fmaxf(value, alpha), beta);
  case EpilogueActivation::Silu:
    return value / (1.f + expf(-value));
  case EpilogueActivation::Hardswish:
    return value * fminf(fmaxf(value + 3.f, 0.f), 6.f) / 6.f;
  case EpilogueActivation::Gelu:
    return 0.5f * value * (1.f + erff(value * 0.70710678118654752f));
  case EpilogueActivation::GeluTanh: {
    const float inner = 0.79788456080286536f * (value + 0.044715f * value * value * value);
    return 0.5f * value * (1.f + tanhf(inner));
  }
  case EpilogueActivation::Sigmoid:
    return 1.f / (1.f + expf(-value));
  case EpilogueActivation::Tanh:
    return tanhf(value);
  case EpilogueActivation::LeakyRelu:
    return value > 0.f || isnan(value) ? value : value * alpha;
  case EpilogueActivation::Elu:
    return value > 0.f || isnan(value) ? value : alpha * expm1f(value);
  case EpilogueActivation::Hardsigmoid:
    return isnan(value) ? value : fminf(fmaxf(value + 3.f, 0.f), 6.f) / 6.f;
  case EpilogueActivation::Mish:
    return value * tanhf(log1pf(expf(value)));
  case EpilogueActivation::Abs:
    return fabsf(value);
  case EpilogueActivation::Exp:
    return expf(value);
  case EpilogueActivation::Square:
    return value * value;
  case EpilogueActivation::LogSigmoid:
    // -softplus(-x), stable for large |x|.
    return fminf(value, 0.f) - log1pf(expf(-fabsf(value)));
  case EpilogueActivation::Softplus:
    return value * alpha > beta ? value : log1pf(expf(value * alpha)) / alpha;
  }
  return value;
}

template <typename T> __global__ void epilogueKernel(EpilogueArguments arguments) {
  T* out = static_cast<T*>(arguments.out);
  const T* bias = static_cast<const T*>(arguments.bias);
  const T* residual = static_cast<const T*>(arguments.residual);
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; index < arguments.count;
       index += stride) {
    float value = toFloat(out[index]);
    if (bias != nullptr) {
      value += toFloat(bias[(index / arguments.inner) % arguments.channels]);
    }
    if (residual != nullptr && !arguments.residualAfter) {
      value += toFloat(residual[index]);
    }
    value = activate(value, arguments.activation, arguments.alpha, arguments.beta);
    if (residual != nullptr && arguments.residualAfter) {
      value += toFloat(residual[index]);
    }
    out[index] = fromFloat<T>(value);
  }
}

template <typename T> cudaError_t launch(const EpilogueArguments& arguments, cudaStream_t stream) {
  constexpr int kThreads = 256;
  // A grid-stride loop: enough blocks to fill any GPU, never more than needed.
  const int64_t wanted = (arguments.count + kThreads - 1) / kThreads;
  const int blocks = static_cast<int>(wanted < 65536 ? wanted : 65536);
  epilogueKernel<T><<<blocks, kThreads, 0, stream>>>(arguments);
  return cudaGetLastError();
}

} // namespace

cudaError_t launchEpilogue(const EpilogueArguments& arguments, ElementType type, cudaStream_t stream) {
  if (arguments.count == 0) {
    return cudaSuccess;
  }
  if (arguments.channels <= 0 || arguments.inner <= 0) {
    return cudaErrorInvalidValue;
  }
  return withElementType(type, [&](auto element) { return launch<decltype(element)>(arguments, stream); });
}

} // namespace tsopt::runtime::cuda
