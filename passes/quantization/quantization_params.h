//===- quantization_params.h - Scales, zero points, prepacking -------------===//
///
/// The math of the quantization passes, apart from any graph: how int8 weights
/// and uint8 activations get their scales and zero points (the choices of
/// PyTorch's MinMax observers, so a tsopt model and a PyTorch-quantized one
/// round the same way), and PyTorch's prepack ops called through the
/// dispatcher, with the quantized engine chosen explicitly.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <ATen/core/ivalue.h>
#include <c10/core/QEngine.h>

#include <cstdint>
#include <optional>
#include <string>

namespace tsopt {

/// Symmetric int8 quantization per output channel (dimension 0), as
/// PerChannelMinMaxObserver(qint8, per_channel_symmetric) chooses it:
/// scale = max(|w|) / 127.5 (at least float32's epsilon), zero point 0.
struct PerChannelParams {
  at::Tensor scales;      ///< Double, one per output channel.
  at::Tensor zeroPoints;  ///< Int64 zeros.
};
PerChannelParams symmetricPerChannelParams(const at::Tensor& weight);

/// `weight` (float) as a per-channel qint8 tensor with symmetricPerChannelParams.
at::Tensor quantizeWeightPerChannel(const at::Tensor& weight);

/// Per-tensor affine quint8 parameters covering [min, max] widened to include
/// 0, as MinMaxObserver(quint8, per_tensor_affine) chooses them; reduceRange
/// uses 7 bits (0..127), which fbgemm needs on CPUs without VNNI.
struct AffineParams {
  double scale = 1.0;
  int64_t zeroPoint = 0;
};
AffineParams affineParamsForRange(double min, double max, bool reduceRange);

/// "onednn", "fbgemm", "qnnpack", or "current" (the engine in effect, which
/// LibTorch builds without fbgemm default to onednn). Throws tsopt::Error
/// (Usage) naming `owner` for an unknown or unsupported engine.
c10::QEngine parseQEngine(const std::string& name, const std::string& owner);
std::string qEngineName(c10::QEngine engine);

/// Makes `engine` the global quantized engine for the scope's lifetime: the
/// prepack ops pack for the engine in effect when they run.
class QEngineScope {
public:
  explicit QEngineScope(c10::QEngine engine);
  ~QEngineScope();
  QEngineScope(const QEngineScope&) = delete;
  QEngineScope& operator=(const QEngineScope&) = delete;

private:
  c10::QEngine saved_;
};

/// quantized::linear_prepack(weight, bias): a
/// __torch__.torch.classes.quantized.LinearPackedParamsBase object for the
/// engine in effect. It pickles as (int8 weight, float bias) and packs again
/// for the engine in effect when a saved module is loaded.
c10::IValue prepackLinearWeight(const at::Tensor& quantizedWeight, const std::optional<at::Tensor>& bias);

} // namespace tsopt
