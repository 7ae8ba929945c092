//===- op_stats.h - tsdump --op-stats: how often each node kind occurs ----===//
#pragma once

#include "ir_tools/tsdump/dump_options.h"
#include "ir_tools/tsdump/selected_graph.h"

#include <torch/csrc/jit/ir/ir.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tsopt {

/// Node count per kind ("aten::relu") in `graph`, nested blocks included.
std::map<std::string, size_t> kindCounts(const torch::jit::Graph& graph);

/// kindCounts sorted by count (most frequent first), then by kind.
std::vector<std::pair<std::string, size_t>> opHistogram(const torch::jit::Graph& graph);

/// The histogram as a table headed by the node and kind totals, or as JSON.
std::string opStatsOutput(const SelectedGraph& selected, const DumpOptions& options);

} // namespace tsopt
