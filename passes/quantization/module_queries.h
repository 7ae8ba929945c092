//===- module_queries.h - What static quantization asks of a module -------===//
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace tsopt {

/// Submodules, recursively (a frozen module has none).
size_t countSubmodules(const torch::jit::Module& module);

/// Whether `module` has a submodule at dotted path `path` ("layer1.0.conv1").
bool hasSubmodule(const torch::jit::Module& module, const std::string& path);

/// The observer submodules insert-observers added ("_observer_N" attributes at
/// any depth), with their dotted paths.
std::vector<std::pair<std::string, torch::jit::Module>> findObservers(const torch::jit::Module& module);
size_t countObservers(const torch::jit::Module& module);

/// Nodes of the quantized:: namespace in `block` and its nested blocks.
size_t countQuantizedOps(const torch::jit::Block& block);

} // namespace tsopt
