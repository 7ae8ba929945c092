//===- input_sets.h - Input tuples saved with torch.save -------------------===//
///
/// The inputs tsopt runs modules on: --check-equivalence's comparison runs and
/// the calibration runs of static quantization (--calibration-data).
///
//===----------------------------------------------------------------------===//
#pragma once

#include <ATen/core/function.h>
#include <ATen/core/ivalue.h>
#include <ATen/core/stack.h>

#include <string>
#include <vector>

namespace tsopt {

/// One call's arguments per element.
using InputSets = std::vector<std::vector<c10::IValue>>;

/// Input tuples saved with torch.save: a list (or tuple) of tuples, one per
/// call; a single tuple of tensors is one call. Lists and dicts inside them
/// are typed by their elements (a list of tensors is a List[Tensor], as a
/// method taking one asks), where the unpickler leaves List[Any]. Throws
/// tsopt::Error (Input).
InputSets loadInputSets(const std::string& path);

/// loadInputSets on the file's bytes; `path` only names them in messages.
InputSets parseInputSets(const std::string& path, const std::vector<char>& bytes);

/// `value` with every tensor inside it (tuples, lists, dicts) moved to `device`.
c10::IValue toDevice(const c10::IValue& value, c10::Device device);

/// Every input of every set moved to `device`: the inputs of a module that
/// --device loaded onto that device.
InputSets toDevice(const InputSets& sets, c10::Device device);

/// Runs `function` (a method's graph, or an instrumented copy of one: its
/// first input is the module) on `self` and copies of `arguments` (tensors
/// cloned, so a graph that writes its inputs in place leaves the set as it
/// was); returns the stack it leaves, its results. Throws what the call throws.
torch::jit::Stack runOnCopies(torch::jit::Function& function, const c10::IValue& self,
                              const std::vector<c10::IValue>& arguments);

} // namespace tsopt
