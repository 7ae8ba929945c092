#include "ir_tools/tsdump/graph_output.h"

#include "ir_tools/tsdump/graph_dot.h"
#include "ir_tools/tsdump/ir_diff.h"
#include "ir_tools/tsdump/json_writer.h"

#include <sstream>

namespace tsopt {
namespace {

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

} // namespace

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

} // namespace tsopt
