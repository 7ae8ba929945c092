//===- packed_gemm.h - MKL's packed sgemm, where the LibTorch carries MKL --===//
///
/// Internal to the runtime. PyPI's PyTorch wheels link Intel MKL statically
/// and export its packed-matrix API (cblas_sgemm_pack, cblas_sgemm_compute),
/// on which Inductor's frozen linear layers run (mkl::_mkl_linear). With the
/// weight packed once, MKL's sgemm beats oneDNN 2.6's inner product and matmul
/// on every linear shape measured here: 3-10% at BERT-base's 128 rows, 10-20%
/// at 8-32 rows (docs/fusion.md). Debian's LibTorch runs on OpenBLAS, which
/// has no packed API.
///
/// So the runtime looks the functions up in the LibTorch it is loaded with, at
/// first use: one binary serves both lines, and where they are missing (or
/// TSOPT_LINEAR_GEMM=onednn) linear layers stay on oneDNN. MKL chooses its
/// kernels by CPU vendor: on an AMD EPYC it was twice as slow as the panel
/// kernel below at 8 rows, and as fast as or faster than oneDNN from 128 rows,
/// so there few rows go to the panel kernel (linear_packed.cpp). MKL's threads are
/// OpenMP's, so at::set_num_threads applies to them too.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "runtime/activation.h"

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include <cstdint>
#include <string>

namespace tsopt::runtime {

/// TSOPT_LINEAR_GEMM: "onednn" (every layer on oneDNN), "mkl" (MKL wherever
/// it is used, never the panel kernel), or "" (the default choice).
std::string linearGemmChoice();

/// Whether the CPU is Intel's: MKL picks its kernels by vendor, not by the
/// instruction sets the CPU has.
bool isIntelCpu();

/// Whether MKL's packed sgemm is in the process and not turned off (TSOPT_LINEAR_GEMM=onednn).
bool packedGemmAvailable();

/// A float32 (out_features, in_features) weight in MKL's packed format, for
/// products with a fixed number of rows (the packed layout depends on it).
class PackedGemmWeights {
public:
  /// Packs `weight` (contiguous, float32, 2-D); only when packedGemmAvailable().
  PackedGemmWeights(const at::Tensor& weight, int64_t rows);

  /// out = activation(input · weightᵀ + bias [+ out]), for `input` (rows,
  /// in_features) and `out` (rows, out_features), both dense and row-major
  /// (`out` is the whole output tensor, seen as that matrix). `out` starts as
  /// the bias (plus the residual it holds when `accumulate`), sgemm adds the
  /// product to it, and the activation runs in place. `bias` may be null.
  void run(const float* input, at::Tensor& out, const float* bias, bool accumulate,
           const Activation& activation) const;

private:
  int rows_;
  int outFeatures_;
  int inFeatures_;
  at::Tensor packed_;  ///< Bytes, as MKL laid them out.
};

/// Whether the CPU runs the panel kernel below (AVX2 and FMA).
bool panelGemmAvailable();

/// The instruction set a panel kernel runs on. Both read the same packed
/// weight, so the choice never repacks.
enum class PanelIsa { Avx2, Avx512 };

/// AVX-512 where the CPU has AVX512F, unless ONEDNN_MAX_CPU_ISA holds
/// oneDNN's kernels below AVX-512 (`AVX2`, `SSE41`, ...): one switch then
/// holds every kernel of the runtime to the same instructions. Else AVX2.
PanelIsa preferredPanelIsa();

/// A float32 (out_features, in_features) weight in panels of 16 output
/// features, each stored input feature after input feature, for products with
/// few rows, where a layer is a stream of its weights from memory (BERT at 14
/// tokens, batch 1). The layout does not depend on the row count: one pack
/// serves every call. Panels are split between threads, and each thread runs
/// every block of rows over a 256-deep chunk of a panel while the chunk is in
/// L1: the weight is read once per call, in order. The bias (and residual)
/// start the output in registers and relu or clamp end it there, so neither
/// takes a pass of its own over the output.
///  - AVX2: a block of up to 6 rows x 16 columns of the output in registers
///    (two vectors a row);
///  - AVX-512: up to 16 rows x 16 columns (one vector a row), the input's
///    block copied first so that its values sit next to each other, the
///    panel's right edge under a mask.
class PanelGemmWeights {
public:
  /// Packs `weight` (float32, 2-D, on the CPU); `isa` must be one the CPU has
  /// (AVX-512 needs AVX512F; only when panelGemmAvailable()).
  explicit PanelGemmWeights(const at::Tensor& weight, PanelIsa isa = preferredPanelIsa());

  /// As PackedGemmWeights::run, for `rows` rows.
  void run(const float* input, int64_t rows, at::Tensor& out, const float* bias, bool accumulate,
           const Activation& activation) const;

  PanelIsa isa() const { return isa_; }

private:
  struct ProductEnds;
  void runAvx2(const float* input, int64_t rows, float* out, const ProductEnds& ends) const;
  void runAvx512(const float* input, int64_t rows, float* out, const ProductEnds& ends) const;

  int64_t outFeatures_;
  int64_t inFeatures_;
  int64_t panels_;
  PanelIsa isa_;
  at::Tensor packed_;  ///< (panels, in_features, 16)
};

} // namespace tsopt::runtime
