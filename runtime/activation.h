//===- activation.h - Element-wise functions the fused kernels apply ------===//
///
/// The `activation` argument of tsopt::conv2d_act, tsopt::linear_act and their
/// `_add_` forms names one of these functions, with two float parameters that
/// only "clamp" reads (alpha = lower bound, beta = upper bound; relu6 and
/// hardtanh are clamps). "none" applies nothing.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/string_view.h>

#include <string>
#include <vector>

namespace tsopt::runtime {

enum class ActivationKind { None, Relu, Clamp, Silu, Hardswish, Gelu, GeluTanh, Sigmoid, Tanh };

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

/// Parses an op's activation arguments; throws c10::Error for an unknown name.
Activation parseActivation(c10::string_view name, double alpha, double beta);

/// The activation computed by ATen, as the unfused graph computes it: the
/// fallback path of every fused op, and the reference in tests.
at::Tensor applyActivation(const at::Tensor& input, const Activation& activation);
/// activation and residual applied to a layer's `result` as ATen computes
/// them: the fallback of the fused ops, where `residual` may broadcast.
at::Tensor applyEpilogue(at::Tensor result, const at::Tensor& residual, const Activation& activation,
                         ResidualAdd where);
/// Whether applyActivationInLoop covers `activation`: none, relu, clamp.
bool appliedInLoop(const Activation& activation);
/// Those activations over `count` floats in place, in a plain loop (an ATen
/// call costs about a microsecond, more than a small layer's product), with
/// ATen's results: NaN stays NaN.
void applyActivationInLoop(float* data, int64_t count, const Activation& activation);

/// The same in place, for a tensor the caller owns (a kernel's fresh output).
void applyActivationInPlace(at::Tensor& tensor, const Activation& activation);

} // namespace tsopt::runtime
