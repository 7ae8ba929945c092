//===- quantization_patterns.h - Graph checks shared by quantization passes ===//
#pragma once

#include <torch/csrc/jit/ir/ir.h>

namespace tsopt {

/// The first dropout or batch norm (nested blocks included) whose training
/// flag is not the constant False, or nullptr. Quantizing a graph traced or
/// frozen in training mode would bake in the wrong computation, so the
/// quantization passes refuse such graphs.
torch::jit::Node* findTrainingLeftover(torch::jit::Graph& graph);

/// Destroys `value`'s node when it is a constant with no uses left: quantizing
/// a layer leaves its float32 weights dead, and they are most of the memory.
void destroyIfDeadConstant(torch::jit::Value* value);

} // namespace tsopt
