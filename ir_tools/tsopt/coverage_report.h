//===- coverage_report.h - What ended in tsopt kernels, and why not --------===//
///
/// `tsopt MODEL -O2 --report=coverage` answers what a user asks before
/// trusting a speed-up: per op kind of the original graph, how many nodes
/// ended in tsopt kernels, how many a pass folded or removed, and how many
/// still run on ATen, with the most common reasons the passes gave for keeping
/// them (their missed remarks); per tsopt kernel, what it absorbed (the
/// "absorbed" argument of the fusions' passed remarks); and, when the model
/// ran on example inputs, the share of its conv, linear and matmul FLOPs that
/// left ATen.
///
/// Counts are by op kind, not by node identity: "in tsopt kernels" is the
/// number of nodes the fusions report absorbing, at most the nodes of that kind
/// that are gone; the rest of those gone were folded or removed. A node that a
/// canonicalization gave another kind (passed remark "... -> aten::conv2d")
/// counts as absorbed when a fusion absorbed one of that kind. Kinds the
/// optimized graph has and the original had none of are listed apart, as
/// made. prim:: nodes (constants, lists, attribute reads) are not ops.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/remarks.h"

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tsopt {

/// Nodes per op kind, nested blocks included; prim:: nodes are left out.
using OpCounts = std::map<std::string, size_t>;
OpCounts countOps(const torch::jit::Graph& graph);

struct OpCoverage {
  std::string kind;
  size_t original = 0;   ///< Nodes of the kind before the pipeline.
  size_t inKernels = 0;  ///< Absorbed by tsopt kernels.
  size_t folded = 0;     ///< Gone otherwise: folded into a neighbour, removed, merged.
  size_t onAten = 0;     ///< Still in the optimized graph.
  /// The missed remarks' reasons about nodes of the kind, most common first.
  std::vector<std::pair<std::string, size_t>> reasons;
};

struct KernelCoverage {
  std::string kind;  ///< e.g. "tsopt::conv2d_act".
  size_t nodes = 0;  ///< In the optimized graph.
  /// Op kinds its fusions absorbed, with counts.
  std::map<std::string, size_t> absorbed;
};

/// FLOPs of conv, linear and matmul nodes (2 per multiply-add), measured by
/// running the graph on the example inputs.
struct FlopCount {
  double original = 0;  ///< In the original graph.
  double onAten = 0;    ///< In the ATen ops left in the optimized graph.
};

struct CoverageReport {
  std::vector<OpCoverage> ops;          ///< By kind.
  std::vector<KernelCoverage> kernels;  ///< By kind.
  /// ATen ops the optimized graph has and the original had none of (input
  /// guards of --example-inputs, layout conversions), with their counts.
  std::vector<std::pair<std::string, size_t>> made;
  std::optional<FlopCount> flops;
};

/// The report of one or more graphs: their op counts before and after the
/// pipeline (summed over graphs) and the remarks of the run.
CoverageReport coverageReport(const OpCounts& before, const OpCounts& after, const std::vector<Remark>& remarks);

/// The conv, linear and matmul FLOPs of `graph`, an inlined graph of a method
/// of `module`, run on `arguments` (the method's inputs without self). Nodes
/// in blocks count each time they run: an If's taken branch, every iteration
/// of a Loop. Throws tsopt::Error (Input) when the graph fails to run.
double measureFlops(torch::jit::Module& module, const std::shared_ptr<torch::jit::Graph>& graph,
                    const std::vector<c10::IValue>& arguments);

/// How many reasons a row lists.
constexpr size_t kCoverageReasons = 3;

std::string coverageText(const CoverageReport& report);
std::string coverageJson(const CoverageReport& report);

} // namespace tsopt
