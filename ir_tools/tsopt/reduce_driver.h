//===- reduce_driver.h - tsopt-reduce: shrink IR that fails a test --------===//
///
/// The tool around the reducer (reducer.h): reads IR text or an archive
/// (frozen first, see graphOfFrozenModule), decides what makes a candidate
/// interesting, reduces, and writes the smallest interesting graph (as an
/// archive for an archive).
/// The tests it offers:
///   - `--passes=P` (with `--failure=crash|verifier|any`, `--match=TEXT`):
///     the pipeline fails on the candidate the way it failed on the input: the
///     same pass, the same kind of failure (the pass throws, or the verifier
///     rejects what it left), and the message contains TEXT when given;
///   - `--passes=P --failure=mismatch`: the candidate and the pipeline's result
///     compute different outputs (or only the result throws) on inputs made
///     from the candidate's input types, compared as --check-equivalence does;
///   - `--test=CMD`: `CMD FILE` exits 0, FILE holding the candidate (as
///     llvm-reduce's --test).
/// A separate executable rather than a `tsopt --reduce` mode: its flags
/// (--test, --failure, --match) mean nothing to the optimizer, and it runs the
/// pipeline hundreds of times, which tsopt's instrumentation flags would
/// only slow down.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "ir_tools/tsopt/parsed_pipeline.h"
#include "ir_tools/tsopt/reducer.h"

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace tsopt {

enum class FailureKind {
  Crash,     ///< A pass threw.
  Verifier,  ///< A pass left a graph the verifier rejects.
};

/// How a pipeline failed on a graph: the pass (its index) and the message.
struct PipelineFailure {
  FailureKind kind = FailureKind::Crash;
  size_t passIndex = 0;
  std::string message;
};

/// Runs a fresh instance of `pipeline` on a copy of `graph`, verifying after
/// every pass. Nothing when it succeeds. Rethrows usage errors (a module pass
/// on a bare graph).
std::optional<PipelineFailure> pipelineFailure(const ParsedPipeline& pipeline,
                                               const std::shared_ptr<torch::jit::Graph>& graph);

/// Interesting: the pipeline fails in the same pass with the same kind as
/// `original`, and the message contains `match` when it is not empty.
InterestingnessTest sameFailureTest(const ParsedPipeline& pipeline, const PipelineFailure& original,
                                    const std::string& match);

/// The inputs --failure=mismatch runs a graph on: random tensors of its
/// inputs' complete types, the same for the same graph (seed 0).
std::vector<c10::IValue> synthesizedInputs(const torch::jit::Graph& graph);

/// Interesting: the pipeline's result computes other outputs than the
/// candidate (see the file comment); why, in `why`, when given.
bool pipelineMismatches(const ParsedPipeline& pipeline, const std::shared_ptr<torch::jit::Graph>& graph,
                        std::string* why = nullptr);

/// Interesting: `command FILE` exits 0, FILE a candidate written in
/// `directory`: as IR text, or as an archive (archiveOfGraph) when `asArchive`.
InterestingnessTest commandTest(const std::string& command, const std::string& directory, bool asArchive = false);

/// Archives: tsopt-reduce reduces a module's forward after freezing it, as a
/// graph without `self` whose parameters are constants, and writes the result
/// as a module again.
/// `module`'s forward, inlined, without its `self` input, which it must not
/// read (throws tsopt::Error, Input, naming `what`, when it does).
std::shared_ptr<torch::jit::Graph> graphOfFrozenModule(const torch::jit::Module& module, const std::string& what);
/// A module whose forward is `graph` (given `self` as its first input).
torch::jit::Module archiveOfGraph(const std::shared_ptr<torch::jit::Graph>& graph);
/// The candidate saved as an archive and loaded back (its input types kept),
/// or nothing when it does not save or load: ReduceOptions::roundTrip for archives.
std::shared_ptr<torch::jit::Graph> archiveRoundTrip(const std::shared_ptr<torch::jit::Graph>& candidate);

int runTsoptReduce(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// argv-style entry point for main(); uses std::cout and std::cerr.
int tsoptReduceMain(int argc, char** argv);

} // namespace tsopt
