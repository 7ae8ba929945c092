#include "ir_tools/tsopt/node_diff.h"

#include "ir_tools/tsdump/json_writer.h"
#include "passes/core/error.h"

#include <ATen/ATen.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

// How far up a fused op's inputs its first absorbed op may lie: conv, bias,
// batch norm, activation, residual add and a second activation.
constexpr int kMaxFusedChain = 8;

bool isCandidate(const Value* value) {
  const Node* node = value->node();
  if (node->kind() == c10::prim::Constant || node->kind() == c10::prim::GetAttr ||
      node->kind() == c10::prim::Param) {
    return false;
  }
  return value->type()->isSubtypeOf(*c10::TensorType::get());
}

std::vector<Value*> candidates(Graph& graph) {
  std::vector<Value*> values;
  for (Node* node : graph.nodes()) {
    for (Value* output : node->outputs()) {
      if (isCandidate(output)) {
        values.push_back(output);
      }
    }
  }
  return values;
}

std::string fileLineCol(const torch::jit::SourceRange& range) {
  auto location = range.file_line_col();
  if (!location) {
    return "";
  }
  const auto& [file, line, column] = *location;
  return file.substr(file.find_last_of('/') + 1) + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string valueName(const Value* value) { return "%" + value->debugName(); }

// The ops tsopt and PyTorch's quantization put on a value without changing
// what it means: seen through when matching by position.
bool isTransparent(const Node* node) {
  return node->kind() == c10::aten::dequantize || node->kind() == c10::aten::quantize_per_tensor ||
         node->kind() == c10::aten::contiguous;
}

Value* throughTransparent(Value* value) {
  while (isTransparent(value->node())) {
    value = value->node()->input(0);
  }
  return value;
}

// quantized::conv2d_relu stands for aten::conv2d (or _convolution) at the start of a chain.
bool quantizedFormOf(const Node* fused, const Node* original) {
  std::string kind = fused->kind().toQualString();
  if (kind.rfind("quantized::", 0) != 0) {
    return false;
  }
  std::string base = kind.substr(kind.find("::") + 2);
  base = base.substr(0, base.find('_'));
  std::string originalBase = original->kind().toUnqualString();
  return originalBase == base || (base == "conv2d" && original->kind() == c10::aten::_convolution);
}

/// The op of the original chain ending at `last` that the `fused` op starts
/// with: the one at the fused op's location (fusions copy the first op's), or
/// for quantized ops, the float op it replaces; nullptr when none is found
/// within kMaxFusedChain steps up the first inputs.
const Node* firstAbsorbed(const Node* last, const Node* fused) {
  std::string location = sourceLocationKey(fused);
  const Node* node = last;
  for (int step = 0; step <= kMaxFusedChain && node->kind() != c10::prim::Param; ++step) {
    if ((!location.empty() && sourceLocationKey(node) == location) || quantizedFormOf(fused, node)) {
      return node;
    }
    if (node->inputs().empty()) {
      return nullptr;
    }
    node = node->input(0)->node();
  }
  return nullptr;
}

bool nameMatchIsPlausible(const Value* original, const Value* optimized) {
  std::string originalLocation = sourceLocationKey(original->node());
  std::string optimizedLocation = sourceLocationKey(optimized->node());
  if (originalLocation.empty() || optimizedLocation.empty()) {
    return original->node()->kind() == optimized->node()->kind();
  }
  if (originalLocation == optimizedLocation) {
    return true;
  }
  // A fused op: a new kind at the location of an op upstream of the named one.
  const Node* first = firstAbsorbed(original->node(), optimized->node());
  return first != nullptr && first->kind() != optimized->node()->kind();
}

std::string locationMatchKey(const Value* value) {
  std::string location = sourceLocationKey(value->node());
  if (location.empty()) {
    return "";
  }
  return location + "|" + value->node()->kind().toQualString() + "|" + std::to_string(value->offset());
}

/// Makes `values` (of `graph`) the graph's only output, as a tuple of clones
/// taken right after each value is computed.
void recordAsOutputs(Graph& graph, const std::vector<Value*>& values) {
  std::vector<Value*> clones;
  for (Value* value : values) {
    torch::jit::WithInsertPoint guard(value->node()->next());
    clones.push_back(graph.insert(c10::aten::clone, {value}));
  }
  torch::jit::WithInsertPoint guard(graph.return_node());
  Value* tuple = graph.insertNode(graph.createTuple(clones))->output();
  while (graph.outputs().size() > 0) {
    graph.eraseOutput(graph.outputs().size() - 1);
  }
  graph.registerOutput(tuple);
}

std::shared_ptr<Graph> inlinedCopy(torch::jit::Module& module, const std::string& methodName) {
  std::shared_ptr<Graph> graph = module.get_method(methodName).graph()->copy();
  torch::jit::Inline(*graph);
  return graph;
}

std::vector<at::Tensor> runRecorded(torch::jit::Module& module, const std::shared_ptr<Graph>& graph,
                                    const std::vector<c10::IValue>& arguments, const char* which) {
  torch::jit::GraphFunction function("tsopt_per_node_" + std::string(which), graph, nullptr);
  torch::jit::Stack stack;
  try {
    stack = runOnCopies(function, module._ivalue(), arguments);
  } catch (const std::exception& error) {
    throw Error(ErrorKind::PassFailure, std::string("--per-node: the instrumented ") + which +
                                            " graph failed to run: " + firstLine(error.what()));
  }
  std::vector<at::Tensor> tensors;
  for (const c10::IValue& element : stack.back().toTupleRef().elements()) {
    at::Tensor tensor = element.toTensor();
    tensors.push_back(tensor.is_quantized() ? tensor.dequantize() : tensor);
  }
  return tensors;
}

const char* matchedByName(MatchedBy by) {
  switch (by) {
  case MatchedBy::Name:
    return "name";
  case MatchedBy::Location:
    return "location";
  case MatchedBy::Position:
    return "position";
  }
  return "";
}

std::string formatError(double error) {
  std::ostringstream text;
  text << std::setprecision(4) << error;
  return text.str();
}

} // namespace

std::string sourceLocationKey(const Node* node) {
  std::string own = fileLineCol(node->sourceRange());
  if (own.empty()) {
    return "";
  }
  std::string key;
  if (auto stack = node->callstack()) {
    for (const auto& entry : (*stack)->vec()) {
      const auto& module = std::get<2>(entry);
      key += (module ? module->instance_name() : std::string("?")) + "@" + fileLineCol(std::get<1>(entry)) + "/";
    }
  }
  return key + own;
}

std::vector<ValueMatch> matchValues(Graph& original, Graph& optimized) {
  std::vector<Value*> originalValues = candidates(original);
  std::vector<Value*> optimizedValues = candidates(optimized);
  std::unordered_map<std::string, Value*> optimizedByName;
  std::map<std::string, std::vector<Value*>> optimizedByLocation;
  for (Value* value : optimizedValues) {
    if (value->hasDebugName()) {
      optimizedByName[value->debugName()] = value;
    }
    std::string key = locationMatchKey(value);
    if (!key.empty()) {
      optimizedByLocation[key].push_back(value);
    }
  }
  std::map<std::string, size_t> originalLocationCount;
  for (Value* value : originalValues) {
    std::string key = locationMatchKey(value);
    if (!key.empty()) {
      ++originalLocationCount[key];
    }
  }
  std::unordered_set<Value*> taken;
  std::unordered_map<Value*, ValueMatch> byOriginal;
  for (Value* value : originalValues) {
    if (!value->hasDebugName()) {
      continue;
    }
    auto found = optimizedByName.find(value->debugName());
    if (found != optimizedByName.end() && nameMatchIsPlausible(value, found->second)) {
      byOriginal[value] = {value, found->second, MatchedBy::Name};
      taken.insert(found->second);
    }
  }
  for (Value* value : originalValues) {
    std::string key = locationMatchKey(value);
    if (byOriginal.count(value) > 0 || key.empty() || originalLocationCount[key] != 1) {
      continue;
    }
    auto found = optimizedByLocation.find(key);
    if (found != optimizedByLocation.end() && found->second.size() == 1 && taken.count(found->second.front()) == 0) {
      byOriginal[value] = {value, found->second.front(), MatchedBy::Location};
      taken.insert(found->second.front());
    }
  }
  // By position: graph outputs correspond, and so do the inputs of matched
  // nodes of one kind; a fused or quantized op's inputs are those of the
  // first op it absorbed.
  std::unordered_set<Value*> isCandidateValue(originalValues.begin(), originalValues.end());
  isCandidateValue.insert(optimizedValues.begin(), optimizedValues.end());
  std::vector<std::pair<Value*, Value*>> work;
  auto propose = [&](Value* a, Value* b) {
    b = throughTransparent(b);
    if (isCandidateValue.count(a) == 0 || isCandidateValue.count(b) == 0 || byOriginal.count(a) > 0 ||
        taken.count(b) > 0) {
      return;
    }
    byOriginal[a] = {a, b, MatchedBy::Position};
    taken.insert(b);
    work.emplace_back(a, b);
  };
  for (const auto& entry : byOriginal) {
    work.emplace_back(entry.second.original, entry.second.optimized);
  }
  if (original.outputs().size() == optimized.outputs().size()) {
    for (size_t index = 0; index < original.outputs().size(); ++index) {
      propose(original.outputs()[index], optimized.outputs()[index]);
    }
  }
  while (!work.empty()) {
    auto [a, b] = work.back();
    work.pop_back();
    Node* originalNode = a->node();
    Node* optimizedNode = throughTransparent(b)->node();
    if (originalNode->kind() == optimizedNode->kind()) {
      if (originalNode->inputs().size() == optimizedNode->inputs().size()) {
        for (size_t index = 0; index < originalNode->inputs().size(); ++index) {
          propose(originalNode->input(index), optimizedNode->input(index));
        }
      }
      continue;
    }
    const Node* first = firstAbsorbed(originalNode, optimizedNode);
    if (first == nullptr || optimizedNode->inputs().empty()) {
      continue;
    }
    propose(first->input(0), optimizedNode->input(0));
    // An absorbed add: its second operand is the fused op's second input.
    for (const Node* node = originalNode; optimizedNode->inputs().size() > 1; node = node->input(0)->node()) {
      if (node->kind() == c10::aten::add) {
        propose(node->input(1), optimizedNode->input(1));
        break;
      }
      if (node == first) {
        break;
      }
    }
  }

  std::vector<ValueMatch> matches;
  for (Value* value : originalValues) {
    auto found = byOriginal.find(value);
    if (found != byOriginal.end()) {
      matches.push_back(found->second);
    }
  }
  return matches;
}

std::optional<size_t> NodeDiffReport::firstDrift() const {
  for (size_t index = 0; index < values.size(); ++index) {
    if (values[index].drifts) {
      return index;
    }
  }
  return std::nullopt;
}

std::vector<size_t> NodeDiffReport::worstFirst() const {
  std::vector<size_t> order(values.size());
  for (size_t index = 0; index < order.size(); ++index) {
    order[index] = index;
  }
  auto badness = [](const NodeDrift& drift) { return std::isnan(drift.cosine) ? -2.0 : drift.cosine; };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (badness(values[a]) != badness(values[b])) {
      return badness(values[a]) < badness(values[b]);
    }
    return values[a].maxAbsError > values[b].maxAbsError;
  });
  return order;
}

NodeDiffReport diffNodes(torch::jit::Module& original, torch::jit::Module& optimized, const std::string& methodName,
                         const InputSets& inputs, const ToleranceOverride& tolerance,
                         std::optional<double> minCosine) {
  std::shared_ptr<Graph> originalGraph = inlinedCopy(original, methodName);
  std::shared_ptr<Graph> optimizedGraph = inlinedCopy(optimized, methodName);
  NodeDiffReport report;
  report.originalValues = candidates(*originalGraph).size();
  report.optimizedValues = candidates(*optimizedGraph).size();
  report.inputSets = inputs.size();
  report.tolerance = minCosine ? "cosine below --min-cosine=" + cosineText(*minCosine)
                               : std::string("outside the tolerances of the exact check");
  std::vector<ValueMatch> matches = matchValues(*originalGraph, *optimizedGraph);
  if (matches.empty()) {
    throw Error(ErrorKind::Input, "--per-node: no value of the original graph (" +
                                      std::to_string(report.originalValues) +
                                      " tensors) survives in the optimized graph under its name, source location or position");
  }
  std::vector<NodeDrift> drifts;
  std::vector<Value*> originalRecorded;
  std::vector<Value*> optimizedRecorded;
  for (size_t index = 0; index < matches.size(); ++index) {
    const ValueMatch& match = matches[index];
    NodeDrift drift;
    drift.name = valueName(match.original);
    drift.originalKind = match.original->node()->kind().toQualString();
    drift.optimizedKind = match.optimized->node()->kind().toQualString();
    std::string location = fileLineCol(match.original->node()->sourceRange());
    drift.location = location.substr(0, location.find_last_of(':'));
    drift.by = match.by;
    drift.topologicalIndex = index;
    drifts.push_back(drift);
    originalRecorded.push_back(match.original);
    optimizedRecorded.push_back(match.optimized);
  }
  recordAsOutputs(*originalGraph, originalRecorded);
  recordAsOutputs(*optimizedGraph, optimizedRecorded);

  std::vector<bool> sameShape(drifts.size(), true);
  for (const std::vector<c10::IValue>& arguments : inputs) {
    std::vector<at::Tensor> expected = runRecorded(original, originalGraph, arguments, "original");
    std::vector<at::Tensor> actual = runRecorded(optimized, optimizedGraph, arguments, "optimized");
    for (size_t index = 0; index < drifts.size(); ++index) {
      NodeDrift& drift = drifts[index];
      LeafComparison leaf = compareOutputs(expected[index], actual[index], tolerance).front();
      if (!leaf.sameStructure) {
        sameShape[index] = false;
        continue;
      }
      drift.description = leaf.description;
      bool nan = std::isnan(leaf.cosine) || std::isnan(drift.cosine);
      drift.cosine = nan ? std::numeric_limits<double>::quiet_NaN() : std::min(drift.cosine, leaf.cosine);
      if (std::isnan(leaf.maxAbsError) || leaf.maxAbsError > drift.maxAbsError) {
        drift.maxAbsError = leaf.maxAbsError;
      }
      bool past = minCosine ? (std::isnan(leaf.cosine) || leaf.cosine < *minCosine) : !leaf.matches;
      drift.drifts = drift.drifts || past;
    }
  }
  for (size_t index = 0; index < drifts.size(); ++index) {
    if (sameShape[index]) {
      report.values.push_back(drifts[index]);
    } else {
      ++report.droppedShape;
    }
  }
  return report;
}

void printNodeDiff(const NodeDiffReport& report, size_t rows, std::ostream& err) {
  auto count = [&](MatchedBy by) {
    return std::count_if(report.values.begin(), report.values.end(),
                         [by](const NodeDrift& drift) { return drift.by == by; });
  };
  err << "tsopt: per-node: " << report.values.size() << " of " << report.originalValues
      << " values of the original graph matched (" << count(MatchedBy::Name) << " by name, "
      << count(MatchedBy::Location) << " by source location, " << count(MatchedBy::Position)
      << " by position; the optimized graph has " << report.optimizedValues << "), " << report.inputSets
      << " input set" << (report.inputSets == 1 ? "" : "s") << "\n";
  if (report.droppedShape > 0) {
    err << "tsopt: per-node: " << report.droppedShape << " matched value" << (report.droppedShape == 1 ? "" : "s")
        << " left out: shape or dtype differs\n";
  }
  auto describe = [](const NodeDrift& drift) {
    return drift.name + " = " + drift.originalKind +
           (drift.optimizedKind == drift.originalKind ? "" : " (now " + drift.optimizedKind + ")") +
           (drift.location.empty() ? "" : " at " + drift.location);
  };
  std::optional<size_t> first = report.firstDrift();
  if (first) {
    const NodeDrift& drift = report.values[*first];
    err << "tsopt: per-node: first drift (" << report.tolerance << "): " << describe(drift) << ": cosine "
        << cosineText(drift.cosine) << ", max abs error " << formatError(drift.maxAbsError) << "\n";
  } else {
    err << "tsopt: per-node: no matched value drifts (" << report.tolerance << ")\n";
  }
  std::vector<size_t> order = report.worstFirst();
  size_t shown = std::min(rows, order.size());
  err << "tsopt: per-node: largest drifts (" << shown << " of " << order.size() << "):\n";
  size_t nameWidth = 5;
  size_t kindWidth = 13;
  for (size_t row = 0; row < shown; ++row) {
    const NodeDrift& drift = report.values[order[row]];
    nameWidth = std::max(nameWidth, drift.name.size());
    kindWidth = std::max(kindWidth, drift.originalKind.size());
  }
  err << "  " << std::left << std::setw(static_cast<int>(nameWidth)) << "value" << "  "
      << std::setw(static_cast<int>(kindWidth)) << "original kind" << "  " << std::setw(9) << "cosine" << "  "
      << std::setw(13) << "max abs error" << "  optimized kind\n";
  for (size_t row = 0; row < shown; ++row) {
    const NodeDrift& drift = report.values[order[row]];
    err << "  " << std::setw(static_cast<int>(nameWidth)) << drift.name << "  "
        << std::setw(static_cast<int>(kindWidth)) << drift.originalKind << "  " << std::setw(9)
        << cosineText(drift.cosine) << "  " << std::setw(13) << formatError(drift.maxAbsError) << "  "
        << drift.optimizedKind << (drift.drifts ? "  DRIFTS" : "") << "\n";
  }
  err << std::right;
}

std::string nodeDiffJson(const NodeDiffReport& report) {
  std::ostringstream text;
  JsonWriter json(text);
  json.beginObject();
  json.member("original_values", static_cast<uint64_t>(report.originalValues));
  json.member("optimized_values", static_cast<uint64_t>(report.optimizedValues));
  json.member("input_sets", static_cast<uint64_t>(report.inputSets));
  json.member("dropped_shape_differs", static_cast<uint64_t>(report.droppedShape));
  json.member("tolerance", report.tolerance);
  std::optional<size_t> first = report.firstDrift();
  json.key("first_drift");
  if (first) {
    json.value(report.values[*first].name);
  } else {
    json.null();
  }
  json.key("values").beginArray();
  for (const NodeDrift& drift : report.values) {
    json.beginObject();
    json.member("value", drift.name).member("original_kind", drift.originalKind);
    json.member("optimized_kind", drift.optimizedKind).member("location", drift.location);
    json.member("matched_by", matchedByName(drift.by));
    json.member("type", drift.description).member("cosine", drift.cosine);
    json.member("max_abs_error", drift.maxAbsError).member("drifts", drift.drifts);
    json.endObject();
  }
  json.endArray();
  json.endObject();
  text << "\n";
  return text.str();
}

} // namespace tsopt
