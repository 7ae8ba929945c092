#include "passes/core/verifier.h"

#include "passes/core/error.h"

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

// prim:: nodes are interpreter instructions (constants, control flow, attribute
// access) and many have no schema; everything else must name a real operator.
bool needsSchema(const torch::jit::Node* node) {
  return node->kind().ns() != c10::Symbol::fromQualString("namespaces::prim");
}

std::optional<VerifierIssue> verifyBlock(const torch::jit::Block* block) {
  for (const torch::jit::Node* node : block->nodes()) {
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
  return verifyBlock(graph->block());
}

} // namespace tsopt
