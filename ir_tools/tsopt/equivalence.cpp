#include "ir_tools/tsopt/equivalence.h"

#include "passes/core/error.h"
#include "passes/core/pass_manager.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <iomanip>
#include <sstream>

namespace tsopt {
namespace {

std::string describeTensor(const at::Tensor& tensor) {
  std::ostringstream text;
  text << c10::toString(tensor.scalar_type()) << tensor.sizes();
  return text.str();
}

void compareTensors(const at::Tensor& expected, const at::Tensor& actual, const ToleranceOverride& override,
                    LeafComparison& leaf) {
  leaf.description = describeTensor(expected);
  if (expected.scalar_type() != actual.scalar_type() || !expected.sizes().equals(actual.sizes())) {
    leaf.matches = false;
    leaf.sameStructure = false;
    leaf.problem = "expected " + describeTensor(expected) + ", got " + describeTensor(actual);
    return;
  }
  if (expected.numel() == 0) {
    return;
  }
  at::Tensor e = expected.detach().to(at::kCPU).to_dense();
  at::Tensor a = actual.detach().to(at::kCPU).to_dense();
  if (!at::isFloatingType(e.scalar_type()) && !at::isComplexType(e.scalar_type())) {
    leaf.matches = at::equal(e, a);
    if (!leaf.matches) {
      leaf.maxAbsError = (e.to(at::kDouble) - a.to(at::kDouble)).abs().max().item<double>();
      leaf.problem = "integer values differ";
    }
    return;
  }
  if (!at::isComplexType(e.scalar_type())) {
    leaf.cosine = cosineSimilarity(e, a);
    leaf.top1 = top1Agreement(e, a);
  }
  Tolerance tolerance = toleranceFor(e.scalar_type(), override);
  at::Tensor ed = e.to(at::isComplexType(e.scalar_type()) ? at::kComplexDouble : at::kDouble);
  at::Tensor ad = a.to(ed.scalar_type());
  at::Tensor bothNan = at::logical_and(at::isnan(ed), at::isnan(ad));
  at::Tensor diff = (ed - ad).abs().masked_fill(bothNan, 0);
  at::Tensor rel = diff / ed.abs().clamp_min(std::numeric_limits<double>::min());
  // NaN in the difference means a NaN (or inf - inf) on one side only.
  bool hasNan = at::isnan(diff).any().item<bool>();
  leaf.maxAbsError = hasNan ? std::numeric_limits<double>::quiet_NaN() : diff.max().item<double>();
  leaf.maxRelError = hasNan ? std::numeric_limits<double>::quiet_NaN()
                            : rel.masked_fill(diff == 0, 0).nan_to_num(0, 0, 0).max().item<double>();
  at::Tensor close = at::logical_or(at::isclose(ed, ad, tolerance.rtol, tolerance.atol, /*equal_nan=*/true), bothNan);
  if (!close.all().item<bool>()) {
    int64_t bad = close.numel() - close.sum().item<int64_t>();
    std::ostringstream problem;
    problem << bad << " of " << close.numel() << " elements differ (max abs error " << leaf.maxAbsError
            << ", max rel error " << leaf.maxRelError << "; rtol " << tolerance.rtol << ", atol "
            << tolerance.atol << ")";
    leaf.matches = false;
    leaf.problem = problem.str();
  }
}

void compareValues(const c10::IValue& expected, const c10::IValue& actual, const std::string& path,
                   const ToleranceOverride& override, std::vector<LeafComparison>& leaves) {
  auto mismatch = [&](const std::string& problem) {
    LeafComparison leaf;
    leaf.path = path;
    leaf.description = expected.tagKind();
    leaf.matches = false;
    leaf.sameStructure = false;
    leaf.problem = problem;
    leaves.push_back(leaf);
  };
  if (expected.tagKind() != actual.tagKind()) {
    mismatch("expected a " + expected.tagKind() + ", got a " + actual.tagKind());
    return;
  }
  if (expected.isTensor()) {
    LeafComparison leaf;
    leaf.path = path;
    compareTensors(expected.toTensor(), actual.toTensor(), override, leaf);
    leaves.push_back(leaf);
    return;
  }
  if (expected.isTuple() || expected.isList()) {
    std::vector<c10::IValue> e = expected.isTuple() ? expected.toTupleRef().elements().vec() : expected.toListRef().vec();
    std::vector<c10::IValue> a = actual.isTuple() ? actual.toTupleRef().elements().vec() : actual.toListRef().vec();
    if (e.size() != a.size()) {
      mismatch("expected " + std::to_string(e.size()) + " elements, got " + std::to_string(a.size()));
      return;
    }
    for (size_t index = 0; index < e.size(); ++index) {
      compareValues(e[index], a[index], path + "[" + std::to_string(index) + "]", override, leaves);
    }
    return;
  }
  if (expected.isGenericDict()) {
    auto e = expected.toGenericDict();
    auto a = actual.toGenericDict();
    if (e.size() != a.size()) {
      mismatch("expected " + std::to_string(e.size()) + " entries, got " + std::to_string(a.size()));
      return;
    }
    for (const auto& entry : e) {
      std::ostringstream key;
      if (entry.key().isString()) {
        key << "'" << entry.key().toStringRef() << "'";
      } else {
        key << entry.key();
      }
      if (!a.contains(entry.key())) {
        mismatch("key " + key.str() + " is missing");
        return;
      }
      compareValues(entry.value(), a.at(entry.key()), path + "[" + key.str() + "]", override, leaves);
    }
    return;
  }
  if (expected.isDouble()) {
    compareValues(at::scalar_tensor(expected.toDouble(), at::kDouble), at::scalar_tensor(actual.toDouble(), at::kDouble),
                  path, override, leaves);
    return;
  }
  LeafComparison leaf;
  leaf.path = path;
  leaf.description = expected.tagKind();
  if (!(expected == actual)) {
    std::ostringstream problem;
    problem << "expected " << expected << ", got " << actual;
    leaf.matches = false;
    leaf.problem = problem.str();
  }
  leaves.push_back(leaf);
}

c10::IValue deepCopy(const c10::IValue& value) {
  if (value.isTensor()) {
    return value.toTensor().clone();
  }
  return value.deepcopy();
}

c10::IValue runMethod(torch::jit::Module& module, const std::string& methodName,
                      const std::vector<c10::IValue>& arguments, const char* which) {
  std::vector<c10::IValue> copies;
  for (const c10::IValue& argument : arguments) {
    copies.push_back(deepCopy(argument));
  }
  try {
    return module.get_method(methodName)(copies);
  } catch (const std::exception& error) {
    throw Error(ErrorKind::PassFailure, std::string("the ") + which + " module failed to run: " + firstLine(error.what()));
  }
}

/// Calls `compare(expected, actual)` for every input set, callsPerSet times;
/// stops when it returns false. The candidate throwing ends the run with its
/// message; the reference throwing is an error.
std::string forEachCall(torch::jit::Module& reference, torch::jit::Module& candidate, const std::string& methodName,
                        const InputSets& inputs, size_t callsPerSet,
                        const std::function<bool(const c10::IValue&, const c10::IValue&)>& compare) {
  for (const auto& arguments : inputs) {
    for (size_t call = 0; call < callsPerSet; ++call) {
      c10::IValue expected = runMethod(reference, methodName, arguments, "original");
      c10::IValue actual;
      try {
        actual = runMethod(candidate, methodName, arguments, "optimized");
      } catch (const Error& error) {
        return error.what();
      }
      if (!compare(expected, actual)) {
        return "";
      }
    }
  }
  return "";
}

} // namespace

double cosineSimilarity(const at::Tensor& expected, const at::Tensor& actual) {
  at::Tensor e = expected.detach().to(at::kDouble).flatten();
  at::Tensor a = actual.detach().to(at::kDouble).flatten();
  if (!e.isfinite().all().item<bool>() || !a.isfinite().all().item<bool>()) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  double normE = e.norm().item<double>();
  double normA = a.norm().item<double>();
  if (normE == 0 || normA == 0) {
    return normE == normA ? 1.0 : 0.0;
  }
  return std::clamp(e.dot(a).item<double>() / (normE * normA), -1.0, 1.0);
}

Top1Agreement top1Agreement(const at::Tensor& expected, const at::Tensor& actual) {
  if (expected.dim() != 2 || !expected.sizes().equals(actual.sizes()) || expected.size(1) < 2 ||
      !expected.is_floating_point() || !actual.is_floating_point()) {
    return {};
  }
  at::Tensor same = expected.argmax(1) == actual.argmax(1);
  return {same.sum().item<int64_t>(), expected.size(0)};
}

Tolerance toleranceFor(c10::ScalarType dtype, const ToleranceOverride& override) {
  Tolerance tolerance;
  switch (dtype) {
  case at::kHalf:
    tolerance = {1e-3, 1e-5};
    break;
  case at::kBFloat16:
    tolerance = {1.6e-2, 1e-5};
    break;
  case at::kFloat:
  case at::kComplexFloat:
    tolerance = {1.3e-6, 1e-5};
    break;
  case at::kDouble:
  case at::kComplexDouble:
    tolerance = {1e-7, 1e-7};
    break;
  default:
    tolerance = {0, 0};
  }
  tolerance.rtol = override.rtol.value_or(tolerance.rtol);
  tolerance.atol = override.atol.value_or(tolerance.atol);
  return tolerance;
}

at::Tensor synthesizeTensor(const c10::TensorType& type, const std::string& name) {
  auto sizes = type.sizes().concrete_sizes();
  auto dtype = type.scalarType();
  if (!sizes || !dtype) {
    throw Error(ErrorKind::Usage, "cannot synthesize input '" + name +
                                      "': its type records no shape and dtype (a saved archive keeps only "
                                      "'Tensor'); give --check-equivalence=INPUTS, a list of input tuples "
                                      "saved with torch.save, or save them as MODEL.inputs.pt next to MODEL.pt");
  }
  if (at::isFloatingType(*dtype)) {
    return at::randn(*sizes, at::TensorOptions().dtype(*dtype));
  }
  if (*dtype == at::kBool) {
    return at::rand(*sizes) > 0.5;
  }
  return at::randint(0, 2, *sizes, at::TensorOptions().dtype(*dtype));
}

std::vector<LeafComparison> compareOutputs(const c10::IValue& expected, const c10::IValue& actual,
                                           const ToleranceOverride& override) {
  std::vector<LeafComparison> leaves;
  compareValues(expected, actual, "output", override, leaves);
  return leaves;
}

InputSets synthesizeInputs(const torch::jit::Module& module, const std::string& methodName) {
  auto method = module.find_method(methodName);
  if (!method) {
    throw Error(ErrorKind::Input,
                "module has no method '" + methodName + "' (methods: " + methodNames(module) + ")");
  }
  at::manual_seed(0);
  std::vector<c10::IValue> inputs;
  auto graphInputs = method->graph()->inputs();
  for (size_t index = 1; index < graphInputs.size(); ++index) {
    const torch::jit::Value* input = graphInputs[index];
    auto tensorType = input->type()->cast<c10::TensorType>();
    if (!tensorType) {
      throw Error(ErrorKind::Usage, "cannot synthesize input '" + input->debugName() + "' of type " +
                                        input->type()->repr_str() +
                                        "; give --check-equivalence=INPUTS with inputs saved by torch.save");
    }
    inputs.emplace_back(synthesizeTensor(*tensorType, input->debugName()));
  }
  return {inputs};
}

EquivalenceReport checkEquivalence(torch::jit::Module& reference, torch::jit::Module& candidate,
                                   const std::string& methodName, const InputSets& inputs,
                                   const ToleranceOverride& override, size_t callsPerSet) {
  EquivalenceReport report;
  std::string thrown = forEachCall(reference, candidate, methodName, inputs, callsPerSet,
                                   [&](const c10::IValue& expected, const c10::IValue& actual) {
    ++report.calls;
    std::vector<LeafComparison> leaves = compareOutputs(expected, actual, override);
    if (report.leaves.size() != leaves.size()) {
      report.leaves = leaves;
    }
    for (size_t index = 0; index < leaves.size(); ++index) {
      LeafComparison& worst = report.leaves[index];
      const LeafComparison& leaf = leaves[index];
      if (!leaf.matches || leaf.maxAbsError > worst.maxAbsError || std::isnan(leaf.maxAbsError)) {
        worst = leaf;
      }
    }
    for (const LeafComparison& leaf : leaves) {
      if (!leaf.matches) {
        report.equivalent = false;
        report.failure = leaf.path + ": " + leaf.problem + " on call " + std::to_string(report.calls);
        return false;
      }
    }
    return true;
  });
  if (!thrown.empty()) {
    report.equivalent = false;
    report.failure = thrown;
  }
  return report;
}

double AccuracyReport::worstCosine() const {
  double worst = 1;
  for (const LeafComparison& leaf : leaves) {
    worst = std::isnan(leaf.cosine) ? leaf.cosine : std::min(worst, leaf.cosine);
    if (std::isnan(worst)) {
      return worst;
    }
  }
  return worst;
}

AccuracyReport measureAccuracy(torch::jit::Module& reference, torch::jit::Module& candidate,
                               const std::string& methodName, const InputSets& inputs, size_t callsPerSet) {
  AccuracyReport report;
  std::string thrown = forEachCall(reference, candidate, methodName, inputs, callsPerSet,
                                   [&](const c10::IValue& expected, const c10::IValue& actual) {
    ++report.calls;
    std::vector<LeafComparison> leaves = compareOutputs(expected, actual, {});
    bool first = report.leaves.empty();
    if (first) {
      report.leaves = leaves;
    }
    for (size_t index = 0; index < leaves.size(); ++index) {
      const LeafComparison& leaf = leaves[index];
      if (!leaf.sameStructure || index >= report.leaves.size()) {
        report.ok = false;
        report.failure = leaf.path + ": " + leaf.problem + " on call " + std::to_string(report.calls);
        return false;
      }
      if (first) {
        continue;
      }
      LeafComparison& total = report.leaves[index];
      bool nan = std::isnan(leaf.cosine) || std::isnan(total.cosine);
      total.cosine = nan ? std::numeric_limits<double>::quiet_NaN() : std::min(total.cosine, leaf.cosine);
      if (std::isnan(leaf.maxAbsError) || leaf.maxAbsError > total.maxAbsError) {
        total.maxAbsError = leaf.maxAbsError;
      }
      total.maxRelError = std::max(total.maxRelError, leaf.maxRelError);
      total.top1.agreeing += leaf.top1.agreeing;
      total.top1.rows += leaf.top1.rows;
      if (!leaf.matches && total.matches) {
        total.matches = false;
        total.problem = leaf.problem;
      }
    }
    return true;
  });
  if (!thrown.empty()) {
    report.ok = false;
    report.failure = thrown;
  }
  return report;
}

std::string cosineText(double cosine) {
  std::ostringstream text;
  text << std::fixed << std::setprecision(6) << cosine;
  return text.str();
}

std::string preciseText(double value) {
  std::ostringstream text;
  text << std::setprecision(10) << value;
  return text.str();
}

} // namespace tsopt
