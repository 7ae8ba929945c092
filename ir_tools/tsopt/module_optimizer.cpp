#include "ir_tools/tsopt/module_optimizer.h"

#include "ir_tools/tsopt/driver_options.h"
#include "passes/builtin/levels.h"
#include "passes/core/input_specialization.h"

#include <ostream>

namespace tsopt {

ParsedPipeline parseLevelPipeline(int level, const PassRegistry& registry, bool hasModule) {
  std::string origin = "-O" + std::to_string(level);
  return ParsedPipeline::parse(level == 0 ? "" : levelPipelineName(level), registry, origin, hasModule);
}

ParsedPipeline parsePipelineSpec(const std::string& spec, const PassRegistry& registry, const std::string& origin,
                                 bool hasModule) {
  if (std::optional<int> level = parseOptimizationLevel(spec)) {
    return parseLevelPipeline(*level, registry, hasModule);
  }
  return ParsedPipeline::parse(spec, registry, origin, hasModule);
}

void optimizeMethod(const CheckContext& context, PassManager& manager, IRUnit& unit, const UnitFactory& freshUnit,
                    const std::optional<ExampleInputs>& example) {
  std::vector<InputSpec> specs;
  if (example) {
    specs = specializeInputs(*unit.graph, example->arguments, example->source);
  }
  runPipeline(context, manager, unit, freshUnit);
  if (specs.empty()) {
    return;
  }
  insertInputGuards(*unit.graph, specs);
  context.err << "tsopt: note: " << unit.methodName << " is specialized by " << example->option
              << ": it accepts only";
  for (size_t index = 0; index < specs.size(); ++index) {
    context.err << (index == 0 ? " " : "; ") << specs[index].name << " as " << specs[index].describe();
  }
  context.err << ", and raises an error for anything else\n";
}

} // namespace tsopt
