//===- quantization_patterns.h - Graph checks shared by quantization passes ===//
#pragma once

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <string>
#include <utility>
#include <vector>

namespace tsopt {

/// The first dropout or batch norm (nested blocks included) whose training
/// flag is not the constant False, or nullptr. Quantizing a graph traced or
/// frozen in training mode would bake in the wrong computation, so the
/// quantization passes refuse such graphs.
torch::jit::Node* findTrainingLeftover(torch::jit::Graph& graph);

/// Destroys `value`'s node when it is a constant with no uses left: quantizing
/// a layer leaves its float32 weights dead, and they are most of the memory.
void destroyIfDeadConstant(torch::jit::Value* value);

/// Submodules, recursively (a frozen module has none).
size_t countSubmodules(const torch::jit::Module& module);

/// The observer submodules insert-observers added ("_observer_N" attributes at
/// any depth), with their dotted paths.
std::vector<std::pair<std::string, torch::jit::Module>> findObservers(const torch::jit::Module& module);
size_t countObservers(const torch::jit::Module& module);

/// Nodes of the quantized:: namespace in `block` and its nested blocks.
size_t countQuantizedOps(const torch::jit::Block& block);

} // namespace tsopt
