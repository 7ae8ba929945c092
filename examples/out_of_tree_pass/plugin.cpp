//===- plugin.cpp - fold-double-negation as a tsopt pass plugin -----------===//
///
/// `tsopt --load-pass-plugin=libtsopt_example_plugin.so` calls the entry point
/// TSOPT_PASS_PLUGIN defines, which hands the registry to registerExamplePasses.
///
//===----------------------------------------------------------------------===//
#include "fold_double_negation.h"

#include <tsopt/passes/core/plugin.h>

namespace {

void registerExamplePasses(tsopt::PassRegistry& registry) {
  using example::FoldDoubleNegationPass;
  registry.registerPass(
      FoldDoubleNegationPass::kName, FoldDoubleNegationPass::kSummary,
      [] { return std::make_unique<FoldDoubleNegationPass>(); }, "libtsopt_example_plugin");
}

} // namespace

TSOPT_PASS_PLUGIN("tsopt-example", "0.1.0", registerExamplePasses)
