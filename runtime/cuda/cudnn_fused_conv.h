//===- cudnn_fused_conv.h - conv2d + epilogue as one cuDNN graph ---------------===//
///
/// A 2-D convolution and its epilogue (bias per channel, activation, a
/// residual added before or after the activation) described to cuDNN's graph
/// (backend) API as one operation graph, for cuDNN's runtime-fusion engines to
/// compute in one kernel:
///
///   X, W -> conv -> + bias -> [+ Z] -> activation -> [+ Z] -> Y
///
/// Intermediates are virtual float32 tensors; X, W, bias, Z and Y are float32,
/// float16 or bfloat16 (all the same), NCHW or channels-last (all the same).
/// float32 runs in TF32 only when at::globalContext().allowTF32CuDNN().
/// Activations: relu, clamp (relu with both clips), silu (swish), gelu, gelu_tanh,
/// sigmoid, tanh. hardswish has no cuDNN pointwise mode and is always declined.
///
/// Never throws, never leaves a CUDA error set: anything it cannot do returns
/// false, and the caller computes the layer another way. docs/cuda.md.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "runtime/activation.h"

#include <ATen/core/Tensor.h>

#include <cstdlib>
#include <string>
#include <string_view>

namespace tsopt::runtime {
struct Conv2dParams;
} // namespace tsopt::runtime

namespace tsopt::runtime::cuda {

/// out = activation(conv2d(input, weight) + bias [+ residual]) [+ residual],
/// the residual added where `where` says (undefined residual: None).
///
/// `input`: 4-D CUDA tensor of float32, float16 or bfloat16; `weight` (K, C /
/// groups, R, S), `bias` (K, contiguous; may be null) and `residual` (the
/// output's sizes) of the same dtype and device. Operands not dense in the
/// input's memory format are copied into it. On success `out` is a new tensor
/// in the input's memory format and the result is true.
///
/// False, `out` untouched and the reason in `*reason` (when not null) when:
/// TSOPT_CUDNN_FUSION is not 1; cuDNN is unavailable or disabled
/// (torch.backends.cudnn.enabled); the activation has no cuDNN mode; the
/// operands are not as above; cuDNN offers no engine for the graph; any cuDNN
/// or CUDA call fails. The finalized execution plan of a graph (shapes,
/// layout, dtype, activation, residual position, parameters, alignments,
/// device, cuDNN handle) is kept for the process; so is the answer that cuDNN
/// has none, so a graph it cannot fuse is built once.
bool runCudnnFusedConv(const at::Tensor& input, const at::Tensor& weight, const at::Tensor* bias,
                       const at::Tensor& residual, ResidualAdd where, const Activation& activation,
                       const Conv2dParams& params, at::Tensor& out, std::string* reason = nullptr);

/// True only when the environment sets TSOPT_CUDNN_FUSION=1: the graph path
/// is opt-in until it has run on a GPU (it was written and compiled on a
/// machine without one; docs/cuda.md). Otherwise runCudnnFusedConv declines
/// every call. Read on every call.
inline bool cudnnFusionEnabled() {
  const char* value = std::getenv("TSOPT_CUDNN_FUSION");
  return value != nullptr && std::string_view(value) == "1";
}

/// runCudnnFusedConv under a C name, for code that loads
/// libtsopt_runtime_cuda.so at run time and finds it with dlsym (the unit
/// tests), as the library is not linked.
inline constexpr char kRunCudnnFusedConvSymbol[] = "tsopt_run_cudnn_fused_conv";
using RunCudnnFusedConvFunction = bool (*)(const at::Tensor& input, const at::Tensor& weight, const at::Tensor* bias,
                                           const at::Tensor& residual, ResidualAdd where,
                                           const Activation& activation, const Conv2dParams& params,
                                           at::Tensor& out, std::string* reason);

} // namespace tsopt::runtime::cuda
