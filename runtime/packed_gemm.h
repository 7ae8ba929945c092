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

/// A float32 (out_features, in_features) weight in panels of 16 output
/// features, each stored input feature after input feature, for products with
/// few rows, where a layer is a stream of its weights from memory (BERT at 14
/// tokens, batch 1). The kernel holds up to 6 rows x 16 columns of the output
/// in AVX2 registers, runs every 6-row block of a panel while the panel is in
/// cache, and splits the panels between threads: the weight is read once per
/// call, in order. Any row count; used where MKL is not (packedGemmAvailable()).
class PanelGemmWeights {
public:
  /// Packs `weight` (float32, 2-D, on the CPU); only when panelGemmAvailable().
  explicit PanelGemmWeights(const at::Tensor& weight);

  /// As PackedGemmWeights::run, for `rows` rows.
  void run(const float* input, int64_t rows, at::Tensor& out, const float* bias, bool accumulate,
           const Activation& activation) const;

private:
  int64_t outFeatures_;
  int64_t inFeatures_;
  int64_t panels_;
  at::Tensor packed_;  ///< (panels, in_features, 16)
};

} // namespace tsopt::runtime
