#include "passes/quantization/observers.h"

#include <ATen/ATen.h>

#include <limits>

namespace tsopt {
namespace {

// Mirrors PyTorch's MinMaxObserver._calculate_qparams in float32, as
// affineParamsForRange does in double.
constexpr const char* kMinMaxSource = R"JIT(
def forward(self, x: Tensor) -> Tensor:
    if x.numel() > 0:
        values = x.detach().float()
        self.min_val = torch.minimum(torch.min(values), self.min_val)
        self.max_val = torch.maximum(torch.max(values), self.max_val)
    return x

def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
    quant_max = 127 if self.reduce_range else 255
    low = torch.clamp(self.min_val, max=0.0)
    high = torch.clamp(self.max_val, min=0.0)
    scale = torch.clamp((high - low) / float(quant_max), min=1.1920928955078125e-07)
    zero_point = torch.clamp(-torch.round(low / scale), 0, quant_max).long()
    return (scale.reshape([1]), zero_point.reshape([1]))
)JIT";

constexpr const char* kPerChannelSource = R"JIT(
def forward(self, x: Tensor) -> Tensor:
    if x.numel() > 0:
        self.max_abs = x.detach().float().flatten(1).abs().amax(1)
    return x

def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
    scale = torch.clamp(self.max_abs / 127.5, min=1.1920928955078125e-07)
    return (scale, torch.zeros_like(scale).long())
)JIT";

void registerQuantizationTarget(torch::jit::Module& observer, at::ScalarType dtype, at::QScheme qscheme) {
  // PyTorch's passes read these with toScalarType() / toQScheme(): both are
  // integers inside an IValue.
  observer.register_attribute("dtype", c10::IntType::get(), static_cast<int64_t>(dtype));
  observer.register_attribute("qscheme", c10::IntType::get(), static_cast<int64_t>(qscheme));
}

} // namespace

torch::jit::Module makeMinMaxObserver(bool reduceRange) {
  torch::jit::Module observer("__torch__.tsopt.quantization.MinMaxObserver");
  observer.register_buffer("min_val", at::full({}, std::numeric_limits<float>::infinity()));
  observer.register_buffer("max_val", at::full({}, -std::numeric_limits<float>::infinity()));
  observer.register_attribute("reduce_range", c10::BoolType::get(), reduceRange);
  registerQuantizationTarget(observer, at::kQUInt8, at::kPerTensorAffine);
  observer.define(kMinMaxSource);
  return observer;
}

torch::jit::Module makePerChannelWeightObserver() {
  torch::jit::Module observer("__torch__.tsopt.quantization.PerChannelWeightObserver");
  observer.register_buffer("max_abs", at::empty({0}));
  observer.register_attribute("ch_axis", c10::IntType::get(), static_cast<int64_t>(0));
  registerQuantizationTarget(observer, at::kQInt8, at::kPerChannelSymmetric);
  observer.define(kPerChannelSource);
  return observer;
}

bool observerHasData(const torch::jit::Module& observer) {
  if (observer.hasattr("max_abs")) {
    return observer.attr("max_abs").toTensor().numel() > 0;
  }
  return observer.attr("min_val").toTensor().le(observer.attr("max_val").toTensor()).item<bool>();
}

} // namespace tsopt
