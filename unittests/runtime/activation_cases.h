//===- activation_cases.h - Every activation the fused kernels take --------===//
///
/// The runtime tests' one list of activations, with parameters that reach
/// each one's interesting region (both clamp bounds, a leaky slope > 0.1,
/// softplus at the smallest threshold the kernels take), so that a kernel
/// test over it covers every activation the fusion passes can emit.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "runtime/activation.h"

#include <string>
#include <vector>

namespace tsopt::runtime::testing {

inline const std::vector<Activation>& everyActivation() {
  static const std::vector<Activation> activations = {
      {ActivationKind::None},      {ActivationKind::Relu},      {ActivationKind::Clamp, 0.0, 6.0},
      {ActivationKind::Clamp, -0.5, 0.5}, {ActivationKind::Silu}, {ActivationKind::Hardswish},
      {ActivationKind::Gelu},      {ActivationKind::GeluTanh},  {ActivationKind::Sigmoid},
      {ActivationKind::Tanh},      {ActivationKind::LeakyRelu, 0.01}, {ActivationKind::LeakyRelu, 0.3},
      {ActivationKind::Elu, 1.0},  {ActivationKind::Elu, 0.4},       {ActivationKind::Hardsigmoid},
      {ActivationKind::Mish},      {ActivationKind::Abs},            {ActivationKind::Exp},
      {ActivationKind::Square},    {ActivationKind::LogSigmoid},     {ActivationKind::Softplus, 1.0, 20.0},
      {ActivationKind::Softplus, 2.5, 16.0},
  };
  return activations;
}

inline std::string describe(const Activation& activation) {
  return "activation kind " + std::to_string(static_cast<int>(activation.kind)) + " (" +
         std::to_string(activation.alpha) + ", " + std::to_string(activation.beta) + ")";
}

}  // namespace tsopt::runtime::testing
