#include "ir_tools/tsopt/coverage_report.h"

#include "ir_tools/tsdump/json_writer.h"
#include "ir_tools/tsdump/text_table.h"
#include "passes/core/error.h"
#include "passes/core/graph_utils.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/runtime/graph_iterator.h>

#include <algorithm>
#include <iomanip>
#include <sstream>

namespace tsopt {
namespace {

using torch::jit::Node;
using torch::jit::Value;

bool isOp(const Node* node) { return node->kind().ns() != c10::namespaces::prim; }

bool isKernel(const std::string& kind) { return kind.rfind("tsopt::", 0) == 0; }

/// What follows the last `marker` of a passed remark's message: the kernel of
/// a fusion ("fuse ... into tsopt::conv2d_act"), the kind a node became
/// ("%y = aten::_convolution -> aten::conv2d").
std::string afterLast(const std::string& message, const std::string& marker) {
  size_t at = message.rfind(marker);
  return at == std::string::npos ? "" : message.substr(at + marker.size());
}

std::vector<std::string> splitKinds(const std::string& list) {
  std::vector<std::string> kinds;
  std::stringstream stream(list);
  for (std::string kind; std::getline(stream, kind, ',');) {
    kinds.push_back(kind);
  }
  return kinds;
}

/// Why a missed remark kept its node: its "reason" argument, else its message.
std::string reasonOf(const Remark& remark) {
  std::string reason = remark.arg("reason");
  return reason.empty() ? remark.message : reason;
}

std::vector<std::pair<std::string, size_t>> mostCommon(const std::map<std::string, size_t>& counts) {
  std::vector<std::pair<std::string, size_t>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  if (sorted.size() > kCoverageReasons) {
    sorted.resize(kCoverageReasons);
  }
  return sorted;
}

/// Where a FLOP-counted node's reduction length K comes from: the sizes of
/// one of its inputs, all but the first (a weight [out, in/groups, k...] or
/// [out, in]) or the last (a left operand [..., M, K]).
struct Reduction {
  size_t input = 0;
  bool weight = false;
};

std::optional<Reduction> reductionOf(const Node* node) {
  switch (node->kind()) {
  case c10::aten::conv1d:
  case c10::aten::conv2d:
  case c10::aten::conv3d:
  case c10::aten::_convolution:
  case c10::aten::linear:
    return Reduction{1, true};
  case c10::aten::matmul:
  case c10::aten::mm:
  case c10::aten::bmm:
    return Reduction{0, false};
  case c10::aten::addmm:
    return Reduction{1, false};
  default:
    return std::nullopt;
  }
}

int64_t product(c10::ArrayRef<int64_t> sizes) {
  int64_t result = 1;
  for (int64_t size : sizes) {
    result *= size;
  }
  return result;
}

std::string percent(double part, double whole) {
  std::ostringstream text;
  text << std::fixed << std::setprecision(1) << (whole > 0 ? 100.0 * part / whole : 0.0) << "%";
  return text.str();
}

/// A table without the padding its last column leaves on rows whose last cell is empty.
std::string withoutTrailingSpaces(const std::string& text) {
  std::string trimmed;
  std::stringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    trimmed += line.substr(0, line.find_last_not_of(' ') + 1) + "\n";
  }
  return trimmed;
}

std::string gflops(double flops) {
  std::ostringstream text;
  text << std::fixed << std::setprecision(3) << flops / 1e9;
  return text.str();
}

} // namespace

OpCounts countOps(const torch::jit::Graph& graph) {
  OpCounts counts;
  for (Node* node : collectNodes(const_cast<torch::jit::Graph&>(graph))) {
    if (isOp(node)) {
      ++counts[node->kind().toQualString()];
    }
  }
  return counts;
}

CoverageReport coverageReport(const OpCounts& before, const OpCounts& after, const std::vector<Remark>& remarks) {
  std::map<std::string, size_t> absorbed;
  std::map<std::string, std::map<std::string, size_t>> reasons;
  std::map<std::string, KernelCoverage> kernels;
  // Canonicalizations change a node's kind before a fusion absorbs it.
  std::map<std::string, std::map<std::string, size_t>> renamed;
  for (const Remark& remark : remarks) {
    if (remark.kind == RemarkKind::Missed && !remark.nodeKind.empty()) {
      ++reasons[remark.nodeKind][reasonOf(remark)];
    }
    if (remark.kind != RemarkKind::Passed) {
      continue;
    }
    std::string became = afterLast(remark.message, " -> ");
    if (!became.empty() && !remark.nodeKind.empty() && became != remark.nodeKind) {
      ++renamed[remark.nodeKind][became];
    }
    std::string parts = remark.arg("absorbed");
    if (parts.empty()) {
      continue;
    }
    std::string kernel = afterLast(remark.message, " into ");
    for (const std::string& kind : splitKinds(parts)) {
      ++absorbed[kind];
      if (isKernel(kernel)) {
        ++kernels[kernel].absorbed[kind];
      }
    }
  }
  CoverageReport report;
  std::map<std::string, OpCoverage> ops;
  for (const auto& [kind, count] : before) {
    ops[kind].original = count;
  }
  for (const auto& [kind, count] : after) {
    if (isKernel(kind)) {
      kernels[kind].nodes = count;
    } else {
      ops[kind].onAten = count;
    }
  }
  // First what fusions absorbed of each kind; then, for the nodes a
  // canonicalization renamed, what they absorbed of the new kind, and the
  // nodes of the new kind that stayed (which the original had none of).
  std::map<std::string, size_t> unclaimed = absorbed;
  for (auto& [kind, op] : ops) {
    op.kind = kind;
    size_t gone = op.original > op.onAten ? op.original - op.onAten : 0;
    op.inKernels = std::min(gone, absorbed[kind]);
    unclaimed[kind] -= op.inKernels;
  }
  std::map<std::string, std::map<std::string, size_t>> why = reasons;
  for (auto& [kind, op] : ops) {
    for (const auto& [target, count] : renamed[kind]) {
      size_t gone = op.original > op.onAten ? op.original - op.onAten : 0;
      size_t claimed = std::min({gone - op.inKernels, count, unclaimed[target]});
      op.inKernels += claimed;
      unclaimed[target] -= claimed;
      auto made = ops.find(target);
      if (made != ops.end() && made->second.original == 0) {
        size_t stayed = std::min({gone - op.inKernels, count - claimed, made->second.onAten});
        op.onAten += stayed;
        made->second.onAten -= stayed;
      }
      for (const auto& [reason, times] : reasons[target]) {
        why[kind][reason] += times;
      }
    }
  }
  for (auto& [kind, op] : ops) {
    size_t gone = op.original > op.onAten ? op.original - op.onAten : 0;
    op.folded = gone - op.inKernels;
    if (op.original == 0) {
      if (op.onAten > 0) {
        report.made.emplace_back(kind, op.onAten);
      }
      continue;
    }
    if (op.onAten > 0) {
      op.reasons = mostCommon(why[kind]);
    }
    report.ops.push_back(op);
  }
  for (auto& [kind, kernel] : kernels) {
    kernel.kind = kind;
    report.kernels.push_back(kernel);
  }
  return report;
}

double measureFlops(torch::jit::Module& module, const std::shared_ptr<torch::jit::Graph>& graph,
                    const std::vector<c10::IValue>& arguments) {
  // Every counted node, in any block (an If's taken branch, each iteration of
  // a Loop), appends its output sizes and the sizes of the input holding K to
  // one list, and its index to another; the graph returns both.
  std::vector<std::pair<Node*, Reduction>> counted;
  std::shared_ptr<torch::jit::Graph> walked = graph;
  for (torch::jit::DepthFirstGraphNodeIterator it(walked); Node* node = it.next();) {
    auto reduction = reductionOf(node);
    if (reduction && node->outputs().size() == 1 && node->inputs().size() > reduction->input) {
      counted.emplace_back(node, *reduction);
    }
  }
  Value* sizeLists;
  Value* indices;
  {
    torch::jit::WithInsertPoint guard(graph->param_node()->next());
    sizeLists = graph->insertNode(graph->createList(c10::ListType::ofInts(), {}))->output();
    indices = graph->insertNode(graph->createList(c10::IntType::get(), {}))->output();
  }
  for (size_t index = 0; index < counted.size(); ++index) {
    auto [node, reduction] = counted[index];
    torch::jit::WithInsertPoint guard(node->next());
    graph->insert(c10::aten::append, {sizeLists, graph->insert(c10::aten::size, {node->output()})});
    graph->insert(c10::aten::append, {sizeLists, graph->insert(c10::aten::size, {node->input(reduction.input)})});
    graph->insert(c10::aten::append, {indices, static_cast<int64_t>(index)});
  }
  torch::jit::WithInsertPoint guard(graph->return_node());
  Value* tuple = graph->insertNode(graph->createTuple({sizeLists, indices}))->output();
  while (graph->outputs().size() > 0) {
    graph->eraseOutput(graph->outputs().size() - 1);
  }
  graph->registerOutput(tuple);

  torch::jit::GraphFunction function("tsopt_coverage_flops", graph, nullptr);
  torch::jit::Stack stack{module._ivalue()};
  for (const c10::IValue& argument : arguments) {
    stack.push_back(argument.deepcopy());
  }
  try {
    function.run(stack);
  } catch (const std::exception& error) {
    throw Error(ErrorKind::Input, "--report=coverage: the model failed to run on the example inputs: " +
                                      firstLine(error.what()));
  }
  double flops = 0;
  const auto& results = stack.back().toTupleRef().elements();
  c10::List<c10::IValue> sizes = results[0].toList();
  c10::List<int64_t> ran = results[1].toIntList();
  for (size_t run = 0; run < ran.size(); ++run) {
    std::vector<int64_t> output = sizes.get(2 * run).toIntVector();
    std::vector<int64_t> operand = sizes.get(2 * run + 1).toIntVector();
    if (operand.empty()) {
      continue;
    }
    bool fromWeight = counted[static_cast<size_t>(ran.get(run))].second.weight;
    int64_t reduction = fromWeight ? product(c10::ArrayRef<int64_t>(operand).slice(1)) : operand.back();
    flops += 2.0 * static_cast<double>(product(output)) * static_cast<double>(reduction);
  }
  return flops;
}

std::string coverageText(const CoverageReport& report) {
  std::ostringstream out;
  out << "Coverage: where each op kind of the original graph ended\n";
  TextTable ops({false, true, true, true, true, false});
  ops.add({"op", "nodes", "tsopt", "folded", "aten", "why kept (missed remarks)"});
  size_t original = 0;
  size_t inKernels = 0;
  size_t onAten = 0;
  for (const OpCoverage& op : report.ops) {
    std::string why;
    for (const auto& [reason, count] : op.reasons) {
      why += (why.empty() ? "" : "; ") + std::to_string(count) + "x " + reason;
    }
    if (op.onAten > 0 && why.empty()) {
      why = "(no pass said why)";
    }
    ops.add({op.kind, std::to_string(op.original), std::to_string(op.inKernels), std::to_string(op.folded),
             std::to_string(op.onAten), why});
    original += op.original;
    inKernels += op.inKernels;
    onAten += op.onAten;
  }
  out << withoutTrailingSpaces(ops.render("  "));
  out << "  total: " << original << " nodes; " << inKernels << " in tsopt kernels, " << onAten << " on ATen\n";
  if (!report.made.empty()) {
    out << "  made by the passes:";
    for (size_t index = 0; index < report.made.size(); ++index) {
      out << (index == 0 ? " " : ", ") << report.made[index].second << " " << report.made[index].first;
    }
    out << "\n";
  }
  if (!report.kernels.empty()) {
    out << "tsopt kernels:\n";
    TextTable kernels({false, true, false});
    for (const KernelCoverage& kernel : report.kernels) {
      std::string parts;
      for (const auto& [kind, count] : kernel.absorbed) {
        parts += (parts.empty() ? "" : ", ") + std::to_string(count) + " " + kind;
      }
      kernels.add({kernel.kind, std::to_string(kernel.nodes), parts.empty() ? "" : "absorbed " + parts});
    }
    out << kernels.render("  ");
  }
  if (report.flops) {
    double moved = std::max(0.0, report.flops->original - report.flops->onAten);
    out << "FLOPs (conv, linear, matmul on the example inputs): " << gflops(report.flops->original) << " GFLOP; "
        << percent(moved, report.flops->original) << " in tsopt kernels, "
        << percent(report.flops->onAten, report.flops->original) << " on ATen\n";
  } else {
    out << "FLOPs: unknown (give --example-inputs to measure them)\n";
  }
  return out.str();
}

std::string coverageJson(const CoverageReport& report) {
  std::ostringstream out;
  JsonWriter json(out);
  json.beginObject();
  json.key("ops").beginArray();
  for (const OpCoverage& op : report.ops) {
    json.beginObject();
    json.member("kind", op.kind);
    json.member("original", static_cast<uint64_t>(op.original));
    json.member("tsopt", static_cast<uint64_t>(op.inKernels));
    json.member("folded", static_cast<uint64_t>(op.folded));
    json.member("aten", static_cast<uint64_t>(op.onAten));
    json.key("reasons").beginArray();
    for (const auto& [reason, count] : op.reasons) {
      json.beginObject().member("reason", reason).member("count", static_cast<uint64_t>(count)).endObject();
    }
    json.endArray().endObject();
  }
  json.endArray();
  json.key("made").beginObject();
  for (const auto& [kind, count] : report.made) {
    json.member(kind, static_cast<uint64_t>(count));
  }
  json.endObject();
  json.key("kernels").beginArray();
  for (const KernelCoverage& kernel : report.kernels) {
    json.beginObject().member("kind", kernel.kind).member("nodes", static_cast<uint64_t>(kernel.nodes));
    json.key("absorbed").beginObject();
    for (const auto& [kind, count] : kernel.absorbed) {
      json.member(kind, static_cast<uint64_t>(count));
    }
    json.endObject().endObject();
  }
  json.endArray();
  json.key("flops");
  if (report.flops) {
    json.beginObject().member("original", report.flops->original).member("aten", report.flops->onAten);
    json.endObject();
  } else {
    json.null();
  }
  json.endObject();
  return out.str();
}

} // namespace tsopt
