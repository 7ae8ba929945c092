#include "passes/quantization/observers.h"

#include <ATen/ATen.h>

#include <limits>
#include <string>

namespace tsopt {
namespace {

// PyTorch's UniformQuantizationObserverBase._calculate_qparams for per-tensor
// affine quint8, in float32 (affineParamsForRange does the same in double).
// Both activation observers end with it.
constexpr const char* kAffineQParamsSource = R"JIT(
def _affine_qparams(self, min_val: Tensor, max_val: Tensor) -> Tuple[Tensor, Tensor]:
    quant_max = 127 if self.reduce_range else 255
    low = torch.clamp(min_val, max=0.0)
    high = torch.clamp(max_val, min=0.0)
    scale = torch.clamp((high - low) / float(quant_max), min=1.1920928955078125e-07)
    zero_point = torch.clamp(-torch.round(low / scale), 0, quant_max).long()
    return (scale.reshape([1]), zero_point.reshape([1]))
)JIT";

constexpr const char* kMinMaxSource = R"JIT(
def forward(self, x: Tensor) -> Tensor:
    if x.numel() > 0:
        values = x.detach().float()
        self.min_val = torch.minimum(torch.min(values), self.min_val)
        self.max_val = torch.maximum(torch.max(values), self.max_val)
    return x

def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
    return self._affine_qparams(self.min_val, self.max_val)
)JIT";

// PyTorch's HistogramObserver (torch/ao/quantization/observer.py, 1.13),
// statement for statement, with one deliberate difference: PyTorch 1.13 calls
// torch.histc with min=int(min_val), max=int(max_val), which truncates the
// histogram's range to integers and drops the values beyond it (values seen
// in [0, 3.7] are binned over [0, 3], and those bins are then read as
// spanning [0, 3.7]); here the histogram covers the exact range. Where the
// range's ends are integers the two agree.
constexpr const char* kHistogramSource = R"JIT(
def forward(self, x_orig: Tensor) -> Tensor:
    if x_orig.numel() == 0:
        return x_orig
    x = x_orig.detach().float()
    min_val = self.min_val
    max_val = self.max_val
    if bool(min_val == max_val) or (bool(min_val == float("inf")) and bool(max_val == float("-inf"))):
        new_min = torch.min(x)
        new_max = torch.max(x)
        self.histogram = torch.histc(x, self.bins, min=new_min.item(), max=new_max.item())
        self.min_val = new_min
        self.max_val = new_max
        return x_orig
    combined_min = torch.min(torch.min(x), min_val)
    combined_max = torch.max(torch.max(x), max_val)
    # A common grid: the old histogram upsampled by upsample_rate, the combined
    # range an integer number (downsample_rate) of its cells per bin; only the
    # max is relaxed, so one-sided distributions keep their min at zero.
    hist_bin_width = (max_val - min_val) / (self.bins * self.upsample_rate)
    downsample_rate = int(torch.ceil((combined_max - combined_min) / (self.bins * hist_bin_width)))
    combined_max = combined_max + (downsample_rate * (self.bins * hist_bin_width) - (combined_max - combined_min))
    start_idx = int(torch.round((min_val - combined_min) / hist_bin_width))
    combined = torch.histc(x, self.bins, min=combined_min.item(), max=combined_max.item())
    if bool(combined_min == min_val) and bool(combined_max == max_val):
        combined = combined + self.histogram
    else:
        upsampled = self.histogram.repeat_interleave(self.upsample_rate)
        with_output_range = torch.zeros([self.bins * downsample_rate])
        with_output_range[start_idx:self.bins * self.upsample_rate + start_idx] = upsampled
        integral = torch.cumsum(with_output_range.double(), 0)[downsample_rate - 1::downsample_rate]
        shifted = torch.zeros([self.bins])
        shifted[1:self.bins] = integral[0:-1]
        combined = combined + ((integral - shifted) / self.upsample_rate).float()
    self.histogram = combined
    self.min_val = combined_min
    self.max_val = combined_max
    return x_orig

def _l2_norm(self, delta_begin: Tensor, delta_end: Tensor, density: Tensor) -> Tensor:
    # density * integral of x^2 over [delta_begin, delta_end]
    norm = (delta_end * delta_end * delta_end - delta_begin * delta_begin * delta_begin) / 3
    return density * norm

def _quantization_error(self, bin_width: float, start_bin: int, end_bin: int) -> float:
    # L2 error of quantizing the histogram to dst_nbins uniform levels over
    # bins [start_bin, end_bin], each source bin's mass spread uniformly.
    dst_bin_width = bin_width * (end_bin - start_bin + 1) / self.dst_nbins
    if dst_bin_width == 0.0:
        return 0.0
    src_bin = torch.arange(self.bins)
    src_bin_begin = (src_bin - start_bin) * bin_width
    src_bin_end = src_bin_begin + bin_width
    dst_bin_of_begin = torch.clamp(torch.div(src_bin_begin, dst_bin_width, rounding_mode="floor"), 0, self.dst_nbins - 1)
    dst_bin_of_begin_center = (dst_bin_of_begin + 0.5) * dst_bin_width
    dst_bin_of_end = torch.clamp(torch.div(src_bin_end, dst_bin_width, rounding_mode="floor"), 0, self.dst_nbins - 1)
    density = self.histogram / bin_width
    norm = self._l2_norm(src_bin_begin - dst_bin_of_begin_center, torch.ones([self.bins]) * (dst_bin_width / 2), density)
    norm += (dst_bin_of_end - dst_bin_of_begin - 1) * self._l2_norm(
        torch.full([], -dst_bin_width / 2), torch.full([], dst_bin_width / 2), density)
    dst_bin_of_end_center = dst_bin_of_end * dst_bin_width + dst_bin_width / 2
    norm += self._l2_norm(torch.full([], -dst_bin_width / 2), src_bin_end - dst_bin_of_end_center, density)
    return norm.sum().item()

def _search_range(self) -> Tuple[Tensor, Tensor]:
    # Moves the range's ends inwards a quantile step (1e-5) at a time, on the
    # side that loses fewer bins, while the L2 quantization error decreases.
    bin_width = (self.max_val - self.min_val) / self.bins
    bin_width_value = (self.max_val.item() - self.min_val.item()) / self.bins
    total = self.histogram.sum().item()
    cumulative: List[float] = torch.cumsum(self.histogram, dim=0).tolist()
    # PyTorch accumulates alpha (and beta) in doubles a step at a time and
    # compares float32 cumulative sums with alpha * total rounded to float32:
    # all the values either can take, and their thresholds, up front.
    steps = 100002
    alphas = torch.cumsum(torch.zeros([steps]).double() + 1e-5, 0)
    betas = torch.cumsum(torch.cat([torch.ones([1]).double(), torch.zeros([steps - 1]).double() - 1e-5]), 0)[1:]
    alpha_values: List[float] = alphas.tolist()
    beta_values: List[float] = betas.tolist()
    alpha_thresholds: List[float] = (alphas * total).float().tolist()
    beta_thresholds: List[float] = (betas * total).float().tolist()
    alpha_index = 0
    beta_index = 0
    alpha = 0.0
    beta = 1.0
    start_bin = 0
    end_bin = self.bins - 1
    norm_min = float("inf")
    while alpha < beta:
        left = start_bin
        right = end_bin
        while left < end_bin and cumulative[left] < alpha_thresholds[alpha_index]:
            left = left + 1
        while right > start_bin and cumulative[right] > beta_thresholds[beta_index]:
            right = right - 1
        next_start_bin = start_bin
        next_end_bin = end_bin
        if (left - start_bin) > (end_bin - right):
            next_start_bin = left
            alpha = alpha_values[alpha_index]
            alpha_index = alpha_index + 1
        else:
            next_end_bin = right
            beta = beta_values[beta_index]
            beta_index = beta_index + 1
        if next_start_bin == start_bin and next_end_bin == end_bin:
            continue
        norm = self._quantization_error(bin_width_value, next_start_bin, next_end_bin)
        if norm > norm_min:
            break
        norm_min = norm
        start_bin = next_start_bin
        end_bin = next_end_bin
    return (self.min_val + bin_width * start_bin, self.min_val + bin_width * (end_bin + 1))

def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
    new_min, new_max = self._search_range()
    return self._affine_qparams(new_min, new_max)
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

// State every per-tensor activation observer has: the observed range (the
// buffers observerHasData reads) and the uint8 target.
torch::jit::Module makeActivationObserverBase(const std::string& className, bool reduceRange) {
  torch::jit::Module observer("__torch__.tsopt.quantization." + className);
  observer.register_buffer("min_val", at::full({}, std::numeric_limits<float>::infinity()));
  observer.register_buffer("max_val", at::full({}, -std::numeric_limits<float>::infinity()));
  observer.register_attribute("reduce_range", c10::BoolType::get(), reduceRange);
  registerQuantizationTarget(observer, at::kQUInt8, at::kPerTensorAffine);
  observer.define(kAffineQParamsSource);
  return observer;
}

} // namespace

torch::jit::Module makeMinMaxObserver(bool reduceRange) {
  torch::jit::Module observer = makeActivationObserverBase("MinMaxObserver", reduceRange);
  observer.define(kMinMaxSource);
  return observer;
}

torch::jit::Module makeHistogramObserver(bool reduceRange, int64_t bins) {
  torch::jit::Module observer = makeActivationObserverBase("HistogramObserver", reduceRange);
  observer.register_buffer("histogram", at::zeros({bins}));
  observer.register_attribute("bins", c10::IntType::get(), bins);
  observer.register_attribute("upsample_rate", c10::IntType::get(), static_cast<int64_t>(128));
  // The search always spreads over 2^8 levels, reduce_range or not (as PyTorch's).
  observer.register_attribute("dst_nbins", c10::IntType::get(), static_cast<int64_t>(256));
  observer.define(kHistogramSource);
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
