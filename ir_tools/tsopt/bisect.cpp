#include "ir_tools/tsopt/bisect.h"

#include <sstream>

namespace tsopt {
namespace {

struct PrefixRun {
  std::optional<std::string> failure;
  RewriteBudget budget;  ///< Of the prefix's last pass.
};

PrefixRun runPrefix(const ParsedPipeline& pipeline, size_t length, std::optional<size_t> rewriteLimit,
                    const std::function<IRUnit()>& freshUnit,
                    const std::function<std::optional<std::string>(IRUnit&)>& failureOf) {
  std::ostringstream quiet;
  PassManager manager(Instrumentation{}, quiet);
  manager.addPasses(pipeline.instantiate());
  manager.setRewriteLimit(length - 1, rewriteLimit);
  IRUnit unit = freshUnit();
  PrefixRun result;
  try {
    manager.run(unit, length);
    result.failure = failureOf(unit);
  } catch (const std::exception& error) {
    result.failure = error.what();
  }
  result.budget = manager.rewriteBudget(length - 1);
  return result;
}

} // namespace

IRUnit unitBeforePass(const ParsedPipeline& pipeline, size_t index, const std::function<IRUnit()>& freshUnit) {
  std::ostringstream quiet;
  PassManager manager(Instrumentation{}, quiet);
  manager.addPasses(pipeline.instantiate());
  IRUnit unit = freshUnit();
  manager.run(unit, index);
  return unit;
}

BisectResult bisectPipeline(const ParsedPipeline& pipeline, const std::function<IRUnit()>& freshUnit,
                            const std::function<std::optional<std::string>(IRUnit&)>& failureOf) {
  BisectResult result;
  for (size_t length = 1; length <= pipeline.size(); ++length) {
    PrefixRun run = runPrefix(pipeline, length, std::nullopt, freshUnit, failureOf);
    ++result.runs;
    if (!run.failure) {
      continue;
    }
    size_t index = length - 1;
    result.badPass = index;
    result.failure = *run.failure;
    result.badPassText = pipeline.passText(index);
    // Rewrite 0 (none) is good, since the shorter prefix was; `used` is bad.
    size_t good = 0;
    size_t bad = run.budget.used;
    std::string badDescription = run.budget.lastAllowed;
    if (bad == 0) {
      return result;
    }
    while (bad - good > 1) {
      size_t middle = good + (bad - good) / 2;
      PrefixRun probe = runPrefix(pipeline, length, middle, freshUnit, failureOf);
      ++result.runs;
      if (probe.failure) {
        bad = middle;
        badDescription = probe.budget.lastAllowed;
      } else {
        good = middle;
      }
    }
    result.badRewrite = bad;
    result.badRewriteDescription = badDescription;
    return result;
  }
  return result;
}

} // namespace tsopt
