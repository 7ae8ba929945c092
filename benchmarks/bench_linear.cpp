//===- bench_linear.cpp - The linear layers' kernels at transformer shapes -===//
///
/// BM_Linear/<kernel>/<in>x<out>/rows:<M>/threads:<T> times one product
/// (rows x in) · weightᵀ + bias into (rows x out), for BERT-base's layer
/// shapes (768->768, 768->3072, 3072->768, and 768->2304 for merged q/k/v),
/// with the weights coming from memory as in a whole model: each benchmark
/// cycles through enough copies of its layer to fill kWorkingSetBytes (about
/// a third of BERT-base's 340 MB), one copy per call. Kernels:
///   mkl           MKL's packed sgemm (PackedGemmWeights; PyPI's LibTorch only)
///   panel-avx512  the panel kernel on AVX-512 (CPUs with AVX512F)
///   panel-avx2    the panel kernel on AVX2
///   layer         LinearPacked::run, i.e. whatever the runtime picks; run
///                 with TSOPT_LINEAR_GEMM=onednn this is oneDNN 2.6's inner
///                 product (below 32 rows) or matmul, weights prepacked
/// Each kernel packs its copies when its benchmark starts, outside the timed
/// loop. Time is the calling thread's CPU time (Google Benchmark's default),
/// which with two threads counts the calling thread's share of the work.
///
/// Run kernels side by side, interleaved:
///   bench_linear --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
///   TSOPT_LINEAR_GEMM=onednn bench_linear --benchmark_filter=layer ...
///
//===----------------------------------------------------------------------===//
#include "runtime/packed_gemm.h"
#include "runtime/packed_layers.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace {

using tsopt::runtime::Activation;
using tsopt::runtime::LinearPacked;
using tsopt::runtime::PackedGemmWeights;
using tsopt::runtime::PanelGemmWeights;
using tsopt::runtime::PanelIsa;

constexpr int64_t kWorkingSetBytes = int64_t{128} << 20;

struct Shape {
  int64_t in;
  int64_t out;
};

const std::vector<Shape> kShapes = {{768, 768}, {768, 3072}, {3072, 768}, {768, 2304}};
const std::vector<int64_t> kRows = {1, 4, 14, 24, 32, 48, 64, 96, 128, 256, 512, 1024};
const std::vector<int> kThreads = {1, 2};

/// One product of a layer: input (rows x in), output (rows x out).
using Product = std::function<void(const at::Tensor& input, at::Tensor& out)>;
/// The products of one kernel over copies of one layer.
using Kernel = std::function<std::vector<Product>(const std::vector<at::Tensor>& weights, const at::Tensor& bias,
                                                  int64_t rows)>;

template <typename Packed, typename Make, typename Call>
std::vector<Product> productsOf(const std::vector<at::Tensor>& weights, const Make& make, const Call& call) {
  std::vector<Product> products;
  for (const at::Tensor& weight : weights) {
    std::shared_ptr<Packed> packed = make(weight);
    products.push_back([packed, call](const at::Tensor& input, at::Tensor& out) { call(*packed, input, out); });
  }
  return products;
}

Kernel panelKernel(PanelIsa isa) {
  return [isa](const std::vector<at::Tensor>& weights, const at::Tensor& bias, int64_t rows) {
    return productsOf<PanelGemmWeights>(
        weights, [isa](const at::Tensor& weight) { return std::make_shared<PanelGemmWeights>(weight, isa); },
        [bias, rows](const PanelGemmWeights& gemm, const at::Tensor& input, at::Tensor& out) {
          gemm.run(input.data_ptr<float>(), rows, out, bias.data_ptr<float>(), false, Activation{});
        });
  };
}

std::vector<Product> mklProducts(const std::vector<at::Tensor>& weights, const at::Tensor& bias, int64_t rows) {
  return productsOf<PackedGemmWeights>(
      weights, [rows](const at::Tensor& weight) { return std::make_shared<PackedGemmWeights>(weight, rows); },
      [bias](const PackedGemmWeights& gemm, const at::Tensor& input, at::Tensor& out) {
        gemm.run(input.data_ptr<float>(), out, bias.data_ptr<float>(), false, Activation{});
      });
}

std::vector<Product> layerProducts(const std::vector<at::Tensor>& weights, const at::Tensor& bias, int64_t rows) {
  return productsOf<LinearPacked>(
      weights, [bias](const at::Tensor& weight) { return std::make_shared<LinearPacked>(weight, bias); },
      [](LinearPacked& layer, const at::Tensor& input, at::Tensor& out) {
        out = layer.run(input, at::Tensor(), Activation{});
      });
}

void BM_Linear(benchmark::State& state, const Kernel& kernel, Shape shape, int64_t rows, int threads) {
  at::set_num_threads(threads);
  at::manual_seed(0);
  const int64_t bytes = shape.in * shape.out * static_cast<int64_t>(sizeof(float));
  const int64_t copies = std::max<int64_t>(2, kWorkingSetBytes / bytes);
  const at::Tensor weight = at::randn({shape.out, shape.in}) / 32;
  std::vector<at::Tensor> weights;
  for (int64_t copy = 0; copy < copies; ++copy) {
    weights.push_back(weight.clone());
  }
  const at::Tensor bias = at::randn({shape.out});
  const at::Tensor input = at::randn({rows, shape.in});
  at::Tensor out = at::empty({rows, shape.out});
  std::vector<Product> products = kernel(weights, bias, rows);
  weights.clear();  // The kernels hold what they read; LinearPacked shares the weight.
  for (const Product& product : products) {  // LinearPacked packs at its first call.
    product(input, out);
  }
  size_t next = 0;
  for (auto _ : state) {
    products[next](input, out);
    benchmark::DoNotOptimize(out.data_ptr<float>());
    next = (next + 1) % products.size();
  }
  state.counters["gflops"] = benchmark::Counter(2.0 * static_cast<double>(rows * shape.in * shape.out) *
                                                    static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate);
  state.counters["weight_gbps"] =
      benchmark::Counter(static_cast<double>(bytes) * static_cast<double>(state.iterations()) / 1e9,
                         benchmark::Counter::kIsRate);
}

} // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::vector<std::pair<std::string, Kernel>> kernels;
  if (tsopt::runtime::packedGemmAvailable()) {
    kernels.emplace_back("mkl", mklProducts);
  }
  if (tsopt::runtime::panelGemmAvailable()) {
    if (__builtin_cpu_supports("avx512f")) {
      kernels.emplace_back("panel-avx512", panelKernel(PanelIsa::Avx512));
    }
    kernels.emplace_back("panel-avx2", panelKernel(PanelIsa::Avx2));
  }
  kernels.emplace_back("layer", layerProducts);
  for (const auto& [name, kernel] : kernels) {
    for (const Shape& shape : kShapes) {
      for (int64_t rows : kRows) {
        for (int threads : kThreads) {
          const std::string benchmarkName = "BM_Linear/" + name + "/" + std::to_string(shape.in) + "x" +
                                            std::to_string(shape.out) + "/rows:" + std::to_string(rows) +
                                            "/threads:" + std::to_string(threads);
          benchmark::RegisterBenchmark(benchmarkName.c_str(), BM_Linear, kernel, shape, rows, threads)
              ->Unit(benchmark::kMicrosecond);
        }
      }
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
