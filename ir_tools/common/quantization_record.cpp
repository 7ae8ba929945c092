#include "ir_tools/common/quantization_record.h"

#include "ir_tools/common/bytes_read_adapter.h"

#include "passes/core/error.h"
#include "passes/core/reduce_range.h"
#include "passes/core/pass.h"
#include "passes/quantization/quantization_params.h"

#include <ATen/Context.h>
#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <regex>
#include <sstream>

namespace tsopt {
namespace {

bool blockHasQuantizedKernels(const torch::jit::Block& block) {
  static const c10::Symbol quantized = c10::Symbol::fromQualString("namespaces::quantized");
  // tsopt's static int8 convolutions (fuse-quantized-conv-act) sum int8 products as PyTorch's do.
  static const c10::Symbol tsoptInt8Conv = c10::Symbol::fromQualString("tsopt::qconv2d_act");
  static const c10::Symbol tsoptInt8ConvAdd = c10::Symbol::fromQualString("tsopt::qconv2d_add_act");
  for (const torch::jit::Node* node : block.nodes()) {
    if (node->kind().ns() == quantized || node->kind() == tsoptInt8Conv || node->kind() == tsoptInt8ConvAdd) {
      return true;
    }
    for (const torch::jit::Block* inner : node->blocks()) {
      if (blockHasQuantizedKernels(*inner)) {
        return true;
      }
    }
  }
  return false;
}

const OptionBase* findOption(const Pass& pass, const std::string& name) {
  for (const OptionBase* option : pass.options()) {
    if (option->name() == name) {
      return option;
    }
  }
  return nullptr;
}

std::string availableEngines() {
  std::string names;
  for (c10::QEngine engine : at::globalContext().supportedQEngines()) {
    std::string name = qEngineName(engine);
    if (name != "none") {
      names += (names.empty() ? "" : ", ") + name;
    }
  }
  return names.empty() ? "none" : names;
}

} // namespace

std::string QuantizationRecord::toJson() const {
  return "{\"engine\": \"" + engine + "\", \"activation_bits\": " + std::to_string(activationBits) + "}\n";
}

QuantizationRecord QuantizationRecord::fromJson(const std::string& text, const std::string& path) {
  static const std::regex engineField("\"engine\"\\s*:\\s*\"([a-z0-9]+)\"");
  static const std::regex bitsField("\"activation_bits\"\\s*:\\s*([0-9]+)");
  std::smatch engine;
  std::smatch bits;
  if (!std::regex_search(text, engine, engineField) || !std::regex_search(text, bits, bitsField) ||
      (bits[1] != "7" && bits[1] != "8")) {
    throw Error(ErrorKind::Input, path + ": " + kQuantizationRecordFile +
                                      " is not a tsopt quantization record (expected {\"engine\": NAME, "
                                      "\"activation_bits\": 7 or 8})");
  }
  return QuantizationRecord{engine[1], bits[1] == "7" ? 7 : 8};
}

bool hasQuantizedKernels(const torch::jit::Module& module) {
  for (const torch::jit::Module& submodule : module.modules()) {
    for (const torch::jit::Method& method : submodule.get_methods()) {
      if (blockHasQuantizedKernels(*method.graph()->block())) {
        return true;
      }
    }
  }
  return false;
}

std::optional<QuantizationRecord> quantizationRecordFor(const std::vector<std::unique_ptr<Pass>>& passes,
                                                        const torch::jit::Module& module,
                                                        const std::optional<QuantizationRecord>& inherited) {
  if (!hasQuantizedKernels(module)) {
    return std::nullopt;
  }
  std::optional<std::string> engine;
  std::optional<int> bits;
  for (const auto& pass : passes) {
    if (const OptionBase* option = findOption(*pass, "engine")) {
      engine = qEngineName(parseQEngine(option->valueText(), pass->name()));
    }
    if (const OptionBase* option = findOption(*pass, "reduce-range")) {
      // Two passes choosing differently leave some activations 8-bit: record the demanding width.
      bits = std::max(bits.value_or(7), parseReduceRange(option->valueText(), pass->name()) ? 7 : 8);
    }
  }
  if (!engine) {
    return inherited;
  }
  return QuantizationRecord{*engine, bits.value_or(inherited ? inherited->activationBits : 8)};
}

std::optional<QuantizationRecord> readQuantizationRecord(const std::string& path, const std::string& bytes) {
  std::string text;
  try {
    caffe2::serialize::PyTorchStreamReader reader(readerOf(bytes));
    const std::string record = std::string("extra/") + kQuantizationRecordFile;
    if (!reader.hasRecord(record)) {
      return std::nullopt;
    }
    auto [data, size] = reader.getRecord(record);
    text.assign(static_cast<const char*>(data.get()), size);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return QuantizationRecord::fromJson(text, path);
}

void checkMachineRuns(const QuantizationRecord& record, const std::string& path) {
  const auto& supported = at::globalContext().supportedQEngines();
  bool known = std::any_of(supported.begin(), supported.end(),
                           [&](c10::QEngine engine) { return qEngineName(engine) == record.engine; });
  if (!known) {
    throw Error(ErrorKind::Input, path + ": its int8 weights were packed for the quantized engine '" + record.engine +
                                      "', which this LibTorch does not have (available: " + availableEngines() + ")");
  }
  if (record.activationBits == 8 && parseReduceRange("auto", "quantization record")) {
    throw Error(ErrorKind::Input, path + ": its int8 kernels take 8-bit activations, which overflow on this CPU "
                                         "(x86 without VNNI): quantize it again here with reduce-range=auto, or run "
                                         "it on a CPU with VNNI");
  }
}

} // namespace tsopt
