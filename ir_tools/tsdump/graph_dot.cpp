#include "ir_tools/tsdump/graph_dot.h"

#include <sstream>
#include <unordered_map>
#include <vector>

namespace tsopt {
namespace {

using torch::jit::AttributeKind;
using torch::jit::Block;
using torch::jit::Node;
using torch::jit::Value;

std::string shorten(std::string text, size_t maxLength) {
  if (text.size() > maxLength) {
    text = text.substr(0, maxLength > 3 ? maxLength - 3 : 0) + "...";
  }
  return text;
}

std::string tensorText(const at::Tensor& tensor) {
  if (!tensor.defined()) {
    return "None";
  }
  if (tensor.numel() == 1 && !tensor.is_quantized() && tensor.layout() == at::kStrided) {
    std::ostringstream value;
    value << "{" << tensor.item() << "}";
    return value.str();
  }
  std::ostringstream text;
  text << c10::toString(tensor.scalar_type()) << tensor.sizes();
  return text.str();
}

template <typename T> std::string listText(const std::vector<T>& items) {
  std::ostringstream text;
  text << "[";
  for (size_t index = 0; index < items.size(); ++index) {
    text << (index == 0 ? "" : ", ") << items[index];
  }
  text << "]";
  return text.str();
}

/// Text for a DOT double-quoted string; "\n" in `text` becomes a line break.
std::string dotQuote(const std::string& text) {
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += c;
    } else if (c == '\n') {
      quoted += "\\n";
    } else if (c != '\r') {
      quoted += c;
    }
  }
  return quoted + "\"";
}

std::string valueName(const Value* value) { return "%" + value->debugName(); }

class DotPrinter {
public:
  explicit DotPrinter(std::ostream& out) : out_(out) {}

  void print(const torch::jit::Graph& graph, const std::string& title) {
    out_ << "digraph " << dotQuote(title) << " {\n"
         << "  graph [fontname=\"Helvetica\", fontsize=10, labelloc=t, label=" << dotQuote(title) << "];\n"
         << "  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];\n"
         << "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#555555\"];\n";
    for (size_t index = 0; index < graph.inputs().size(); ++index) {
      const Value* input = graph.inputs()[index];
      std::string id = "input" + std::to_string(index);
      producers_[input] = id;
      out_ << "  " << id << " [shape=ellipse, style=filled, fillcolor=\"#dbeafe\", label="
           << dotQuote(valueName(input) + " : " + input->type()->annotation_str()) << "];\n";
    }
    printNodes(graph.block(), "  ");
    out_ << "  graph_return [shape=ellipse, style=filled, fillcolor=\"#dcfce7\", label=\"return\"];\n";
    addUses(graph.outputs(), "graph_return");
    // Edges go last, outside every cluster: naming a node inside a cluster
    // would move it into that cluster.
    for (const std::string& edge : edges_) {
      out_ << "  " << edge << ";\n";
    }
    out_ << "}\n";
  }

private:
  std::string newId(const std::string& prefix) { return prefix + std::to_string(nextId_++); }

  template <typename Values> void addUses(const Values& values, const std::string& user) {
    for (const Value* value : values) {
      auto producer = producers_.find(value);
      if (producer != producers_.end()) {
        edges_.push_back(producer->second + " -> " + user + " [label=" + dotQuote(valueName(value)) + "]");
      }
    }
  }

  void printNodes(const Block* block, const std::string& indent) {
    for (const Node* node : block->nodes()) {
      std::string id = newId("n");
      std::string label = node->kind().toQualString();
      for (torch::jit::Symbol name : node->attributeNames()) {
        label += "\n" + std::string(name.toUnqualString()) + "=" + attributeText(node, name);
      }
      out_ << indent << id << " [label=" << dotQuote(label) << style(node) << "];\n";
      addUses(node->inputs(), id);
      // A node with blocks is drawn as a head that enters the blocks and an
      // end that the blocks' outputs flow into and that defines the node's
      // outputs: one acyclic layout, read top to bottom.
      std::string producer = id;
      if (!node->blocks().empty()) {
        producer = id + "_end";
        out_ << indent << producer << " [label=" << dotQuote(std::string("end ") + node->kind().toQualString())
             << style(node) << "];\n";
      }
      for (size_t index = 0; index < node->blocks().size(); ++index) {
        printBlock(node->blocks()[index], id, producer, index, indent);
      }
      for (const Value* output : node->outputs()) {
        producers_[output] = producer;
      }
    }
  }

  void printBlock(const Block* block, const std::string& head, const std::string& end, size_t index,
                  const std::string& indent) {
    std::string cluster = newId("cluster_");
    std::string entry = cluster + "_entry";
    std::string exit = cluster + "_exit";
    std::string inner = indent + "  ";
    std::string parameters;
    for (const Value* input : block->inputs()) {
      producers_[input] = entry;
      parameters += "\n" + valueName(input) + " : " + input->type()->annotation_str();
    }
    out_ << indent << "subgraph " << cluster << " {\n"
         << inner << "label=" << dotQuote("block" + std::to_string(index)) << "; style=dashed; color=\"#888888\";\n"
         << inner << entry << " [shape=cds, label="
         << dotQuote(parameters.empty() ? "no block inputs" : "block inputs" + parameters) << "];\n";
    printNodes(block, inner);
    out_ << inner << exit << " [shape=cds, label=\"block outputs\"];\n";
    addUses(block->outputs(), exit);
    out_ << indent << "}\n";
    edges_.push_back(head + " -> " + entry + " [style=dashed]");
    edges_.push_back(exit + " -> " + end + " [style=dashed]");
  }

  static std::string style(const Node* node) {
    if (node->kind() == c10::prim::Constant) {
      return ", shape=plaintext, fontsize=8";
    }
    if (!node->blocks().empty()) {
      return ", shape=hexagon, style=filled, fillcolor=\"#fef3c7\"";
    }
    return "";
  }

  std::ostream& out_;
  std::unordered_map<const Value*, std::string> producers_;
  std::vector<std::string> edges_;
  size_t nextId_ = 0;
};

} // namespace

std::string attributeText(const Node* node, torch::jit::Symbol name, size_t maxLength) {
  std::ostringstream text;
  switch (node->kindOf(name)) {
  case AttributeKind::f:
    text << node->f(name);
    break;
  case AttributeKind::fs:
    text << listText(node->fs(name));
    break;
  case AttributeKind::c:
    text << node->c(name);
    break;
  case AttributeKind::cs:
    text << listText(node->cs(name));
    break;
  case AttributeKind::i:
    text << node->i(name);
    break;
  case AttributeKind::is:
    text << listText(node->is(name));
    break;
  case AttributeKind::s:
    text << "\"" << node->s(name) << "\"";
    break;
  case AttributeKind::ss:
    text << listText(node->ss(name));
    break;
  case AttributeKind::t:
    text << tensorText(node->t(name));
    break;
  case AttributeKind::ts:
    text << "[" << node->ts(name).size() << " tensors]";
    break;
  case AttributeKind::g:
    text << "<graph>";
    break;
  case AttributeKind::gs:
    text << "[" << node->gs(name).size() << " graphs]";
    break;
  case AttributeKind::ty:
    text << node->ty(name)->annotation_str();
    break;
  case AttributeKind::tys:
    text << "[" << node->tys(name).size() << " types]";
    break;
  case AttributeKind::ival: {
    const c10::IValue& value = node->ival(name);
    if (value.isTensor()) {
      text << tensorText(value.toTensor());
    } else {
      text << value;
    }
    break;
  }
  }
  return shorten(text.str(), maxLength);
}

std::string graphToDot(const torch::jit::Graph& graph, const std::string& title) {
  std::ostringstream out;
  DotPrinter(out).print(graph, title);
  return out.str();
}

} // namespace tsopt
