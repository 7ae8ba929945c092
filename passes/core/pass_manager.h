//===- pass_manager.h - Runs a pipeline with instrumentation --------------===//
///
/// Runs passes in order over an IRUnit and provides the instruments compiler
/// engineers expect from LLVM's opt: IR printing before/after passes, a verifier
/// after every pass, a timing table and per-pass statistics.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/pass.h"
#include "passes/core/process_memory.h"

#include <torch/csrc/jit/api/module.h>

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tsopt {

/// The names of a module's methods, comma-separated ("none" for none), for
/// the error that a method is missing: a scripted nn.LSTM has overloads
/// `forward__0` and `forward__1` and no `forward`.
std::string methodNames(const torch::jit::Module& module);

/// What a pipeline runs on: a module's method, or a bare graph parsed from text.
struct IRUnit {
  std::optional<torch::jit::Module> module;
  std::string methodName = "forward";
  std::shared_ptr<torch::jit::Graph> graph;

  /// A module input: `graph` is the method's own graph, rewritten in place.
  static IRUnit fromModule(torch::jit::Module module, const std::string& methodName);
  static IRUnit fromGraph(std::shared_ptr<torch::jit::Graph> graph);
};

struct Instrumentation {
  std::set<std::string> printBefore;  ///< Pass names (or "all").
  std::set<std::string> printAfter;   ///< Pass names (or "all").
  bool printAfterChange = false;      ///< Print after a pass only when it changed the IR.
  bool verifyEach = false;
  bool timePasses = false;
  /// With timePasses: each pass's change of the process's resident memory and
  /// the process's peak after it (LLVM's -track-memory).
  bool trackMemory = false;
  std::set<std::string> debugOnly;    ///< Passes whose debug stream is on (or "all").
  RemarkHandler remarks;              ///< Receives every pass's remarks; unset: none are made.
};

class PassManager {
public:
  /// Dumps, timing and debug output go to `log` (stderr in the driver).
  PassManager(Instrumentation instrumentation, std::ostream& log);

  void addPass(std::unique_ptr<Pass> pass);
  void addPasses(std::vector<std::unique_ptr<Pass>> passes);
  const std::vector<std::unique_ptr<Pass>>& passes() const { return passes_; }

  /// Runs the first `passCount` passes (all by default) on `unit`. Throws
  /// tsopt::Error: PassFailure when a pass throws or (with verifyEach) leaves an
  /// invalid graph or a module that no longer saves and loads, Usage when a
  /// module pass meets a unit without a module. Returns whether anything changed.
  bool run(IRUnit& unit, size_t passCount = SIZE_MAX);

  /// Index of the pass that made the last run() throw, if one did.
  std::optional<size_t> failedPass() const { return failedPass_; }

  /// Lets pass `index` make at most `limit` rewrites (see PassContext::shouldRewrite).
  void setRewriteLimit(size_t index, std::optional<size_t> limit);
  /// Rewrites pass `index` asked for in the last run, and the last one allowed.
  const RewriteBudget& rewriteBudget(size_t index) const { return budgets_[index]; }

  /// LLVM-style table of the wall time spent in each pass over all runs; with
  /// trackMemory, the memory columns and the process's peak so far.
  void printTimingReport(std::ostream& out) const;
  /// Every non-zero statistic, grouped by pass.
  void printStatistics(std::ostream& out) const;

private:
  bool runOne(size_t index, IRUnit& unit);
  void verify(const Pass& pass, const IRUnit& unit, const std::string& irBefore) const;
  void dump(const char* when, const Pass& pass, const IRUnit& unit, bool changed) const;

  Instrumentation instrumentation_;
  std::ostream& log_;
  std::vector<std::unique_ptr<Pass>> passes_;
  std::vector<std::chrono::duration<double>> elapsed_;
  /// trackMemory: each pass's resident growth (summed over runs) and the
  /// process's peak after it (the largest seen), in bytes; and before the
  /// first pass ran (loading the input is in that peak).
  std::vector<double> residentGrowth_;
  std::vector<size_t> peakAfter_;
  std::optional<ProcessMemory> beforeFirstPass_;
  std::vector<RewriteBudget> budgets_;
  std::optional<size_t> failedPass_;
};

} // namespace tsopt
