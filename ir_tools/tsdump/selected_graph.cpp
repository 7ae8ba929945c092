#include "ir_tools/tsdump/selected_graph.h"

#include "passes/core/error.h"
#include "passes/core/pass_manager.h"

#include <torch/csrc/jit/passes/inliner.h>

namespace tsopt {

SelectedGraph selectGraph(const LoadedInput& input, const DumpOptions& options, bool inlineArchives) {
  SelectedGraph selected;
  selected.path = input.path;
  if (input.module) {
    selected.method = options.method.value_or("forward");
    auto method = input.module->find_method(*selected.method);
    if (!method) {
      throw Error(ErrorKind::Input, input.path + ": module " + input.module->type()->str() + " has no method '" +
                                        *selected.method + "' (methods: " + methodNames(*input.module) + ")");
    }
    selected.graph = method->graph()->copy();
    selected.inlined = options.inlined.value_or(inlineArchives);
  } else {
    if (options.method) {
      throw Error(ErrorKind::Usage, input.path + ": a method (" + *options.method +
                                        ") needs a TorchScript archive; IR text holds one graph");
    }
    selected.graph = input.cases.front().graph->copy();
    selected.inlined = options.inlined.value_or(false);
  }
  if (selected.inlined) {
    torch::jit::Inline(*selected.graph);
  }
  return selected;
}

void writeSource(JsonWriter& json, const SelectedGraph& selected) {
  json.member("file", selected.path);
  json.key("method");
  if (selected.method) {
    json.value(*selected.method);
  } else {
    json.null();
  }
  json.member("inlined", selected.inlined);
}

} // namespace tsopt
