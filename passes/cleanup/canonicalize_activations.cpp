#include "passes/cleanup/canonicalize_activations.h"

#include "passes/core/graph_utils.h"
#include "passes/core/ir_matchers.h"

#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <ostream>
#include <unordered_map>

// SubgraphRewriter matches one operand order, one grouping and exact constant
// values; people write these formulas in many orders and to varying precision,
// so this pass reads each candidate as a monomial instead.

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

constexpr double kSqrtTwoOverPi = 0.7978845608028654;
constexpr double kOneOverSqrtTwo = 0.7071067811865476;
constexpr double kGeluCubic = 0.044715;
constexpr double kRelativeTolerance = 1e-6;
constexpr int kMaxDepth = 8;         ///< Nesting of products the matcher follows.
constexpr int kMaxResultLevels = 3;  ///< Products and quotients between an activation's core and its result.

bool near(double value, double expected) {
  return std::abs(value - expected) <= kRelativeTolerance * std::abs(expected);
}

/// constant * x^power * others...; `values` holds every product the
/// factorization read through, which must not be written in place.
struct Monomial {
  double constant = 1.0;
  int power = 0;
  std::vector<Value*> others;
  std::vector<Value*> values;
};

/// What the formula's variable is known to be: its dtype, and whether it has
/// dimensions (a 0-dim tensor constant cannot change the dtype of a result
/// with dimensions).
struct KnownTensor {
  at::ScalarType dtype;
  bool hasDims;
};

constexpr int kMaxInferenceDepth = 16;

/// Element-wise ops of one tensor that keep its dtype and dimensions.
bool keepsDtypeAndDims(c10::Symbol kind) {
  return isUnaryElementwiseKind(kind) || kind == c10::aten::contiguous || kind == c10::aten::clone ||
         kind == c10::aten::dropout;
}

std::optional<KnownTensor> inferTensor(const Value* value, int depth = 0);

/// A tensor constant of 2 or more dimensions: a layer's weight.
std::optional<at::ScalarType> weightDtype(const Value* value) {
  auto weight = constantTensor(value);
  if (weight && weight->dim() >= 2 && at::isFloatingType(weight->scalar_type())) {
    return weight->scalar_type();
  }
  return std::nullopt;
}

/// dtype and dimensions from the value's type or, where tracing and freezing
/// left plain `Tensor`, from what computes it: a layer with a constant float
/// weight (whose result has the weight's dtype and dimensions, or the op
/// fails), shape-only views, and element-wise ops of one tensor and numbers.
std::optional<KnownTensor> inferFromProducer(const Value* value, int depth);

std::optional<KnownTensor> inferTensor(const Value* value, int depth) {
  auto type = value->type()->cast<c10::TensorType>();
  if (!type) {
    return std::nullopt;
  }
  auto dtype = type->scalarType();
  auto rank = knownRank(value);
  if (dtype && rank) {
    return KnownTensor{*dtype, *rank > 0};
  }
  auto inferred = inferFromProducer(value, depth);
  if (!inferred && dtype) {
    return KnownTensor{*dtype, false};
  }
  return inferred;
}

std::optional<KnownTensor> inferFromProducer(const Value* value, int depth) {
  const Node* node = value->node();
  if (depth >= kMaxInferenceDepth || node->inputs().empty()) {
    return std::nullopt;
  }
  if (isLayerKind(node->kind())) {
    for (const Value* input : node->inputs()) {
      if (auto weight = weightDtype(input)) {
        return KnownTensor{*weight, true};
      }
    }
    return std::nullopt;
  }
  const bool view = isShapeOnlyViewKind(node->kind());
  const bool arithmetic = node->kind() == c10::aten::add || node->kind() == c10::aten::sub ||
                          node->kind() == c10::aten::mul || node->kind() == c10::aten::div;
  if (arithmetic) {
    // Floating-point tensors of one dtype, with dimensions, and numbers or
    // 0-dim constants (which then cannot change the dtype): that dtype.
    std::optional<KnownTensor> result;
    for (const Value* input : node->inputs()) {
      auto constant = constantTensor(input);
      if (!isTensor(input) || (constant && constant->dim() == 0)) {
        continue;
      }
      auto operand = inferTensor(input, depth + 1);
      if (!operand || !at::isFloatingType(operand->dtype) || (result && result->dtype != operand->dtype)) {
        return std::nullopt;
      }
      result = KnownTensor{operand->dtype, operand->hasDims || (result && result->hasDims)};
    }
    return result && result->hasDims ? result : std::nullopt;
  }
  if (!view && !keepsDtypeAndDims(node->kind())) {
    return std::nullopt;
  }
  auto input = inferTensor(node->input(0), depth + 1);
  if (!input) {
    return std::nullopt;
  }
  if (node->kind() == c10::aten::view || node->kind() == c10::aten::reshape) {
    auto sizes = torch::jit::toIValue(node->input(1));
    const Node* list = node->input(1)->node();
    input->hasDims = (sizes && sizes->isIntList() && !sizes->toIntList().empty()) ||
                     (list->kind() == c10::prim::ListConstruct && !list->inputs().empty());
  } else if (node->kind() == c10::aten::flatten) {
    input->hasDims = true;
  }
  return input;
}

/// Reads values as monomials in one variable x. Without x (while x is being
/// looked for) every value is a factor of its own.
class FormulaReader {
public:
  explicit FormulaReader(Value* x = nullptr) : x_(x), known_(x ? inferTensor(x) : std::nullopt) {}

  /// Whether x is known to be a floating-point tensor.
  bool variableIsFloating() const { return known_ && at::isFloatingType(known_->dtype); }

  /// A constant the formula may use: a number, or a 0-dim tensor that cannot
  /// change the result's dtype (x's own dtype, or any real one when x has dimensions).
  std::optional<double> number(const Value* value) const {
    auto constant = torch::jit::toIValue(value);
    if (!constant) {
      return std::nullopt;
    }
    if (constant->isDouble()) {
      return constant->toDouble();
    }
    if (constant->isInt()) {
      return static_cast<double>(constant->toInt());
    }
    if (constant->isTensor()) {
      const at::Tensor& tensor = constant->toTensor();
      const bool keepsDtype = x_ == nullptr || (known_ && tensor.defined() && tensor.scalar_type() == known_->dtype) ||
                              (known_ && known_->hasDims && tensor.defined() && !tensor.is_complex());
      if (tensor.defined() && tensor.dim() == 0 && keepsDtype && !tensor.is_complex() &&
          tensor.scalar_type() != at::kBool) {
        return tensor.item<double>();
      }
    }
    return std::nullopt;
  }

  Monomial read(Value* value) const {
    Monomial result;
    if (!accumulate(value, 0, result)) {
      result.others = {value};
    }
    return result;
  }

  /// `value` = a + c (or c + a) with alpha 1: a and c.
  std::optional<std::pair<Value*, double>> plusConstant(Value* value) const {
    Node* node = value->node();
    if (node->kind() != c10::aten::add || node->inputs().size() != 3 || !isTensor(value)) {
      return std::nullopt;
    }
    auto alpha = number(node->input(2));
    if (!alpha || *alpha != 1.0) {
      return std::nullopt;
    }
    if (auto constant = number(node->input(1)); constant && isTensor(node->input(0))) {
      return std::make_pair(node->input(0), *constant);
    }
    if (auto constant = number(node->input(0)); constant && isTensor(node->input(1))) {
      return std::make_pair(node->input(1), *constant);
    }
    return std::nullopt;
  }

private:
  bool accumulate(Value* value, int depth, Monomial& into) const {
    if (x_ != nullptr && value == x_) {
      into.power += 1;
      return true;
    }
    if (auto constant = number(value)) {
      into.constant *= *constant;
      return true;
    }
    Node* node = value->node();
    if (depth < kMaxDepth && isTensor(value) && node->inputs().size() == 2) {
      if (node->kind() == c10::aten::mul) {
        into.values.push_back(value);
        return accumulate(node->input(0), depth + 1, into) && accumulate(node->input(1), depth + 1, into);
      }
      auto divisor = node->kind() == c10::aten::div ? number(node->input(1)) : std::nullopt;
      if (divisor && *divisor != 0.0) {
        into.values.push_back(value);
        into.constant /= *divisor;
        return accumulate(node->input(0), depth + 1, into);
      }
      auto exponent = node->kind() == c10::aten::pow ? number(node->input(1)) : std::nullopt;
      if (exponent && *exponent == std::round(*exponent) && *exponent >= 1 && *exponent <= 4) {
        Monomial base;
        if (!accumulate(node->input(0), depth + 1, base)) {
          return false;
        }
        const int times = static_cast<int>(*exponent);
        into.values.push_back(value);
        into.values.insert(into.values.end(), base.values.begin(), base.values.end());
        into.constant *= std::pow(base.constant, times);
        into.power += base.power * times;
        for (int i = 0; i < times; ++i) {
          into.others.insert(into.others.end(), base.others.begin(), base.others.end());
        }
        return true;
      }
    }
    into.others.push_back(value);
    return true;
  }

  Value* x_;
  std::optional<KnownTensor> known_;
};

/// One hand-written activation found: `result` computes `kind`(x).
struct Found {
  Value* result = nullptr;
  Value* x = nullptr;
  c10::Symbol kind;
  const char* approximate = nullptr;  ///< aten::gelu's argument.
  Node* gate = nullptr;               ///< In-place SiLU only: the sigmoid, read before the write.
  std::vector<Value*> formula;        ///< Every value the formula computes or reads.
};

/// The values from `core` up through at most kMaxResultLevels products and
/// quotients that read, in x, as constant * x * core (the lowest on each path).
std::vector<Found> resultsAbove(const FormulaReader& reader, Value* core, double constant) {
  std::vector<Found> results;
  std::vector<Value*> level{core};
  for (int depth = 0; depth < kMaxResultLevels && !level.empty(); ++depth) {
    std::vector<Value*> next;
    for (Value* value : level) {
      for (const torch::jit::Use& use : value->uses()) {
        Node* user = use.user;
        if ((user->kind() != c10::aten::mul && user->kind() != c10::aten::div) || user->outputs().size() != 1 ||
            !isTensor(user->output())) {
          continue;
        }
        Monomial monomial = reader.read(user->output());
        if (monomial.power == 1 && monomial.others.size() == 1 && monomial.others[0] == core &&
            near(monomial.constant, constant)) {
          Found found;
          found.result = user->output();
          found.formula = monomial.values;
          results.push_back(std::move(found));
          continue;
        }
        next.push_back(user->output());
      }
    }
    level = std::move(next);
  }
  return results;
}

/// 0.5 * x * (1 + core) above `core` (the tanh or erf of a GELU), as
/// aten::gelu(x, approximate); `formula` holds the values that compute core.
std::vector<Found> geluAbove(const FormulaReader& reader, Value* core, Value* x, const char* approximate,
                             const std::vector<Value*>& formula) {
  std::vector<Found> results;
  for (const torch::jit::Use& use : core->uses()) {
    if (use.user->outputs().size() != 1) {
      continue;
    }
    auto onePlus = reader.plusConstant(use.user->output(0));
    if (!onePlus || onePlus->first != core || !near(onePlus->second, 1.0)) {
      continue;
    }
    for (Found& found : resultsAbove(reader, use.user->output(0), 0.5)) {
      found.x = x;
      found.kind = c10::aten::gelu;
      found.approximate = approximate;
      found.formula.insert(found.formula.end(), formula.begin(), formula.end());
      found.formula.insert(found.formula.end(), {core, use.user->output(0)});
      results.push_back(std::move(found));
    }
  }
  return results;
}

/// 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))), from its tanh.
std::vector<Found> geluTanhAt(Node* tanh) {
  std::vector<Found> results;
  Monomial scaled = FormulaReader().read(tanh->input(0));
  if (scaled.power != 0 || scaled.others.size() != 1 || !near(scaled.constant, kSqrtTwoOverPi)) {
    return results;
  }
  Node* sum = scaled.others[0]->node();
  if (sum->kind() != c10::aten::add || sum->inputs().size() != 3) {
    return results;
  }
  for (size_t side : {size_t{0}, size_t{1}}) {
    FormulaReader reader(sum->input(side));
    Monomial inner = reader.read(sum->input(1 - side));
    auto alpha = reader.number(sum->input(2));
    Monomial outer = reader.read(tanh->input(0));
    if (!alpha || *alpha != 1.0 || inner.power != 3 || !inner.others.empty() || !near(inner.constant, kGeluCubic) ||
        outer.power != 0 || outer.others.size() != 1 || !near(outer.constant, kSqrtTwoOverPi)) {
      continue;
    }
    std::vector<Value*> formula(inner.values);
    formula.insert(formula.end(), outer.values.begin(), outer.values.end());
    formula.push_back(sum->output());
    results = geluAbove(reader, tanh->output(), sum->input(side), "tanh", formula);
    if (!results.empty()) {
      break;
    }
  }
  return results;
}

/// 0.5 * x * (1 + erf(x / sqrt(2))), from its erf.
std::vector<Found> geluErfAt(Node* erf) {
  Monomial scaled = FormulaReader().read(erf->input(0));
  if (scaled.power != 0 || scaled.others.size() != 1 || !near(scaled.constant, kOneOverSqrtTwo)) {
    return {};
  }
  FormulaReader reader(scaled.others[0]);
  Monomial inner = reader.read(erf->input(0));
  if (inner.power != 1 || !inner.others.empty() || !near(inner.constant, kOneOverSqrtTwo)) {
    return {};  // A constant of another dtype: seen only without x.
  }
  return geluAbove(reader, erf->output(), scaled.others[0], "none", inner.values);
}

/// x * sigmoid(x) (SiLU) and x * hardsigmoid(x) (hardswish), from the sigmoid.
std::vector<Found> gatedAt(Node* gate, c10::Symbol kind) {
  FormulaReader reader(gate->input(0));
  std::vector<Found> results = resultsAbove(reader, gate->output(), 1.0);
  for (Found& found : results) {
    found.x = gate->input(0);
    found.kind = kind;
    found.formula.push_back(gate->output());
  }
  return results;
}

/// x.mul_(sigmoid(x)), SiLU written into x as aten::silu_ writes it, from the sigmoid.
std::vector<Found> inPlaceSiluAt(Node* gate) {
  std::vector<Found> results;
  for (const torch::jit::Use& use : gate->output()->uses()) {
    Node* user = use.user;
    if (user->kind() == c10::aten::mul_ && user->inputs().size() == 2 && use.offset == 1 &&
        user->input(0) == gate->input(0) && user->owningBlock() == gate->owningBlock()) {
      Found found;
      found.result = user->output();
      found.x = gate->input(0);
      found.kind = c10::aten::silu_;
      found.gate = gate;
      found.formula = {gate->output()};
      results.push_back(std::move(found));
    }
  }
  return results;
}

/// x * hardtanh(x + 3, 0, 6) / 6, with clamp or relu6 for hardtanh, from the hardtanh.
std::vector<Found> hardswishAt(Node* clip) {
  static const c10::Symbol relu6 = c10::Symbol::fromQualString("aten::relu6");
  FormulaReader plain;
  const bool bounded = clip->kind() == relu6
                           ? clip->inputs().size() == 1
                           : clip->inputs().size() == 3 && plain.number(clip->input(1)) == 0.0 &&
                                 plain.number(clip->input(2)) == 6.0;
  auto shifted = bounded ? plain.plusConstant(clip->input(0)) : std::nullopt;
  if (!shifted || !near(shifted->second, 3.0)) {
    return {};
  }
  FormulaReader reader(shifted->first);
  if (reader.plusConstant(clip->input(0)) != shifted) {
    return {};  // A constant of another dtype: seen only without x.
  }
  std::vector<Found> results = resultsAbove(reader, clip->output(), 1.0 / 6.0);
  for (Found& found : results) {
    found.x = shifted->first;
    found.kind = c10::aten::hardswish;
    found.formula.insert(found.formula.end(), {clip->input(0), clip->output()});
  }
  return results;
}

/// Why `found` may not be rewritten, or "" when it may.
std::string whyKept(const Found& found, torch::jit::AliasDb& aliasDb) {
  if (!FormulaReader(found.x).variableIsFloating()) {
    return "the input is not known to be a floating-point tensor";
  }
  if (found.gate != nullptr) {
    // silu_ reads x where the mul_ does: nothing may write x between the sigmoid and the mul_.
    for (Node* node = found.gate->next(); node != found.result->node(); node = node->next()) {
      if (aliasDb.writesToAlias(node, torch::jit::ValueSet{found.x})) {
        return "the input is written in place between the sigmoid and the mul_";
      }
    }
  } else if (aliasDb.hasWriters(found.x)) {
    return "the input is written in place";
  }
  for (Value* value : found.formula) {
    if (aliasDb.hasWriters(value)) {
      return "a value of the formula is written in place";
    }
  }
  return "";
}

/// Rewrites `found`, reading x as `x` (a replacement of found.x when an
/// earlier rewrite replaced it); returns the new activation's value.
Value* replace(Graph& graph, const Found& found, Value* x) {
  Node* result = found.result->node();
  torch::jit::WithInsertPoint guard(result);
  std::vector<Value*> inputs{x};
  if (found.approximate != nullptr) {
    inputs.push_back(graph.insertConstant(std::string(found.approximate)));
  }
  Node* activation = graph.insertNode(graph.create(found.kind, inputs, 1));
  activation->setSourceRange(result->sourceRange());
  if (result->scope()) {
    activation->setScope(result->scope());
  }
  activation->output()->setType(found.result->type());
  found.result->replaceAllUsesWith(activation->output());
  if (found.gate != nullptr) {
    result->destroy();  // The mul_ writes x: dead code elimination would keep it.
  }
  return activation->output();
}

} // namespace

bool CanonicalizeActivationsPass::runOnGraph(std::shared_ptr<Graph>& graph, PassContext& context) {
  static const c10::Symbol relu6 = c10::Symbol::fromQualString("aten::relu6");
  std::vector<Found> matches;
  for (Node* node : collectNodes(*graph)) {
    std::vector<Found> found;
    if (node->kind() == c10::aten::tanh && node->inputs().size() == 1) {
      found = geluTanhAt(node);
    } else if (node->kind() == c10::aten::erf && node->inputs().size() == 1) {
      found = geluErfAt(node);
    } else if (node->kind() == c10::aten::sigmoid && node->inputs().size() == 1) {
      found = gatedAt(node, c10::aten::silu);
      std::vector<Found> inPlace = inPlaceSiluAt(node);
      found.insert(found.end(), inPlace.begin(), inPlace.end());
    } else if (node->kind() == c10::aten::hardsigmoid && node->inputs().size() == 1) {
      found = gatedAt(node, c10::aten::hardswish);
    } else if (node->kind() == c10::aten::hardtanh || node->kind() == c10::aten::clamp || node->kind() == relu6) {
      found = hardswishAt(node);
    }
    matches.insert(matches.end(), found.begin(), found.end());
  }
  if (matches.empty()) {
    return false;
  }
  torch::jit::AliasDb aliasDb(graph);
  std::unordered_map<Value*, Value*> replacements;  ///< Results rewritten so far: x of a later match may be one.
  bool changed = false;
  for (const Found& found : matches) {
    const std::string description = "rewrite " + describeNode(found.result->node()) + " as " +
                                    found.kind.toQualString() + "(%" + found.x->debugName() + ")";
    std::string reason = whyKept(found, aliasDb);
    if (!reason.empty()) {
      context.missed(found.result->node()) << reason;
      ++kept;
      continue;
    }
    if (!context.shouldRewrite(description, found.result->node())) {
      continue;
    }
    auto replaced = replacements.find(found.x);
    replacements[found.result] = replace(*graph, found, replaced == replacements.end() ? found.x : replaced->second);
    ++canonicalized;
    changed = true;
  }
  if (changed) {
    torch::jit::EliminateDeadCode(graph);
  }
  return changed;
}

} // namespace tsopt
