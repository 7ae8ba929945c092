#include "runtime/register_ops.h"

#include "runtime/add_layer_norm.h"
#include "runtime/attention.h"
#include "runtime/cuda_graph_cache.h"
#include "runtime/linear_dynamic.h"
#include "runtime/load_cuda_kernels.h"
#include "runtime/packed_layers.h"
#include "runtime/pooling.h"
#include "runtime/quantized_gate.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/custom_class.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>

namespace tsopt::runtime {
namespace {

/// Whether a catch-all kernel that received a CUDA tensor should call its op
/// again: true once per process, when that first call has just loaded the
/// CUDA kernels (loadCudaKernels), which the dispatcher then picks. The
/// library cannot load them while it is itself being loaded: in Python, a
/// library opened from another's initialization (torch.ops.load_library)
/// crashed cuDNN's first convolution on an H200 (docs/cuda.md). Later calls,
/// and a CUDA tensor that still reaches the catch-all kernel (autograd, no
/// CUDA build), take the kernel's own ATen fallback.
bool loadedCudaKernelsFor(const at::Tensor& input) {
  static std::atomic<bool> tried{false};
  return input.is_cuda() && !tried.exchange(true) && loadCudaKernels(nullptr);
}

/// Calls the op `name` through the dispatcher; `Signature` is the type of the
/// catch-all kernel registered for it.
template <typename Signature, typename... Arguments>
decltype(auto) callThroughDispatcher(const char* name, Arguments&&... arguments) {
  return c10::Dispatcher::singleton()
      .findSchemaOrThrow(name, "")
      .typed<Signature>()
      .call(std::forward<Arguments>(arguments)...);
}

c10::intrusive_ptr<ConvPacked> conv2dPrepack(at::Tensor weight, c10::optional<at::Tensor> bias,
                                             std::vector<int64_t> stride, std::vector<int64_t> padding,
                                             std::vector<int64_t> dilation, int64_t groups) {
  return c10::make_intrusive<ConvPacked>(
      std::move(weight), std::move(bias),
      Conv2dParams{std::move(stride), std::move(padding), std::move(dilation), groups});
}

at::Tensor conv2dAct(const at::Tensor& input, const c10::intrusive_ptr<ConvPacked>& packed,
                     c10::string_view activation, double alpha, double beta) {
  if (loadedCudaKernelsFor(input)) {
    return callThroughDispatcher<decltype(conv2dAct)>("tsopt::conv2d_act", input, packed, activation, alpha, beta);
  }
  return packed->run(input, at::Tensor(), parseActivation(activation, alpha, beta));
}

// `other` by value: the interpreter moves a value's last use out of its stack,
// so the kernel can write the result into it.
at::Tensor conv2dAddAct(const at::Tensor& input, at::Tensor other, const c10::intrusive_ptr<ConvPacked>& packed,
                        c10::string_view activation, double alpha, double beta) {
  if (loadedCudaKernelsFor(input)) {
    return callThroughDispatcher<decltype(conv2dAddAct)>("tsopt::conv2d_add_act",
                                                         input, std::move(other), packed, activation, alpha, beta);
  }
  return packed->run(input, std::move(other), parseActivation(activation, alpha, beta));
}

at::Tensor conv2dActAdd(const at::Tensor& input, at::Tensor other, const c10::intrusive_ptr<ConvPacked>& packed,
                        c10::string_view activation, double alpha, double beta) {
  if (loadedCudaKernelsFor(input)) {
    return callThroughDispatcher<decltype(conv2dActAdd)>("tsopt::conv2d_act_add",
                                                         input, std::move(other), packed, activation, alpha, beta);
  }
  return packed->run(input, std::move(other), parseActivation(activation, alpha, beta),
                     ResidualAdd::AfterActivation);
}

/// The `.scaled` overloads add `other` times `other_scale` (conv(x) - r has
/// -1), then `second` times `second_scale` if given (conv(x) + a + b).
/// tsopt's passes emit them only for CPU layers: a CUDA tensor takes the
/// layer's ATen fallback.
template <typename Packed, ResidualAdd Where>
at::Tensor scaledSum(const at::Tensor& input, at::Tensor other, const c10::intrusive_ptr<Packed>& packed,
                     c10::string_view activation, double alpha, double beta, double otherScale,
                     const c10::optional<at::Tensor>& second, double secondScale) {
  return packed->run(input, std::move(other), parseActivation(activation, alpha, beta), Where, otherScale,
                     second ? *second : at::Tensor(), secondScale);
}

c10::intrusive_ptr<QConvPacked> qconv2dPrepack(const at::Tensor& weight, c10::optional<at::Tensor> bias,
                                               std::vector<int64_t> stride, std::vector<int64_t> padding,
                                               std::vector<int64_t> dilation, int64_t groups) {
  return c10::make_intrusive<QConvPacked>(
      weight, std::move(bias), Conv2dParams{std::move(stride), std::move(padding), std::move(dilation), groups});
}

at::Tensor qconv2dAct(const at::Tensor& input, const c10::intrusive_ptr<QConvPacked>& packed, double convScale,
                      int64_t convZeroPoint, c10::string_view activation, double alpha, double beta, double outScale,
                      int64_t outZeroPoint) {
  return packed->run(input, at::Tensor(), parseActivation(activation, alpha, beta),
                     QConvPacked::Quantization{convScale, convZeroPoint, outScale, outZeroPoint});
}

at::Tensor qconv2dAddAct(const at::Tensor& input, const at::Tensor& other,
                         const c10::intrusive_ptr<QConvPacked>& packed, double convScale, int64_t convZeroPoint,
                         c10::string_view activation, double alpha, double beta, double outScale,
                         int64_t outZeroPoint) {
  return packed->run(input, other, parseActivation(activation, alpha, beta),
                     QConvPacked::Quantization{convScale, convZeroPoint, outScale, outZeroPoint});
}

c10::intrusive_ptr<LinearPacked> linearPrepack(at::Tensor weight, c10::optional<at::Tensor> bias) {
  return c10::make_intrusive<LinearPacked>(std::move(weight), std::move(bias));
}

at::Tensor linearAct(const at::Tensor& input, const c10::intrusive_ptr<LinearPacked>& packed,
                     c10::string_view activation, double alpha, double beta) {
  if (loadedCudaKernelsFor(input)) {
    return callThroughDispatcher<decltype(linearAct)>("tsopt::linear_act", input, packed, activation, alpha, beta);
  }
  return packed->run(input, at::Tensor(), parseActivation(activation, alpha, beta));
}

at::Tensor linearAddAct(const at::Tensor& input, at::Tensor other, const c10::intrusive_ptr<LinearPacked>& packed,
                        c10::string_view activation, double alpha, double beta) {
  if (loadedCudaKernelsFor(input)) {
    return callThroughDispatcher<decltype(linearAddAct)>("tsopt::linear_add_act",
                                                         input, std::move(other), packed, activation, alpha, beta);
  }
  return packed->run(input, std::move(other), parseActivation(activation, alpha, beta));
}

at::Tensor linearActAdd(const at::Tensor& input, at::Tensor other, const c10::intrusive_ptr<LinearPacked>& packed,
                        c10::string_view activation, double alpha, double beta) {
  if (loadedCudaKernelsFor(input)) {
    return callThroughDispatcher<decltype(linearActAdd)>("tsopt::linear_act_add",
                                                         input, std::move(other), packed, activation, alpha, beta);
  }
  return packed->run(input, std::move(other), parseActivation(activation, alpha, beta),
                     ResidualAdd::AfterActivation);
}

at::Tensor linearDynamicAct(const at::Tensor& input, const c10::intrusive_ptr<LinearDynamicPacked>& packed,
                            c10::string_view activation, double alpha, double beta) {
  return packed->run(input, at::Tensor(), parseActivation(activation, alpha, beta));
}

at::Tensor linearDynamicAddAct(const at::Tensor& input, at::Tensor other,
                               const c10::intrusive_ptr<LinearDynamicPacked>& packed, c10::string_view activation,
                               double alpha, double beta) {
  return packed->run(input, std::move(other), parseActivation(activation, alpha, beta));
}

at::Tensor linearDynamicActAdd(const at::Tensor& input, at::Tensor other,
                               const c10::intrusive_ptr<LinearDynamicPacked>& packed, c10::string_view activation,
                               double alpha, double beta) {
  return packed->run(input, std::move(other), parseActivation(activation, alpha, beta), ResidualAdd::AfterActivation);
}

at::Tensor attentionOp(const at::Tensor& query, const at::Tensor& keyT, const at::Tensor& value,
                       const c10::optional<at::Tensor>& mask, double scale, bool permuteOutput) {
  if (loadedCudaKernelsFor(query)) {
    return callThroughDispatcher<decltype(attentionOp)>("tsopt::attention",
                                                        query, keyT, value, mask, scale, permuteOutput);
  }
  return attention(query, keyT, value, mask, scale, permuteOutput);
}

// The CUDA kernels have no bf16 variant: CUDA tensors get tsopt::attention's float32.
at::Tensor attentionBf16Op(const at::Tensor& query, const at::Tensor& keyT, const at::Tensor& value,
                           const c10::optional<at::Tensor>& mask, double scale, bool permuteOutput) {
  if (loadedCudaKernelsFor(query)) {
    return attentionOp(query, keyT, value, mask, scale, permuteOutput);
  }
  return attention(query, keyT, value, mask, scale, permuteOutput, AttentionPrecision::BFloat16);
}

// ATen's own scaled_dot_product_attention serves every device but the CPU
// (scaledDotProductAttention): no CUDA kernel of tsopt's takes part.
at::Tensor sdpAttentionOp(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                          const c10::optional<at::Tensor>& mask, bool isCausal, c10::optional<double> scale,
                          bool permuteOutput) {
  return scaledDotProductAttention(query, key, value, mask, isCausal, scale, permuteOutput);
}

at::Tensor sdpAttentionBf16Op(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                              const c10::optional<at::Tensor>& mask, bool isCausal, c10::optional<double> scale,
                              bool permuteOutput) {
  return scaledDotProductAttention(query, key, value, mask, isCausal, scale, permuteOutput,
                                   AttentionPrecision::BFloat16);
}

at::Tensor addLayerNormOp(const at::Tensor& input, const at::Tensor& other, std::vector<int64_t> normalizedShape,
                          const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias,
                          double eps) {
  if (loadedCudaKernelsFor(input)) {
    return callThroughDispatcher<decltype(addLayerNormOp)>("tsopt::add_layer_norm",
                                                           input, other, std::move(normalizedShape), weight, bias, eps);
  }
  return addLayerNormReference(input, other, normalizedShape, weight, bias, eps);
}

// Calls the method uncaptured: on the CPU, and for CUDA tensors where the CUDA
// kernels are not loaded (the first CUDA call loads them and calls again).
std::vector<at::Tensor> cudaGraphRun(const c10::intrusive_ptr<CudaGraphCache>& cache, const c10::IValue& module,
                                     c10::string_view method, std::vector<at::Tensor> inputs) {
  auto cudaInput = std::find_if(inputs.begin(), inputs.end(), [](const at::Tensor& input) { return input.is_cuda(); });
  if (cudaInput != inputs.end() && loadedCudaKernelsFor(*cudaInput)) {
    return callThroughDispatcher<CudaGraphRunFn>("tsopt::cuda_graph_run", cache, module, method, std::move(inputs));
  }
  return callMethod(module, method, inputs);
}

} // namespace

std::vector<std::string> registeredOperators() {
  return {"tsopt::conv2d_prepack", "tsopt::conv2d_act",     "tsopt::conv2d_add_act",
          "tsopt::conv2d_act_add", "tsopt::linear_prepack", "tsopt::linear_act",
          "tsopt::linear_add_act", "tsopt::linear_act_add", "tsopt::attention", "tsopt::attention_bf16",
          "tsopt::sdp_attention", "tsopt::sdp_attention_bf16",
          "tsopt::add_layer_norm", "tsopt::cuda_graph_run", "tsopt::linear_dynamic_prepack",
          "tsopt::linear_dynamic_act", "tsopt::linear_dynamic_add_act", "tsopt::linear_dynamic_act_add",
          "tsopt::qconv2d_prepack", "tsopt::qconv2d_act", "tsopt::qconv2d_add_act", "tsopt::quantized_gate",
          "tsopt::max_pool2d"};
}

} // namespace tsopt::runtime

TORCH_LIBRARY(tsopt, m) {
  using namespace tsopt::runtime;
  m.class_<ConvPacked>("ConvPacked")
      .def_pickle([](const c10::intrusive_ptr<ConvPacked>& self) { return self->state(); },
                  [](c10::IValue state) { return c10::make_intrusive<ConvPacked>(ConvPacked::stateFrom(state)); });
  m.class_<LinearPacked>("LinearPacked")
      .def_pickle([](const c10::intrusive_ptr<LinearPacked>& self) { return self->state(); },
                  [](LinearPacked::State state) { return c10::make_intrusive<LinearPacked>(state); });
  m.class_<QConvPacked>("QConvPacked")
      .def_pickle([](const c10::intrusive_ptr<QConvPacked>& self) { return self->state(); },
                  [](QConvPacked::State state) { return c10::make_intrusive<QConvPacked>(state); });
  m.class_<LinearDynamicPacked>("LinearDynamicPacked")
      .def_pickle([](const c10::intrusive_ptr<LinearDynamicPacked>& self) { return self->state(); },
                  [](c10::IValue state) {
                    return c10::make_intrusive<LinearDynamicPacked>(LinearDynamicPacked::stateFrom(state));
                  });
  // Captured graphs are never pickled: a loaded module captures anew.
  m.class_<CudaGraphCache>("CudaGraphCache")
      .def(torch::init<int64_t>())
      .def("max_graphs", &CudaGraphCache::maxGraphs)
      .def("captured_graphs", &CudaGraphCache::capturedGraphs)
      .def_pickle([](const c10::intrusive_ptr<CudaGraphCache>& self) { return self->maxGraphs(); },
                  [](int64_t maxGraphs) { return c10::make_intrusive<CudaGraphCache>(maxGraphs); });

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
  m.def("conv2d_add_act.scaled(Tensor input, Tensor other, __torch__.torch.classes.tsopt.ConvPacked packed, "
        "str activation, float alpha, float beta, float other_scale, Tensor? second, float second_scale) -> Tensor",
        scaledSum<ConvPacked, ResidualAdd::BeforeActivation>);
  m.def("conv2d_act_add.scaled(Tensor input, Tensor other, __torch__.torch.classes.tsopt.ConvPacked packed, "
        "str activation, float alpha, float beta, float other_scale, Tensor? second, float second_scale) -> Tensor",
        scaledSum<ConvPacked, ResidualAdd::AfterActivation>);
  // Either may return its input itself (a chain left channels-last at run time).
  m.def("to_blocked(Tensor(a) input) -> Tensor(a)", toBlockedChannels);
  m.def("from_blocked(Tensor(a) input, int channels) -> Tensor(a)", fromBlockedChannels);
  m.def("max_pool2d(Tensor input, int[2] kernel_size, int[2] stride, int[2] padding, int[2] dilation, "
        "bool ceil_mode) -> Tensor",
        maxPool2d);
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
  m.def("linear_add_act.scaled(Tensor input, Tensor other, __torch__.torch.classes.tsopt.LinearPacked packed, "
        "str activation, float alpha, float beta, float other_scale, Tensor? second, float second_scale) -> Tensor",
        scaledSum<LinearPacked, ResidualAdd::BeforeActivation>);
  m.def("linear_act_add.scaled(Tensor input, Tensor other, __torch__.torch.classes.tsopt.LinearPacked packed, "
        "str activation, float alpha, float beta, float other_scale, Tensor? second, float second_scale) -> Tensor",
        scaledSum<LinearPacked, ResidualAdd::AfterActivation>);
  m.def("linear_dynamic_prepack(Tensor weight, Tensor? bias, bool reduce_range, Tensor? input_scale=None) "
        "-> __torch__.torch.classes.tsopt.LinearDynamicPacked",
        [](const at::Tensor& weight, c10::optional<at::Tensor> bias, bool reduceRange,
           c10::optional<at::Tensor> inputScale) {
          return c10::make_intrusive<LinearDynamicPacked>(weight, std::move(bias), reduceRange, std::move(inputScale));
        });
  m.def("linear_dynamic_act(Tensor input, __torch__.torch.classes.tsopt.LinearDynamicPacked packed, str activation, "
        "float alpha, float beta) -> Tensor",
        linearDynamicAct);
  m.def("linear_dynamic_add_act(Tensor input, Tensor other, __torch__.torch.classes.tsopt.LinearDynamicPacked packed, "
        "str activation, float alpha, float beta) -> Tensor",
        linearDynamicAddAct);
  m.def("linear_dynamic_act_add(Tensor input, Tensor other, __torch__.torch.classes.tsopt.LinearDynamicPacked packed, "
        "str activation, float alpha, float beta) -> Tensor",
        linearDynamicActAdd);
  m.def("qconv2d_prepack(Tensor weight, Tensor? bias, int[] stride, int[] padding, int[] dilation, int groups) "
        "-> __torch__.torch.classes.tsopt.QConvPacked",
        qconv2dPrepack);
  m.def("qconv2d_act(Tensor input, __torch__.torch.classes.tsopt.QConvPacked packed, float conv_scale, "
        "int conv_zero_point, str activation, float alpha, float beta, float out_scale, int out_zero_point) -> Tensor",
        qconv2dAct);
  m.def("qconv2d_add_act(Tensor input, Tensor other, __torch__.torch.classes.tsopt.QConvPacked packed, "
        "float conv_scale, int conv_zero_point, str activation, float alpha, float beta, float out_scale, "
        "int out_zero_point) -> Tensor",
        qconv2dAddAct);
  m.def("quantized_gate(Tensor x, Tensor gate, float scale, int zero_point) -> Tensor", quantizedGate);
  m.def("attention(Tensor query, Tensor key_t, Tensor value, Tensor? mask, float scale, bool permute_output) "
        "-> Tensor",
        attentionOp);
  m.def("attention_bf16(Tensor query, Tensor key_t, Tensor value, Tensor? mask, float scale, bool permute_output) "
        "-> Tensor",
        attentionBf16Op);
  m.def("sdp_attention(Tensor query, Tensor key, Tensor value, Tensor? mask, bool is_causal, float? scale, "
        "bool permute_output) -> Tensor",
        sdpAttentionOp);
  m.def("sdp_attention_bf16(Tensor query, Tensor key, Tensor value, Tensor? mask, bool is_causal, float? scale, "
        "bool permute_output) -> Tensor",
        sdpAttentionBf16Op);
  m.def("add_layer_norm(Tensor input, Tensor other, int[] normalized_shape, Tensor? weight, Tensor? bias, "
        "float eps) -> Tensor",
        addLayerNormOp);
  // Conservative alias analysis: the op runs the method, whatever it reads or writes.
  m.def(torch::schema("cuda_graph_run(__torch__.torch.classes.tsopt.CudaGraphCache cache, Any module, str method, "
                      "Tensor[] inputs) -> Tensor[]",
                      c10::AliasAnalysisKind::CONSERVATIVE),
        cudaGraphRun);
}

