#include "runtime/register_ops.h"

#include "runtime/add_layer_norm.h"
#include "runtime/attention.h"
#include "runtime/load_cuda_kernels.h"
#include "runtime/packed_layers.h"

#include <torch/custom_class.h>
#include <torch/library.h>

namespace tsopt::runtime {
namespace {

c10::intrusive_ptr<ConvPacked> conv2dPrepack(at::Tensor weight, c10::optional<at::Tensor> bias,
                                             std::vector<int64_t> stride, std::vector<int64_t> padding,
                                             std::vector<int64_t> dilation, int64_t groups) {
  return c10::make_intrusive<ConvPacked>(
      std::move(weight), std::move(bias),
      Conv2dParams{std::move(stride), std::move(padding), std::move(dilation), groups});
}

at::Tensor conv2dAct(const at::Tensor& input, const c10::intrusive_ptr<ConvPacked>& packed,
                     c10::string_view activation, double alpha, double beta) {
  return packed->run(input, at::Tensor(), parseActivation(activation, alpha, beta));
}

// `other` by value: the interpreter moves a value's last use out of its stack,
// so the kernel can write the result into it.
at::Tensor conv2dAddAct(const at::Tensor& input, at::Tensor other, const c10::intrusive_ptr<ConvPacked>& packed,
                        c10::string_view activation, double alpha, double beta) {
  return packed->run(input, std::move(other), parseActivation(activation, alpha, beta));
}

at::Tensor conv2dActAdd(const at::Tensor& input, at::Tensor other, const c10::intrusive_ptr<ConvPacked>& packed,
                        c10::string_view activation, double alpha, double beta) {
  return packed->run(input, std::move(other), parseActivation(activation, alpha, beta),
                     ResidualAdd::AfterActivation);
}

c10::intrusive_ptr<LinearPacked> linearPrepack(at::Tensor weight, c10::optional<at::Tensor> bias) {
  return c10::make_intrusive<LinearPacked>(std::move(weight), std::move(bias));
}

at::Tensor linearAct(const at::Tensor& input, const c10::intrusive_ptr<LinearPacked>& packed,
                     c10::string_view activation, double alpha, double beta) {
  return packed->run(input, at::Tensor(), parseActivation(activation, alpha, beta));
}

at::Tensor linearAddAct(const at::Tensor& input, at::Tensor other, const c10::intrusive_ptr<LinearPacked>& packed,
                        c10::string_view activation, double alpha, double beta) {
  return packed->run(input, std::move(other), parseActivation(activation, alpha, beta));
}

at::Tensor linearActAdd(const at::Tensor& input, at::Tensor other, const c10::intrusive_ptr<LinearPacked>& packed,
                        c10::string_view activation, double alpha, double beta) {
  return packed->run(input, std::move(other), parseActivation(activation, alpha, beta),
                     ResidualAdd::AfterActivation);
}

at::Tensor attentionOp(const at::Tensor& query, const at::Tensor& keyT, const at::Tensor& value,
                       const c10::optional<at::Tensor>& mask, double scale, bool permuteOutput) {
  return attention(query, keyT, value, mask, scale, permuteOutput);
}

at::Tensor addLayerNormOp(const at::Tensor& input, const at::Tensor& other, std::vector<int64_t> normalizedShape,
                          const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias,
                          double eps) {
  return addLayerNormReference(input, other, normalizedShape, weight, bias, eps);
}

} // namespace

std::vector<std::string> registeredOperators() {
  return {"tsopt::conv2d_prepack", "tsopt::conv2d_act",     "tsopt::conv2d_add_act",
          "tsopt::conv2d_act_add", "tsopt::linear_prepack", "tsopt::linear_act",
          "tsopt::linear_add_act", "tsopt::linear_act_add", "tsopt::attention",
          "tsopt::add_layer_norm"};
}

} // namespace tsopt::runtime

TORCH_LIBRARY(tsopt, m) {
  using namespace tsopt::runtime;
  m.class_<ConvPacked>("ConvPacked")
      .def_pickle([](const c10::intrusive_ptr<ConvPacked>& self) { return self->state(); },
                  [](ConvPacked::State state) { return c10::make_intrusive<ConvPacked>(state); });
  m.class_<LinearPacked>("LinearPacked")
      .def_pickle([](const c10::intrusive_ptr<LinearPacked>& self) { return self->state(); },
                  [](LinearPacked::State state) { return c10::make_intrusive<LinearPacked>(state); });

  m.def("conv2d_prepack(Tensor weight, Tensor? bias, int[] stride, int[] padding, int[] dilation, int groups) "
        "-> __torch__.torch.classes.tsopt.ConvPacked",
        conv2dPrepack);
  m.def("conv2d_act(Tensor input, __torch__.torch.classes.tsopt.ConvPacked packed, str activation, "
        "float alpha, float beta) -> Tensor",
        conv2dAct);
  m.def("conv2d_add_act(Tensor input, Tensor other, __torch__.torch.classes.tsopt.ConvPacked packed, "
        "str activation, float alpha, float beta) -> Tensor",
        conv2dAddAct);
  m.def("conv2d_act_add(Tensor input, Tensor other, __torch__.torch.classes.tsopt.ConvPacked packed, "
        "str activation, float alpha, float beta) -> Tensor",
        conv2dActAdd);
  m.def("linear_prepack(Tensor weight, Tensor? bias) -> __torch__.torch.classes.tsopt.LinearPacked", linearPrepack);
  m.def("linear_act(Tensor input, __torch__.torch.classes.tsopt.LinearPacked packed, str activation, "
        "float alpha, float beta) -> Tensor",
        linearAct);
  m.def("linear_add_act(Tensor input, Tensor other, __torch__.torch.classes.tsopt.LinearPacked packed, "
        "str activation, float alpha, float beta) -> Tensor",
        linearAddAct);
  m.def("linear_act_add(Tensor input, Tensor other, __torch__.torch.classes.tsopt.LinearPacked packed, "
        "str activation, float alpha, float beta) -> Tensor",
        linearActAdd);
  m.def("attention(Tensor query, Tensor key_t, Tensor value, Tensor? mask, float scale, bool permute_output) "
        "-> Tensor",
        attentionOp);
  m.def("add_layer_norm(Tensor input, Tensor other, int[] normalized_shape, Tensor? weight, Tensor? bias, "
        "float eps) -> Tensor",
        addLayerNormOp);
}

namespace {
// After TORCH_LIBRARY above (initializers of one file run in order): the CUDA
// kernels the companion registers then find their ops defined.
const bool kCudaKernelsLoaded = tsopt::runtime::detail::loadCudaKernelsIfTorchCudaLoaded();
} // namespace
