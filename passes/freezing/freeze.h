//===- freeze.h - Inline parameters and attributes as constants ----------===//
#pragma once

#include "passes/core/pass.h"

#include <ATen/core/Tensor.h>

namespace tsopt {

/// freeze (module pass): turns the module's parameters and attributes into graph
/// constants and inlines submodule calls (torch::jit::freeze_module), so weight
/// folding and fusion see constant weights. The method being optimized and the
/// attributes named in `preserved-attrs` stay callable/readable.
/// Tensor attributes stand aside while torch::jit::freeze_module runs and come
/// back as constants after it, so freeze_module's clean-up never compares every
/// pair of same-shaped weights (quadratic in the model size); that clean-up then
/// runs again with tsopt's linear CSE and constant pooling (docs/scaling.md).
/// Where freeze_module refuses a module (an interface attribute assigned in a
/// method, a ModuleDict/ModuleList indexed at run time), freeze does better
/// unless `strict` is set: it folds every tensor and scalar attribute that no
/// method assigns or writes in place, and keeps the rest on the module with one
/// warning each.
/// Needs: an eval-mode module (a training-mode module is refused, since freezing
/// would bake `training=True` into the graph). Freezing a frozen module changes nothing.
///   %w = prim::GetAttr[name="weight"](%conv)   ==>   %w = prim::Constant[value=<Tensor>]()
class FreezePass final : public ModulePass {
public:
  bool runOnModule(torch::jit::Module& module, PassContext& context) override;

private:
  /// A tensor attribute freeze folds, and the name freeze_module gives its constant.
  struct HiddenTensor {
    at::Tensor tensor;
    std::string name;  ///< "self.layer1.0.conv1.weight"
  };

  /// Freezes a plain module tree without torch::jit::freeze_module: on a copy of
  /// the inlined forward that only reads tensor and scalar attributes (no
  /// preserved names or parameters, no hooks, nothing hideTensorAttributes would
  /// refuse), folds every read, cleans up once and puts the graph on a new
  /// module type. Returns false, the module untouched, where it does not apply.
  bool freezeTree(torch::jit::Module& module, const std::vector<std::string>& preserved, PassContext& context);
  /// Replaces each tensor attribute read of the (inlined) method by a
  /// tsopt_internal::hidden_tensor placeholder, where freeze_module would fold
  /// it; returns the tensors, by placeholder index.
  std::vector<HiddenTensor> hideTensorAttributes(torch::jit::Module& module, const std::vector<std::string>& preserved,
                                               PassContext& context);
  static void restoreHiddenTensors(const std::shared_ptr<torch::jit::Graph>& graph,
                                   const std::vector<HiddenTensor>& hidden);
  /// When freeze_module refuses the module and `strict` is off: inlines the
  /// method and folds the tensor and scalar attributes no method assigns or
  /// writes in place; the rest stay on the module, one warning each.
  void freezePartially(torch::jit::Module& module, const std::vector<std::string>& preserved, PassContext& context,
                       const std::string& refusal);

  Option<std::vector<std::string>> preservedAttrs{
      this, "preserved-attrs", "Attributes and methods to keep on the module (comma-separated)", {}};
  Option<bool> preserveParameters{this, "preserve-parameters", "Keep parameters as attributes", false};
  Option<bool> freezeInterfaces{this, "freeze-interfaces", "Also freeze submodules behind interfaces", true};
  Option<bool> strict{this, "strict",
                      "Fail, as torch::jit::freeze_module does, on modules it cannot freeze whole (interfaces that "
                      "are reassigned, containers indexed at run time) instead of freezing what it can",
                      false};
  Statistic foldedAttributes{this, "folded-attributes", "Attribute reads and method calls folded into the graph"};
  Statistic keptAttributes{this, "kept-attributes",
                           "Attributes left on the module where freeze_module refused it (strict=false)"};
};

} // namespace tsopt
