//===- gelu_tanh.h - GELU's tanh form in place, vectorized -----------------===//
///
/// GELU's tanh approximation, 0.5 x (1 + tanh(u)) with
/// u = sqrt(2 / pi) (x + 0.044715 x^3), applied in place after the GEMMs that
/// have no epilogue of their own (MKL's packed sgemm, the panel kernel): GPT-2's,
/// FNet's and other `gelu_new` models' feed-forward layers. ATen's tanh is slow
/// on AVX2 (its gelu(tanh) took 1.9 ms on a 128 x 3072 activation, one thread,
/// an AMD EPYC, where its exp and sigmoid take 0.4 ms), so this computes the
/// same function as x * sigmoid(2u) = x / (1 + exp(-2u)), with a Cephes-style
/// exp, which is also exact where 1 + tanh(u) cancels. Differences from ATen's
/// result are a few float32 ulps where the value is not tiny (unit tests).
///
//===----------------------------------------------------------------------===//
#pragma once

#include <ATen/core/Tensor.h>

namespace tsopt::runtime {

/// Applies GELU (tanh form) to `tensor` in place when it is a dense float32
/// CPU tensor that needs no autograd and the CPU has AVX2 and FMA; returns
/// false (leaving the tensor alone) otherwise, for the caller to use ATen's.
bool geluTanhInPlace(at::Tensor& tensor);

} // namespace tsopt::runtime
