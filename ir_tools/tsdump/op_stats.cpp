#include "ir_tools/tsdump/op_stats.h"

#include "ir_tools/tsdump/json_writer.h"
#include "ir_tools/tsdump/text_table.h"

#include <algorithm>
#include <sstream>

namespace tsopt {
namespace {

void countKinds(const torch::jit::Block* block, std::map<std::string, size_t>& counts) {
  for (const torch::jit::Node* node : block->nodes()) {
    ++counts[node->kind().toQualString()];
    for (const torch::jit::Block* child : node->blocks()) {
      countKinds(child, counts);
    }
  }
}

} // namespace

std::map<std::string, size_t> kindCounts(const torch::jit::Graph& graph) {
  std::map<std::string, size_t> counts;
  countKinds(graph.block(), counts);
  return counts;
}

std::vector<std::pair<std::string, size_t>> opHistogram(const torch::jit::Graph& graph) {
  std::map<std::string, size_t> counts = kindCounts(graph);
  std::vector<std::pair<std::string, size_t>> histogram(counts.begin(), counts.end());
  // counts is ordered by kind, so a stable sort by count keeps kinds in order within a count.
  std::stable_sort(histogram.begin(), histogram.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return histogram;
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
  TextTable table({true, false});
  table.add({"count", "kind"});
  for (const auto& entry : histogram) {
    table.add({std::to_string(entry.second), entry.first});
  }
  text << table.render("  ");
  return text.str();
}

} // namespace tsopt
