#include "runtime/quantized_gate.h"

#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace tsopt::runtime {
namespace {

bool isPerTensorQUInt8(const at::Tensor& tensor) {
  return tensor.is_cpu() && tensor.scalar_type() == at::kQUInt8 && tensor.qscheme() == at::kPerTensorAffine;
}

/// Whether `gate` holds one value per (batch, channel) of the 4-D `x`.
bool isChannelGate(const at::Tensor& x, const at::Tensor& gate) {
  return x.dim() == 4 && gate.dim() == 4 && (gate.size(0) == x.size(0) || gate.size(0) == 1) &&
         gate.size(1) == x.size(1) && gate.size(2) == 1 && gate.size(3) == 1 && x.size(2) * x.size(3) > 1;
}

at::Tensor quantizedMul(const at::Tensor& x, const at::Tensor& gate, double scale, int64_t zeroPoint) {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("quantized::mul", "").typed<at::Tensor(at::Tensor, at::Tensor,
                                                                                             double, int64_t)>();
  return op.call(x, gate, scale, zeroPoint);
}

// GCC traps math by default (-ftrapping-math), which keeps the clamps below as branches; clang does
// not, and refuses noinline next to target_clones (the clones are never inlined anyway).
#if defined(__clang__)
#define TSOPT_VECTORIZED_ROW __attribute__((target_clones("avx2", "default")))
#else
#define TSOPT_VECTORIZED_ROW __attribute__((noinline, optimize("no-trapping-math"), target_clones("avx2", "default")))
#endif

/// round-half-even(clamp(x * multiplier + offset, 0, 255)) for `count` values. Its pointers restrict
/// (uint8 pointers may alias anything), out of line, and without trapping math (so the clamps become
/// selects, not branches): it vectorizes without -ffast-math. An AVX2 clone is picked at load time
/// where the CPU has it.
TSOPT_VECTORIZED_ROW void scaleRow(
    const uint8_t* __restrict in, uint8_t* __restrict out, const float* __restrict multiplier,
    const float* __restrict offset, int64_t count) {
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to even.
  for (int64_t i = 0; i < count; ++i) {
    const float value = static_cast<float>(in[i]) * multiplier[i] + offset[i];
    const float bounded = value < -1.0f ? -1.0f : (value > 256.0f ? 256.0f : value);  // No int overflow below.
    const int32_t rounded = static_cast<int32_t>((bounded + kRound) - kRound);
    out[i] = static_cast<uint8_t>(rounded < 0 ? 0 : (rounded > 255 ? 255 : rounded));
  }
}

} // namespace

at::Tensor quantizedGate(const at::Tensor& x, const at::Tensor& gate, double scale, int64_t zeroPoint) {
  const bool gateSecond = isChannelGate(x, gate);
  if (!(gateSecond || isChannelGate(gate, x)) || !isPerTensorQUInt8(x) || !isPerTensorQUInt8(gate) ||
      !(scale > 0.0) || zeroPoint < 0 || zeroPoint > 255) {
    return quantizedMul(x, gate, scale, zeroPoint);
  }
  const at::Tensor& input = gateSecond ? x : gate;
  const at::Tensor& channelGate = gateSecond ? gate : x;
  const int64_t batch = input.size(0);
  const int64_t channels = input.size(1);
  const int64_t pixels = input.size(2) * input.size(3);
  // out = (x - zx) * sx * (g - zg) * sg / scale + zeroPoint = x * m[n, c] + b[n, c]. Plain loops: a few
  // ATen calls here would cost more than the multiply itself on the small late layers.
  at::Tensor gateValues = channelGate.contiguous();
  const auto* gateData = reinterpret_cast<const uint8_t*>(gateValues.data_ptr());
  const int64_t gateBatch = channelGate.size(0);
  const double gateZero = static_cast<double>(channelGate.q_zero_point());
  const double factor = channelGate.q_scale() * input.q_scale() / scale;
  const double inputZero = static_cast<double>(input.q_zero_point());
  std::vector<float> multipliers(batch * channels);
  std::vector<float> offsets(batch * channels);
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t c = 0; c < channels; ++c) {
      const double m = (static_cast<double>(gateData[(gateBatch == 1 ? 0 : n) * channels + c]) - gateZero) * factor;
      multipliers[n * channels + c] = static_cast<float>(m);
      offsets[n * channels + c] = static_cast<float>(static_cast<double>(zeroPoint) - inputZero * m);
    }
  }
  const float* multiplier = multipliers.data();
  const float* offset = offsets.data();

  const bool channelsLast = input.is_contiguous(at::MemoryFormat::ChannelsLast) && channels > 1;
  const at::MemoryFormat format = channelsLast ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  at::Tensor source = input.contiguous(format);
  at::Tensor output = at::_empty_affine_quantized(input.sizes(), input.options(), scale, zeroPoint, format);
  const auto* in = reinterpret_cast<const uint8_t*>(source.data_ptr());
  auto* out = reinterpret_cast<uint8_t*>(output.data_ptr());
  if (channelsLast) {
    // Rows of `channels` values, one per pixel: the gate's row for the pixel's batch element.
    at::parallel_for(0, batch * pixels, std::max<int64_t>(1, 16384 / channels), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t n = row / pixels;
        scaleRow(in + row * channels, out + row * channels, multiplier + n * channels, offset + n * channels,
                 channels);
      }
    });
  } else {
    // Planes of `pixels` values, one per (batch, channel): one multiplier each.
    at::parallel_for(0, batch * channels, std::max<int64_t>(1, 16384 / pixels), [&](int64_t begin, int64_t end) {
      std::vector<float> planeMultiplier(pixels);
      std::vector<float> planeOffset(pixels);
      for (int64_t plane = begin; plane < end; ++plane) {
        std::fill(planeMultiplier.begin(), planeMultiplier.end(), multiplier[plane]);
        std::fill(planeOffset.begin(), planeOffset.end(), offset[plane]);
        scaleRow(in + plane * pixels, out + plane * pixels, planeMultiplier.data(), planeOffset.data(), pixels);
      }
    });
  }
  return output;
}

} // namespace tsopt::runtime
