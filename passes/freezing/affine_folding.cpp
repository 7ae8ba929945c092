#include "passes/freezing/affine_folding.h"

#include <ATen/ATen.h>

namespace tsopt {

int64_t outputChannels(const at::Tensor& weight, const WeightLayout& layout) {
  return layout.transposed ? weight.size(1) * layout.groups : weight.size(0);
}

FoldedParams foldAffine(const at::Tensor& weight, const std::optional<at::Tensor>& bias, const at::Tensor& scale,
                        const at::Tensor& shift, const WeightLayout& layout) {
  // On the weight's device: a CUDA layer's factors may come from CPU numbers
  // (fold-conv-add-mul's scalars), and a missing bias is made here.
  const at::Device device = weight.device();
  at::Tensor w = weight.to(at::kDouble);
  at::Tensor s = scale.to(device, at::kDouble).flatten();
  std::vector<int64_t> ones(w.dim() - 1, 1);
  at::Tensor scaled;
  if (!layout.transposed) {
    std::vector<int64_t> shape = {-1};
    shape.insert(shape.end(), ones.begin(), ones.end());
    scaled = w * s.view(shape);
  } else {
    // [in, out/g, k...] -> [g, in/g, out/g, k...], scaling the out/g axis per group.
    int64_t g = layout.groups;
    std::vector<int64_t> grouped = {g, w.size(0) / g, w.size(1)};
    std::vector<int64_t> scaleShape = {g, 1, w.size(1)};
    for (int64_t d = 2; d < w.dim(); ++d) {
      grouped.push_back(w.size(d));
      scaleShape.push_back(1);
    }
    scaled = (w.reshape(grouped) * s.view(scaleShape)).reshape(w.sizes());
  }
  at::Tensor b = bias ? bias->to(device, at::kDouble) : at::zeros({s.size(0)}, w.options());
  at::Tensor folded = b * s + shift.to(device, at::kDouble).flatten();
  at::ScalarType biasType = bias ? bias->scalar_type() : weight.scalar_type();
  return {scaled.to(weight.scalar_type()).contiguous(), folded.to(biasType).contiguous()};
}

FoldedParams foldInputAffine(const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                             const at::Tensor& scale, const at::Tensor& shift, int64_t groups) {
  const at::Device device = weight.device();
  at::Tensor w = weight.to(at::kDouble);
  // [out, in/g, k...] -> [g, out/g, in/g, k...]; the factors as [g, 1, in/g, 1...].
  std::vector<int64_t> grouped = {groups, w.size(0) / groups, w.size(1)};
  std::vector<int64_t> factorShape = {groups, 1, w.size(1)};
  for (int64_t d = 2; d < w.dim(); ++d) {
    grouped.push_back(w.size(d));
    factorShape.push_back(1);
  }
  at::Tensor g = w.reshape(grouped);
  at::Tensor s = scale.to(device, at::kDouble).reshape(factorShape);
  at::Tensor t = shift.to(device, at::kDouble).reshape(factorShape);
  std::vector<int64_t> reduced;
  for (int64_t d = 2; d < g.dim(); ++d) {
    reduced.push_back(d);
  }
  at::Tensor shiftThrough = (g * t).sum(reduced).flatten();
  at::Tensor b = bias ? bias->to(device, at::kDouble) : at::zeros({w.size(0)}, w.options());
  at::ScalarType biasType = bias ? bias->scalar_type() : weight.scalar_type();
  return {(g * s).reshape(w.sizes()).to(weight.scalar_type()).contiguous(),
          (b + shiftThrough).to(biasType).contiguous()};
}

Affine batchNormAsAffine(const std::optional<at::Tensor>& gamma, const std::optional<at::Tensor>& beta,
                         const at::Tensor& mean, const at::Tensor& var, double eps) {
  at::Tensor m = mean.to(at::kDouble);
  at::Tensor scale = at::rsqrt(var.to(at::kDouble) + eps);
  if (gamma) {
    scale = scale * gamma->to(at::kDouble);
  }
  at::Tensor shift = -m * scale;
  if (beta) {
    shift = shift + beta->to(at::kDouble);
  }
  return {scale, shift};
}

} // namespace tsopt
