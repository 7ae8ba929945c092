//===- value_replacement.h - Replacing a rewritten value -------------------===//
///
/// The last step every hand-written rewrite shares: the new value takes the
/// old one's uses and its name, and the nodes it replaces go.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <vector>

namespace tsopt {

/// Points every use of `replaced` at `replacement`, destroys `dead` in order
/// (null entries skipped; each must have no uses left when its turn comes, so
/// users come before what they use), then gives `replacement` the name
/// `replaced` had: printed IR keeps the value names the input had.
void replaceAndDestroy(torch::jit::Value* replaced, torch::jit::Value* replacement,
                       const std::vector<torch::jit::Node*>& dead);

} // namespace tsopt
