#include "ir_tools/tsdump/dump_options.h"

#include "ir_tools/common/command_line.h"
#include "passes/core/error.h"

namespace tsopt {
namespace {

void setMode(DumpOptions& options, DumpMode mode, const std::string& flag) {
  if (!options.modeFlag.empty() && options.mode != mode) {
    throw Error(ErrorKind::Usage, options.modeFlag + " and " + flag + " cannot be combined");
  }
  options.mode = mode;
  options.modeFlag = flag;
}

void setMethod(DumpOptions& options, const std::string& method) {
  if (options.method && *options.method != method) {
    throw Error(ErrorKind::Usage, "two methods given: '" + *options.method + "' and '" + method + "'");
  }
  options.method = method;
}

void setInlined(DumpOptions& options, bool inlined) {
  if (options.inlined && *options.inlined != inlined) {
    throw Error(ErrorKind::Usage, "--inlined and --no-inline cannot be combined");
  }
  options.inlined = inlined;
}

DumpFormat parseFormat(const std::string& text) {
  if (text == "text") {
    return DumpFormat::Text;
  }
  if (text == "dot") {
    return DumpFormat::Dot;
  }
  if (text == "json") {
    return DumpFormat::Json;
  }
  throw Error(ErrorKind::Usage, "unknown format '" + text + "' for --format (use text, dot or json)");
}

/// The flags, writing into `o`, in the order --help lists them.
FlagTable flags(DumpOptions& o) {
  using Value = std::optional<std::string>;
  auto choose = [&o](DumpMode mode, const std::string& flag) {
    return [&o, mode, flag](const Value&) { setMode(o, mode, flag); };
  };
  return {
      {"MODES",
       {
           {"--graph", FlagValue::Optional,
            [&o](const Value& v) {
              setMode(o, DumpMode::Graph, "--graph");
              if (v) {
                setMethod(o, *v);
              }
            },
            "--graph[=METHOD]", "Print the graph of METHOD (default: forward)"},
           {"--op-stats", FlagValue::None, choose(DumpMode::OpStats, "--op-stats"), "",
            "Count the nodes of each kind, nested blocks included\n"
            "(archives: in the inlined graph, so submodules count)"},
           {"--diff", FlagValue::None, choose(DumpMode::Diff, "--diff"), "--diff A B",
            "Op counts that differ, then a unified diff of the\n"
            "canonicalized IR (archives: inlined graphs)"},
       }},
      {"GRAPH OPTIONS",
       {
           {"--method", FlagValue::Required, [&o](const Value& v) { setMethod(o, *v); }, "--method=NAME",
            "Method of an archive to look at (default: forward)"},
           {"--inlined", FlagValue::None, [&o](const Value&) { setInlined(o, true); }, "",
            "Inline calls (on a copy) before printing"},
           {"--no-inline", FlagValue::None, [&o](const Value&) { setInlined(o, false); }, "",
            "Do not inline, even for --op-stats and --diff"},
           {"--source-locations", FlagValue::None, [&o](const Value&) { o.sourceLocations = true; }, "",
            "Print the source location of each node"},
       },
       "Any of these, or --format=dot, on an archive without a mode implies --graph."},
      {"OUTPUT",
       {
           {"--format", FlagValue::Required, [&o](const Value& v) { o.format = parseFormat(*v); },
            "--format=text|dot|json",
            "Text (default); Graphviz (graphs only, render with\n"
            "'dot -Tsvg'); JSON of the summary, graph, op\n"
            "histogram or diff, for scripts"},
           {"-o", FlagValue::Required, [&o](const Value& v) { o.output = *v; }, "-o FILE",
            "Write to FILE (written whole or not at all)\n"
            "instead of stdout"},
       }},
      // Not listed: the usage line and --help are the help.
      {"",
       {
           {"--help", FlagValue::None, [&o](const Value&) { o.help = true; }},
           {"--version", FlagValue::None, [&o](const Value&) { o.version = true; }},
       }},
  };
}

/// Cross-flag checks, once every flag is read.
void checkCombinations(DumpOptions& options) {
  if (options.help || options.version) {
    return;
  }
  // Flags that shape a graph ask for one: `tsdump m.pt --inlined` prints the inlined graph.
  bool shapesGraph = options.method || options.inlined || options.sourceLocations ||
                     options.format == DumpFormat::Dot;
  if (options.mode == DumpMode::Summary && shapesGraph) {
    options.mode = DumpMode::Graph;
  }
  bool countsOps = options.mode == DumpMode::OpStats || options.mode == DumpMode::Diff;
  if (countsOps && options.format == DumpFormat::Dot) {
    throw Error(ErrorKind::Usage, "--format=dot draws a graph; it does not apply to " + options.modeFlag);
  }
  if (countsOps && options.sourceLocations) {
    throw Error(ErrorKind::Usage, "--source-locations applies to printed graphs, not to " + options.modeFlag);
  }
  if (options.mode == DumpMode::Diff) {
    if (options.inputs.size() != 2) {
      throw Error(ErrorKind::Usage, "--diff needs two inputs, A and B (got " + std::to_string(options.inputs.size()) +
                                        ")");
    }
    return;
  }
  if (options.inputs.empty()) {
    throw Error(ErrorKind::Usage, "no input file (use '-' for stdin; see --help)");
  }
  if (options.inputs.size() > 1) {
    throw Error(ErrorKind::Usage, "more than one input file: '" + options.inputs[0] + "' and '" + options.inputs[1] +
                                      "' (use --diff to compare two)");
  }
}

} // namespace

DumpOptions parseDumpOptions(const std::vector<std::string>& args) {
  DumpOptions options;
  parseFlags(args, flags(options), [&](const std::string& arg) { options.inputs.push_back(arg); });
  checkCombinations(options);
  return options;
}

std::string tsdumpUsage() {
  DumpOptions unused;
  return "OVERVIEW: tsdump - look inside TorchScript archives and IR\n"
         "\n"
         "USAGE: tsdump INPUT [options]\n"
         "       tsdump --diff A B [options]\n"
         "  INPUT is a TorchScript archive (.pt from torch.jit.save) or IR text;\n"
         "  '-' reads stdin. Without a mode, an archive gets a summary (modules and\n"
         "  their methods, parameters, buffers, attributes) and IR text is printed.\n"
         "\n" +
         flagHelp(flags(unused)) +
         "EXIT CODES:\n"
         "  0 success (--diff: the inputs are the same), 1 --diff: the inputs differ,\n"
         "  2 bad command line, 3 bad input (or an internal error), 4 output could not\n"
         "  be written\n";
}

} // namespace tsopt
