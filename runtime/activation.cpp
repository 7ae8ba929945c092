#include "runtime/activation.h"

#include "runtime/gelu_tanh.h"

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
    {"tanh", ActivationKind::Tanh},      {"leaky_relu", ActivationKind::LeakyRelu},
    {"elu", ActivationKind::Elu},        {"hardsigmoid", ActivationKind::Hardsigmoid},
    {"mish", ActivationKind::Mish},      {"abs", ActivationKind::Abs},
    {"exp", ActivationKind::Exp},        {"square", ActivationKind::Square},
    {"log_sigmoid", ActivationKind::LogSigmoid}, {"softplus", ActivationKind::Softplus},
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
      // oneDNN has no threshold: past 16, log(1 + exp(beta x)) / beta and x
      // agree to float32 rounding (the gap is exp(-beta x) / beta).
      TORCH_CHECK(entry.kind != ActivationKind::Softplus || (alpha > 0.0 && beta >= kSoftplusMinThreshold),
                  "tsopt: softplus needs beta > 0 and threshold >= ", kSoftplusMinThreshold, " (got ", alpha, ", ",
                  beta, ")");
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
  case ActivationKind::LeakyRelu:
    return at::leaky_relu(input, activation.alpha);
  case ActivationKind::Elu:
    return at::elu(input, activation.alpha);
  case ActivationKind::Hardsigmoid:
    return at::hardsigmoid(input);
  case ActivationKind::Mish:
    return at::mish(input);
  case ActivationKind::Abs:
    return at::abs(input);
  case ActivationKind::Exp:
    return at::exp(input);
  case ActivationKind::Square:
    return at::mul(input, input);
  case ActivationKind::LogSigmoid:
    return at::log_sigmoid(input);
  case ActivationKind::Softplus:
    return at::softplus(input, activation.alpha, activation.beta);
  }
  TORCH_CHECK(false, "tsopt: unhandled activation");
}

at::Tensor applyEpilogue(at::Tensor result, const at::Tensor& residual, const Activation& activation,
                         ResidualAdd where, double residualScale, const at::Tensor& second, double secondScale) {
  const auto addResiduals = [&](const at::Tensor& value) {
    at::Tensor sum = at::add(value, residual, residualScale);
    return second.defined() ? at::add(sum, second, secondScale) : sum;
  };
  if (where == ResidualAdd::BeforeActivation) {
    result = addResiduals(result);
  }
  result = applyActivation(result, activation);
  return where == ResidualAdd::AfterActivation ? addResiduals(result) : result;
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
    if (!geluTanhInPlace(tensor)) {
      at::gelu_(tensor, "tanh");
    }
    return;
  case ActivationKind::Sigmoid:
    at::sigmoid_(tensor);
    return;
  case ActivationKind::Tanh:
    at::tanh_(tensor);
    return;
  case ActivationKind::LeakyRelu:
    at::leaky_relu_(tensor, activation.alpha);
    return;
  case ActivationKind::Elu:
    at::elu_(tensor, activation.alpha);
    return;
  case ActivationKind::Hardsigmoid:
    at::hardsigmoid_(tensor);
    return;
  case ActivationKind::Mish:
    at::mish_(tensor);
    return;
  case ActivationKind::Abs:
    at::abs_(tensor);
    return;
  case ActivationKind::Exp:
    at::exp_(tensor);
    return;
  case ActivationKind::Square:
    tensor.mul_(tensor);
    return;
  case ActivationKind::LogSigmoid:
  case ActivationKind::Softplus:
    // ATen has no in-place form of these two.
    tensor.copy_(applyActivation(tensor, activation));
    return;
  }
  TORCH_CHECK(false, "tsopt: unhandled activation");
}

} // namespace tsopt::runtime
