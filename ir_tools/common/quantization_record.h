//===- quantization_record.h - What an int8 archive needs to run ----------===//
///
/// PyTorch's int8 archives keep plain int8 weights and pack them again when
/// they are loaded, for whatever quantized engine is in effect then; nothing in
/// the archive says which engine they were tuned and checked for, or whether
/// their activations use 8 bits (which overflow the int16 pair sums of x86
/// CPUs without VNNI). tsopt writes that down next to the model, as the extra
/// file `tsopt/quantization.json` (Python: `torch.jit.load(path,
/// _extra_files={"tsopt/quantization.json": ""})`):
///
///   {"engine": "onednn", "activation_bits": 7}
///
/// and its tools read it before loading: the weights are packed for the
/// recorded engine, and an archive that this LibTorch or this CPU cannot run
/// is refused with one line instead of running with another engine's numerics.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tsopt {

class Pass;

/// The archive's extra file holding the record.
constexpr const char* kQuantizationRecordFile = "tsopt/quantization.json";

struct QuantizationRecord {
  std::string engine;      ///< "onednn", "x86", "fbgemm" or "qnnpack".
  int activationBits = 8;  ///< 7 with reduce-range, else 8.

  bool operator==(const QuantizationRecord& other) const {
    return engine == other.engine && activationBits == other.activationBits;
  }
  std::string toJson() const;
  /// Throws tsopt::Error (Input) naming `path` when `text` is not a record.
  static QuantizationRecord fromJson(const std::string& text, const std::string& path);
};

/// Whether any method of `module` or of its submodules calls a quantized:: kernel
/// or tsopt::qconv2d_act / qconv2d_add_act.
bool hasQuantizedKernels(const torch::jit::Module& module);

/// The record for a module a pipeline produced: what its quantize-static or
/// quantize-dynamic packed for (option engine) and the activation width its
/// insert-observers or quantize-dynamic chose (option reduce-range); failing
/// those, `inherited` (the input archive's record). Nothing when the module
/// has no quantized kernels.
std::optional<QuantizationRecord> quantizationRecordFor(const std::vector<std::unique_ptr<Pass>>& passes,
                                                        const torch::jit::Module& module,
                                                        const std::optional<QuantizationRecord>& inherited);

/// The record in archive `bytes`, if it has one. A damaged archive reads as
/// having none: loading it reports the damage.
std::optional<QuantizationRecord> readQuantizationRecord(const std::string& path, const std::string& bytes);

/// Throws tsopt::Error (Input), one line naming `path`, when this LibTorch has
/// no such engine, or the activations are 8-bit and this x86 CPU has no VNNI.
void checkMachineRuns(const QuantizationRecord& record, const std::string& path);

} // namespace tsopt
