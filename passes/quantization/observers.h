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

namespace tsopt {

/// Activations: running min and max, per-tensor affine quint8 (0..255, or
/// 0..127 with reduceRange): the parameters of affineParamsForRange.
torch::jit::Module makeMinMaxObserver(bool reduceRange);

/// Weights: max |w| per output channel (dimension 0), symmetric qint8: the
/// parameters of symmetricPerChannelParams.
torch::jit::Module makePerChannelWeightObserver();

/// Whether `observer` (either kind) has recorded any values.
bool observerHasData(const torch::jit::Module& observer);

} // namespace tsopt
