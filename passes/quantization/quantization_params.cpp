#include "passes/quantization/quantization_params.h"

#include "passes/core/error.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

namespace tsopt {
namespace {

// PyTorch's observers clamp scales to float32's epsilon, so an all-zero
// channel still gets a usable scale.
constexpr double kMinScale = std::numeric_limits<float>::epsilon();

const std::vector<std::pair<std::string, c10::QEngine>>& engineNames() {
  static const std::vector<std::pair<std::string, c10::QEngine>> names = {
      {"onednn", c10::kONEDNN}, {"fbgemm", c10::kFBGEMM}, {"qnnpack", c10::kQNNPACK}, {"x86", c10::kX86}};
  return names;
}

} // namespace

PerChannelParams symmetricPerChannelParams(const at::Tensor& weight) {
  at::Tensor amax = weight.detach().reshape({weight.size(0), -1}).abs().amax(1).to(at::kDouble);
  // int8 spans [-128, 127]: half the width of the range is 127.5.
  return {(amax / 127.5).clamp_min(kMinScale), at::zeros({weight.size(0)}, at::kLong)};
}

at::Tensor quantizeWeightPerChannel(const at::Tensor& weight) {
  PerChannelParams params = symmetricPerChannelParams(weight);
  return at::quantize_per_channel(weight.detach().contiguous(), params.scales, params.zeroPoints, 0, at::kQInt8);
}

AffineParams affineParamsForRange(double min, double max, bool reduceRange) {
  const int64_t quantMax = reduceRange ? 127 : 255;
  double low = std::min(min, 0.0);
  double high = std::max(max, 0.0);
  AffineParams params;
  params.scale = std::max((high - low) / static_cast<double>(quantMax), kMinScale);
  params.zeroPoint = std::clamp<int64_t>(-static_cast<int64_t>(std::nearbyint(low / params.scale)), 0, quantMax);
  return params;
}

c10::QEngine parseQEngine(const std::string& name, const std::string& owner) {
  if (name == "current") {
    return at::globalContext().qEngine();
  }
  std::string known = "current";
  for (const auto& [engineName, engine] : engineNames()) {
    const auto& supported = at::globalContext().supportedQEngines();
    if (std::find(supported.begin(), supported.end(), engine) == supported.end()) {
      continue;
    }
    if (engineName == name) {
      return engine;
    }
    known += "," + engineName;
  }
  throw Error(ErrorKind::Usage, owner + ": quantized engine '" + name + "' is unknown or not in this LibTorch (available: " +
                                    known + ")");
}

std::string qEngineName(c10::QEngine engine) {
  for (const auto& [name, candidate] : engineNames()) {
    if (candidate == engine) {
      return name;
    }
  }
  return "none";
}

QEngineScope::QEngineScope(c10::QEngine engine) : saved_(at::globalContext().qEngine()) {
  at::globalContext().setQEngine(engine);
}

QEngineScope::~QEngineScope() { at::globalContext().setQEngine(saved_); }

c10::IValue prepackLinearWeight(const at::Tensor& quantizedWeight, const std::optional<at::Tensor>& bias) {
  static const c10::OperatorHandle prepack =
      c10::Dispatcher::singleton().findSchemaOrThrow("quantized::linear_prepack", "");
  torch::jit::Stack stack{quantizedWeight, bias ? c10::IValue(*bias) : c10::IValue()};
  prepack.callBoxed(&stack);
  return stack.at(0);
}

} // namespace tsopt
