//===- quantized_gate.h - uint8 per-channel gating multiply ----------------===//
///
/// The kernel behind tsopt::quantized_gate, which fuse-quantized-gate puts in
/// place of quantized::mul (the squeeze-excitation gate of EfficientNet and
/// MobileNetV3 after quantize-squeeze-excitation / quantize-static):
///
///   %y = quantized::mul(%x, %gate, %scale, %zero_point)
///
/// where one operand is a uint8 [N, C, H, W] activation and the other a uint8
/// [N or 1, C, 1, 1] gate. PyTorch's quantized::mul broadcasts through a
/// generic TensorIterator loop (4x slower than float32 multiply here); this
/// one folds each channel's gate, both scales and zero points into one float
/// multiplier and offset and runs one pass over the activation in its memory
/// layout (channels-last rows or NCHW planes), rounding half to even as
/// PyTorch does. Anything else (other shapes, dtypes, per-channel
/// quantization) is quantized::mul itself, called through the dispatcher.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <ATen/core/Tensor.h>

namespace tsopt::runtime {

/// x * gate requantized to (scale, zeroPoint), either operand the gate; see above.
at::Tensor quantizedGate(const at::Tensor& x, const at::Tensor& gate, double scale, int64_t zeroPoint);

} // namespace tsopt::runtime
