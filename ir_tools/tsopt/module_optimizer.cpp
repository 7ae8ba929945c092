#include "ir_tools/tsopt/module_optimizer.h"

#include "ir_tools/tsopt/driver_options.h"
#include "passes/builtin/levels.h"

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

namespace {

/// How many of the unit's method's last arguments have default values (none
/// for IR text, which has no schema).
size_t defaultedArguments(const IRUnit& unit) {
  if (!unit.module) {
    return 0;
  }
  auto method = unit.module->find_method(unit.methodName);
  if (!method) {
    return 0;
  }
  const std::vector<c10::Argument>& arguments = method->function().getSchema().arguments();
  size_t defaulted = 0;
  while (defaulted < arguments.size() && arguments[arguments.size() - 1 - defaulted].default_value()) {
    ++defaulted;
  }
  return defaulted;
}

} // namespace

std::vector<InputSpec> specializeUnitInputs(IRUnit& unit, const ExampleInputs& example) {
  return specializeInputs(*unit.graph, example.arguments, example.source, defaultedArguments(unit));
}

void optimizeMethod(const CheckContext& context, PassManager& manager, IRUnit& unit, const UnitFactory& freshUnit,
                    const std::optional<ExampleInputs>& example) {
  std::vector<InputSpec> specs;
  if (example) {
    specs = specializeUnitInputs(unit, *example);
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
