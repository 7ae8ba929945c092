//===- canonicalize_traced.h - One form for traced and scripted graphs ----===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// canonicalize-traced: rewrites what the tracer records into what scripting
/// emits, so later patterns match both. aten::_convolution (and
/// aten::convolution) becomes aten::conv1d/2d/3d or aten::conv_transpose1d/2d/3d,
/// the rank taken from the stride list; its cuDNN/benchmark flags are dropped,
/// as conv*d reads them from the global context. addmm(b, x, W^T) and
/// matmul(x, W^T), with W^T = aten::t of a constant or the constant freezing
/// folded it into, become aten::linear; an add(_, b, 1) of a constant 1-D bias
/// that is the matmul's only use folds into it. Identity dropout, detach, and
/// contiguous/to that provably return their input are removed: dtype and device
/// come from constants and value types, contiguity from constants and, with
/// assume-static-shapes, from recorded strides. With assume-static-shapes,
/// aten::size/aten::dim of values whose type records the shape become constants
/// and the shape arithmetic on them (NumToTensor, Int, mul, ...) is folded.
/// Needs constant weights (a frozen graph) for aten::linear; the rest works on any graph.
/// Never: a convolution whose transposed flag or list lengths are not known, or
/// with a non-zero output_padding but not transposed; addmm/matmul whose weight
/// is not a constant 2-D tensor (matmul of two activations), or with alpha or
/// beta not 1; detach/contiguous/to whose input or result is written in place,
/// or detach where the graph compares tensor identity (aten::__is__); shapes
/// without assume-static-shapes.
///   %y = aten::_convolution(%x, %w, %b, %s, %p, %d, %false, %zeros, %g, ...)   ==>   aten::conv2d(%x, %w, %b, %s, %p, %d, %g)
///   %m = aten::matmul(%x, %WT)   %y = aten::add(%m, %b, %one)   ==>   %y = aten::linear(%x, %W, %b)
///   %z = aten::contiguous(%c, %zero)   ==>   uses of %z use %c
class CanonicalizeTracedPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  bool removeNoOps(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context);
  bool canonicalizeConvolutions(torch::jit::Graph& graph, PassContext& context);
  bool formLinears(torch::jit::Graph& graph, PassContext& context);
  bool foldStaticShapes(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context);

  Option<bool> assumeStaticShapes{
      this, "assume-static-shapes",
      "Trust the shapes and strides value types record (the graph only sees inputs shaped like the "
      "traced ones): fold aten::size/aten::dim and drop contiguous on contiguous values",
      false};

  Statistic noOpsRemoved{this, "no-ops-removed", "Identity dropout and no-op detach, contiguous and to removed"};
  Statistic noOpsKept{this, "no-ops-kept",
                      "Dropout, detach, contiguous or to kept: not provably a no-op, or written in place"};
  Statistic convolutions{this, "convolutions", "aten::_convolution rewritten as conv*d or conv_transpose*d"};
  Statistic convolutionsKept{this, "convolutions-kept",
                             "aten::_convolution kept: flags or list lengths not known, or no equivalent form"};
  Statistic linears{this, "linears", "addmm or matmul rewritten as aten::linear"};
  Statistic biasesFolded{this, "biases-folded", "Bias adds folded into the new aten::linear"};
  Statistic linearsKept{this, "linears-kept",
                        "addmm or matmul kept: weight not a constant 2-D tensor, alpha/beta not 1, or bias unsuitable"};
  Statistic shapesFolded{this, "shapes-folded", "aten::size and aten::dim folded into constants"};
  Statistic shapeArithmeticFolded{this, "shape-arithmetic-folded",
                                  "Nodes folded because folded shapes made all their inputs constant"};
  Statistic shapesKept{this, "shapes-kept", "aten::size or aten::dim kept: the value's type records no shape"};
};

} // namespace tsopt
