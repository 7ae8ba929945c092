#include "ir_tools/dump.h"

#include "ir_tools/command_line.h"
#include "ir_tools/dump_options.h"
#include "ir_tools/graph_dot.h"
#include "ir_tools/ir_input.h"
#include "ir_tools/ir_text.h"
#include "ir_tools/json_writer.h"
#include "ir_tools/output_file.h"
#include "passes/core/error.h"

#include <torch/csrc/api/include/torch/version.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

namespace tsopt {
namespace {

using torch::jit::Graph;

//===----------------------------------------------------------------------===//
// Formatting helpers
//===----------------------------------------------------------------------===//

/// Columns padded to their widest cell; the last column is never padded.
class Table {
public:
  explicit Table(std::vector<bool> rightAligned) : rightAligned_(std::move(rightAligned)) {}

  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

  std::string render(const std::string& indent) const {
    std::vector<size_t> widths(rightAligned_.size(), 0);
    for (const auto& row : rows_) {
      for (size_t column = 0; column < row.size(); ++column) {
        widths[column] = std::max(widths[column], row[column].size());
      }
    }
    std::ostringstream text;
    for (const auto& row : rows_) {
      std::string line = indent;
      for (size_t column = 0; column < row.size(); ++column) {
        bool last = column + 1 == row.size();
        std::string padding(widths[column] - row[column].size(), ' ');
        line += column == 0 ? "" : "  ";
        line += rightAligned_[column] ? padding + row[column] : row[column] + (last ? "" : padding);
      }
      text << line << "\n";
    }
    return text.str();
  }

private:
  std::vector<bool> rightAligned_;
  std::vector<std::vector<std::string>> rows_;
};

std::string withSeparators(uint64_t number) {
  std::string digits = std::to_string(number);
  for (size_t at = digits.size(); at > 3; at -= 3) {
    digits.insert(at - 3, ",");
  }
  return digits;
}

std::string bytesText(uint64_t bytes) {
  static const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) {
    return std::to_string(bytes) + " B";
  }
  double scaled = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (scaled >= 1024 && unit + 1 < sizeof(units) / sizeof(units[0])) {
    scaled /= 1024;
    ++unit;
  }
  std::ostringstream text;
  text << std::fixed << std::setprecision(1) << scaled << " " << units[unit];
  return text.str();
}

std::string shapeText(c10::IntArrayRef shape) {
  std::ostringstream text;
  text << shape;
  return text.str();
}

std::string shorten(std::string text, size_t maxLength) {
  if (text.size() > maxLength) {
    text = text.substr(0, maxLength - 3) + "...";
  }
  return text;
}

/// Short text of an attribute's value; tensors show dtype and shape, not data.
std::string ivalueText(const c10::IValue& value) {
  if (value.isTensor()) {
    const at::Tensor& tensor = value.toTensor();
    return tensor.defined() ? std::string(c10::toString(tensor.scalar_type())) + shapeText(tensor.sizes()) : "None";
  }
  if (value.isTensorList()) {
    return "[" + std::to_string(value.toTensorList().size()) + " tensors]";
  }
  if (value.isObject()) {
    return "<" + value.type()->annotation_str() + " object>";
  }
  std::ostringstream text;
  text << value;
  // One table cell: control characters are spelled as escapes.
  std::string flat;
  for (char c : text.str()) {
    if (c == '\n') {
      flat += "\\n";
    } else if (c == '\t') {
      flat += "\\t";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof(escape), "\\x%02x", static_cast<unsigned char>(c));
      flat += escape;
    } else {
      flat += c;
    }
  }
  return shorten(flat, 60);
}

//===----------------------------------------------------------------------===//
// Archive summary
//===----------------------------------------------------------------------===//

struct TensorEntry {
  std::string name;
  std::vector<int64_t> shape;
  std::string dtype;
  uint64_t elements = 0;
  uint64_t bytes = 0;
};

struct TensorTotals {
  uint64_t count = 0;
  uint64_t elements = 0;
  uint64_t bytes = 0;
};

struct MethodEntry {
  std::string name;
  std::string schema;  ///< Without the `self` argument.
};

struct ModuleEntry {
  std::string name;  ///< Qualified; empty for the root.
  std::string type;
  size_t depth = 0;
  std::vector<MethodEntry> methods;
};

struct AttributeEntry {
  std::string name;
  std::string type;
  std::string value;
};

struct ModuleSummary {
  std::string type;
  std::vector<ModuleEntry> modules;
  std::vector<TensorEntry> parameters;
  std::vector<TensorEntry> buffers;
  std::vector<AttributeEntry> attributes;
  size_t trainingModules = 0;
};

TensorEntry tensorEntry(const std::string& name, const at::Tensor& tensor) {
  TensorEntry entry;
  entry.name = name;
  if (!tensor.defined()) {
    entry.dtype = "None";
    return entry;
  }
  entry.shape = tensor.sizes().vec();
  entry.dtype = c10::toString(tensor.scalar_type());
  entry.elements = static_cast<uint64_t>(tensor.numel());
  entry.bytes = tensor.is_sparse() ? 0 : static_cast<uint64_t>(tensor.numel()) * tensor.element_size();
  return entry;
}

TensorTotals totals(const std::vector<TensorEntry>& entries) {
  TensorTotals sum;
  for (const TensorEntry& entry : entries) {
    ++sum.count;
    sum.elements += entry.elements;
    sum.bytes += entry.bytes;
  }
  return sum;
}

std::string schemaWithoutSelf(const c10::FunctionSchema& schema) {
  std::vector<c10::Argument> arguments = schema.arguments();
  if (!arguments.empty() && arguments.front().name() == "self") {
    arguments.erase(arguments.begin());
  }
  std::ostringstream text;
  text << schema.cloneWithArguments(std::move(arguments));
  return text.str();
}

std::string qualified(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

ModuleSummary summarize(const torch::jit::Module& root) {
  ModuleSummary summary;
  summary.type = root.type()->name() ? root.type()->name()->qualifiedName() : root.type()->str();
  for (const auto& named : root.named_modules()) {
    const torch::jit::Module& module = named.value;
    const c10::ClassTypePtr& type = module.type();
    ModuleEntry entry;
    entry.name = named.name;
    entry.type = type->name() ? type->name()->qualifiedName() : type->str();
    entry.depth = named.name.empty() ? 0 : std::count(named.name.begin(), named.name.end(), '.') + 1;
    for (const torch::jit::Method& method : module.get_methods()) {
      entry.methods.push_back(MethodEntry{method.name(), schemaWithoutSelf(method.function().getSchema())});
    }
    summary.modules.push_back(std::move(entry));

    for (size_t slot = 0; slot < type->numAttributes(); ++slot) {
      const std::string& name = type->getAttributeName(slot);
      const c10::TypePtr& attributeType = type->getAttribute(slot);
      auto classType = attributeType->cast<c10::ClassType>();
      if (type->is_parameter(slot) || type->is_buffer(slot) || (classType && classType->is_module())) {
        continue;
      }
      c10::IValue value = module._ivalue()->getSlot(slot);
      if (name == "training") {
        summary.trainingModules += value.isBool() && value.toBool() ? 1 : 0;
        continue;
      }
      // nn.Module's hook bookkeeping, present in every scripted module.
      if (name == "_is_full_backward_hook") {
        continue;
      }
      summary.attributes.push_back(
          AttributeEntry{qualified(named.name, name), attributeType->annotation_str(), ivalueText(value)});
    }
  }
  for (const auto& parameter : root.named_parameters(/*recurse=*/true)) {
    summary.parameters.push_back(tensorEntry(parameter.name, parameter.value));
  }
  for (const auto& buffer : root.named_buffers(/*recurse=*/true)) {
    summary.buffers.push_back(tensorEntry(buffer.name, buffer.value));
  }
  return summary;
}

std::string modeText(const ModuleSummary& summary) {
  if (summary.trainingModules == 0) {
    return "eval mode";
  }
  if (summary.trainingModules == summary.modules.size()) {
    return "training mode";
  }
  return "mixed mode: " + std::to_string(summary.trainingModules) + " of " + std::to_string(summary.modules.size()) +
         " modules training";
}

std::string tensorSection(const std::string& title, const std::vector<TensorEntry>& entries) {
  if (entries.empty()) {
    return title + ": none\n";
  }
  Table table({false, false, false, true});
  table.add({"name", "shape", "dtype", "bytes"});
  for (const TensorEntry& entry : entries) {
    table.add({entry.name, shapeText(entry.shape), entry.dtype, withSeparators(entry.bytes)});
  }
  TensorTotals sum = totals(entries);
  return title + " (" + std::to_string(entries.size()) + "):\n" + table.render("  ") + "  total: " +
         withSeparators(sum.count) + " tensors, " + withSeparators(sum.elements) + " elements, " +
         withSeparators(sum.bytes) + " bytes (" + bytesText(sum.bytes) + ")\n";
}

std::string summaryText(const ModuleSummary& summary, const std::string& path) {
  std::ostringstream text;
  text << path << ": " << summary.type << ", " << modeText(summary) << "\n\n";
  text << "modules (" << summary.modules.size() << "):\n";
  for (const ModuleEntry& module : summary.modules) {
    std::string indent(2 + 2 * module.depth, ' ');
    text << indent << (module.name.empty() ? "<root>" : module.name) << " : " << module.type << "\n";
    for (const MethodEntry& method : module.methods) {
      text << indent << "  method " << method.schema << "\n";
    }
  }
  text << "\n" << tensorSection("parameters", summary.parameters);
  text << "\n" << tensorSection("buffers", summary.buffers);
  text << "\n";
  if (summary.attributes.empty()) {
    text << "attributes: none\n";
  } else {
    Table table({false, false, false});
    table.add({"name", "type", "value"});
    for (const AttributeEntry& attribute : summary.attributes) {
      table.add({attribute.name, attribute.type, attribute.value});
    }
    text << "attributes (" << summary.attributes.size() << "):\n" << table.render("  ");
  }
  return text.str();
}

void writeTensors(JsonWriter& json, const std::string& key, const std::vector<TensorEntry>& entries) {
  json.key(key).beginArray();
  for (const TensorEntry& entry : entries) {
    json.beginObject().member("name", entry.name).key("shape").beginArray();
    for (int64_t size : entry.shape) {
      json.value(size);
    }
    json.endArray()
        .member("dtype", entry.dtype)
        .member("elements", entry.elements)
        .member("bytes", entry.bytes)
        .endObject();
  }
  json.endArray();
}

void writeTotals(JsonWriter& json, const std::string& key, const std::vector<TensorEntry>& entries) {
  TensorTotals sum = totals(entries);
  json.key(key)
      .beginObject()
      .member("count", sum.count)
      .member("elements", sum.elements)
      .member("bytes", sum.bytes)
      .endObject();
}

std::string summaryJson(const ModuleSummary& summary, const std::string& path) {
  std::ostringstream text;
  JsonWriter json(text);
  json.beginObject().member("file", path).member("kind", "summary").member("type", summary.type);
  json.member("training_modules", static_cast<uint64_t>(summary.trainingModules));
  json.key("modules").beginArray();
  for (const ModuleEntry& module : summary.modules) {
    json.beginObject().member("name", module.name).member("type", module.type).key("methods").beginArray();
    for (const MethodEntry& method : module.methods) {
      json.beginObject().member("name", method.name).member("schema", method.schema).endObject();
    }
    json.endArray().endObject();
  }
  json.endArray();
  writeTensors(json, "parameters", summary.parameters);
  writeTensors(json, "buffers", summary.buffers);
  json.key("totals").beginObject();
  writeTotals(json, "parameters", summary.parameters);
  writeTotals(json, "buffers", summary.buffers);
  json.endObject();
  json.key("attributes").beginArray();
  for (const AttributeEntry& attribute : summary.attributes) {
    json.beginObject()
        .member("name", attribute.name)
        .member("type", attribute.type)
        .member("value", attribute.value)
        .endObject();
  }
  json.endArray().endObject();
  return text.str();
}

//===----------------------------------------------------------------------===//
// Graphs
//===----------------------------------------------------------------------===//

/// The graph a command looks at, copied so that inlining never touches the input.
struct SelectedGraph {
  std::shared_ptr<Graph> graph;
  std::string path;
  std::optional<std::string> method;  ///< Unset for IR text.
  bool inlined = false;

  std::string description() const {
    return path + (method ? ", method " + *method : "") + (inlined ? " (inlined)" : "");
  }
};

std::string methodNames(const torch::jit::Module& module) {
  std::string names;
  for (const torch::jit::Method& method : module.get_methods()) {
    names += (names.empty() ? "" : ", ") + method.name();
  }
  return names.empty() ? "none" : names;
}

SelectedGraph selectGraph(const LoadedInput& input, const DumpOptions& options, bool inlineArchives) {
  SelectedGraph selected;
  selected.path = input.path;
  if (input.module) {
    selected.method = options.method.value_or("forward");
    auto method = input.module->find_method(*selected.method);
    if (!method) {
      throw Error(ErrorKind::Input, input.path + ": module " + input.module->type()->str() + " has no method '" +
                                        *selected.method + "' (methods: " + methodNames(*input.module) + ")");
    }
    selected.graph = method->graph()->copy();
    selected.inlined = options.inlined.value_or(inlineArchives);
  } else {
    if (options.method) {
      throw Error(ErrorKind::Usage, input.path + ": a method (" + *options.method +
                                        ") needs a TorchScript archive; IR text holds one graph");
    }
    selected.graph = input.cases.front().graph->copy();
    selected.inlined = options.inlined.value_or(false);
  }
  if (selected.inlined) {
    torch::jit::Inline(*selected.graph);
  }
  return selected;
}

template <typename Values> void writeValues(JsonWriter& json, const std::string& key, const Values& values) {
  json.key(key).beginArray();
  for (const torch::jit::Value* value : values) {
    json.beginObject()
        .member("name", "%" + value->debugName())
        .member("type", value->type()->annotation_str())
        .endObject();
  }
  json.endArray();
}

template <typename Values> void writeValueNames(JsonWriter& json, const std::string& key, const Values& values) {
  json.key(key).beginArray();
  for (const torch::jit::Value* value : values) {
    json.value("%" + value->debugName());
  }
  json.endArray();
}

void writeNodes(JsonWriter& json, const torch::jit::Block* block) {
  json.key("nodes").beginArray();
  for (const torch::jit::Node* node : block->nodes()) {
    json.beginObject().member("kind", std::string(node->kind().toQualString()));
    writeValueNames(json, "inputs", node->inputs());
    writeValues(json, "outputs", node->outputs());
    json.key("attributes").beginObject();
    for (torch::jit::Symbol name : node->attributeNames()) {
      json.member(name.toUnqualString(), attributeText(node, name, 200));
    }
    json.endObject();
    if (!node->blocks().empty()) {
      json.key("blocks").beginArray();
      for (const torch::jit::Block* child : node->blocks()) {
        json.beginObject();
        writeValues(json, "inputs", child->inputs());
        writeValueNames(json, "outputs", child->outputs());
        writeNodes(json, child);
        json.endObject();
      }
      json.endArray();
    }
    json.endObject();
  }
  json.endArray();
}

void writeSource(JsonWriter& json, const SelectedGraph& selected) {
  json.member("file", selected.path);
  json.key("method");
  if (selected.method) {
    json.value(*selected.method);
  } else {
    json.null();
  }
  json.member("inlined", selected.inlined);
}

std::string graphOutput(const SelectedGraph& selected, const DumpOptions& options) {
  switch (options.format) {
  case DumpFormat::Text:
    return graphText(*selected.graph, options.sourceLocations);
  case DumpFormat::Dot:
    return graphToDot(*selected.graph, selected.description());
  case DumpFormat::Json:
    break;
  }
  std::ostringstream text;
  JsonWriter json(text);
  json.beginObject().member("kind", "graph");
  writeSource(json, selected);
  writeValues(json, "inputs", selected.graph->inputs());
  writeValueNames(json, "outputs", selected.graph->outputs());
  writeNodes(json, selected.graph->block());
  json.member("ir", graphText(*selected.graph, options.sourceLocations)).endObject();
  return text.str();
}

//===----------------------------------------------------------------------===//
// Op statistics and diffs
//===----------------------------------------------------------------------===//

void countKinds(const torch::jit::Block* block, std::map<std::string, size_t>& counts) {
  for (const torch::jit::Node* node : block->nodes()) {
    ++counts[node->kind().toQualString()];
    for (const torch::jit::Block* child : node->blocks()) {
      countKinds(child, counts);
    }
  }
}

std::map<std::string, size_t> kindCounts(const Graph& graph) {
  std::map<std::string, size_t> counts;
  countKinds(graph.block(), counts);
  return counts;
}

size_t total(const std::map<std::string, size_t>& counts) {
  size_t sum = 0;
  for (const auto& entry : counts) {
    sum += entry.second;
  }
  return sum;
}

std::string opStatsOutput(const SelectedGraph& selected, const DumpOptions& options) {
  std::vector<std::pair<std::string, size_t>> histogram = opHistogram(*selected.graph);
  size_t nodes = 0;
  for (const auto& entry : histogram) {
    nodes += entry.second;
  }
  std::ostringstream text;
  if (options.format == DumpFormat::Json) {
    JsonWriter json(text);
    json.beginObject().member("kind", "op-stats");
    writeSource(json, selected);
    json.member("nodes", static_cast<uint64_t>(nodes)).key("ops").beginArray();
    for (const auto& entry : histogram) {
      json.beginObject().member("kind", entry.first).member("count", static_cast<uint64_t>(entry.second)).endObject();
    }
    json.endArray().endObject();
    return text.str();
  }
  text << "op histogram of " << selected.description() << ": " << nodes << " nodes, " << histogram.size()
       << " kinds\n";
  Table table({true, false});
  table.add({"count", "kind"});
  for (const auto& entry : histogram) {
    table.add({std::to_string(entry.second), entry.first});
  }
  text << table.render("  ");
  return text.str();
}

struct OpDelta {
  std::string kind;
  size_t before;
  size_t after;
  int64_t delta() const { return static_cast<int64_t>(after) - static_cast<int64_t>(before); }
};

/// The kinds whose counts differ, largest change first, then by kind.
std::vector<OpDelta> opDeltas(const std::map<std::string, size_t>& before, const std::map<std::string, size_t>& after) {
  std::map<std::string, OpDelta> rows;
  for (const auto& entry : before) {
    rows[entry.first] = OpDelta{entry.first, entry.second, 0};
  }
  for (const auto& entry : after) {
    auto row = rows.emplace(entry.first, OpDelta{entry.first, 0, 0}).first;
    row->second.after = entry.second;
  }
  std::vector<OpDelta> deltas;
  for (const auto& row : rows) {
    if (row.second.delta() != 0) {
      deltas.push_back(row.second);
    }
  }
  std::stable_sort(deltas.begin(), deltas.end(), [](const OpDelta& a, const OpDelta& b) {
    return std::llabs(a.delta()) > std::llabs(b.delta());
  });
  return deltas;
}

/// What tsdump prints, and whether --diff found the inputs different (its exit
/// code is then 1, as diff(1)'s is).
struct Rendered {
  std::string text;
  bool inputsDiffer = false;
};

Rendered diffOutput(const SelectedGraph& a, const SelectedGraph& b, const DumpOptions& options) {
  std::map<std::string, size_t> countsA = kindCounts(*a.graph);
  std::map<std::string, size_t> countsB = kindCounts(*b.graph);
  std::vector<OpDelta> deltas = opDeltas(countsA, countsB);
  std::string irDiff = canonicalIRDiff(a.graph, b.graph, a.path, b.path);
  bool identical = deltas.empty() && irDiff.empty();
  std::ostringstream text;
  if (options.format == DumpFormat::Json) {
    JsonWriter json(text);
    json.beginObject().member("kind", "diff");
    json.key("a").beginObject();
    writeSource(json, a);
    json.member("nodes", static_cast<uint64_t>(total(countsA))).endObject();
    json.key("b").beginObject();
    writeSource(json, b);
    json.member("nodes", static_cast<uint64_t>(total(countsB))).endObject();
    json.member("identical", identical).key("ops").beginArray();
    for (const OpDelta& row : deltas) {
      json.beginObject()
          .member("kind", row.kind)
          .member("a", static_cast<uint64_t>(row.before))
          .member("b", static_cast<uint64_t>(row.after))
          .member("delta", row.delta())
          .endObject();
    }
    json.endArray().member("ir_diff", irDiff).endObject();
    return {text.str(), !identical};
  }
  text << "--- A: " << a.description() << "\n+++ B: " << b.description() << "\n\n";
  if (deltas.empty()) {
    text << "op counts: identical (" << total(countsA) << " nodes)\n";
  } else {
    Table table({false, true, true, true});
    table.add({"kind", "A", "B", "delta"});
    auto signedText = [](int64_t value) { return (value > 0 ? "+" : "") + std::to_string(value); };
    for (const OpDelta& row : deltas) {
      table.add({row.kind, std::to_string(row.before), std::to_string(row.after), signedText(row.delta())});
    }
    int64_t totalDelta = static_cast<int64_t>(total(countsB)) - static_cast<int64_t>(total(countsA));
    table.add({"(all nodes)", std::to_string(total(countsA)), std::to_string(total(countsB)), signedText(totalDelta)});
    text << "op counts that differ:\n" << table.render("  ");
  }
  text << "\n";
  if (irDiff.empty()) {
    text << "canonical IR: identical\n";
  } else {
    text << "canonical IR diff:\n" << irDiff;
  }
  return {text.str(), !identical};
}

//===----------------------------------------------------------------------===//
// Driver
//===----------------------------------------------------------------------===//

/// Runs `body` on behalf of input `path`: a LibTorch exception becomes an
/// input error that names the file.
template <typename Fn> auto forInput(const std::string& path, Fn&& body) {
  try {
    return body();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& error) {
    throw Error(ErrorKind::Input, path + ": " + firstLine(error.what()));
  }
}

Rendered render(const DumpOptions& options) {
  if (options.mode == DumpMode::Diff) {
    LoadedInput inputA = loadInput(options.inputs[0], false);
    LoadedInput inputB = loadInput(options.inputs[1], false);
    SelectedGraph a = forInput(inputA.path, [&] { return selectGraph(inputA, options, true); });
    SelectedGraph b = forInput(inputB.path, [&] { return selectGraph(inputB, options, true); });
    return diffOutput(a, b, options);
  }
  LoadedInput input = loadInput(options.inputs[0], false);
  return Rendered{forInput(input.path, [&] {
    switch (options.mode) {
    case DumpMode::Summary:
      if (input.module) {
        ModuleSummary summary = summarize(*input.module);
        return options.format == DumpFormat::Json ? summaryJson(summary, input.path)
                                                  : summaryText(summary, input.path);
      }
      return graphOutput(selectGraph(input, options, false), options);
    case DumpMode::Graph:
      return graphOutput(selectGraph(input, options, false), options);
    case DumpMode::OpStats:
      return opStatsOutput(selectGraph(input, options, true), options);
    case DumpMode::Diff:
      break;
    }
    return std::string();
  })};
}

int run(const DumpOptions& options, std::ostream& out) {
  if (options.help) {
    out << tsdumpUsage();
    return 0;
  }
  if (options.version) {
    out << "tsdump " << TSOPT_VERSION << " (LibTorch " << TORCH_VERSION << ")\n";
    return 0;
  }
  // The whole output exists before any of it is written.
  Rendered rendered = render(options);
  if (options.output == "-") {
    out << rendered.text << std::flush;
  } else {
    writeTextAtomically(options.output, rendered.text);
  }
  return rendered.inputsDiffer ? 1 : 0;
}

} // namespace

std::vector<std::pair<std::string, size_t>> opHistogram(const Graph& graph) {
  std::map<std::string, size_t> counts = kindCounts(graph);
  std::vector<std::pair<std::string, size_t>> histogram(counts.begin(), counts.end());
  // counts is ordered by kind, so a stable sort by count keeps kinds in order within a count.
  std::stable_sort(histogram.begin(), histogram.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return histogram;
}

int runTsdump(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  // Exit code 1 means that --diff's inputs differ, so an internal error counts
  // as an input tsdump could not handle.
  return runReportingErrors("tsdump", err, [&] { return run(parseDumpOptions(args), out); }, ErrorKind::Input);
}

int tsdumpMain(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return runTsdump(args, std::cout, std::cerr);
}

} // namespace tsopt
