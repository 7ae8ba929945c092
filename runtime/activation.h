//===- activation.h - Element-wise functions the fused kernels apply ------===//
///
/// The `activation` argument of tsopt::conv2d_act, tsopt::linear_act and their
/// `_add_` forms names one of these functions, with two float parameters:
///   clamp        alpha = lower bound, beta = upper bound (relu6 and hardtanh are clamps)
///   leaky_relu   alpha = negative slope
///   elu          alpha = ELU's alpha (scale and input_scale 1)
///   softplus     alpha = beta, beta = threshold (log(1 + exp(beta x)) / beta, x above the threshold)
/// The others read neither: relu, silu, hardswish, hardsigmoid, gelu, gelu_tanh,
/// sigmoid, tanh, mish, abs, exp, square (x * x), log_sigmoid. "none" applies
/// nothing.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/string_view.h>

#include <string>
#include <vector>

namespace tsopt::runtime {

enum class ActivationKind {
  None, Relu, Clamp, Silu, Hardswish, Gelu, GeluTanh, Sigmoid, Tanh,
  LeakyRelu, Elu, Hardsigmoid, Mish, Abs, Exp, Square, LogSigmoid, Softplus,
};

struct Activation {
  ActivationKind kind = ActivationKind::None;
  double alpha = 0.0;
  double beta = 0.0;

  bool operator==(const Activation& other) const {
    return kind == other.kind && alpha == other.alpha && beta == other.beta;
  }
};

/// Where a fused op adds its residual operand: none, into the layer's result
/// before the activation (`_add_act` ops: activation(layer + residual)), or
/// after it (`_act_add` ops: activation(layer) + residual).
enum class ResidualAdd { None, BeforeActivation, AfterActivation };

/// The names an op's activation argument may take besides "none", in a fixed
/// order: tsopt's one list of activations (the fusion passes' `activations`
/// options default to it).
const std::vector<std::string>& activationNames();

/// The smallest softplus threshold the fused kernels take (PyTorch's default is 20).
constexpr double kSoftplusMinThreshold = 16.0;

/// Parses an op's activation arguments; throws c10::Error for an unknown name
/// or a softplus whose beta is not positive or threshold below kSoftplusMinThreshold.
Activation parseActivation(c10::string_view name, double alpha, double beta);

/// The activation computed by ATen, as the unfused graph computes it: the
/// fallback path of every fused op, and the reference in tests.
at::Tensor applyActivation(const at::Tensor& input, const Activation& activation);
/// activation and residual (times `residualScale`, as aten::add's alpha),
/// then `second` (times `secondScale`) if defined, applied to a layer's
/// `result` as ATen computes them: the fallback of the fused ops, where the
/// residuals may broadcast.
at::Tensor applyEpilogue(at::Tensor result, const at::Tensor& residual, const Activation& activation,
                         ResidualAdd where, double residualScale = 1.0, const at::Tensor& second = at::Tensor(),
                         double secondScale = 1.0);
/// Whether applyActivationInLoop covers `activation`: none, relu, clamp.
bool appliedInLoop(const Activation& activation);
/// Those activations over `count` floats in place, in a plain loop (an ATen
/// call costs about a microsecond, more than a small layer's product), with
/// ATen's results: NaN stays NaN.
void applyActivationInLoop(float* data, int64_t count, const Activation& activation);

/// The same in place, for a tensor the caller owns (a kernel's fresh output).
void applyActivationInPlace(at::Tensor& tensor, const Activation& activation);

} // namespace tsopt::runtime
