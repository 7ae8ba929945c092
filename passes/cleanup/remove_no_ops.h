//===- remove_no_ops.h - Drop ops that provably return their input --------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// remove-no-ops: deletes what the tracer records but does nothing: identity
/// dropout (eval mode or p = 0, any dropout kind), detach, and contiguous or to
/// that provably return their input. dtype and device come from constants and
/// value types; contiguity from constants and, with assume-static-shapes, from
/// the strides value types record.
/// Never: a dropout in training mode or whose mode is unknown; detach where the
/// graph compares tensor identity (aten::__is__); detach, contiguous or to whose
/// input or result is written in place; to with copy=True, a memory format, a
/// layout, pinning, or a dtype/device change or one that is not known.
///   %z = aten::contiguous(%c, %zero)   ==>   uses of %z use %c
///   %d = aten::dropout(%x, %p, %false)   ==>   uses of %d use %x
class RemoveNoOpsPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Option<bool> assumeStaticShapes{
      this, "assume-static-shapes",
      "Trust the strides value types record (the graph only sees inputs shaped like the traced ones): "
      "drop contiguous on contiguous values",
      false};

  Statistic noOpsRemoved{this, "no-ops-removed", "Identity dropout and no-op detach, contiguous and to removed"};
  Statistic noOpsKept{this, "no-ops-kept",
                      "Dropout, detach, contiguous or to kept: not provably a no-op, or written in place"};
};

} // namespace tsopt
