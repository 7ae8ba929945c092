//===- add_layer_norm.h - Residual add followed by layer normalization ----===//
///
/// The kernel behind tsopt::add_layer_norm, which fuse-add-layer-norm puts in
/// place of
///
///   %sum = aten::add(%input, %other, 1)
///   %out = aten::layer_norm(%sum, %normalized_shape, %weight, %bias, %eps, %cudnn)
///
/// (a transformer's post-attention and post-feed-forward normalization). The
/// catch-all kernel here computes exactly that through ATen, on any device;
/// the CUDA companion library (runtime/cuda/) registers a one-pass CUDA kernel
/// for same-shape operands and falls back to this one for anything else.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

namespace tsopt::runtime {

/// layer_norm(input + other, normalizedShape, weight, bias, eps) through ATen
/// (`other` may broadcast to `input`, as aten::add allows).
at::Tensor addLayerNormReference(const at::Tensor& input, const at::Tensor& other, at::IntArrayRef normalizedShape,
                                 const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias,
                                 double eps);

} // namespace tsopt::runtime
