#include "runtime/activation.h"

#include <algorithm>
#include <cmath>

#include <ATen/Functions.h>
#include <c10/util/Exception.h>

#include <string>

namespace tsopt::runtime {

namespace {

const struct {
  const char* name;
  ActivationKind kind;
} kNames[] = {
    {"none", ActivationKind::None},      {"relu", ActivationKind::Relu},
    {"clamp", ActivationKind::Clamp},    {"silu", ActivationKind::Silu},
    {"hardswish", ActivationKind::Hardswish}, {"gelu", ActivationKind::Gelu},
    {"gelu_tanh", ActivationKind::GeluTanh}, {"sigmoid", ActivationKind::Sigmoid},
    {"tanh", ActivationKind::Tanh},
};

} // namespace

const std::vector<std::string>& activationNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> result;
    for (const auto& entry : kNames) {
      if (entry.kind != ActivationKind::None) {
        result.push_back(entry.name);
      }
    }
    return result;
  }();
  return names;
}

Activation parseActivation(c10::string_view name, double alpha, double beta) {
  for (const auto& entry : kNames) {
    if (name == entry.name) {
      return Activation{entry.kind, alpha, beta};
    }
  }
  TORCH_CHECK(false, "tsopt: unknown activation '", std::string(name.data(), name.size()), "'");
}

at::Tensor applyActivation(const at::Tensor& input, const Activation& activation) {
  switch (activation.kind) {
  case ActivationKind::None:
    return input;
  case ActivationKind::Relu:
    return at::relu(input);
  case ActivationKind::Clamp:
    return at::clamp(input, activation.alpha, activation.beta);
  case ActivationKind::Silu:
    return at::silu(input);
  case ActivationKind::Hardswish:
    return at::hardswish(input);
  case ActivationKind::Gelu:
    return at::gelu(input, "none");
  case ActivationKind::GeluTanh:
    return at::gelu(input, "tanh");
  case ActivationKind::Sigmoid:
    return at::sigmoid(input);
  case ActivationKind::Tanh:
    return at::tanh(input);
  }
  TORCH_CHECK(false, "tsopt: unhandled activation");
}

at::Tensor applyEpilogue(at::Tensor result, const at::Tensor& residual, const Activation& activation,
                         ResidualAdd where) {
  if (where == ResidualAdd::BeforeActivation) {
    result = at::add(result, residual);
  }
  result = applyActivation(result, activation);
  return where == ResidualAdd::AfterActivation ? at::add(result, residual) : result;
}

bool appliedInLoop(const Activation& activation) {
  return activation.kind == ActivationKind::None || activation.kind == ActivationKind::Relu ||
         activation.kind == ActivationKind::Clamp;
}

void applyActivationInLoop(float* data, int64_t count, const Activation& activation) {
  if (activation.kind == ActivationKind::Relu) {
    for (int64_t index = 0; index < count; ++index) {
      data[index] = data[index] > 0.0f || std::isnan(data[index]) ? data[index] : 0.0f;
    }
  } else if (activation.kind == ActivationKind::Clamp) {
    // As at::clamp: the lower bound first.
    const float lower = static_cast<float>(activation.alpha);
    const float upper = static_cast<float>(activation.beta);
    for (int64_t index = 0; index < count; ++index) {
      const float value = data[index];
      data[index] = std::isnan(value) ? value : std::min(std::max(value, lower), upper);
    }
  } else {
    TORCH_CHECK(activation.kind == ActivationKind::None, "tsopt: no loop for this activation");
  }
}

void applyActivationInPlace(at::Tensor& tensor, const Activation& activation) {
  switch (activation.kind) {
  case ActivationKind::None:
    return;
  case ActivationKind::Relu:
    at::relu_(tensor);
    return;
  case ActivationKind::Clamp:
    at::clamp_(tensor, activation.alpha, activation.beta);
    return;
  case ActivationKind::Silu:
    at::silu_(tensor);
    return;
  case ActivationKind::Hardswish:
    at::hardswish_(tensor);
    return;
  case ActivationKind::Gelu:
    at::gelu_(tensor, "none");
    return;
  case ActivationKind::GeluTanh:
    at::gelu_(tensor, "tanh");
    return;
  case ActivationKind::Sigmoid:
    at::sigmoid_(tensor);
    return;
  case ActivationKind::Tanh:
    at::tanh_(tensor);
    return;
  }
  TORCH_CHECK(false, "tsopt: unhandled activation");
}

} // namespace tsopt::runtime
