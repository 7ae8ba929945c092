#include "passes/core/pass_manager.h"

#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/verifier.h"

#include <torch/csrc/jit/serialization/import.h>

#include <algorithm>
#include <iomanip>
#include <ostream>
#include <sstream>

namespace tsopt {
namespace {

template <typename Bytes> double mebibytes(Bytes bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

bool selected(const std::set<std::string>& names, const std::string& name) {
  return names.count(name) != 0 || names.count("all") != 0;
}

std::shared_ptr<torch::jit::Graph> methodGraph(torch::jit::Module& module, const std::string& methodName) {
  auto method = module.find_method(methodName);
  if (!method) {
    throw Error(ErrorKind::Input,
                "module has no method '" + methodName + "' (methods: " + methodNames(module) + ")");
  }
  return method->graph();
}

} // namespace

std::string methodNames(const torch::jit::Module& module) {
  std::string names;
  for (const torch::jit::Method& method : module.get_methods()) {
    names += (names.empty() ? "" : ", ") + method.name();
  }
  return names.empty() ? "none" : names;
}

IRUnit IRUnit::fromModule(torch::jit::Module module, const std::string& methodName) {
  IRUnit unit;
  unit.graph = methodGraph(module, methodName);
  unit.module = std::move(module);
  unit.methodName = methodName;
  return unit;
}

IRUnit IRUnit::fromGraph(std::shared_ptr<torch::jit::Graph> graph) {
  IRUnit unit;
  unit.graph = std::move(graph);
  return unit;
}

PassManager::PassManager(Instrumentation instrumentation, std::ostream& log)
    : instrumentation_(std::move(instrumentation)), log_(log) {}

void PassManager::addPass(std::unique_ptr<Pass> pass) {
  passes_.push_back(std::move(pass));
  elapsed_.emplace_back(0);
  residentGrowth_.push_back(0);
  peakAfter_.push_back(0);
  budgets_.emplace_back();
}

void PassManager::setRewriteLimit(size_t index, std::optional<size_t> limit) { budgets_.at(index).limit = limit; }

void PassManager::addPasses(std::vector<std::unique_ptr<Pass>> passes) {
  for (auto& pass : passes) {
    addPass(std::move(pass));
  }
}

void PassManager::dump(const char* when, const Pass& pass, const IRUnit& unit, bool changed) const {
  log_ << "# *** IR Dump " << when << " " << pass.name();
  if (std::string(when) == "After") {
    log_ << (changed ? " (changed)" : " (unchanged)");
  }
  log_ << " ***\n" << unit.graph->toString(false) << std::flush;
}

bool PassManager::run(IRUnit& unit, size_t passCount) {
  bool changed = false;
  failedPass_.reset();
  for (size_t index = 0; index < passes_.size() && index < passCount; ++index) {
    Pass& pass = *passes_[index];
    if (selected(instrumentation_.printBefore, pass.name())) {
      dump("Before", pass, unit, false);
    }
    std::string irBefore = instrumentation_.verifyEach ? unit.graph->toString(false) : "";
    const bool trackMemory = instrumentation_.trackMemory && instrumentation_.timePasses;
    const ProcessMemory memoryBefore = trackMemory ? processMemory() : ProcessMemory{};
    if (trackMemory && !beforeFirstPass_ && memoryBefore.resident) {
      beforeFirstPass_ = memoryBefore;
    }
    auto start = std::chrono::steady_clock::now();
    failedPass_ = index;
    bool passChanged = runOne(index, unit);
    elapsed_[index] += std::chrono::steady_clock::now() - start;
    if (trackMemory) {
      const ProcessMemory memoryAfter = processMemory();
      residentGrowth_[index] += static_cast<double>(memoryAfter.resident.value_or(0)) -
                                static_cast<double>(memoryBefore.resident.value_or(0));
      peakAfter_[index] = std::max(peakAfter_[index], memoryAfter.peak.value_or(0));
    }
    changed |= passChanged;

    if (selected(instrumentation_.printAfter, pass.name()) ||
        (instrumentation_.printAfterChange && passChanged)) {
      dump("After", pass, unit, passChanged);
    }
    if (instrumentation_.verifyEach) {
      verify(pass, unit, irBefore);
    }
    failedPass_.reset();
  }
  return changed;
}

void PassManager::verify(const Pass& pass, const IRUnit& unit, const std::string& irBefore) const {
  std::string problem;
  if (auto issue = verifyGraph(unit.graph)) {
    problem = issue->message;
  } else if (unit.module) {
    // The optimized module must still run in stock LibTorch: save and reload it.
    try {
      std::stringstream archive;
      unit.module->save(archive);
      torch::jit::load(archive);
    } catch (const std::exception& error) {
      problem = "the module no longer saves and loads: " + firstLine(error.what());
    }
  }
  if (!problem.empty()) {
    log_ << "# *** IR Dump Before " << pass.name() << " (failed verification) ***\n" << irBefore;
    throw Error(ErrorKind::PassFailure, "verifier failed after pass '" + pass.name() + "': " + problem);
  }
}

bool PassManager::runOne(size_t index, IRUnit& unit) {
  Pass& pass = *passes_[index];
  RewriteBudget& budget = budgets_[index];
  budget.used = 0;
  budget.lastAllowed.clear();
  std::ostream* debugStream = selected(instrumentation_.debugOnly, pass.name()) ? &log_ : nullptr;
  PassContext context(pass.name(), unit.methodName, unit.module.has_value(), debugStream, &budget,
                      instrumentation_.remarks);
  try {
    if (pass.kind() == PassKind::Module) {
      if (!unit.module) {
        throw Error(ErrorKind::Usage, "pass '" + pass.name() +
                                          "' needs a module (a .pt input); the input is a bare graph");
      }
      bool passChanged = static_cast<ModulePass&>(pass).runOnModule(*unit.module, context);
      unit.graph = methodGraph(*unit.module, unit.methodName);
      return passChanged;
    }
    std::shared_ptr<torch::jit::Graph> graph = unit.graph;
    bool passChanged = static_cast<GraphPass&>(pass).runOnGraph(graph, context);
    if (graph != unit.graph) {
      if (unit.module) {
        replaceGraphContents(*unit.graph, *graph);
      } else {
        unit.graph = graph;
      }
    }
    return passChanged;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& error) {
    throw Error(ErrorKind::PassFailure, "pass '" + pass.name() + "' failed: " + firstLine(error.what()));
  }
}

void PassManager::printTimingReport(std::ostream& out) const {
  double total = 0;
  for (const auto& time : elapsed_) {
    total += time.count();
  }
  const std::string rule(72, '=');
  out << rule << "\n"
      << "                      ... Pass execution timing report ...\n"
      << rule << "\n"
      << "  Total Execution Time: " << std::fixed << std::setprecision(4) << total << " seconds\n";
  // The memory columns: the pass's change of the resident memory, and the
  // process's peak after it (a pass that raised the peak shows it first).
  const bool memory = beforeFirstPass_.has_value();
  auto memoryColumns = [&](double growth, size_t peak) {
    if (memory) {
      out << "  " << std::showpos << std::setw(9) << std::setprecision(1) << mebibytes(growth) << std::noshowpos
          << " MiB  " << std::setw(7) << mebibytes(peak) << " MiB";
    }
  };
  if (memory) {
    out << "  Resident memory before the first pass: " << std::setprecision(1)
        << mebibytes(beforeFirstPass_->resident.value_or(0)) << " MiB (peak "
        << mebibytes(beforeFirstPass_->peak.value_or(0)) << " MiB)\n";
  }
  out << "\n   ---Wall Time---" << (memory ? "  ---Resident---  ----Peak----" : "") << "  --- Name ---\n";
  double totalGrowth = 0;
  size_t maxPeak = 0;
  for (size_t index = 0; index < passes_.size(); ++index) {
    double seconds = elapsed_[index].count();
    double percent = total > 0 ? 100.0 * seconds / total : 0.0;
    out << "   " << std::setw(7) << std::setprecision(4) << seconds << " (" << std::setw(5)
        << std::setprecision(1) << percent << "%)";
    memoryColumns(residentGrowth_[index], peakAfter_[index]);
    out << "  " << passes_[index]->name() << "\n";
    totalGrowth += residentGrowth_[index];
    maxPeak = std::max(maxPeak, peakAfter_[index]);
  }
  out << "   " << std::setw(7) << std::setprecision(4) << total << " (100.0%)";
  memoryColumns(totalGrowth, maxPeak);
  out << "  Total\n";
  if (memory) {
    out << "  Peak resident memory of the process so far: " << std::setprecision(1)
        << mebibytes(processMemory().peak.value_or(0)) << " MiB\n";
  }
  out.unsetf(std::ios::floatfield);
}

void PassManager::printStatistics(std::ostream& out) const {
  const std::string rule(72, '=');
  out << rule << "\n"
      << "                          ... Statistics Collected ...\n"
      << rule << "\n";
  for (const auto& pass : passes_) {
    for (const Statistic* statistic : pass->statistics()) {
      if (statistic->value() == 0) {
        continue;
      }
      out << std::setw(8) << statistic->value() << " " << pass->name() << " - " << statistic->description()
          << "\n";
    }
  }
}

} // namespace tsopt
