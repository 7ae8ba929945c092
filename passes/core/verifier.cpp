#include "passes/core/verifier.h"

#include "passes/core/error.h"

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

std::optional<VerifierIssue> verifyBlock(const torch::jit::Block* block) {
  for (const torch::jit::Node* node : block->nodes()) {
    if (node->kind() == c10::prim::Constant) {
      if (std::optional<std::string> issue = constantIssue(node)) {
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
    return verifyBlock(graph->block());
  } catch (const std::exception& error) {
    // A constant whose value LibTorch cannot read back (toIValue throws).
    return VerifierIssue{nullptr, "malformed graph: " + firstLine(error.what())};
  }
}

} // namespace tsopt
