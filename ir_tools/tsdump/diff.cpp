#include "ir_tools/tsdump/diff.h"

#include "ir_tools/tsdump/ir_diff.h"
#include "ir_tools/tsdump/json_writer.h"
#include "ir_tools/tsdump/op_stats.h"
#include "ir_tools/tsdump/text_table.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace tsopt {
namespace {

size_t total(const std::map<std::string, size_t>& counts) {
  size_t sum = 0;
  for (const auto& entry : counts) {
    sum += entry.second;
  }
  return sum;
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

} // namespace

DiffOutput diffOutput(const SelectedGraph& a, const SelectedGraph& b, const DumpOptions& options) {
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
    TextTable table({false, true, true, true});
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

} // namespace tsopt
