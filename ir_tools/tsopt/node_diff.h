//===- node_diff.h - Where do the numbers start to differ? ----------------===//
///
/// The per-node numeric diff behind `tsopt --check-equivalence --per-node`:
/// match the intermediate values of the original graph that survive in the
/// optimized one, run both on the same inputs, and compare each matched value
/// (cosine and max abs error, quantized values dequantized first).
///
/// Both graphs are inlined copies; the graph being optimized is never touched.
/// Values are recorded by running an instrumented copy of each graph: every
/// matched value is cloned right after the node that makes it (so later
/// in-place ops cannot change it) and the clones become the graph's only
/// output, a tuple. Only tensors of the top-level block are matched; values
/// inside loops and ifs are not.
///
/// Matching (matchValues), in this order:
///   1. by debug name (%x.3): names a script gives its variables, and the
///      name a fusion hands to the fused op's output, which is the value of the
///      last op it absorbed. Without source locations a name matches only the
///      same kind; with them, the same location or a fused op's (fusions copy
///      the first absorbed op's location), so that a renumbered name such as
///      %input.4 never pairs two unrelated values.
///   2. by source location, for values still unmatched: the inlined call stack
///      (module instances and call sites) plus the node's own file:line:col,
///      only when both nodes have the same kind and the location is unique
///      in each graph.
///   3. by position, from the graph outputs and the pairs above up the inputs:
///      inputs of two nodes of one kind correspond; a fused or quantized op's
///      first input is that of the first op it absorbed (found by location, or
///      quantized::conv2d_relu standing for the float conv), its second that
///      of an absorbed residual add. dequantize, quantize_per_tensor and
///      contiguous are seen through. This is how PyTorch's quantized ops,
///      which keep neither names nor locations, are found.
/// A match whose two values differ in shape or dtype at run time is dropped.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "ir_tools/tsopt/equivalence.h"
#include "passes/core/input_sets.h"

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tsopt {

enum class MatchedBy { Name, Location, Position };

/// One value of the original graph and its counterpart in the optimized graph.
struct ValueMatch {
  torch::jit::Value* original = nullptr;
  torch::jit::Value* optimized = nullptr;
  MatchedBy by = MatchedBy::Name;
};

/// The module path and source location of a node, e.g.
/// "block.conv1@net.py:31:0/conv.py:459:0"; empty when the node has no source.
std::string sourceLocationKey(const torch::jit::Node* node);

/// Matches the top-level tensor values of two graphs (see the file comment),
/// in the original graph's topological order. Graph inputs, constants and
/// attribute reads are never matched.
std::vector<ValueMatch> matchValues(torch::jit::Graph& original, torch::jit::Graph& optimized);

/// How one matched value compares over all input sets.
struct NodeDrift {
  std::string name;           ///< The original value's name, "%x.3" or "%42".
  std::string originalKind;   ///< e.g. "aten::conv2d".
  std::string optimizedKind;  ///< e.g. "tsopt::conv2d_act".
  std::string location;       ///< file:line of the original node, or "".
  MatchedBy by = MatchedBy::Name;
  std::string description;    ///< e.g. "Float[2, 16, 8, 8]".
  double cosine = 1;          ///< Worst over the input sets (NaN when one had a NaN or inf).
  double maxAbsError = 0;     ///< Largest over the input sets.
  bool drifts = false;        ///< Past the tolerance on some input set.
  size_t topologicalIndex = 0;
};

struct NodeDiffReport {
  size_t originalValues = 0;   ///< Candidate values of the original graph.
  size_t optimizedValues = 0;  ///< Candidate values of the optimized graph.
  size_t inputSets = 0;
  std::string tolerance;       ///< How "drifts" was judged, for the report.
  /// One per compared value, in the original graph's topological order.
  std::vector<NodeDrift> values;
  /// Matches dropped because the two values differ in shape or dtype.
  size_t droppedShape = 0;
  /// The first drifting value in topological order, an index into values.
  std::optional<size_t> firstDrift() const;
  /// Indices into values, worst first (lowest cosine, then largest error).
  std::vector<size_t> worstFirst() const;
};

/// Runs instrumented copies of both methods once per input set. A value
/// drifts when its cosine is below `minCosine`, when given, and otherwise
/// when it is outside the tolerances of the exact check. Throws tsopt::Error
/// (Input) when no value matches, naming --per-node.
NodeDiffReport diffNodes(torch::jit::Module& original, torch::jit::Module& optimized, const std::string& methodName,
                         const InputSets& inputs, const ToleranceOverride& tolerance,
                         std::optional<double> minCosine);

/// The first drift and a table of at most `rows` values, worst first.
void printNodeDiff(const NodeDiffReport& report, size_t rows, std::ostream& err);

/// Every compared value as JSON, in topological order, with the first drift.
std::string nodeDiffJson(const NodeDiffReport& report);

} // namespace tsopt
