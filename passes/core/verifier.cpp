#include "passes/core/verifier.h"

#include "passes/core/error.h"

#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/runtime/operator.h>

namespace tsopt {
namespace {

std::string argumentTypes(const torch::jit::Node* node) {
  std::string text;
  for (const torch::jit::Value* input : node->inputs()) {
    text += (text.empty() ? "" : ", ") + input->type()->repr_str();
  }
  return text;
}

// Interpreter instructions (constants, control flow, attribute access) have no
// schema, and LibTorch's alias analysis knows each of them; every other node,
// prim:: ones included, must name a registered operator (alias analysis asserts
// on a node that is neither, e.g. a misspelt prim::Constant).
bool needsSchema(const torch::jit::Node* node) { return !torch::jit::aliasAnalysisHasSpecialCaseFor(node->kind()); }

// A prim::Constant of a data type holds `value` of that type. Passes read
// constants with toIValue and constant_as, which trust both.
std::optional<std::string> constantIssue(const torch::jit::Node* node) {
  if (node->outputs().size() != 1) {
    return "prim::Constant needs exactly one output";
  }
  const c10::TypePtr& type = node->output()->type();
  if (!node->hasAttribute(c10::attr::value)) {
    // Functions and classes are constants by name, None has no value.
    const bool needsValue = type->kind() == c10::TypeKind::IntType || type->kind() == c10::TypeKind::FloatType ||
                            type->kind() == c10::TypeKind::BoolType || type->kind() == c10::TypeKind::StringType ||
                            type->kind() == c10::TypeKind::ListType || type->kind() == c10::TypeKind::TupleType ||
                            type->kind() == c10::TypeKind::TensorType;
    return !needsValue ? std::nullopt
                                                   : std::optional<std::string>("prim::Constant of type " +
                                                                                type->repr_str() + " needs a value");
  }
  if (type->isSubtypeOf(*c10::TensorType::get())) {
    return std::nullopt;
  }
  std::optional<c10::IValue> value = torch::jit::toIValue(node->output());
  if (!value || !value->type()->isSubtypeOf(*type)) {
    return "prim::Constant's value is not of its type " + type->repr_str();
  }
  return std::nullopt;
}

std::string count(size_t n, const char* noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

bool hasType(const torch::jit::Value* value, c10::TypeKind kind) { return value->type()->kind() == kind; }

// prim::If and prim::Loop have no schema; alias analysis, the interpreter and
// the passes index their inputs, blocks and block outputs without checking
// (an If with one block failed remove-no-ops' alias analysis: fuzz_ir_o1).
std::optional<std::string> ifIssue(const torch::jit::Node* node) {
  if (node->inputs().size() != 1 || !hasType(node->input(0), c10::TypeKind::BoolType)) {
    return "prim::If needs one bool condition, it has " + count(node->inputs().size(), "input") +
           (node->inputs().size() == 1 ? " of type " + node->input(0)->type()->repr_str() : "");
  }
  if (node->blocks().size() != 2) {
    return "prim::If needs two blocks (then and else), it has " + std::to_string(node->blocks().size());
  }
  for (size_t i = 0; i < 2; ++i) {
    const torch::jit::Block* branch = node->blocks()[i];
    if (!branch->inputs().empty()) {
      return "prim::If's block" + std::to_string(i) + " takes " + count(branch->inputs().size(), "input") +
             ", it may take none";
    }
    if (branch->outputs().size() != node->outputs().size()) {
      return "prim::If's block" + std::to_string(i) + " returns " + count(branch->outputs().size(), "value") +
             " for the node's " + count(node->outputs().size(), "output");
    }
  }
  return std::nullopt;
}

std::optional<std::string> loopIssue(const torch::jit::Node* node) {
  const size_t inputs = node->inputs().size();
  if (inputs < 2 || !hasType(node->input(0), c10::TypeKind::IntType) ||
      !hasType(node->input(1), c10::TypeKind::BoolType)) {
    return std::string("prim::Loop needs an int trip count and a bool condition, then its loop-carried values");
  }
  const size_t carried = inputs - 2;
  if (node->blocks().size() != 1) {
    return "prim::Loop needs one block, it has " + std::to_string(node->blocks().size());
  }
  const torch::jit::Block* body = node->blocks()[0];
  if (body->inputs().size() != carried + 1) {
    return "prim::Loop's block takes the iteration number and " + count(carried, "loop-carried value") +
           ", it has " + count(body->inputs().size(), "input");
  }
  if (body->outputs().size() != carried + 1 || !hasType(body->outputs()[0], c10::TypeKind::BoolType)) {
    return "prim::Loop's block returns a bool condition and " + count(carried, "loop-carried value") +
           ", it returns " + count(body->outputs().size(), "value");
  }
  if (node->outputs().size() != carried) {
    return "prim::Loop has " + count(carried, "loop-carried value") + " and " +
           count(node->outputs().size(), "output");
  }
  return std::nullopt;
}

std::optional<VerifierIssue> verifyBlock(const torch::jit::Block* block) {
  for (const torch::jit::Node* node : block->nodes()) {
    if (node->kind() == c10::prim::Constant) {
      if (std::optional<std::string> issue = constantIssue(node)) {
        return VerifierIssue{node, *issue};
      }
    }
    if (node->kind() == c10::prim::If || node->kind() == c10::prim::Loop) {
      if (auto issue = node->kind() == c10::prim::If ? ifIssue(node) : loopIssue(node)) {
        return VerifierIssue{node, *issue};
      }
    }
    if (needsSchema(node) && node->maybeSchema() == nullptr) {
      const auto& candidates = torch::jit::getAllOperatorsFor(node->kind());
      std::string name = node->kind().toQualString();
      if (candidates.empty()) {
        return VerifierIssue{node, "unknown operator '" + name + "'"};
      }
      return VerifierIssue{node, "no overload of '" + name + "' accepts (" + argumentTypes(node) + ")"};
    }
    for (const torch::jit::Block* child : node->blocks()) {
      if (auto issue = verifyBlock(child)) {
        return issue;
      }
    }
  }
  return std::nullopt;
}

} // namespace

std::optional<VerifierIssue> verifyGraph(const std::shared_ptr<torch::jit::Graph>& graph) {
  try {
    graph->lint();
  } catch (const std::exception& error) {
    return VerifierIssue{nullptr, "malformed graph: " + firstLine(error.what())};
  }
  try {
    if (auto issue = verifyBlock(graph->block())) {
      return issue;
    }
  } catch (const std::exception& error) {
    // A constant whose value LibTorch cannot read back (toIValue throws).
    return VerifierIssue{nullptr, "malformed graph: " + firstLine(error.what())};
  }
  try {
    // Every pass that rewrites in place builds it first; what it cannot read
    // (the other schema-less nodes, such as prim::profile, index their inputs
    // unchecked too) is refused here rather than failing the first such pass.
    torch::jit::AliasDb aliases(graph);
  } catch (const std::exception& error) {
    return VerifierIssue{nullptr, "malformed graph: LibTorch's alias analysis cannot read it: " +
                                      firstLine(error.what())};
  }
  return std::nullopt;
}

} // namespace tsopt
