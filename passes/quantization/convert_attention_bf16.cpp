#include "passes/quantization/convert_attention_bf16.h"

#include "passes/core/graph_utils.h"

#include <torch/csrc/jit/ir/ir.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tsopt {
namespace {

using torch::jit::Node;

/// Each fused attention op and its bf16 twin (same inputs).
const std::map<c10::Symbol, c10::Symbol>& bf16Twins() {
  static const std::map<c10::Symbol, c10::Symbol> twins{
      {c10::Symbol::fromQualString("tsopt::attention"), c10::Symbol::fromQualString("tsopt::attention_bf16")},
      {c10::Symbol::fromQualString("tsopt::sdp_attention"), c10::Symbol::fromQualString("tsopt::sdp_attention_bf16")}};
  return twins;
}

/// Why the call stays float32, or nothing: an operand whose type records a
/// dtype other than float32 or a device other than the CPU.
std::optional<std::string> reasonToKeepFloat(const Node* attention) {
  const bool keyTransposed = attention->kind() == c10::Symbol::fromQualString("tsopt::attention");
  const char* names[] = {"query", keyTransposed ? "key_t" : "key", "value"};
  for (size_t i = 0; i < 3; ++i) {
    auto type = attention->input(i)->type()->cast<c10::TensorType>();
    if (!type) {
      continue;
    }
    if (type->scalarType() && *type->scalarType() != at::kFloat) {
      return std::string(names[i]) + " is " + c10::toString(*type->scalarType()) + ", not Float";
    }
    if (type->device() && !type->device()->is_cpu()) {
      return std::string(names[i]) + " is on " + type->device()->str() + ", not the CPU";
    }
  }
  return std::nullopt;
}

} // namespace

bool ConvertAttentionBf16Pass::runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) {
  bool changed = false;
  std::vector<c10::Symbol> kinds;
  for (const auto& twin : bf16Twins()) {
    kinds.push_back(twin.first);
  }
  for (Node* attention : collectNodes(*graph, kinds)) {
    if (auto reason = reasonToKeepFloat(attention)) {
      ++skipped;
      context.missed(attention) << *reason;
      continue;
    }
    if (!context.shouldRewrite("run " + describeNode(attention) + " with bf16 matmuls", attention)) {
      continue;
    }
    torch::jit::WithInsertPoint guard(attention);
    Node* bf16Call = graph->insertNode(graph->create(bf16Twins().at(attention->kind()), attention->inputs(), 1));
    bf16Call->copyMetadata(attention);
    bf16Call->output()->copyMetadata(attention->output());
    attention->output()->replaceAllUsesWith(bf16Call->output());
    attention->destroy();
    ++converted;
    changed = true;
  }
  return changed;
}

} // namespace tsopt
