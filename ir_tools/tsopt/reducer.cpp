#include "ir_tools/tsopt/reducer.h"

#include "ir_tools/common/input_file.h"
#include "passes/core/error.h"

#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <algorithm>

namespace tsopt {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

// The JIT's Graph::copy and Block::nodes are not const; neither modifies.
std::shared_ptr<Graph> copyOf(const Graph& graph) { return const_cast<Graph&>(graph).copy(); }

void visitNodes(const torch::jit::Block* block, const std::function<void(Node*)>& fn) {
  for (Node* node : const_cast<torch::jit::Block*>(block)->nodes()) {
    fn(node);
    for (torch::jit::Block* child : node->blocks()) {
      visitNodes(child, fn);
    }
  }
}

/// The constant a value of `type` is replaced by, when its type has an obvious one.
std::optional<c10::IValue> neutralConstant(const c10::TypePtr& type) {
  switch (type->kind()) {
  case c10::TypeKind::IntType:
    return c10::IValue(int64_t{0});
  case c10::TypeKind::FloatType:
    return c10::IValue(0.0);
  case c10::TypeKind::BoolType:
    return c10::IValue(false);
  case c10::TypeKind::StringType:
    return c10::IValue(std::string());
  case c10::TypeKind::NoneType:
  case c10::TypeKind::OptionalType:
    return c10::IValue();
  default:
    return std::nullopt;
  }
}

/// A value that can stand for `value` everywhere: a constant at the top of the
/// graph for scalars, else the first graph input of its type or a subtype, else
/// a new graph input named after `value`.
Value* replacementFor(Graph& graph, Value* value) {
  const c10::TypePtr& type = value->type();
  if (auto constant = neutralConstant(type)) {
    torch::jit::WithInsertPoint guard(graph.block()->param_node()->next());
    // std::optional on LibTorch 2.x, c10::optional on 1.13.
    if (auto inserted = torch::jit::tryInsertConstant(graph, *constant)) {
      return *inserted;
    }
  }
  // The same type first; else a more precise one (`Float(2, 8, ...)` for
  // `Tensor`), which keeps a candidate runnable on inputs made from its types.
  for (Value* input : graph.inputs()) {
    if (*input->type() == *type) {
      return input;
    }
  }
  for (Value* input : graph.inputs()) {
    if (input->type()->isSubtypeOf(*type)) {
      return input;
    }
  }
  Value* input = graph.addInput();
  input->setType(type);
  if (value->hasDebugName()) {
    input->setDebugName(value->debugName());
  }
  return input;
}

template <typename Item>
std::vector<Item> pick(const std::vector<Item>& items, const std::vector<size_t>& chosen) {
  std::vector<Item> picked;
  for (size_t index : chosen) {
    if (index < items.size()) {
      picked.push_back(items[index]);
    }
  }
  return picked;
}

} // namespace

std::string parseableGraphText(const Graph& graph) {
  std::string text = graph.toString(false);
  const std::string marker = "prim::Constant[value=";
  for (size_t at = text.find(marker); at != std::string::npos; at = text.find(marker, at + 1)) {
    size_t value = at + marker.size();
    size_t lineStart = text.rfind('\n', at);
    std::string head = text.substr(lineStart == std::string::npos ? 0 : lineStart, at - lineStart);
    bool printedTensor = head.find("strides=") != std::string::npos && text.compare(value, 1, "<") != 0 &&
                         text.compare(value, 1, "{") != 0;
    size_t end = printedTensor ? text.find("]]", value) : std::string::npos;
    if (end != std::string::npos) {
      text.replace(value, end + 1 - value, "<Tensor>");
    }
  }
  return text;
}

namespace {

/// A candidate printed and parsed back, or nothing when the text does not
/// parse or verify (what tsopt and a --test script would read).
std::shared_ptr<Graph> textRoundTrip(const std::shared_ptr<Graph>& candidate) {
  try {
    return parseGraphText(parseableGraphText(*candidate), "<candidate>");
  } catch (const std::exception&) {
    return nullptr;
  }
}

/// One reduction: how many items the current graph has, and the candidate
/// without a chunk of them.
struct Reduction {
  std::function<size_t(const Graph&)> count;
  std::function<std::shared_ptr<Graph>(const Graph&, const std::vector<size_t>&)> apply;
};

class Reducer {
public:
  Reducer(std::shared_ptr<Graph> graph, const InterestingnessTest& isInteresting, const ReduceOptions& options)
      : current_(std::move(graph)), text_(parseableGraphText(*current_)), isInteresting_(isInteresting),
        options_(options) {}

  /// Tries the items in chunks, halving the chunk size down to one; returns
  /// whether any candidate was kept.
  bool run(const Reduction& reduction) {
    bool changed = false;
    size_t items = reduction.count(*current_);
    for (size_t chunk = items; chunk >= 1 && items > 0; chunk = chunk == 1 ? 0 : (chunk + 1) / 2) {
      for (size_t start = 0; start < items && tests_ < options_.maxTests;) {
        std::vector<size_t> chosen;
        for (size_t index = start; index < std::min(items, start + chunk); ++index) {
          chosen.push_back(index);
        }
        if (tryCandidate(reduction.apply(*current_, chosen))) {
          changed = true;
          items = reduction.count(*current_);  // The items after the chunk moved down to `start`.
        } else {
          start += chunk;
        }
      }
    }
    return changed;
  }

  bool tryCandidate(const std::shared_ptr<Graph>& candidate) {
    if (!candidate || tests_ >= options_.maxTests) {
      return false;
    }
    std::shared_ptr<Graph> parsed = options_.roundTrip(candidate);
    if (!parsed) {
      return false;
    }
    std::string text = parseableGraphText(*parsed);
    if (text == text_) {
      return false;
    }
    ++tests_;
    if (!isInteresting_(parsed)) {
      return false;
    }
    current_ = parsed;
    text_ = text;
    return true;
  }

  const std::shared_ptr<Graph>& current() const { return current_; }
  size_t tests() const { return tests_; }

private:
  std::shared_ptr<Graph> current_;
  std::string text_;
  const InterestingnessTest& isInteresting_;
  ReduceOptions options_;
  size_t tests_ = 0;
};

} // namespace

size_t countReducibleNodes(const Graph& graph) {
  size_t count = 0;
  visitNodes(graph.block(), [&](Node* node) { count += node->kind() != c10::prim::Constant; });
  return count;
}

namespace reduction {

std::vector<Node*> deletableNodes(const Graph& graph) {
  std::vector<Node*> nodes;
  visitNodes(graph.block(), [&](Node* node) {
    if (node->kind() != c10::prim::Constant) {
      nodes.push_back(node);
    }
  });
  return nodes;
}

std::shared_ptr<Graph> deleteNodes(const Graph& graph, const std::vector<size_t>& chosen) {
  std::shared_ptr<Graph> result = copyOf(graph);
  std::vector<Node*> doomed = pick(deletableNodes(*result), chosen);
  // Last first: a node's users, nested blocks included, go before it.
  for (auto it = doomed.rbegin(); it != doomed.rend(); ++it) {
    Node* node = *it;
    for (Value* output : node->outputs()) {
      if (output->hasUses()) {
        output->replaceAllUsesWith(replacementFor(*result, output));
      }
    }
    node->destroy();
  }
  return result;
}

namespace {

/// The first input of `node` that can stand for its only output, if any.
Value* bypassFor(Node* node) {
  if (node->outputs().size() != 1 || node->kind() == c10::prim::Constant || !node->blocks().empty()) {
    return nullptr;
  }
  for (Value* input : node->inputs()) {
    if (input->type()->isSubtypeOf(*node->output()->type())) {
      return input;
    }
  }
  return nullptr;
}

} // namespace

std::vector<Node*> bypassableNodes(const Graph& graph) {
  std::vector<Node*> nodes;
  visitNodes(graph.block(), [&](Node* node) {
    if (bypassFor(node) != nullptr) {
      nodes.push_back(node);
    }
  });
  return nodes;
}

std::shared_ptr<Graph> bypassNodes(const Graph& graph, const std::vector<size_t>& chosen) {
  std::shared_ptr<Graph> result = copyOf(graph);
  std::vector<Node*> doomed = pick(bypassableNodes(*result), chosen);
  // Last first, so that a chain of bypassed nodes collapses onto its first input.
  for (auto it = doomed.rbegin(); it != doomed.rend(); ++it) {
    (*it)->output()->replaceAllUsesWith(bypassFor(*it));
    (*it)->destroy();
  }
  return result;
}

std::vector<std::pair<Node*, size_t>> cuttableOperands(const Graph& graph) {
  std::vector<std::pair<Node*, size_t>> operands;
  visitNodes(graph.block(), [&](Node* node) {
    for (size_t index = 0; index < node->inputs().size(); ++index) {
      Node* producer = node->input(index)->node();
      if (producer->kind() != c10::prim::Constant && producer->kind() != c10::prim::Param) {
        operands.emplace_back(node, index);
      }
    }
  });
  return operands;
}

std::shared_ptr<Graph> cutOperands(const Graph& graph, const std::vector<size_t>& chosen) {
  std::shared_ptr<Graph> result = copyOf(graph);
  for (auto [node, index] : pick(cuttableOperands(*result), chosen)) {
    node->replaceInput(index, replacementFor(*result, node->input(index)));
  }
  return result;
}

std::shared_ptr<Graph> removeOutputs(const Graph& graph, const std::vector<size_t>& chosen) {
  std::shared_ptr<Graph> result = copyOf(graph);
  for (auto it = chosen.rbegin(); it != chosen.rend(); ++it) {
    if (*it < result->outputs().size()) {
      result->eraseOutput(*it);
    }
  }
  return result;
}

std::vector<size_t> unusedInputs(const Graph& graph) {
  std::vector<size_t> unused;
  for (size_t index = 0; index < graph.inputs().size(); ++index) {
    if (!graph.inputs()[index]->hasUses()) {
      unused.push_back(index);
    }
  }
  return unused;
}

std::shared_ptr<Graph> removeUnusedInputs(const Graph& graph, const std::vector<size_t>& chosen) {
  std::shared_ptr<Graph> result = copyOf(graph);
  std::vector<size_t> doomed = pick(unusedInputs(*result), chosen);
  for (auto it = doomed.rbegin(); it != doomed.rend(); ++it) {
    result->eraseInput(*it);
  }
  return result;
}

std::vector<Node*> unusedConstants(const Graph& graph) {
  std::vector<Node*> constants;
  visitNodes(graph.block(), [&](Node* node) {
    if (node->kind() == c10::prim::Constant && !node->output()->hasUses()) {
      constants.push_back(node);
    }
  });
  return constants;
}

std::shared_ptr<Graph> removeUnusedConstants(const Graph& graph, const std::vector<size_t>& chosen) {
  std::shared_ptr<Graph> result = copyOf(graph);
  for (Node* node : pick(unusedConstants(*result), chosen)) {
    node->destroy();
  }
  return result;
}

std::vector<Node*> shrinkableConstants(const Graph& graph) {
  std::vector<Node*> constants;
  visitNodes(graph.block(), [&](Node* node) {
    if (node->kind() == c10::prim::Constant && node->hasAttribute(c10::attr::value) &&
        node->kindOf(c10::attr::value) == torch::jit::AttributeKind::t &&
        node->t(c10::attr::value).numel() > 1) {
      constants.push_back(node);
    }
  });
  return constants;
}

std::shared_ptr<Graph> shrinkConstants(const Graph& graph, const std::vector<size_t>& chosen) {
  std::shared_ptr<Graph> result = copyOf(graph);
  for (Node* node : pick(shrinkableConstants(*result), chosen)) {
    at::Tensor tensor = node->t(c10::attr::value);
    std::vector<int64_t> ones(tensor.dim(), 1);
    at::Tensor small = tensor.flatten().narrow(0, 0, 1).reshape(ones).clone();
    node->t_(c10::attr::value, small);
    node->output()->setType(c10::TensorType::create(small));
  }
  return result;
}

} // namespace reduction

ReduceResult reduceGraph(const std::shared_ptr<Graph>& graph, const InterestingnessTest& isInteresting,
                         const ReduceOptions& options) {
  ReduceOptions settings = options;
  if (!settings.roundTrip) {
    settings.roundTrip = textRoundTrip;
  }
  std::shared_ptr<Graph> start = settings.roundTrip(graph);
  if (!start) {
    throw Error(ErrorKind::Input, options.roundTrip ? "the graph to reduce does not save and load back"
                                                    : "the graph to reduce does not print as IR text that parses back");
  }
  Reducer reducer(start, isInteresting, settings);
  auto deadCode = [](const Graph& current, const std::vector<size_t>&) {
    std::shared_ptr<Graph> result = copyOf(current);
    torch::jit::EliminateDeadCode(result);
    return result;
  };
  // Outputs first: they make the most dead code. Dead code elimination often
  // takes the failing node too (its output may be unused by then), so unused
  // inputs and constants also go one by one; constants shrink last.
  const std::vector<Reduction> reductions = {
      {[](const Graph& g) { return g.outputs().size(); }, reduction::removeOutputs},
      {[](const Graph&) { return size_t{1}; }, deadCode},
      {[](const Graph& g) { return reduction::bypassableNodes(g).size(); }, reduction::bypassNodes},
      {[](const Graph& g) { return reduction::deletableNodes(g).size(); }, reduction::deleteNodes},
      {[](const Graph& g) { return reduction::cuttableOperands(g).size(); }, reduction::cutOperands},
      {[](const Graph&) { return size_t{1}; }, deadCode},
      {[](const Graph& g) { return reduction::unusedInputs(g).size(); }, reduction::removeUnusedInputs},
      {[](const Graph& g) { return reduction::unusedConstants(g).size(); }, reduction::removeUnusedConstants},
      {[](const Graph& g) { return reduction::shrinkableConstants(g).size(); }, reduction::shrinkConstants},
  };
  ReduceResult result;
  result.nodesBefore = countReducibleNodes(*start);
  for (bool changed = true; changed && result.rounds < options.maxRounds && reducer.tests() < options.maxTests;) {
    ++result.rounds;
    changed = false;
    for (const Reduction& reduction : reductions) {
      changed |= reducer.run(reduction);
    }
  }
  result.graph = reducer.current();
  result.tests = reducer.tests();
  result.nodesAfter = countReducibleNodes(*result.graph);
  return result;
}

} // namespace tsopt
