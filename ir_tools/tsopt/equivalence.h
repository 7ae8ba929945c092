//===- equivalence.h - Do two modules compute the same outputs? -----------===//
///
/// The numerics check behind `tsopt --check-equivalence` and `--bisect`: run an
/// original and an optimized module on the same inputs (each input set at least
/// twice, since some JIT bugs only show on the second call) and compare every
/// output leaf of nested tuples/lists/dicts with dtype-aware tolerances.
///
/// Default tolerances are those of torch.testing.assert_close (float32: rtol
/// 1.3e-6, atol 1e-5; float64: 1e-7, 1e-7; float16: 1e-3, 1e-5; bfloat16:
/// 1.6e-2, 1e-5; integers and bool: exact). NaN matches NaN at the same
/// position; a NaN on one side only is a mismatch, as is any shape or dtype change.
///
/// Pipelines that change numerics on purpose (quantization, bf16) get an
/// accuracy report instead (measureAccuracy): cosine similarity, max abs error
/// and top-1 agreement per output, judged against a threshold by the caller.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/input_sets.h"

#include <ATen/core/ivalue.h>
#include <torch/csrc/jit/api/module.h>

#include <optional>
#include <string>
#include <vector>

namespace tsopt {

/// --rtol / --atol; an unset field keeps the per-dtype default.
struct ToleranceOverride {
  std::optional<double> rtol;
  std::optional<double> atol;
};

struct Tolerance {
  double rtol = 0;
  double atol = 0;
};

Tolerance toleranceFor(c10::ScalarType dtype, const ToleranceOverride& override);

/// For a 2-D [batch, classes] output: in how many rows the index of the
/// largest value agrees, out of how many rows (0 for other outputs).
struct Top1Agreement {
  int64_t agreeing = 0;
  int64_t rows = 0;
};

/// How one output leaf compares.
struct LeafComparison {
  std::string path;        ///< e.g. "output[0][1]", "output['logits']".
  std::string description; ///< e.g. "Float[2, 5]".
  bool matches = true;
  double maxAbsError = 0;
  double maxRelError = 0;
  std::string problem;     ///< Set when the leaf does not match.
  /// False when the leaf's kind, shape, dtype or element count changed: a
  /// broken program, whatever the tolerances.
  bool sameStructure = true;
  double cosine = 1;       ///< Floating-point tensors: cosineSimilarity.
  Top1Agreement top1;      ///< 2-D floating-point tensors with two or more columns.
};

/// Cosine similarity of two floating-point tensors of the same size, flattened
/// and in double precision: 1 when both are all zeros, 0 when only one is, NaN
/// when either holds a NaN or an infinity.
double cosineSimilarity(const at::Tensor& expected, const at::Tensor& actual);

/// Top-1 agreement of two floating-point [batch, classes] tensors; no rows
/// unless both are 2-D with two or more columns.
Top1Agreement top1Agreement(const at::Tensor& expected, const at::Tensor& actual);

/// Compares two outputs leaf by leaf.
std::vector<LeafComparison> compareOutputs(const c10::IValue& expected, const c10::IValue& actual,
                                           const ToleranceOverride& override);

/// A random tensor of `type`'s shape and dtype (normal floats, integers in
/// {0, 1}, random bools); throws tsopt::Error (Usage) naming input `name` when
/// the type records no shape or dtype.
at::Tensor synthesizeTensor(const c10::TensorType& type, const std::string& name);

/// One input set made from the shapes and dtypes recorded on the method's
/// graph inputs (random normal floats, integers in {0, 1}, random bools; fixed
/// seed). Archives loaded from disk record only `Tensor`, so this mostly serves
/// modules traced in-process; throws tsopt::Error (Usage) naming an input
/// without a complete type.
InputSets synthesizeInputs(const torch::jit::Module& module, const std::string& methodName);

struct EquivalenceReport {
  bool equivalent = true;
  size_t calls = 0;
  /// Worst comparison per output leaf over all calls (or the first mismatch).
  std::vector<LeafComparison> leaves;
  std::string failure;  ///< A run that threw, or a mismatch summary.
};

/// Runs `reference` and `candidate` on every input set `callsPerSet` times
/// (inputs deep-copied per call, so in-place ops cannot leak between calls).
EquivalenceReport checkEquivalence(torch::jit::Module& reference, torch::jit::Module& candidate,
                                   const std::string& methodName, const InputSets& inputs,
                                   const ToleranceOverride& override, size_t callsPerSet = 2);

/// How close a numerics-changing pipeline's outputs stay to the original's:
/// per output leaf, the worst cosine and largest absolute error over all calls,
/// and top-1 agreement summed over the calls. Differences in values never fail
/// it; a run that throws or a changed structure does.
struct AccuracyReport {
  bool ok = true;
  size_t calls = 0;
  std::vector<LeafComparison> leaves;
  std::string failure;  ///< A run that threw, or a structural change.
  /// The lowest cosine over the floating-point leaves (1 when there are none).
  double worstCosine() const;
};

AccuracyReport measureAccuracy(torch::jit::Module& reference, torch::jit::Module& candidate,
                               const std::string& methodName, const InputSets& inputs, size_t callsPerSet = 2);

/// A cosine as the accuracy reports print it: fixed, 6 decimals.
std::string cosineText(double cosine);
/// Enough digits (10 significant) that a floor like 0.9999999 does not print as 1.
std::string preciseText(double value);

} // namespace tsopt
