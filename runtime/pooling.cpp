//===- pooling.cpp - Max pooling on oneDNN's pooling primitive -------------===//
#include "runtime/pooling.h"

#include "runtime/measured_choice.h"
#include "runtime/onednn_common.h"
#include "runtime/output_pool.h"

#include <ATen/Functions.h>
#include <ATen/Parallel.h>

#include <array>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

namespace tsopt::runtime {
namespace {

using Format = dnnl::memory::format_tag;

/// aten::max_pool2d's window in one spatial dimension.
struct Window {
  int64_t kernel = 0;
  int64_t stride = 0;
  int64_t padding = 0;
};

/// Element `dim` of an ATen pooling argument that holds one value for both
/// dimensions or one each; `fallback` where the list is empty (stride).
std::optional<int64_t> listValue(at::IntArrayRef values, size_t dim, at::IntArrayRef fallback) {
  if (values.empty()) {
    return fallback.empty() ? std::nullopt : listValue(fallback, dim, {});
  }
  if (values.size() > 2) {
    return std::nullopt;
  }
  return values[values.size() == 1 ? 0 : dim];
}

/// The windows the oneDNN kernel computes exactly as ATen does, or nothing:
/// dilation 1, floor mode, padding within half the kernel (ATen's own rule:
/// it raises an error on more, which the fallback then reports).
std::optional<std::array<Window, 2>> onednnWindows(at::IntArrayRef kernelSize, at::IntArrayRef stride,
                                                   at::IntArrayRef padding, at::IntArrayRef dilation, bool ceilMode) {
  if (ceilMode) {
    return std::nullopt;
  }
  std::array<Window, 2> windows;
  for (size_t dim = 0; dim < 2; ++dim) {
    const auto kernel = listValue(kernelSize, dim, {});
    const auto step = listValue(stride, dim, kernelSize);
    const auto pad = listValue(padding, dim, {});
    const auto dilate = listValue(dilation, dim, {});
    if (!kernel || !step || !pad || !dilate || *kernel <= 0 || *step <= 0 || *pad < 0 || *pad > *kernel / 2 ||
        *dilate != 1) {
      return std::nullopt;
    }
    windows[dim] = Window{*kernel, *step, *pad};
  }
  return windows;
}

std::optional<dnnl::memory::data_type> onednnType(const at::Tensor& input) {
  switch (input.scalar_type()) {
  case at::kFloat:
    return dnnl::memory::data_type::f32;
  case at::kBFloat16:
    return dnnl::memory::data_type::bf16;
  default:
    return std::nullopt;
  }
}

/// The layout the result takes (ATen's: the input's suggested memory format),
/// when the input is dense in it.
std::optional<at::MemoryFormat> denseFormat(const at::Tensor& input) {
  const at::MemoryFormat format = input.suggest_memory_format();
  if (!input.is_contiguous(format)) {
    return std::nullopt;
  }
  return format;
}

struct PoolingPrimitive {
  bool unsupported = false;  ///< oneDNN has only its reference implementation for the problem.
  /// Whether ATen's max-pool was measured faster (measured_choice.h): -1 not measured, 0 no, 1 yes.
  int atenMeasuredFaster = -1;
  dnnl::pooling_forward primitive;
  dnnl::memory::desc src;
  dnnl::memory::desc dst;
};

/// Input sizes, windows, dtype, layout and thread count: what a primitive is made for.
using PoolingKey = std::array<int64_t, 13>;

/// Pools of fewer comparisons (output elements times window) than this keep oneDNN's kernel unmeasured:
/// timing them would cost more than either could save.
constexpr int64_t kMeasurePoolingFrom = 1 << 20;

/// ATen's floor-mode output extent (dilation 1), or nothing when the window does not fit.
std::optional<int64_t> pooledExtent(int64_t input, const Window& window) {
  if (input + 2 * window.padding < window.kernel) {
    return std::nullopt;
  }
  return (input + 2 * window.padding - window.kernel) / window.stride + 1;
}

PoolingPrimitive& poolingPrimitive(at::IntArrayRef inputSizes, at::IntArrayRef outputSizes,
                                         const std::array<Window, 2>& windows, dnnl::memory::data_type type,
                                         at::MemoryFormat format) {
  const PoolingKey key{inputSizes[0],        inputSizes[1],        inputSizes[2],         inputSizes[3],
                       windows[0].kernel,    windows[1].kernel,    windows[0].stride,     windows[1].stride,
                       windows[0].padding,   windows[1].padding,   static_cast<int64_t>(type),
                       static_cast<int64_t>(format), at::get_num_threads()};
  // One primitive runs at a time on a thread: a cache per thread needs no lock.
  thread_local std::map<PoolingKey, PoolingPrimitive> primitives;
  auto found = primitives.find(key);
  if (found != primitives.end()) {
    return found->second;
  }
  PoolingPrimitive prepared;
  const Format tag = format == at::MemoryFormat::ChannelsLast ? Format::nhwc : Format::nchw;
  prepared.src = dnnl::memory::desc(dimsOf(inputSizes), type, tag);
  prepared.dst = dnnl::memory::desc(dimsOf(outputSizes), type, tag);
  const dnnl::memory::dims kernel{windows[0].kernel, windows[1].kernel};
  const dnnl::memory::dims strides{windows[0].stride, windows[1].stride};
  // The same padding on both sides gives ATen's floor-mode extent; padded
  // elements never win a max in oneDNN, as in ATen.
  const dnnl::memory::dims padding{windows[0].padding, windows[1].padding};
  try {
    const dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max,
                                           prepared.src, prepared.dst, strides, kernel, padding, padding);
    const dnnl::pooling_forward::primitive_desc pd(desc, cpuEngine());
    prepared.unsupported = isReferenceImplementation(pd);
    prepared.primitive = dnnl::pooling_forward(pd);
  } catch (const dnnl::error&) {
    prepared.unsupported = true;
  }
  return primitives.emplace(key, std::move(prepared)).first->second;
}

/// What maxPool2d runs on oneDNN: the result's sizes and layout and the primitive.
struct PoolingPlan {
  std::vector<int64_t> outputSizes;
  at::MemoryFormat format;
  PoolingPrimitive* prepared;
};

std::optional<PoolingPlan> planMaxPool2d(const at::Tensor& input, at::IntArrayRef kernelSize, at::IntArrayRef stride,
                                         at::IntArrayRef padding, at::IntArrayRef dilation, bool ceilMode) {
  if (input.dim() != 4 || !input.device().is_cpu() || input.layout() != at::kStrided || needsAutograd(input) ||
      input.numel() == 0) {
    return std::nullopt;
  }
  const auto type = onednnType(input);
  const auto format = denseFormat(input);
  const auto windows = onednnWindows(kernelSize, stride, padding, dilation, ceilMode);
  if (!type || !format || !windows) {
    return std::nullopt;
  }
  const auto height = pooledExtent(input.size(2), (*windows)[0]);
  const auto width = pooledExtent(input.size(3), (*windows)[1]);
  if (!height || !width) {
    return std::nullopt;
  }
  PoolingPlan plan{{input.size(0), input.size(1), *height, *width}, *format, nullptr};
  plan.prepared = &poolingPrimitive(input.sizes(), plan.outputSizes, *windows, *type, *format);
  if (plan.prepared->unsupported) {
    return std::nullopt;
  }
  return plan;
}

} // namespace

bool maxPool2dOnOneDnn(const at::Tensor& input, at::IntArrayRef kernelSize, at::IntArrayRef stride,
                       at::IntArrayRef padding, at::IntArrayRef dilation, bool ceilMode) {
  return planMaxPool2d(input, kernelSize, stride, padding, dilation, ceilMode).has_value();
}

at::Tensor maxPool2d(const at::Tensor& input, at::IntArrayRef kernelSize, at::IntArrayRef stride,
                     at::IntArrayRef padding, at::IntArrayRef dilation, bool ceilMode) {
  const auto plan = planMaxPool2d(input, kernelSize, stride, padding, dilation, ceilMode);
  const auto runAten = [&] { return at::max_pool2d(input, kernelSize, stride, padding, dilation, ceilMode); };
  if (!plan) {
    return runAten();
  }
  const auto runOneDnn = [&] {
    at::Tensor output = emptyOutput(plan->outputSizes, input.options(), plan->format);
    dnnl::memory src(plan->prepared->src, cpuEngine(), input.data_ptr());
    dnnl::memory dst(plan->prepared->dst, cpuEngine(), output.data_ptr());
    plan->prepared->primitive.execute(threadStream(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    return output;
  };
  int& atenFaster = plan->prepared->atenMeasuredFaster;
  if (atenFaster < 0 && measuringEnabled()) {
    // oneDNN 2.6's pooling kernel is the faster on AVX-512 (0.21 against ATen's 0.44 ms on ResNet-50's stem
    // pool, a Xeon) and the slower on AVX2 (0.84 against 0.38 ms, an AMD EPYC): measured once per problem.
    int64_t comparisons = *listValue(kernelSize, 0, {}) * *listValue(kernelSize, 1, {});
    for (const int64_t size : plan->outputSizes) {
      comparisons *= size;
    }
    if (comparisons >= kMeasurePoolingFrom) {
      const Measurement measurement = challengerMeasuredFaster([&] { runOneDnn(); }, [&] { runAten(); });
      std::ostringstream what;
      what << "max_pool2d on " << input.sizes() << " kernel " << kernelSize << " stride " << stride << ", "
           << at::get_num_threads() << " thread(s)";
      logMeasurement(what.str(), measurement, "onednn", "aten");
      atenFaster = measurement.challengerFaster ? 1 : 0;
    } else {
      atenFaster = 0;
    }
  }
  return atenFaster == 1 ? runAten() : runOneDnn();
}

} // namespace tsopt::runtime
