#include "ir_tools/tsopt/parsed_pipeline.h"

#include "passes/core/calibrating_pass.h"
#include "passes/core/error.h"
#include "passes/core/pipeline.h"

namespace tsopt {

ParsedPipeline ParsedPipeline::parse(const std::string& text, const PassRegistry& registry,
                                     const std::string& origin, bool hasModule) {
  if (text.empty()) {
    return ParsedPipeline(registry, {});
  }
  return ParsedPipeline(registry, buildPipeline(text, registry, origin, hasModule));
}

bool ParsedPipeline::setDefaultCalibrationData(const std::string& path) {
  bool used = false;
  for (const std::unique_ptr<Pass>& pass : passes_) {
    if (auto* calibrating = dynamic_cast<CalibratingPass*>(pass.get())) {
      calibrating->setDefaultCalibrationData(path);
      used = true;
    }
  }
  return used;
}

std::string ParsedPipeline::text() const { return printPipeline(passes_); }

std::string ParsedPipeline::passText(size_t index) const {
  std::vector<std::unique_ptr<Pass>> single;
  single.push_back(instantiate(*passes_.at(index)));
  return printPipeline(single);
}

std::vector<std::unique_ptr<Pass>> ParsedPipeline::instantiate() const {
  std::vector<std::unique_ptr<Pass>> passes;
  for (const std::unique_ptr<Pass>& parsed : passes_) {
    passes.push_back(instantiate(*parsed));
  }
  return passes;
}

// Option values round-trip through their text, as printPipeline promises.
std::unique_ptr<Pass> ParsedPipeline::instantiate(const Pass& parsed) const {
  std::unique_ptr<Pass> pass = registry_->create(parsed.name());
  for (const OptionBase* option : parsed.options()) {
    std::string problem;
    if (!pass->findOption(option->name())->parse(option->valueText(), problem)) {
      throw Error(ErrorKind::PassFailure, "cannot copy option '" + option->name() + "' of pass '" + parsed.name() +
                                              "': " + problem);
    }
  }
  return pass;
}

} // namespace tsopt
