//===- reducer.h - Shrink a graph while it stays interesting --------------===//
///
/// The engine of tsopt-reduce and of `tsopt --reproducer --reduce-reproducer`,
/// in the manner of llvm-reduce: given a graph and an interestingness test (a
/// predicate that is true on the graph, e.g. "this pipeline throws on it"), try
/// smaller graphs and keep each one the test still holds on. Every candidate is
/// written and read back before it is tested (printed and parsed as IR text,
/// or, for an archive, saved and loaded as a module: ReduceOptions::roundTrip),
/// so what is tested is exactly what gets written, and a candidate that does
/// not verify or read back is never tried.
///
/// Reductions, each over a list of items tried in delta-debugging chunks (all
/// items at once, then halves, quarters, ... down to one), in rounds until a
/// round changes nothing or `maxRounds` is reached:
///   - remove graph outputs;
///   - dead code elimination;
///   - bypass nodes: a node's only output is replaced by one of its operands
///     of the same type (or a subtype), and the node goes;
///   - delete nodes (never constants): each output's uses take a constant when
///     its type is a scalar (int, float, bool, str, None), else a graph input
///     of that type or a subtype (an existing one when there is one, else a
///     new one);
///   - cut operands: one use of a node's output takes such a replacement
///     instead, leaving the producer for its other uses;
///   - remove unused graph inputs and constants;
///   - shrink tensor constants to one element per dimension.
/// Never reorders nodes or invents operators. Deterministic when the test is.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <torch/csrc/jit/ir/ir.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tsopt {

/// True when the candidate still shows the problem being reduced.
using InterestingnessTest = std::function<bool(const std::shared_ptr<torch::jit::Graph>&)>;

/// What a candidate reads back as from what is written for it, or nothing
/// when it cannot be written or read back.
using RoundTrip = std::function<std::shared_ptr<torch::jit::Graph>(const std::shared_ptr<torch::jit::Graph>&)>;

struct ReduceOptions {
  size_t maxRounds = 16;        ///< Rounds of all reductions; one without a change ends it early.
  size_t maxTests = 100000;     ///< Candidates tested, at most.
  /// How candidates are written and read back before they are tested;
  /// unset: as IR text (parseableGraphText, then the IR parser).
  RoundTrip roundTrip;
};

struct ReduceResult {
  std::shared_ptr<torch::jit::Graph> graph;  ///< The smallest interesting graph found.
  size_t tests = 0;                          ///< Candidates the test ran on.
  size_t rounds = 0;
  size_t nodesBefore = 0;                    ///< Nodes, constants excepted, in all blocks.
  size_t nodesAfter = 0;
};

/// Reduces `graph` (not modified). The caller has checked that the test holds
/// on `graph` itself.
ReduceResult reduceGraph(const std::shared_ptr<torch::jit::Graph>& graph, const InterestingnessTest& isInteresting,
                         const ReduceOptions& options = {});

/// The reduction steps, one candidate each, for tests. Items are numbered as
/// the matching `...Items` function counts them; `chosen` is sorted. Each
/// returns a modified copy of `graph`.
namespace reduction {

/// Non-constant nodes of all blocks, in program order.
std::vector<torch::jit::Node*> deletableNodes(const torch::jit::Graph& graph);
std::shared_ptr<torch::jit::Graph> deleteNodes(const torch::jit::Graph& graph, const std::vector<size_t>& chosen);

/// Nodes with one output and an operand that can stand for it (its type or a
/// subtype), in program order; bypassing one replaces its output by that operand.
std::vector<torch::jit::Node*> bypassableNodes(const torch::jit::Graph& graph);
std::shared_ptr<torch::jit::Graph> bypassNodes(const torch::jit::Graph& graph, const std::vector<size_t>& chosen);

/// Uses (node, operand index) of values defined by non-constant nodes, in program order.
std::vector<std::pair<torch::jit::Node*, size_t>> cuttableOperands(const torch::jit::Graph& graph);
std::shared_ptr<torch::jit::Graph> cutOperands(const torch::jit::Graph& graph, const std::vector<size_t>& chosen);

std::shared_ptr<torch::jit::Graph> removeOutputs(const torch::jit::Graph& graph, const std::vector<size_t>& chosen);

/// Indices of the graph inputs without uses.
std::vector<size_t> unusedInputs(const torch::jit::Graph& graph);
std::shared_ptr<torch::jit::Graph> removeUnusedInputs(const torch::jit::Graph& graph,
                                                      const std::vector<size_t>& chosen);

/// Constants without uses, in program order.
std::vector<torch::jit::Node*> unusedConstants(const torch::jit::Graph& graph);
std::shared_ptr<torch::jit::Graph> removeUnusedConstants(const torch::jit::Graph& graph,
                                                         const std::vector<size_t>& chosen);

/// Tensor constants with more than one element, in program order.
std::vector<torch::jit::Node*> shrinkableConstants(const torch::jit::Graph& graph);
std::shared_ptr<torch::jit::Graph> shrinkConstants(const torch::jit::Graph& graph, const std::vector<size_t>& chosen);

} // namespace reduction

/// The graph as IR text that parses back: the JIT prints the values of tensor
/// constants of 2 to 10 elements, which its parser rejects; they print as
/// `<Tensor>` (read back with placeholder values, see input_file.h).
std::string parseableGraphText(const torch::jit::Graph& graph);

/// Nodes of all blocks, prim::Constant excepted: the size a reduction is judged by
/// (not graph_utils.h's countNodes, which counts constants too).
size_t countReducibleNodes(const torch::jit::Graph& graph);

} // namespace tsopt
