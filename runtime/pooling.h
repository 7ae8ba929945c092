//===- pooling.h - Max pooling on oneDNN's pooling primitive ---------------===//
///
/// tsopt::max_pool2d (registered in register_ops.cpp; emitted by the
/// onednn-pooling pass) computes aten::max_pool2d. On a float32 or bfloat16
/// CPU tensor, channels-last or contiguous, with dilation 1 and ceil_mode off,
/// it runs oneDNN's pooling primitive in the tensor's own layout: on
/// ResNet-50's 64x112x112 stem output ATen 2.14's channels-last max-pool takes
/// 0.44 ms, oneDNN's jit kernel 0.21 ms (one thread, Xeon with AVX-512;
/// docs/fusion.md), but on AVX2 (an AMD EPYC) 0.38 against oneDNN's 0.84 ms:
/// so the first call of each problem times both and keeps the faster
/// (measured_choice.h; TSOPT_MEASURE=0 keeps oneDNN's). Anything else (other dtypes, dilation, ceil_mode, autograd, a
/// layout that is neither, a shape oneDNN runs only on its reference
/// implementation) returns at::max_pool2d itself, so the op never changes what
/// the graph computes, with one exception: oneDNN's max does not propagate
/// NaN as ATen's does (a window holding NaN and a number may give the number).
///
//===----------------------------------------------------------------------===//
#pragma once

#include <ATen/core/Tensor.h>

namespace tsopt::runtime {

/// aten::max_pool2d's arguments and result (an empty stride means the kernel size, as in ATen).
at::Tensor maxPool2d(const at::Tensor& input, at::IntArrayRef kernelSize, at::IntArrayRef stride,
                     at::IntArrayRef padding, at::IntArrayRef dilation, bool ceilMode);
/// Whether maxPool2d can run oneDNN's primitive for these arguments (tests, benchmarks); where it can,
/// the measured choice may still take ATen's.
bool maxPool2dOnOneDnn(const at::Tensor& input, at::IntArrayRef kernelSize, at::IntArrayRef stride,
                       at::IntArrayRef padding, at::IntArrayRef dilation, bool ceilMode);

} // namespace tsopt::runtime
