//===- weighted_layers.h - Linear layers that quantization rewrites -------===//
///
/// quantize-dynamic and convert-bf16 both rewrite the layers that multiply by
/// a constant weight (aten::linear, aten::matmul by a constant), and refuse
/// the same ones; rewriteWeightedLayers is the loop they share.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/pass.h"

#include <torch/csrc/jit/ir/ir.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace tsopt {

/// A layer computing x·Wᵀ (+ b) with a constant weight: aten::linear(x, W, b),
/// or aten::matmul(x, C) with a constant 2-D C = Wᵀ.
struct WeightedLayer {
  torch::jit::Node* node = nullptr;
  torch::jit::Value* weightValue = nullptr;  ///< The constant W (linear) or C (matmul) in the graph.
  torch::jit::Value* biasValue = nullptr;    ///< linear's bias input (a tensor or None); none for matmul.
  at::Tensor weight;                         ///< W as (out, in): transposed for matmul.
  std::optional<at::Tensor> bias;
};

/// Matches aten::linear with constant weight and bias, and aten::matmul with
/// a constant 2-D right operand. Leaves `whyNot` empty for nodes that are no
/// layer at all (a matmul of two activations), so callers need not count them.
std::optional<WeightedLayer> matchWeightedLayer(torch::jit::Node* node, std::string& whyNot);

/// Why a matched layer must stay float32 whatever the target precision, or "":
/// a non-float32 weight or bias, parameters that require grad, fewer than
/// `minSize` weight elements, a weight with other uses (both copies would stay
/// alive). `target` names the precision in messages ("int8", "bf16").
std::string reasonToKeepFloat(const WeightedLayer& layer, int64_t minSize, const std::string& target);

/// The first dropout or batch norm (nested blocks included) whose training
/// flag is not the constant False, or nullptr. Quantizing a graph traced or
/// frozen in training mode would bake in the wrong computation, so the
/// quantization passes refuse such graphs.
torch::jit::Node* findTrainingLeftover(torch::jit::Graph& graph);

/// Destroys `value`'s node when it is a constant with no uses left: quantizing
/// a layer leaves its float32 weights dead, and they are most of the memory.
void destroyIfDeadConstant(torch::jit::Value* value);

/// Replaces the layer's output by `result` (keeping the output's name) and
/// destroys the layer node and its parameters when they are dead constants.
void replaceWeightedLayer(const WeightedLayer& layer, torch::jit::Value* result);

/// What quantize-dynamic and convert-bf16 share: every aten::linear (and
/// aten::matmul with a constant weight when `withMatmul`) that matches as a
/// WeightedLayer and for which `reasonToKeep` returns "" is handed to
/// `rewrite`, after context.shouldRewrite("<verb> %n = ..."); the others are
/// counted in `skipped` with the reason on the debug stream. A graph with a
/// training-mode leftover (findTrainingLeftover) is left alone ("<verb> an
/// eval-mode module", says the debug stream).
bool rewriteWeightedLayers(torch::jit::Graph& graph, PassContext& context, bool withMatmul, const std::string& verb,
                           const std::function<std::string(const WeightedLayer&)>& reasonToKeep,
                           const std::function<void(const WeightedLayer&)>& rewrite, Statistic& rewritten,
                           Statistic& skipped);

} // namespace tsopt
