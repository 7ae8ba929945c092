#include "runtime/packed_gemm.h"

#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

namespace tsopt::runtime {
namespace {

// MKL's CBLAS enumerators and its LP64 interface (MKL_INT is int): the
// wheels export the ILP64 variants with a _64 suffix.
constexpr int kRowMajor = 101;
constexpr int kNoTrans = 111;
constexpr int kTrans = 112;
constexpr int kPacked = 151;
constexpr int kBMatrix = 162;

struct MklPackedApi {
  size_t (*getSize)(int identifier, int m, int n, int k) = nullptr;
  void (*pack)(int layout, int identifier, int trans, int m, int n, int k, float alpha, const float* src, int ld,
               float* dest) = nullptr;
  void (*compute)(int layout, int transa, int transb, int m, int n, int k, const float* a, int lda, const float* b,
                  int ldb, float beta, float* c, int ldc) = nullptr;

  bool complete() const { return getSize && pack && compute; }
};

/// The functions in the library that defines ATen's own symbols (libtorch_cpu),
/// which is loaded already: RTLD_NOLOAD never loads anything. Only on Intel
/// CPUs, unless TSOPT_LINEAR_GEMM says otherwise (mkl: always; onednn: never).
MklPackedApi findApi() {
  MklPackedApi api;
  const char* setting = std::getenv("TSOPT_LINEAR_GEMM");
  const std::string choice = setting != nullptr ? setting : "";
  if (choice == "onednn" || (choice != "mkl" && !isIntelCpu())) {
    return api;
  }
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&at::get_num_threads), &info) == 0 || info.dli_fname == nullptr) {
    return api;
  }
  void* library = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
  if (library == nullptr) {
    return api;
  }
  api.getSize = reinterpret_cast<decltype(api.getSize)>(dlsym(library, "cblas_sgemm_pack_get_size"));
  api.pack = reinterpret_cast<decltype(api.pack)>(dlsym(library, "cblas_sgemm_pack"));
  api.compute = reinterpret_cast<decltype(api.compute)>(dlsym(library, "cblas_sgemm_compute"));
  return api;
}

const MklPackedApi& api() {
  static const MklPackedApi instance = findApi();
  return instance;
}

int asMklInt(int64_t value) {
  TORCH_CHECK(value >= 0 && value <= std::numeric_limits<int>::max(), "tsopt: matrix dimension ", value,
              " is out of range for MKL's packed sgemm");
  return static_cast<int>(value);
}

} // namespace

bool isIntelCpu() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_is("intel");
#else
  return false;
#endif
}

bool packedGemmAvailable() { return api().complete(); }

PackedGemmWeights::PackedGemmWeights(const at::Tensor& weight, int64_t rows)
    : rows_(asMklInt(rows)), outFeatures_(asMklInt(weight.size(0))), inFeatures_(asMklInt(weight.size(1))) {
  TORCH_CHECK(packedGemmAvailable(), "tsopt: MKL's packed sgemm is not available");
  TORCH_CHECK(weight.is_contiguous() && weight.scalar_type() == at::kFloat, "tsopt: packed sgemm needs a dense "
              "float32 weight");
  const size_t bytes = api().getSize(kBMatrix, rows_, outFeatures_, inFeatures_);
  packed_ = at::empty({static_cast<int64_t>(bytes)}, weight.options().dtype(at::kByte));
  // B = weightᵀ, (in, out): the weight is its row-major transpose.
  api().pack(kRowMajor, kBMatrix, kTrans, rows_, outFeatures_, inFeatures_, 1.0f, weight.data_ptr<float>(),
             inFeatures_, reinterpret_cast<float*>(packed_.data_ptr()));
}

void PackedGemmWeights::run(const float* input, at::Tensor& out, const float* bias, bool accumulate,
                            const Activation& activation) const {
  TORCH_CHECK(out.is_contiguous() && out.numel() == static_cast<int64_t>(rows_) * outFeatures_,
              "tsopt: packed sgemm needs a dense output of the packed row count");
  // Plain loops, not ATen ops: at a few rows the dispatch of a bias copy and an
  // activation would cost more than the product (benchmarks/small_models.py).
  float* c = out.data_ptr<float>();
  if (bias != nullptr) {
    for (int row = 0; row < rows_; ++row) {
      float* line = c + static_cast<int64_t>(row) * outFeatures_;
      if (accumulate) {
        for (int column = 0; column < outFeatures_; ++column) {
          line[column] += bias[column];
        }
      } else {
        std::memcpy(line, bias, sizeof(float) * static_cast<size_t>(outFeatures_));
      }
    }
  }
  const float beta = bias != nullptr || accumulate ? 1.0f : 0.0f;
  api().compute(kRowMajor, kNoTrans, kPacked, rows_, outFeatures_, inFeatures_, input, inFeatures_,
                reinterpret_cast<const float*>(packed_.data_ptr()), inFeatures_, beta, c, outFeatures_);
  if (appliedInLoop(activation)) {
    applyActivationInLoop(c, out.numel(), activation);
  } else {
    applyActivationInPlace(out, activation);
  }
}

} // namespace tsopt::runtime
