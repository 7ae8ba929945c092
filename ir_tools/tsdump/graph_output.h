//===- graph_output.h - tsdump --graph: one graph, printed or drawn -------===//
#pragma once

#include "ir_tools/tsdump/dump_options.h"
#include "ir_tools/tsdump/selected_graph.h"

#include <string>

namespace tsopt {

/// The graph as IR text (with source locations when asked), a Graphviz
/// digraph, or JSON: its inputs, outputs and nodes, nested blocks included,
/// and its IR text.
std::string graphOutput(const SelectedGraph& selected, const DumpOptions& options);

} // namespace tsopt
