//===- fuzz_tsdump.cpp - tsdump's writers on whatever parses --------------===//
///
/// `tsdump --graph` in its three formats (text, DOT, JSON) on every graph of
/// IR text that parses: the writers must take any valid graph, whatever its
/// names, attribute strings and nesting.
///
//===----------------------------------------------------------------------===//
#include "fuzz/fuzz_common.h"

#include "ir_tools/tsdump/graph_output.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tsopt::fuzz::initialize();
  tsopt::fuzz::forEachParsedGraph(tsopt::fuzz::bytesOf(data, size), [](std::shared_ptr<torch::jit::Graph> graph) {
    tsopt::SelectedGraph selected;
    selected.graph = graph;
    selected.path = "fuzz.ir";
    for (tsopt::DumpFormat format : {tsopt::DumpFormat::Text, tsopt::DumpFormat::Dot, tsopt::DumpFormat::Json}) {
      tsopt::DumpOptions options;
      options.format = format;
      tsopt::fuzz::expectOnlyTsoptErrors("tsdump --graph", [&] { tsopt::graphOutput(selected, options); });
    }
  });
  return 0;
}
