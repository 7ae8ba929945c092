//===- layer_folding.h - Folding batch norms and arithmetic into layers ---===//
///
/// The graph side of fold-conv-bn, fold-linear-bn, fold-layer-arith and
/// fold-layers (which runs the other three to a fixpoint):
/// recognizes the consumers (eval batch norm, constant arithmetic) that fold
/// into the layer producing their input (a LayerMatch of ir_matchers.h), and
/// writes the folded parameters back; affine_folding.h does the math. Every
/// matcher says why it refused, for --debug-only.
///
/// Why not SubgraphRewriter: the folds compute new weights from constant
/// tensors and check shapes, dtypes and flags that a pattern cannot express;
/// the IR shapes themselves are one node each.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/ir_matchers.h"
#include "passes/core/pass.h"
#include "passes/freezing/affine_folding.h"

#include <torch/csrc/jit/ir/ir.h>

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>

namespace tsopt {

/// aten::batch_norm in eval mode (constant training=False) with constant
/// statistics and affine parameters, as a per-channel affine map.
struct BatchNormMatch {
  torch::jit::Node* node = nullptr;
  Affine affine;
};
std::optional<BatchNormMatch> matchEvalBatchNorm(torch::jit::Node* node, std::string& whyNot);

using LayerMatcher = std::optional<LayerMatch> (*)(torch::jit::Node*, std::string&);

/// The layer producing `value`, when its consumer is the value's only user
/// (users that read only its shape, dtype or device do not count).
/// `matcher` is matchConvolution or matchLinear.
std::optional<LayerMatch> soleProducer(torch::jit::Value* value, LayerMatcher matcher, std::string& whyNot);

/// What one run of a fold did; each skip is also reported, with its reason,
/// to a SkipReporter (a missed remark of the context, or a buffer).
using SkipReporter = std::function<void(torch::jit::Node* node, const std::string& whyNot)>;
/// PassContext::missed as a SkipReporter.
SkipReporter missedRemarksOf(PassContext& context);

struct FoldCounts {
  uint64_t folded = 0;
  uint64_t skipped = 0;
  uint64_t intoConsumers = 0;  ///< Of `folded`: batch norms folded into the layer after them.
};

/// The whole of fold-conv-bn and fold-linear-bn: folds every eval batch norm
/// whose input is the sole use of a layer that `matcher` accepts and
/// `admissible` (when given) approves, asking context.shouldRewrite first.
/// With `intoConsumers` (fold-layers), a batch norm that does not fold into
/// the layer before it folds into the layer after it where that is exact
/// (foldInputAffine): its only use is an unpadded non-transposed convolution
/// (any padding when the shift is zero) or a linear layer on a 2-D input.
bool foldBatchNormsInto(torch::jit::Graph& graph, PassContext& context, const SkipReporter& reportSkip, LayerMatcher matcher,
                        const std::function<bool(const LayerMatch&, std::string&)>& admissible, FoldCounts& counts,
                        bool intoConsumers = false);

/// fold-linear-bn's admissibility: the linear's output is provably 2-D ([N, F]),
/// so batch norm's channel axis is the linear's output features.
bool linearOutputIs2D(const LayerMatch& layer, std::string& whyNot);

/// A convolution or a linear layer, whichever `node` is (fold-layers folds
/// batch norms into both in one sweep), and the admissibility check that goes
/// with it: linearOutputIs2D for linear layers.
std::optional<LayerMatch> matchConvolutionOrLinear(torch::jit::Node* node, std::string& whyNot);
bool foldableIntoLayer(const LayerMatch& layer, std::string& whyNot);

/// The whole of fold-layer-arith (see its header).
bool foldArithmeticIntoLayers(torch::jit::Graph& graph, PassContext& context, const SkipReporter& reportSkip,
                                    FoldCounts& counts);

/// Replaces the layer's weight and bias inputs by new constants. The old
/// constants stay for their other users (dead ones go at the next dce).
void replaceParameters(const LayerMatch& layer, const FoldedParams& params);

/// Whether `affine` has one factor per output channel of the layer.
bool channelsAgree(const LayerMatch& layer, const Affine& affine, std::string& whyNot);
/// Folds `affine` (per output channel) into the layer's weight and bias.
void foldIntoLayer(const LayerMatch& layer, const Affine& affine);

} // namespace tsopt
