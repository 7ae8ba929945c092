//===- affine_folding.h - Folding per-channel affine maps into weights ----===//
///
/// The math of fold-conv-bn, fold-linear-bn and fold-conv-add-mul, kept apart
/// from graph surgery so it is unit-tested on its own. All of them fold an
/// output-channel-wise affine map y' = scale * y + shift, applied after a
/// convolution or linear layer, into that layer's weight and bias. Arithmetic
/// is done in double precision and the results cast back to the weight's dtype
/// (pytorch/pytorch#76578: folding in float32 loses accuracy).
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/ir_matchers.h"

#include <ATen/core/Tensor.h>

#include <optional>

namespace tsopt {

/// Output channels of a convolution (or linear, with the default layout) weight.
int64_t outputChannels(const at::Tensor& weight, const WeightLayout& layout);

struct FoldedParams {
  at::Tensor weight;
  at::Tensor bias;
};

/// weight' = weight * scale (per output channel), bias' = bias * scale + shift,
/// with `scale` and `shift` of shape [out_channels]; `bias` may be absent (zero).
FoldedParams foldAffine(const at::Tensor& weight, const std::optional<at::Tensor>& bias, const at::Tensor& scale,
                        const at::Tensor& shift, const WeightLayout& layout);

/// The other side: an affine map y = scale * x + shift per *input* channel,
/// applied before a non-transposed convolution or a linear layer (weight
/// [out, in/groups, k...]), folded into it: weight' = weight * scale (per input
/// channel of each group), bias' = bias + sum over in and k of weight * shift.
/// Exact only where every output reads a full window of real inputs (no
/// padding, or a zero shift); the caller checks that.
FoldedParams foldInputAffine(const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                             const at::Tensor& scale, const at::Tensor& shift, int64_t groups);

/// Eval-mode batch norm as a per-channel affine map, in double precision:
/// scale = gamma / sqrt(var + eps), shift = beta - mean * scale. Absent gamma
/// is 1, absent beta is 0.
struct Affine {
  at::Tensor scale;
  at::Tensor shift;
};
Affine batchNormAsAffine(const std::optional<at::Tensor>& gamma, const std::optional<at::Tensor>& beta,
                         const at::Tensor& mean, const at::Tensor& var, double eps);

} // namespace tsopt
