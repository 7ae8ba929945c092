//===- diff.h - tsdump --diff: how two graphs differ ----------------------===//
#pragma once

#include "ir_tools/tsdump/dump_options.h"
#include "ir_tools/tsdump/selected_graph.h"

#include <string>

namespace tsopt {

/// What --diff prints, and whether the inputs differ (tsdump then exits 1, as
/// diff(1) does).
struct DiffOutput {
  std::string text;
  bool inputsDiffer = false;
};

/// The node kinds whose counts differ (largest change first), then the unified
/// diff of the canonicalized IR (see canonicalIRDiff); as text or JSON.
DiffOutput diffOutput(const SelectedGraph& a, const SelectedGraph& b, const DumpOptions& options);

} // namespace tsopt
