//===- observers.h - Observer modules for static quantization --------------===//
///
/// TorchScript modules that record value ranges during calibration, shaped
/// like PyTorch's observers so that PyTorch's graph-mode quantization
/// (InsertObservers, InsertQuantDeQuant) can use them: `forward(x)` records and
/// returns x; `calculate_qparams()` returns (scale, zero_point) tensors; the
/// `dtype` and `qscheme` attributes (and `ch_axis` per channel) say what they
/// quantize to. Made in C++ (Module::define) so tsopt needs no Python.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <cstdint>

namespace tsopt {

/// Activations: running min and max, per-tensor affine quint8 (0..255, or
/// 0..127 with reduceRange): the parameters of affineParamsForRange.
torch::jit::Module makeMinMaxObserver(bool reduceRange);

/// Activations: a running histogram of `bins` bins over the observed range
/// (re-binned as the range grows), and calculate_qparams picks the sub-range
/// whose 256-level quantization has the least L2 error, clipping outliers:
/// PyTorch's HistogramObserver(quint8, per_tensor_affine), except that the
/// histogram covers the exact observed range where PyTorch 1.13 truncates the
/// range's ends to integers. Calibration is slower than min/max (a histogram
/// per call, a search per observer).
torch::jit::Module makeHistogramObserver(bool reduceRange, int64_t bins = 2048);

/// Weights: max |w| per output channel (dimension 0), symmetric qint8: the
/// parameters of symmetricPerChannelParams.
torch::jit::Module makePerChannelWeightObserver();

/// Whether `observer` (either kind) has recorded any values.
bool observerHasData(const torch::jit::Module& observer);

} // namespace tsopt
