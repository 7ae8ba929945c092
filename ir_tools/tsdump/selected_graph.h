//===- selected_graph.h - The graph a tsdump mode looks at ----------------===//
///
/// --graph, --op-stats and --diff each look at one graph per input: an
/// archive's method (forward unless --method names another) or the graph of IR
/// text, copied so that inlining never touches the input.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "ir_tools/common/input_file.h"
#include "ir_tools/tsdump/dump_options.h"
#include "ir_tools/tsdump/json_writer.h"

#include <torch/csrc/jit/ir/ir.h>

#include <memory>
#include <optional>
#include <string>

namespace tsopt {

struct SelectedGraph {
  std::shared_ptr<torch::jit::Graph> graph;
  std::string path;
  std::optional<std::string> method;  ///< Unset for IR text.
  bool inlined = false;

  /// "PATH, method NAME (inlined)", for headings.
  std::string description() const {
    return path + (method ? ", method " + *method : "") + (inlined ? " (inlined)" : "");
  }
};

/// The graph of `input` that `options` select. Archives are inlined when
/// `inlineArchives` (the mode's default) unless --inlined / --no-inline say
/// otherwise; IR text only with --inlined. Throws tsopt::Error: Input for a
/// method the archive lacks, Usage for --method on IR text.
SelectedGraph selectGraph(const LoadedInput& input, const DumpOptions& options, bool inlineArchives);

/// The JSON members naming where a graph comes from: file, method, inlined.
void writeSource(JsonWriter& json, const SelectedGraph& selected);

} // namespace tsopt
