//===- fold_static_shapes.h - Shapes the value types record as constants --===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// fold-static-shapes: folds aten::size and aten::dim of values whose type
/// records the shape (as traced graphs' types do) into constants, then the
/// shape arithmetic on them (NumToTensor, Int, mul, ...) that became constant.
/// Sound only when the graph sees inputs shaped like the traced ones, so it
/// runs only with assume-static-shapes (on by default here; the
/// canonicalize-traced pipeline turns it off unless asked).
/// Never: a size whose dimension or input rank is not known, a shape the type
/// does not record, or a size list that is written in place.
///   %b = aten::size(%x, %zero)   (%x : Float(2, 8))   ==>   %b = prim::Constant[value=2]()
class FoldStaticShapesPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Option<bool> assumeStaticShapes{
      this, "assume-static-shapes",
      "Trust the shapes value types record (the graph only sees inputs shaped like the traced ones); "
      "false makes the pass a no-op",
      true};

  Statistic shapesFolded{this, "shapes-folded", "aten::size and aten::dim folded into constants"};
  Statistic shapeArithmeticFolded{this, "shape-arithmetic-folded",
                                  "Nodes folded because folded shapes made all their inputs constant"};
  Statistic shapesKept{this, "shapes-kept", "aten::size or aten::dim kept: the value's type records no shape"};
};

} // namespace tsopt
