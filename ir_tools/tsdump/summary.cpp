#include "ir_tools/tsdump/summary.h"

#include "ir_tools/tsdump/json_writer.h"
#include "ir_tools/tsdump/text_table.h"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <sstream>

namespace tsopt {
namespace {

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
  TextTable table({false, false, false, true});
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
    TextTable table({false, false, false});
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

} // namespace

std::string summaryOutput(const torch::jit::Module& module, const std::string& path, DumpFormat format) {
  ModuleSummary summary = summarize(module);
  return format == DumpFormat::Json ? summaryJson(summary, path) : summaryText(summary, path);
}

} // namespace tsopt
