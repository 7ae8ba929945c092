#include "runtime/add_layer_norm.h"

#include <ATen/Functions.h>

namespace tsopt::runtime {

at::Tensor addLayerNormReference(const at::Tensor& input, const at::Tensor& other, at::IntArrayRef normalizedShape,
                                 const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias,
                                 double eps) {
  return at::layer_norm(at::add(input, other), normalizedShape, weight, bias, eps);
}

} // namespace tsopt::runtime
