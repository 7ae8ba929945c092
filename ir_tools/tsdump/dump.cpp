#include "ir_tools/tsdump/dump.h"

#include "ir_tools/common/command_line.h"
#include "ir_tools/common/input_file.h"
#include "ir_tools/common/output_file.h"
#include "ir_tools/tsdump/diff.h"
#include "ir_tools/tsdump/dump_options.h"
#include "ir_tools/tsdump/graph_output.h"
#include "ir_tools/tsdump/op_stats.h"
#include "ir_tools/tsdump/selected_graph.h"
#include "ir_tools/tsdump/summary.h"
#include "passes/core/error.h"

#include <iostream>

namespace tsopt {
namespace {

/// Runs `body` on behalf of input `path`: a LibTorch exception becomes an
/// input error that names the file.
template <typename Fn> auto forInput(const std::string& path, Fn&& body) {
  try {
    return body();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& error) {
    throw Error(ErrorKind::Input, path + ": " + firstLine(error.what()));
  }
}

/// What tsdump prints, and whether --diff found the inputs different.
struct Rendered {
  std::string text;
  bool inputsDiffer = false;
};

Rendered render(const DumpOptions& options) {
  if (options.mode == DumpMode::Diff) {
    LoadedInput inputA = loadInput(options.inputs[0], false);
    LoadedInput inputB = loadInput(options.inputs[1], false);
    SelectedGraph a = forInput(inputA.path, [&] { return selectGraph(inputA, options, true); });
    SelectedGraph b = forInput(inputB.path, [&] { return selectGraph(inputB, options, true); });
    DiffOutput diff = diffOutput(a, b, options);
    return Rendered{std::move(diff.text), diff.inputsDiffer};
  }
  LoadedInput input = loadInput(options.inputs[0], false);
  return Rendered{forInput(input.path, [&] {
    switch (options.mode) {
    case DumpMode::Summary:
      if (input.module) {
        return summaryOutput(*input.module, input.path, options.format);
      }
      return graphOutput(selectGraph(input, options, false), options);
    case DumpMode::Graph:
      return graphOutput(selectGraph(input, options, false), options);
    case DumpMode::OpStats:
      return opStatsOutput(selectGraph(input, options, true), options);
    case DumpMode::Diff:
      break;
    }
    return std::string();
  })};
}

int run(const DumpOptions& options, std::ostream& out) {
  if (options.help) {
    out << tsdumpUsage();
    return 0;
  }
  if (options.version) {
    out << versionLine("tsdump");
    return 0;
  }
  // The whole output exists before any of it is written.
  Rendered rendered = render(options);
  writeOutput(options.output, rendered.text, out);
  return rendered.inputsDiffer ? 1 : 0;
}

} // namespace

int runTsdump(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  // Exit code 1 means that --diff's inputs differ, so an internal error counts
  // as an input tsdump could not handle.
  return runReportingErrors("tsdump", err, [&] { return run(parseDumpOptions(args), out); }, ErrorKind::Input);
}

int tsdumpMain(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return runTsdump(args, std::cout, std::cerr);
}

} // namespace tsopt
