//===- value_replacement.h - Replacing a rewritten value -------------------===//
///
/// The last step every hand-written rewrite shares: the new value takes the
/// old one's uses and its name, and the nodes it replaces go.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/pass.h"

#include <torch/csrc/jit/ir/ir.h>

#include <functional>
#include <string>
#include <vector>

namespace tsopt {

/// Points every use of `replaced` at `replacement`, destroys `dead` in order
/// (null entries skipped; each must have no uses left when its turn comes, so
/// users come before what they use), then gives `replacement` the name
/// `replaced` had: printed IR keeps the value names the input had.
void replaceAndDestroy(torch::jit::Value* replaced, torch::jit::Value* replacement,
                       const std::vector<torch::jit::Node*>& dead);

/// The loop of a pass that opens single calls into the computation they stand
/// for (decompose-*): for each node of `kind`, `whyKept(node)` says why it
/// stays (a missed remark, `kept` counted) or is empty; then, within the
/// rewrite budget ("decompose <node> into <what>"), `expand(node)` inserts the
/// computation before the node and returns its result, which takes the type,
/// uses and name of the node's first output (any other output must be unused),
/// and the node goes (`done` counted). Returns whether anything changed.
bool expandEach(torch::jit::Graph& graph, c10::Symbol kind, PassContext& context, const std::string& what,
                const std::function<std::string(torch::jit::Node*)>& whyKept,
                const std::function<torch::jit::Value*(torch::jit::Node*)>& expand, Statistic& done,
                Statistic& kept);

} // namespace tsopt
