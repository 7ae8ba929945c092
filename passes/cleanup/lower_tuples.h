//===- lower_tuples.h - Replace tuples by their elements -----------------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// lower-tuples: removes prim::TupleConstruct/TupleUnpack/TupleIndex pairs so
/// tuple elements flow as separate values (torch::jit::LowerSimpleTuples); with
/// `all`, also flattens tuple graph inputs and outputs (LowerAllTuples), which
/// changes the graph's signature and is therefore refused on module methods.
/// Never touches tuples stored in lists or dicts.
///   %t = prim::TupleConstruct(%a, %b)  %x, %y = prim::TupleUnpack(%t)   ==>   uses of %x use %a
class LowerTuplesPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Option<bool> all{this, "all", "Also flatten tuple inputs and outputs (changes the signature)", false};
  Statistic removedNodes{this, "removed-nodes", "Tuple nodes removed"};
};

} // namespace tsopt
