//===- my_opt.cpp - A tsopt driver with this project's passes built in ----===//
///
/// How a project embeds the tsopt driver: link tsopt::irtools, register its passes
/// statically, register tsopt's built-in ones (as mlir-opt calls
/// registerAllPasses()), and hand argv to tsoptMain, which owns all command-line
/// handling. `my-opt` takes every tsopt option and knows fold-double-negation
/// without a plugin.
///
//===----------------------------------------------------------------------===//
#include "fold_double_negation.h"

#include <tsopt/ir_tools/tsopt/driver.h>
#include <tsopt/passes/builtin/builtin_passes.h>
#include <tsopt/passes/core/registry.h>

using example::FoldDoubleNegationPass;

TSOPT_REGISTER_PASS(FoldDoubleNegationPass, FoldDoubleNegationPass::kName, FoldDoubleNegationPass::kSummary);

int main(int argc, char** argv) {
  tsopt::registerBuiltinPasses();
  return tsopt::tsoptMain(argc, argv);
}
