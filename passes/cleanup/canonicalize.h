//===- canonicalize.h - Canonical value numbering and order --------------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// canonicalize: renumbers values in order of definition and orders block
/// outputs canonically (torch::jit::Canonicalize), so that two graphs that differ
/// only in naming print the same. Never changes what the graph computes.
///   %17 : Tensor = aten::relu(%x.1)   ==>   %1 : Tensor = aten::relu(%x.1)
class CanonicalizePass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Option<bool> keepUniqueNames{this, "keep-unique-names",
                               "Keep names given in the source (e.g. %x.1); false numbers every value", true};
};

} // namespace tsopt
