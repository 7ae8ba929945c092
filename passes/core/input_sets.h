//===- input_sets.h - Input tuples saved with torch.save -------------------===//
///
/// The inputs tsopt runs modules on: --check-equivalence's comparison runs and
/// the calibration runs of static quantization (--calibration-data).
///
//===----------------------------------------------------------------------===//
#pragma once

#include <ATen/core/ivalue.h>

#include <string>
#include <vector>

namespace tsopt {

/// One call's arguments per element.
using InputSets = std::vector<std::vector<c10::IValue>>;

/// Input tuples saved with torch.save: a list (or tuple) of tuples, one per
/// call; a single tuple of tensors is one call. Throws tsopt::Error (Input).
InputSets loadInputSets(const std::string& path);

/// loadInputSets on the file's bytes; `path` only names them in messages.
InputSets parseInputSets(const std::string& path, const std::vector<char>& bytes);

/// `value` with every tensor inside it (tuples, lists, dicts) moved to `device`.
c10::IValue toDevice(const c10::IValue& value, c10::Device device);

/// Every input of every set moved to `device`: the inputs of a module that
/// --device loaded onto that device.
InputSets toDevice(const InputSets& sets, c10::Device device);

} // namespace tsopt
