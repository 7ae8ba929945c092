#include "ir_tools/tsopt/sensitivity.h"

#include "ir_tools/common/output_file.h"
#include "ir_tools/tsdump/json_writer.h"
#include "ir_tools/tsopt/equivalence.h"
#include "ir_tools/tsopt/keep_float_selection.h"
#include "passes/core/error.h"
#include "passes/core/input_sets.h"
#include "passes/core/pass_manager.h"
#include "passes/quantization/module_queries.h"
#include "passes/quantization/quantize_dynamic.h"
#include "passes/quantization/weighted_layers.h"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <map>
#include <ostream>
#include <set>
#include <sstream>

namespace tsopt {
namespace {

/// How many times the chosen and the all-int8 module are timed, interleaved.
constexpr int kTimingRounds = 7;

/// The pass whose keep-float the analysis varies, and what it already keeps.
struct QuantizationPass {
  size_t index = 0;
  std::string name;
  std::vector<std::string> userKeepFloat;
};

QuantizationPass findQuantizationPass(const ParsedPipeline& pipeline, const std::string& flag) {
  std::optional<QuantizationPass> found;
  for (size_t index = 0; index < pipeline.size(); ++index) {
    const Pass& pass = *pipeline.passes()[index];
    if (pass.name() != "insert-observers" && pass.name() != "quantize-dynamic") {
      continue;
    }
    if (found) {
      throw Error(ErrorKind::Usage, flag + " needs one quantization pass; the pipeline has both '" + found->name +
                                        "' and '" + pass.name() + "'");
    }
    std::vector<std::string> kept;
    std::string problem;
    parseOptionValue(const_cast<Pass&>(pass).findOption("keep-float")->valueText(), kept, problem);
    found = QuantizationPass{index, pass.name(), kept};
  }
  if (!found) {
    throw Error(ErrorKind::Usage, flag + " needs a pipeline that quantizes: insert-observers,calibrate,"
                                         "quantize-static or quantize-dynamic (pipeline: '" +
                                         pipeline.text() + "')");
  }
  return *found;
}

std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& item : items) {
    text += (text.empty() ? "" : ",") + item;
  }
  return text;
}

void setKeepFloat(Pass& pass, const std::vector<std::string>& layers) {
  std::string problem;
  if (!pass.findOption("keep-float")->parse(joined(layers), problem)) {
    throw Error(ErrorKind::PassFailure, pass.name() + ": cannot set keep-float: " + problem);
  }
}

bool isInside(const std::string& path, const std::vector<std::string>& roots) {
  return std::any_of(roots.begin(), roots.end(), [&](const std::string& root) {
    return path == root || path.rfind(root + ".", 0) == 0;
  });
}

/// Conv1d/2d/3d and Linear submodules (their TorchScript class names may carry
/// a ___torch_mangle_N component).
bool isConvOrLinear(const torch::jit::Module& module) {
  std::string type = module.type()->name() ? module.type()->name()->qualifiedName() : "";
  std::string leaf = type.substr(type.rfind('.') + 1);
  bool conv = type.find("torch.nn.modules.conv.") != std::string::npos &&
              (leaf == "Conv1d" || leaf == "Conv2d" || leaf == "Conv3d");
  bool linear = type.find("torch.nn.modules.linear.") != std::string::npos && leaf == "Linear";
  return conv || linear;
}

void collectLinearLayers(torch::jit::Block& block, std::vector<std::string>& layers) {
  for (torch::jit::Node* node : block.nodes()) {
    for (torch::jit::Block* child : node->blocks()) {
      collectLinearLayers(*child, layers);
    }
    std::string kind = node->kind().toQualString();
    if (kind != "aten::linear" && kind != "aten::matmul") {
      continue;
    }
    std::string whyNot;
    if (auto layer = matchWeightedLayer(node, whyNot)) {
      std::string name = keepFloatEntryFor(layer->weightValue->debugName());
      if (std::find(layers.begin(), layers.end(), name) == layers.end()) {
        layers.push_back(name);
      }
    }
  }
}

class Analysis {
public:
  Analysis(const DriverOptions& options, const ParsedPipeline& pipeline, const LoadedInput& input,
           QuantizationPass target, InputSets inputs)
      : options_(options), pipeline_(pipeline), input_(input), target_(std::move(target)),
        inputs_(std::move(inputs)), reference_(input.freshModule()) {}

  /// The layers keep-float can name, in the module's (or graph's) order.
  std::vector<std::string> candidateLayers() {
    std::vector<std::string> layers;
    if (target_.name == "insert-observers") {
      for (const auto& child : input_.freshModule().named_modules()) {
        if (!child.name.empty() && isConvOrLinear(child.value)) {
          layers.push_back(child.name);
        }
      }
    } else {
      IRUnit unit = IRUnit::fromModule(input_.freshModule(), options_.method);
      PassManager manager({}, silent_);
      manager.addPasses(pipeline_.instantiate());
      manager.run(unit, target_.index);
      collectLinearLayers(*unit.graph->block(), layers);
    }
    layers.erase(std::remove_if(layers.begin(), layers.end(),
                                [&](const std::string& layer) { return isInside(layer, target_.userKeepFloat); }),
                 layers.end());
    return layers;
  }

  struct Variant {
    double cosine = 1;
    size_t quantizedOps = 0;
    torch::jit::Module module;
    /// With every layer kept, a static pipeline can have nothing left to
    /// observe and fail (calibrate needs observers): the result is then the
    /// float32 module, and this says why.
    std::string floatOnlyBecause;
  };

  /// The pipeline with `kept` (and the user's keep-float) in float32, run on a
  /// fresh copy and measured against the float32 module. `everyLayer` says
  /// that `kept` holds every layer.
  Variant run(const std::vector<std::string>& kept, bool everyLayer = false) {
    ++runs_;
    std::vector<std::unique_ptr<Pass>> passes = pipeline_.instantiate();
    std::vector<std::string> keepFloat = target_.userKeepFloat;
    keepFloat.insert(keepFloat.end(), kept.begin(), kept.end());
    setKeepFloat(*passes[target_.index], keepFloat);
    PassManager manager({}, silent_);
    manager.addPasses(std::move(passes));
    IRUnit unit = IRUnit::fromModule(input_.freshModule(), options_.method);
    try {
      manager.run(unit);
    } catch (const Error& error) {
      if (everyLayer) {
        return {1, 0, input_.freshModule(), firstLine(error.what())};
      }
      throw Error(ErrorKind::PassFailure, "sensitivity: the pipeline with keep-float=" + joined(keepFloat) +
                                              " failed: " + firstLine(error.what()));
    }
    AccuracyReport report = measureAccuracy(reference_, *unit.module, options_.method, inputs_, /*callsPerSet=*/1);
    if (!report.ok) {
      throw Error(ErrorKind::PassFailure, "sensitivity: the module with keep-float=" + joined(keepFloat) +
                                              " does not run: " + report.failure);
    }
    return {report.worstCosine(), countQuantizedOps(*unit.graph->block()), *unit.module, ""};
  }

  size_t runs() const { return runs_; }

  /// Median wall time, in milliseconds, of one pass of each module over the
  /// inputs; the two are timed in turn, round after round.
  std::pair<double, double> timeSideBySide(torch::jit::Module& first, torch::jit::Module& second) {
    auto onePass = [&](torch::jit::Module& module) {
      auto start = std::chrono::steady_clock::now();
      for (const std::vector<c10::IValue>& arguments : inputs_) {
        module.get_method(options_.method)(arguments);
      }
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    };
    onePass(first);
    onePass(second);
    std::vector<double> firstTimes;
    std::vector<double> secondTimes;
    for (int round = 0; round < kTimingRounds; ++round) {
      firstTimes.push_back(onePass(first));
      secondTimes.push_back(onePass(second));
    }
    auto median = [](std::vector<double>& times) {
      std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
      return times[times.size() / 2];
    };
    return {median(firstTimes), median(secondTimes)};
  }

private:
  const DriverOptions& options_;
  const ParsedPipeline& pipeline_;
  const LoadedInput& input_;
  QuantizationPass target_;
  InputSets inputs_;
  torch::jit::Module reference_;
  std::ostringstream silent_;
  size_t runs_ = 0;
};

struct Selection {
  KeepFloatChoice choice;
  std::vector<std::string> kept;
  double chosenMs = 0;
  double int8Ms = 0;
  bool timed = false;
};

void writeReport(const std::string& path, const ParsedPipeline& pipeline, const QuantizationPass& target,
                 const std::string& inputsPath, size_t used, size_t available, size_t runs, double allInt8,
                 double allFloat, const std::vector<LayerSensitivity>& ranking,
                 const std::vector<std::string>& leftOut, const std::optional<double>& minCosine,
                 const std::optional<Selection>& selection) {
  std::ostringstream text;
  JsonWriter json(text);
  json.beginObject();
  json.member("pipeline", pipeline.text());
  json.member("keep_float_pass", target.name);
  json.key("inputs").beginObject();
  json.member("file", inputsPath).member("used", static_cast<uint64_t>(used));
  json.member("available", static_cast<uint64_t>(available)).member("calls_each", 1);
  json.endObject();
  json.member("pipeline_runs", static_cast<uint64_t>(runs));
  json.member("all_int8_cosine", allInt8).member("all_float_cosine", allFloat);
  json.key("layers").beginArray();
  for (size_t rank = 0; rank < ranking.size(); ++rank) {
    json.beginObject();
    json.member("rank", static_cast<uint64_t>(rank + 1)).member("layer", ranking[rank].layer);
    json.member("only_int8_cosine", ranking[rank].onlyInt8Cosine);
    json.member("only_float_cosine", ranking[rank].onlyFloatCosine);
    json.endObject();
  }
  json.endArray();
  json.key("never_quantized").beginArray();
  for (const std::string& layer : leftOut) {
    json.value(layer);
  }
  json.endArray();
  if (selection) {
    json.key("selection").beginObject();
    json.member("min_cosine", *minCosine).member("reached", selection->choice.reached);
    json.key("keep_float").beginArray();
    for (const std::string& layer : selection->kept) {
      json.value(layer);
    }
    json.endArray();
    json.member("cosine", selection->choice.cosine);
    json.member("search_runs", static_cast<uint64_t>(selection->choice.measurements));
    if (selection->timed) {
      json.member("chosen_ms", selection->chosenMs).member("all_int8_ms", selection->int8Ms);
      json.member("timing_rounds", kTimingRounds);
    }
    json.endObject();
  }
  json.endObject();
  text << "\n";
  writeTextAtomically(path, text.str());
}

} // namespace

void runSensitivityAnalysis(const DriverOptions& options, ParsedPipeline& pipeline, const LoadedInput& input,
                            std::ostream& err) {
  const std::string flag = options.autoKeepFloat ? "--auto-keep-float" : "--sensitivity";
  if (!input.module) {
    throw Error(ErrorKind::Usage, flag + " needs a TorchScript archive input, not IR text");
  }
  if (!options.calibrationData) {
    throw Error(ErrorKind::Usage, flag + " needs --calibration-data=FILE (the inputs it measures on)");
  }
  QuantizationPass target = findQuantizationPass(pipeline, flag);
  InputSets all = loadInputSets(*options.calibrationData);
  size_t used = std::min<size_t>(all.size(), static_cast<size_t>(options.sensitivityInputs));
  InputSets inputs(all.begin(), all.begin() + used);
  if (input.device) {
    inputs = toDevice(inputs, *input.device);
  }
  Analysis analysis(options, pipeline, input, target, inputs);
  std::vector<std::string> candidates = analysis.candidateLayers();

  Analysis::Variant allInt8 = analysis.run({});
  Analysis::Variant allFloat = analysis.run(candidates, /*everyLayer=*/true);
  std::vector<LayerSensitivity> rows;
  std::vector<std::string> leftOut;
  for (const std::string& layer : candidates) {
    std::vector<std::string> others;
    std::copy_if(candidates.begin(), candidates.end(), std::back_inserter(others),
                 [&](const std::string& other) { return other != layer; });
    Analysis::Variant onlyInt8 = analysis.run(others);
    if (onlyInt8.quantizedOps <= allFloat.quantizedOps) {
      leftOut.push_back(layer);
      continue;
    }
    rows.push_back({layer, onlyInt8.cosine, analysis.run({layer}).cosine});
  }
  std::vector<LayerSensitivity> ranking = rankBySensitivity(rows);

  err << "tsopt: sensitivity: " << ranking.size() << " layers (keep-float of " << target.name << "), "
      << analysis.runs() << " pipeline runs, each measured once on the first " << used << " of " << all.size()
      << " input sets in " << *options.calibrationData << "\n";
  if (!leftOut.empty()) {
    err << "tsopt: sensitivity: never quantized by the pipeline, not ranked: " << joined(leftOut) << "\n";
  }
  err << "tsopt: sensitivity: cosine with every layer int8 " << cosineText(allInt8.cosine) << ", with all "
      << ranking.size() << " in float32 " << cosineText(allFloat.cosine)
      << (allFloat.floatOnlyBecause.empty() ? "" : " (the float32 module: " + allFloat.floatOnlyBecause + ")")
      << "\n";
  err << "  rank  only int8  only float  layer\n";
  for (size_t rank = 0; rank < ranking.size(); ++rank) {
    err << std::setw(6) << rank + 1 << "   " << cosineText(ranking[rank].onlyInt8Cosine) << "    "
        << cosineText(ranking[rank].onlyFloatCosine) << "  " << ranking[rank].layer << "\n";
  }

  std::optional<Selection> selection;
  if (options.autoKeepFloat) {
    Selection chosen;
    std::optional<torch::jit::Module> chosenModule;
    std::string chosenFloatOnlyBecause;
    auto keptPrefix = [&](size_t count) {
      std::vector<std::string> kept;
      for (size_t index = 0; index < count; ++index) {
        kept.push_back(ranking[index].layer);
      }
      return kept;
    };
    auto measure = [&](size_t count) {
      Analysis::Variant variant =
          count == 0 ? allInt8 : analysis.run(keptPrefix(count), count == ranking.size());
      // The search only moves down from a prefix that reached the floor, so
      // the last one to reach it is the one chosen.
      if (variant.cosine >= *options.minCosine) {
        chosenModule = variant.module;
        chosenFloatOnlyBecause = variant.floatOnlyBecause;
      }
      return variant.cosine;
    };
    chosen.choice = chooseKeepFloatPrefix(ranking.size(), *options.minCosine, measure);
    chosen.kept = keptPrefix(chosen.choice.keptLayers);
    if (chosen.choice.reached && !chosenFloatOnlyBecause.empty()) {
      throw Error(ErrorKind::PassFailure, "--auto-keep-float: only the float32 module reaches --min-cosine=" +
                                              preciseText(*options.minCosine) + " (with every layer kept the pipeline "
                                              "has nothing to quantize: " + chosenFloatOnlyBecause + ")");
    }
    if (chosen.choice.reached && chosen.choice.keptLayers > 0) {
      std::tie(chosen.chosenMs, chosen.int8Ms) = analysis.timeSideBySide(*chosenModule, allInt8.module);
      chosen.timed = true;
    }
    selection = chosen;
  }
  if (options.sensitivityReport) {
    writeReport(*options.sensitivityReport, pipeline, target, *options.calibrationData, used, all.size(),
                analysis.runs(), allInt8.cosine, allFloat.cosine, ranking, leftOut, options.minCosine, selection);
  }
  if (!selection) {
    return;
  }
  const KeepFloatChoice& choice = selection->choice;
  if (!choice.reached) {
    throw Error(ErrorKind::PassFailure, "--auto-keep-float: cosine " + preciseText(choice.cosine) + " with all " +
                                            std::to_string(ranking.size()) +
                                            " layers in float32 is below --min-cosine=" +
                                            preciseText(*options.minCosine));
  }
  err << "tsopt: auto-keep-float: kept " << choice.keptLayers << " of " << ranking.size()
      << " layers in float32, the first " << choice.keptLayers << " of the ranking (binary search on the prefix length, "
      << choice.measurements << " more runs): " << (selection->kept.empty() ? "none" : joined(selection->kept)) << "\n";
  err << "tsopt: auto-keep-float: cosine " << preciseText(choice.cosine) << " >= --min-cosine="
      << preciseText(*options.minCosine) << " (every layer int8: " << cosineText(allInt8.cosine) << ")\n";
  if (selection->timed) {
    err << "tsopt: auto-keep-float: speed: " << std::fixed << std::setprecision(2) << selection->chosenMs
        << " ms against " << selection->int8Ms << " ms all int8 (" << std::setprecision(3)
        << selection->chosenMs / selection->int8Ms << std::defaultfloat << "x) per pass over the " << used
        << " input sets, median of " << kTimingRounds << " interleaved rounds\n";
  } else {
    err << "tsopt: auto-keep-float: no layer kept in float32, no speed cost\n";
  }
  std::vector<std::string> keepFloat = target.userKeepFloat;
  keepFloat.insert(keepFloat.end(), selection->kept.begin(), selection->kept.end());
  setKeepFloat(*pipeline.passes()[target.index], keepFloat);
}

} // namespace tsopt
