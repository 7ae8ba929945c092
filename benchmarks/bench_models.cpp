//===- bench_models.cpp - Zoo models under PyTorch's optimizers and tsopt --===//
///
/// For each zoo model, batch size and intra-op thread count, BM_Forward times
/// one forward call of every variant of the model:
///   unoptimized   the traced archive as saved
///   torch-freeze  freeze_module + OptimizeFrozenGraph (what torch.jit.freeze runs)
///   torch-ofi     torch::jit::optimize_for_inference
///   tsopt-O<n>    tsopt's -O<n> pipeline, for each level whose pipeline differs
///                 from the level below (-O2 and -O3 appear as they land)
/// BM_Optimize times each optimizer itself on a fresh clone of the archive, one
/// call per repetition (cloning is outside the timed region; PyTorch's freeze
/// clones again inside, as torch.jit.freeze does).
///
/// Every variant is warmed up per thread count (the profiling executor's first
/// calls) before it is timed, and its output is compared once with the
/// unoptimized module's (counter max_abs_err). Counters: gflops (the model's
/// FLOP count per call over wall time), items_per_second (samples).
///
/// Flags, given before Google Benchmark's own:
///   --zoo=DIR         NAME.pt / NAME_batchN.pt and their .inputs.pt
///                     (default: $TSOPT_ZOO, else build/zoo)
///   --models=a,b      default: every model of kModelWork
///   --batches=1,8     batch sizes; a batch the zoo lacks is skipped with a note
///   --threads=1,2     at::set_num_threads values
///   --variants=a,b    default: all of the above
///
/// Everything requested is loaded up front, so run one model per process with
/// --benchmark_repetitions=N --benchmark_enable_random_interleaving=true: the
/// variants then alternate and their ratios come from the same minutes
/// (scripts/run_benchmarks.sh does this).
///
//===----------------------------------------------------------------------===//
#include "ir_tools/tsopt/equivalence.h"
#include "passes/builtin/builtin_passes.h"
#include "passes/builtin/levels.h"
#include "passes/core/pass_manager.h"
#include "passes/core/pipeline.h"
#include "passes/core/registry.h"
#include "passes/core/string_utils.h"
#include "runtime/register_ops.h"

#include <benchmark/benchmark.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/passes/frozen_graph_optimizations.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/version.h>

#include <ATen/Parallel.h>

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

/// Work per forward pass and sample, in GFLOP, in run order: the zoo's table
/// (examples/models/gflop_per_sample.json, which says how it was counted),
/// whose rows CMake writes into gflop_per_sample.inc at configure time.
const std::vector<std::pair<std::string, double>> kModelWork = {
#include "gflop_per_sample.inc"
};
const std::map<std::string, double> kGflopPerSample(kModelWork.begin(), kModelWork.end());

std::vector<std::string> modelOrder() {
  std::vector<std::string> models;
  for (const auto& row : kModelWork) {
    models.push_back(row.first);
  }
  return models;
}

/// Warm-up before the first timed call at a thread count: enough calls for the
/// profiling executor to settle on its optimized plan, and enough time for caches.
constexpr int kWarmupCalls = 3;
constexpr double kWarmupSeconds = 0.25;
constexpr int kOptimizeRepetitions = 3;

struct Options {
  std::string zoo;
  std::vector<std::string> models = modelOrder();
  std::vector<int> batches = {1, 8};
  std::vector<int> threads = {1, 2};
  std::vector<std::string> variants;  ///< Empty: all.
};

/// Turns a module into an optimized one; may modify its argument.
using Optimizer = std::function<torch::jit::Module(torch::jit::Module&)>;

struct NamedOptimizer {
  std::string name;
  Optimizer optimize;
};

struct Variant {
  std::string name;
  torch::jit::Module module;
  double maxAbsError = 0;
  std::set<int> warmedThreadCounts;
};

struct ModelCase {
  std::string model;
  int batch = 1;
  double gflopPerCall = 0;
  torch::jit::Module original;
  std::vector<c10::IValue> inputs;
  std::vector<std::unique_ptr<Variant>> variants;
};

std::vector<int> splitInts(const std::string& text) {
  std::vector<int> values;
  for (const std::string& item : tsopt::splitList(text)) {
    values.push_back(std::stoi(item));
  }
  return values;
}

/// Takes this harness's flags out of argv (Google Benchmark rejects unknown ones).
Options parseOptions(int& argc, char** argv) {
  Options options;
  const char* zooEnv = std::getenv("TSOPT_ZOO");
  options.zoo = zooEnv ? zooEnv : "build/zoo";
  int kept = 1;
  for (int index = 1; index < argc; ++index) {
    std::string arg = argv[index];
    auto value = [&](const std::string& flag) -> const char* {
      return arg.rfind(flag + "=", 0) == 0 ? argv[index] + flag.size() + 1 : nullptr;
    };
    if (const char* zoo = value("--zoo")) {
      options.zoo = zoo;
    } else if (const char* models = value("--models")) {
      options.models = tsopt::splitList(models);
    } else if (const char* batches = value("--batches")) {
      options.batches = splitInts(batches);
    } else if (const char* threads = value("--threads")) {
      options.threads = splitInts(threads);
    } else if (const char* variants = value("--variants")) {
      options.variants = tsopt::splitList(variants);
    } else {
      argv[kept++] = argv[index];
    }
  }
  argc = kept;
  return options;
}

torch::jit::Module torchFreeze(torch::jit::Module& module) {
  torch::jit::Module frozen = torch::jit::freeze_module(module);
  auto graph = frozen.get_method("forward").graph();
  torch::jit::OptimizeFrozenGraph(graph, /*optimize_numerics=*/true);
  return frozen;
}

/// As torch.jit.optimize_for_inference does: freeze first (the C++ entry point
/// only freezes modules that still have a `training` attribute), then optimize.
torch::jit::Module torchOptimizeForInference(torch::jit::Module& module) {
  torch::jit::Module frozen = torchFreeze(module);
  return torch::jit::optimize_for_inference(frozen);
}

torch::jit::Module tsoptLevel(torch::jit::Module& module, int level) {
  static std::ostream discard(nullptr);
  tsopt::PassManager manager({}, discard);
  manager.addPasses(tsopt::buildPipeline(tsopt::levelPipelineName(level), tsopt::PassRegistry::global(),
                                         "-O" + std::to_string(level)));
  tsopt::IRUnit unit = tsopt::IRUnit::fromModule(module, "forward");
  manager.run(unit);
  return *unit.module;
}

std::vector<NamedOptimizer> optimizers(const std::vector<std::string>& selected) {
  std::vector<NamedOptimizer> all = {{"torch-freeze", torchFreeze}, {"torch-ofi", torchOptimizeForInference}};
  std::string previousPipeline;
  for (int level = 1; level <= tsopt::kMaxOptimizationLevel; ++level) {
    std::string pipeline = tsopt::printPipeline(
        tsopt::buildPipeline(tsopt::levelPipelineName(level), tsopt::PassRegistry::global()));
    if (pipeline != previousPipeline) {
      all.push_back({"tsopt-O" + std::to_string(level),
                     [level](torch::jit::Module& module) { return tsoptLevel(module, level); }});
    }
    previousPipeline = pipeline;
  }
  if (selected.empty()) {
    return all;
  }
  std::vector<NamedOptimizer> kept;
  std::copy_if(all.begin(), all.end(), std::back_inserter(kept), [&](const NamedOptimizer& optimizer) {
    return std::find(selected.begin(), selected.end(), optimizer.name) != selected.end();
  });
  return kept;
}

bool wanted(const std::vector<std::string>& selected, const std::string& name) {
  return selected.empty() || std::find(selected.begin(), selected.end(), name) != selected.end();
}

std::string archiveStem(const std::string& zoo, const std::string& model, int batch) {
  return zoo + "/" + model + (batch == 1 ? "" : "_batch" + std::to_string(batch));
}

bool fileExists(const std::string& path) { return std::ifstream(path).good(); }

double maxAbsError(const c10::IValue& expected, const c10::IValue& actual) {
  double worst = 0;
  for (const tsopt::LeafComparison& leaf : tsopt::compareOutputs(expected, actual, {})) {
    worst = std::max(worst, leaf.maxAbsError);
  }
  return worst;
}

std::unique_ptr<Variant> makeVariant(std::string name, torch::jit::Module module) {
  auto variant = std::make_unique<Variant>();
  variant->name = std::move(name);
  variant->module = std::move(module);
  return variant;
}

/// Loads the archive, builds every variant and records how far each output is
/// from the unoptimized module's.
std::unique_ptr<ModelCase> loadCase(const Options& options, const std::string& model, int batch,
                                    const std::vector<NamedOptimizer>& selectedOptimizers) {
  std::string stem = archiveStem(options.zoo, model, batch);
  if (!fileExists(stem + ".pt") || !fileExists(stem + ".inputs.pt")) {
    std::cerr << "bench_models: skipping " << model << " batch " << batch << ": no " << stem
              << ".pt/.inputs.pt (make_zoo.py --batch " << batch << ")\n";
    return nullptr;
  }
  auto modelCase = std::make_unique<ModelCase>();
  modelCase->model = model;
  modelCase->batch = batch;
  modelCase->gflopPerCall = kGflopPerSample.at(model) * batch;
  modelCase->original = torch::jit::load(stem + ".pt");
  modelCase->original.eval();
  modelCase->inputs = tsopt::loadInputSets(stem + ".inputs.pt").front();

  c10::NoGradGuard noGrad;
  c10::IValue reference = modelCase->original.forward(modelCase->inputs);
  if (wanted(options.variants, "unoptimized")) {
    modelCase->variants.push_back(makeVariant("unoptimized", modelCase->original));
  }
  for (const NamedOptimizer& optimizer : selectedOptimizers) {
    torch::jit::Module copy = modelCase->original.clone();
    auto variant = makeVariant(optimizer.name, optimizer.optimize(copy));
    variant->maxAbsError = maxAbsError(reference, variant->module.forward(modelCase->inputs));
    modelCase->variants.push_back(std::move(variant));
  }
  return modelCase;
}

void warmUp(Variant& variant, const std::vector<c10::IValue>& inputs) {
  auto start = std::chrono::steady_clock::now();
  for (int call = 0; call < kWarmupCalls ||
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < kWarmupSeconds;
       ++call) {
    variant.module.forward(inputs);
  }
}

/// Sets torch's intra-op threads. Debian's OpenBLAS is its OpenMP build: it
/// ignores OPENBLAS_NUM_THREADS and runs on as many threads as OpenMP allows,
/// which this sets too.
void setThreads(int threads) { at::set_num_threads(threads); }

void BM_Forward(benchmark::State& state, ModelCase* modelCase, Variant* variant, int threads) {
  setThreads(threads);
  c10::NoGradGuard noGrad;
  if (variant->warmedThreadCounts.insert(threads).second) {
    warmUp(*variant, modelCase->inputs);
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(variant->module.forward(modelCase->inputs));
  }
  state.SetItemsProcessed(state.iterations() * modelCase->batch);
  state.counters["gflops"] =
      benchmark::Counter(modelCase->gflopPerCall * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["max_abs_err"] = variant->maxAbsError;
  state.counters["batch"] = modelCase->batch;
  state.counters["threads"] = threads;
}

void BM_Optimize(benchmark::State& state, ModelCase* modelCase, const NamedOptimizer* optimizer, int threads) {
  setThreads(threads);
  torch::jit::Module optimized;
  for (auto _ : state) {
    state.PauseTiming();
    optimized = torch::jit::Module();
    torch::jit::Module copy = modelCase->original.clone();
    state.ResumeTiming();
    optimized = optimizer->optimize(copy);
  }
}

std::string blasDescription() {
  using ConfigFn = char* (*)();
  using CoreFn = char* (*)();
  using ThreadsFn = int (*)();
  auto config = reinterpret_cast<ConfigFn>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  auto core = reinterpret_cast<CoreFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  auto threads = reinterpret_cast<ThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (!config || !core || !threads) {
    return "not OpenBLAS (reference BLAS?)";
  }
  return std::string(config()) + "; core " + core() + "; " + std::to_string(threads()) + " OpenBLAS thread(s)";
}

std::string environmentValue(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "(unset)";
}

} // namespace

int main(int argc, char** argv) {
  tsopt::registerBuiltinPasses();
  Options options = parseOptions(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::AddCustomContext("torch", TORCH_VERSION);
  setThreads(options.threads.back());
  benchmark::AddCustomContext("blas", blasDescription());
  for (const char* variable : {"OPENBLAS_CORETYPE", "OMP_WAIT_POLICY", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"}) {
    benchmark::AddCustomContext(variable, environmentValue(variable));
  }
  benchmark::AddCustomContext("zoo", options.zoo);
  // Optimized graphs call tsopt:: operators; linking the runtime registers them.
  benchmark::AddCustomContext("tsopt_runtime_ops", std::to_string(tsopt::runtime::registeredOperators().size()));

  static const std::vector<NamedOptimizer> selectedOptimizers = optimizers(options.variants);
  static std::vector<std::unique_ptr<ModelCase>> cases;
  for (const std::string& model : options.models) {
    if (!kGflopPerSample.count(model)) {
      std::cerr << "bench_models: unknown model '" << model << "'\n";
      return 1;
    }
    bool firstBatch = true;
    for (int batch : options.batches) {
      auto modelCase = loadCase(options, model, batch, selectedOptimizers);
      if (!modelCase) {
        continue;
      }
      for (int threads : options.threads) {
        for (auto& variant : modelCase->variants) {
          std::string name = "BM_Forward/" + model + "/batch:" + std::to_string(batch) +
                             "/threads:" + std::to_string(threads) + "/" + variant->name;
          benchmark::RegisterBenchmark(name.c_str(), BM_Forward, modelCase.get(), variant.get(), threads)
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime();
        }
      }
      if (firstBatch) {
        int threads = *std::max_element(options.threads.begin(), options.threads.end());
        for (const NamedOptimizer& optimizer : selectedOptimizers) {
          std::string name = "BM_Optimize/" + model + "/" + optimizer.name;
          // One call per repetition: optimizing BERT takes seconds.
          benchmark::RegisterBenchmark(name.c_str(), BM_Optimize, modelCase.get(), &optimizer, threads)
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime()
              ->Iterations(1)
              ->Repetitions(kOptimizeRepetitions);
        }
        firstBatch = false;
      }
      cases.push_back(std::move(modelCase));
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
