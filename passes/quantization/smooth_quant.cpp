#include "passes/quantization/smooth_quant.h"

#include "passes/core/error.h"
#include "passes/core/graph_utils.h"
#include "passes/core/input_sets.h"
#include "passes/core/ir_matchers.h"
#include "runtime/linear_dynamic.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

/// The linears that read one tensor, and the largest |x_j| each calibration call saw per input feature.
struct Group {
  Value* input = nullptr;
  std::vector<LayerMatch> layers;
  std::vector<at::Tensor> callMax;  ///< Per call, float64 (in); undefined where the call did not reach x.

  /// max |x_j| over the calls `take` accepts; undefined if none of them reached x.
  template <typename Take>
  at::Tensor inputMax(Take take) const {
    at::Tensor result;
    for (size_t call = 0; call < callMax.size(); ++call) {
      if (callMax[call].defined() && take(call)) {
        result = result.defined() ? at::maximum(result, callMax[call]) : callMax[call];
      }
    }
    return result;
  }
  at::Tensor inputMax() const {
    return inputMax([](size_t) { return true; });
  }
};

/// A graph's copy and where its values are: a value of the original at position i of collectValues is the
/// copy's value at position i.
struct GraphCopy {
  std::shared_ptr<Graph> graph;
  std::map<Value*, Value*> values;  ///< original -> copy
};

/// Every value of `block` and its nested blocks in a fixed order (inputs, then each node's blocks and outputs).
void collectValues(torch::jit::Block* block, std::vector<Value*>& values) {
  for (Value* input : block->inputs()) {
    values.push_back(input);
  }
  for (Node* node : block->nodes()) {
    for (torch::jit::Block* nested : node->blocks()) {
      collectValues(nested, values);
    }
    for (Value* output : node->outputs()) {
      values.push_back(output);
    }
  }
}

GraphCopy copyOf(Graph& graph) {
  std::vector<Value*> originals;
  collectValues(graph.block(), originals);
  GraphCopy copy{graph.copy(), {}};
  std::vector<Value*> copies;
  collectValues(copy.graph->block(), copies);
  TORCH_INTERNAL_ASSERT(copies.size() == originals.size(), "smooth-quant: the graph's copy differs in shape");
  for (size_t i = 0; i < originals.size(); ++i) {
    copy.values[originals[i]] = copies[i];
  }
  return copy;
}

/// Makes `values` (of `graph`) its only output, as a tuple, and drops what they do not need.
void returnOnly(Graph& graph, const std::vector<Value*>& values) {
  torch::jit::WithInsertPoint guard(graph.return_node());
  Value* tuple = graph.insertNode(graph.createTuple(values))->output();
  while (!graph.outputs().empty()) {
    graph.eraseOutput(graph.outputs().size() - 1);
  }
  graph.registerOutput(tuple);
}

/// Where a node reading `value` can go right after it is defined: after its node, or first in the block whose
/// input (a graph or block parameter) it is.
Node* firstUseSite(Value* value) {
  Node* definition = value->node();
  return definition->kind() == c10::prim::Param ? definition->owningBlock()->nodes().front() : definition->next();
}

/// SmoothQuant's s (float32) for `alpha` and the inputs' maxima `inputMax`: 1 where a maximum is 0 or s or
/// 1 / s is not a positive finite float.
at::Tensor smoothingFor(const Group& group, const at::Tensor& inputMax, double alpha) {
  at::Tensor weightMax = at::zeros_like(inputMax);
  for (const LayerMatch& layer : group.layers) {
    weightMax = at::maximum(weightMax, std::get<0>(layer.weight.abs().max(0)).to(at::kDouble));
  }
  at::Tensor scale = inputMax.pow(alpha) / weightMax.pow(1.0 - alpha);
  at::Tensor usable = (inputMax > 0).logical_and(weightMax > 0).logical_and(at::isfinite(scale));
  usable = usable.logical_and(scale > 1e-30).logical_and(scale < 1e30);
  return at::where(usable, scale, at::ones_like(scale)).to(at::kFloat);
}

/// Rewrites the layers (of `graph`) that read `input` into linear(input * (1 / scale), W * scale, b), their
/// weights those of `layers`: one aten::mul for all of them.
void smooth(Graph& graph, Value* input, const std::vector<std::pair<Node*, at::Tensor>>& layers,
            const at::Tensor& scale) {
  at::Tensor inverse = (1.0 / scale.to(at::kDouble)).to(at::kFloat);
  Value* scaled = nullptr;
  {
    torch::jit::WithInsertPoint guard(firstUseSite(input));
    Value* factor = graph.insertConstant(inverse);
    factor->setType(c10::TensorType::create(inverse));
    scaled = graph.insert(c10::aten::mul, {input, factor});
  }
  for (const auto& [node, weight] : layers) {
    at::Tensor smoothed = weight * scale.unsqueeze(0);
    torch::jit::WithInsertPoint guard(node);
    Value* constant = graph.insertConstant(smoothed);
    constant->setType(c10::TensorType::create(smoothed));
    node->replaceInput(0, scaled);
    node->replaceInput(1, constant);
  }
}

/// Replaces the linear `node` (constant weight and bias) by tsopt::linear_dynamic_act on its input: the int8
/// arithmetic fuse-linear-dynamic and quantize-dynamic give it.
void quantizeDynamic(Graph& graph, Node* node, bool reduceRange) {
  std::string whyNot;
  std::optional<LayerMatch> layer = matchLinear(node, whyNot);
  TORCH_INTERNAL_ASSERT(layer, "smooth-quant: a smoothed layer no longer matches: ", whyNot);
  c10::optional<at::Tensor> bias = layer->bias ? c10::optional<at::Tensor>(*layer->bias) : c10::nullopt;
  auto packed = c10::make_intrusive<runtime::LinearDynamicPacked>(layer->weight, bias, reduceRange);
  torch::jit::WithInsertPoint guard(node);
  std::vector<Value*> inputs{node->input(0), graph.insertConstant(c10::IValue(packed)),
                             graph.insertConstant(std::string("none")), graph.insertConstant(0.0),
                             graph.insertConstant(0.0)};
  Node* call = graph.insertNode(graph.create(c10::Symbol::fromQualString("tsopt::linear_dynamic_act"), inputs, 1));
  call->output()->setType(c10::TensorType::get());
  node->output()->replaceAllUsesWith(call->output());
  node->destroy();
}

/// Every floating-point tensor in `value` (tuples, lists and dicts searched).
void collectTensors(const c10::IValue& value, std::vector<at::Tensor>& tensors) {
  if (value.isTensor()) {
    if (value.toTensor().defined() && value.toTensor().is_floating_point()) {
      tensors.push_back(value.toTensor());
    }
  } else if (value.isTuple()) {
    for (const c10::IValue& element : value.toTupleRef().elements()) {
      collectTensors(element, tensors);
    }
  } else if (value.isList()) {
    for (const c10::IValue& element : value.toListRef()) {
      collectTensors(element, tensors);
    }
  } else if (value.isGenericDict()) {
    for (const auto& entry : value.toGenericDict()) {
      collectTensors(entry.value(), tensors);
    }
  }
}

/// The lowest cosine between corresponding tensors of two results (1 for a result with no float tensor).
double lowestCosine(const c10::IValue& reference, const c10::IValue& candidate) {
  std::vector<at::Tensor> expected;
  std::vector<at::Tensor> actual;
  collectTensors(reference, expected);
  collectTensors(candidate, actual);
  double lowest = 1.0;
  for (size_t i = 0; i < std::min(expected.size(), actual.size()); ++i) {
    at::Tensor a = expected[i].to(at::kDouble).flatten();
    at::Tensor b = actual[i].to(at::kDouble).flatten();
    const double norms = a.norm().item<double>() * b.norm().item<double>();
    const double cosine = norms > 0 ? a.dot(b).item<double>() / norms : (at::equal(a, b) ? 1.0 : 0.0);
    lowest = std::min(lowest, std::isnan(cosine) ? 0.0 : cosine);
  }
  return lowest;
}

/// How close a candidate's int8 model comes to float32 on the calibration calls.
struct Score {
  double mean = 0.0;   ///< Of each call's lowest output cosine.
  double worst = 1.0;  ///< The lowest of them.
};

std::string formatCosine(double value) {
  std::ostringstream text;
  text << std::fixed << std::setprecision(6) << value;
  return text.str();
}

std::string formatAlpha(std::optional<double> alpha) {
  if (!alpha) {
    return "none";
  }
  std::ostringstream text;
  text << *alpha;
  return text.str();
}

/// A short account of a group's spread: the largest input feature's range over the median one's.
std::string spreadText(const at::Tensor& maxima) {
  at::Tensor sorted = std::get<0>(maxima.sort());
  const double median = sorted[sorted.size(0) / 2].item<double>();
  const double largest = sorted[-1].item<double>();
  std::ostringstream text;
  text << std::setprecision(3) << (median > 0 ? largest / median : 0.0);
  return text.str();
}

} // namespace

bool SmoothQuantPass::runOnModule(torch::jit::Module& module, PassContext& context) {
  const std::vector<double> alphas = candidateAlphas();
  const bool reduceRange = parseReduceRange(reduceRangeOption.value(), name());
  std::shared_ptr<Graph> graph = torch::jit::toGraphFunction(module.get_method(context.methodName()).function()).graph();
  std::vector<Group> groups;
  std::map<Value*, size_t> groupOf;
  std::unique_ptr<torch::jit::AliasDb> aliasDb;
  for (Node* node : collectNodes(*graph, {c10::aten::linear})) {
    std::string whyNot;
    std::optional<LayerMatch> layer = matchLinear(node, whyNot);
    if (layer) {
      const at::Tensor& weight = layer->weight;
      if (weight.scalar_type() != at::kFloat || !weight.device().is_cpu() || weight.dim() != 2) {
        whyNot = "weight is not a 2-D float32 cpu tensor";
      } else if (weight.numel() < minSize.value()) {
        whyNot = "weight has " + std::to_string(weight.numel()) + " elements, fewer than min-size " +
                 std::to_string(minSize.value());
      } else if (layer->bias && (layer->bias->scalar_type() != at::kFloat || !layer->bias->device().is_cpu())) {
        whyNot = "bias is not a float32 cpu tensor";
      } else {
        if (!aliasDb) {
          aliasDb = std::make_unique<torch::jit::AliasDb>(graph);
        }
        if (aliasDb->hasWriters(node->input(0))) {
          whyNot = "%" + node->input(0)->debugName() + " (or an alias of it) is written in place";
        }
      }
    }
    auto entry = groupOf.find(node->input(0));
    if (whyNot.empty() && entry != groupOf.end() &&
        groups[entry->second].layers.front().weight.size(1) != layer->weight.size(1)) {
      whyNot = "in_features differ from " + describeNode(groups[entry->second].layers.front().node) + "'s";
    }
    if (!whyNot.empty()) {
      ++skipped;
      context.missed(node) << whyNot;
      continue;
    }
    if (entry == groupOf.end()) {
      entry = groupOf.emplace(node->input(0), groups.size()).first;
      groups.push_back(Group{node->input(0), {}, {}});
    }
    groups[entry->second].layers.push_back(*layer);
  }
  if (groups.empty()) {
    return false;
  }
  if (calibrationData.value().empty()) {
    throw Error(ErrorKind::Usage, name() + ": no calibration inputs: give tsopt --calibration-data=FILE (input tuples "
                                           "saved with torch.save) or " + name() + "{calibration-data=FILE}");
  }
  InputSets sets = loadInputSets(calibrationData);
  at::NoGradGuard noGrad;
  auto runCall = [&](torch::jit::GraphFunction& function, const std::vector<c10::IValue>& arguments, size_t call) {
    try {
      return runOnCopies(function, module._ivalue(), arguments).back().toTupleRef().elements().vec();
    } catch (const std::exception& error) {
      throw Error(ErrorKind::Input, name() + ": calibration call " + std::to_string(call + 1) + " failed: " +
                                        firstLine(error.what()));
    }
  };

  // Calibration: the method's results in float32 and, per group, the largest |x_j| of its input.
  std::vector<c10::IValue> references;
  {
    GraphCopy copy = copyOf(*graph);
    std::vector<Value*> recorded(copy.graph->outputs().begin(), copy.graph->outputs().end());
    for (const Group& group : groups) {
      recorded.push_back(copy.values.at(group.input));
    }
    const size_t results = graph->outputs().size();
    returnOnly(*copy.graph, recorded);
    torch::jit::GraphFunction recorder("tsopt_smooth_quant_calibration", copy.graph, nullptr);
    for (size_t call = 0; call < sets.size(); ++call) {
      std::vector<c10::IValue> values = runCall(recorder, sets[call], call);
      references.push_back(results == 1 ? values[0]
                                        : c10::IValue(c10::ivalue::Tuple::create(std::vector<c10::IValue>(
                                              values.begin(), values.begin() + results))));
      for (size_t i = 0; i < groups.size(); ++i) {
        const c10::IValue& value = values[results + i];
        Group& group = groups[i];
        group.callMax.emplace_back();
        if (value.isTensor() && value.toTensor().is_floating_point() && value.toTensor().numel() > 0) {
          const int64_t features = group.layers.front().weight.size(1);
          group.callMax.back() =
              std::get<0>(value.toTensor().detach().abs().reshape({-1, features}).max(0)).to(at::kDouble);
        }
      }
      ++calls;
    }
  }
  context.analysis() << "ran " << sets.size() << " calibration calls from " << calibrationData.value();
  std::vector<Group*> seen;
  for (Group& group : groups) {
    if (group.inputMax().defined()) {  // else no call reached it (a branch never taken): its ranges are unknown
      seen.push_back(&group);
    }
  }
  if (seen.empty() || sets.empty()) {
    return false;
  }

  // Each candidate alpha (and none) as the dynamic int8 model it gives: every layer of the groups on tsopt's
  // int8 kernel, the rest float32, scored against the float32 results. Two folds, so that the score is that
  // of inputs the smoothing was not fit to (fit on the even calls, scored on the odd ones, and the other way
  // round); one call is scored on itself.
  const bool folds = sets.size() > 1;
  auto scoreOf = [&](std::optional<double> alpha) {
    Score score;
    for (size_t fold = 0; fold < (alpha && folds ? 2 : 1); ++fold) {
      auto fitted = [&](size_t call) { return !alpha || !folds || call % 2 != fold; };
      GraphCopy copy = copyOf(*graph);
      for (Group* group : seen) {
        std::vector<std::pair<Node*, at::Tensor>> layers;
        for (const LayerMatch& layer : group->layers) {
          layers.emplace_back(copy.values.at(layer.node->output())->node(), layer.weight);
        }
        at::Tensor inputMax = group->inputMax(fitted);
        if (alpha && inputMax.defined()) {
          smooth(*copy.graph, copy.values.at(group->input), layers, smoothingFor(*group, inputMax, *alpha));
        }
        for (const auto& entry : layers) {
          quantizeDynamic(*copy.graph, entry.first, reduceRange);
        }
      }
      returnOnly(*copy.graph, std::vector<Value*>(copy.graph->outputs().begin(), copy.graph->outputs().end()));
      torch::jit::GraphFunction candidate("tsopt_smooth_quant_candidate", copy.graph, nullptr);
      for (size_t call = 0; call < sets.size(); ++call) {
        if (alpha && folds && fitted(call)) {
          continue;
        }
        std::vector<c10::IValue> values = runCall(candidate, sets[call], call);
        c10::IValue result = values.size() == 1 ? values[0] : c10::IValue(c10::ivalue::Tuple::create(values));
        const double cosine = lowestCosine(references[call], result);
        score.mean += cosine / static_cast<double>(sets.size());
        score.worst = std::min(score.worst, cosine);
      }
    }
    return score;
  };
  const Score unsmoothed = scoreOf(std::nullopt);
  std::optional<double> chosen;
  Score best = unsmoothed;
  for (double candidate : alphas) {
    Score score = scoreOf(candidate);
    context.debug() << name() << ": alpha " << candidate << ": int8 cosine on the calibration calls (folds), mean "
                    << formatCosine(score.mean) << ", worst " << formatCosine(score.worst) << " (none: "
                    << formatCosine(unsmoothed.mean) << ", " << formatCosine(unsmoothed.worst) << ")\n";
    if (alphas.size() == 1 || score.mean > best.mean) {  // a fixed alpha is taken as it is
      chosen = candidate;
      best = score;
    }
  }
  if (!chosen) {
    skipped += seen.size();
    context.missedText() << "no alpha brings the int8 model closer to float32 on the calibration calls than no "
                            "smoothing (mean cosine "
                         << formatCosine(unsmoothed.mean) << "): nothing smoothed";
    return false;
  }
  context.analysis() << "alpha " << formatAlpha(chosen) << ": dynamic int8 cosine on the calibration calls, mean "
                     << formatCosine(best.mean) << " and worst " << formatCosine(best.worst) << " (unsmoothed "
                     << formatCosine(unsmoothed.mean) << ", " << formatCosine(unsmoothed.worst) << ")";

  bool changed = false;
  for (Group* group : seen) {
    const at::Tensor inputMax = group->inputMax();
    const at::Tensor scale = smoothingFor(*group, inputMax, *chosen);
    std::vector<Node*> nodes;
    std::vector<std::pair<Node*, at::Tensor>> layers;
    std::string names;
    for (const LayerMatch& layer : group->layers) {
      nodes.push_back(layer.node);
      layers.emplace_back(layer.node, layer.weight);
      names += (names.empty() ? "" : ", ") + describeNode(layer.node);
    }
    if (!context.shouldRewrite("smooth %" + group->input->debugName() + " for " + names + " (alpha " +
                                   formatAlpha(chosen) + ": largest input range " + spreadText(inputMax) +
                                   "x the median, then " + spreadText(inputMax / scale.to(at::kDouble)) + "x)",
                               nodes.front(), nodes)) {
      continue;
    }
    smooth(*graph, group->input, layers, scale);
    layersSmoothed += layers.size();
    ++inputs;
    changed = true;
  }
  return changed;
}

std::vector<double> SmoothQuantPass::candidateAlphas() const {
  if (alpha.value() == "auto") {
    return {0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  }
  std::string error;
  double value = 0.0;
  if (!parseOptionValue(alpha.value(), value, error) || !(value >= 0.0 && value <= 1.0)) {
    throw Error(ErrorKind::Usage, name() + ": alpha=" + alpha.value() + ": expected auto or a number in [0, 1]");
  }
  return {value};
}

void SmoothQuantPass::setDefaultCalibrationData(const std::string& path) {
  if (calibrationData.value().empty()) {
    calibrationData = path;
  }
}

} // namespace tsopt
