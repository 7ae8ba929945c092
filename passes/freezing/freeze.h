//===- freeze.h - Inline parameters and attributes as constants ----------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// freeze (module pass): turns the module's parameters and attributes into graph
/// constants and inlines submodule calls (torch::jit::freeze_module), so weight
/// folding and fusion see constant weights. The method being optimized and the
/// attributes named in `preserved-attrs` stay callable/readable.
/// Needs: an eval-mode module (a training-mode module is refused, since freezing
/// would bake `training=True` into the graph). Freezing a frozen module changes nothing.
///   %w = prim::GetAttr[name="weight"](%conv)   ==>   %w = prim::Constant[value=<Tensor>]()
class FreezePass final : public ModulePass {
public:
  bool runOnModule(torch::jit::Module& module, PassContext& context) override;

private:
  Option<std::vector<std::string>> preservedAttrs{
      this, "preserved-attrs", "Attributes and methods to keep on the module (comma-separated)", {}};
  Option<bool> preserveParameters{this, "preserve-parameters", "Keep parameters as attributes", false};
  Option<bool> freezeInterfaces{this, "freeze-interfaces", "Also freeze submodules behind interfaces", true};
  Statistic foldedAttributes{this, "folded-attributes", "Attribute reads and method calls folded into the graph"};
};

} // namespace tsopt
