#include "ir_tools/tsdump/ir_diff.h"

#include "ir_tools/tsdump/line_diff.h"

#include <torch/csrc/jit/passes/canonicalize.h>

#include <algorithm>
#include <cctype>
#include <unordered_map>
#include <unordered_set>

namespace tsopt {
namespace {

bool endsWithLineAndColumn(const std::string& text) {
  size_t at = text.size();
  for (int field = 0; field < 2; ++field) {
    size_t digits = at;
    while (at > 0 && std::isdigit(static_cast<unsigned char>(text[at - 1]))) {
      --at;
    }
    if (at == digits || at == 0 || text[at - 1] != ':') {
      return false;
    }
    --at;
  }
  return true;
}

/// A numbered value ("%12") in a line of IR text: [begin, end) and its number.
struct NumberedValue {
  size_t begin;
  size_t end;
  uint64_t number;
};

bool isNameCharacter(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }

std::vector<NumberedValue> numberedValues(const std::string& line) {
  std::vector<NumberedValue> values;
  bool inString = false;
  for (size_t at = 0; at < line.size(); ++at) {
    char c = line[at];
    if (inString) {
      if (c == '\\') {
        ++at;
      } else if (c == '"') {
        inString = false;
      }
      continue;
    }
    if (c == '"') {
      inString = true;
      continue;
    }
    if (c != '%') {
      continue;
    }
    size_t end = at + 1;
    while (end < line.size() && std::isdigit(static_cast<unsigned char>(line[end]))) {
      ++end;
    }
    // %x.1 and %3a are names, not numbers.
    if (end == at + 1 || (end < line.size() && isNameCharacter(line[end]))) {
      continue;
    }
    values.push_back(NumberedValue{at, end, std::stoull(line.substr(at + 1, end - at - 1))});
    at = end - 1;
  }
  return values;
}

/// `line` with each numbered value replaced by what `rename` returns for it.
template <typename Fn> std::string renumbered(const std::string& line, Fn&& rename) {
  std::string result;
  size_t copied = 0;
  for (const NumberedValue& value : numberedValues(line)) {
    result.append(line, copied, value.begin - copied);
    result += rename(value.number);
    copied = value.end;
  }
  result.append(line, copied, std::string::npos);
  return result;
}

} // namespace

std::string graphText(const torch::jit::Graph& graph, bool sourceLocations) {
  std::string text = graph.toString(sourceLocations);
  if (sourceLocations) {
    return text;
  }
  std::string kept;
  for (const std::string& line : splitLines(text)) {
    size_t comment = line.rfind(" # ");
    bool isLocation = comment != std::string::npos && endsWithLineAndColumn(line);
    kept += (isLocation ? line.substr(0, comment) : line) + "\n";
  }
  return kept;
}

void alignValueNumbers(const std::vector<std::string>& a, std::vector<std::string>& b) {
  auto masked = [](const std::vector<std::string>& lines) {
    std::vector<std::string> result;
    for (const std::string& line : lines) {
      result.push_back(renumbered(line, [](uint64_t) { return std::string("%_"); }));
    }
    return result;
  };
  // Lines equal up to numbering pair their numbers, position by position; the
  // first pairing of a number wins, so each A number names one B value.
  std::unordered_map<uint64_t, uint64_t> toA;
  std::unordered_set<uint64_t> taken;
  uint64_t nextFree = 0;
  for (const std::string& line : a) {
    for (const NumberedValue& value : numberedValues(line)) {
      nextFree = std::max(nextFree, value.number + 1);
    }
  }
  for (const DiffEdit& edit : diffLines(masked(a), masked(b))) {
    if (edit.kind != DiffKind::Keep) {
      continue;
    }
    std::vector<NumberedValue> valuesA = numberedValues(a[edit.oldIndex]);
    std::vector<NumberedValue> valuesB = numberedValues(b[edit.newIndex]);
    for (size_t index = 0; index < valuesA.size() && index < valuesB.size(); ++index) {
      if (!toA.count(valuesB[index].number) && !taken.count(valuesA[index].number)) {
        toA[valuesB[index].number] = valuesA[index].number;
        taken.insert(valuesA[index].number);
      }
    }
  }
  for (std::string& line : b) {
    line = renumbered(line, [&](uint64_t number) {
      auto mapped = toA.find(number);
      if (mapped == toA.end()) {
        mapped = toA.emplace(number, nextFree++).first;
      }
      return "%" + std::to_string(mapped->second);
    });
  }
}

std::string canonicalIRDiff(const std::shared_ptr<torch::jit::Graph>& a, const std::shared_ptr<torch::jit::Graph>& b,
                            const std::string& nameA, const std::string& nameB) {
  // Canonicalize builds renumbered copies; the graphs themselves are left alone.
  std::vector<std::string> linesA = splitLines(graphText(*torch::jit::Canonicalize(a, /*keep_unique_names=*/true), false));
  std::vector<std::string> linesB = splitLines(graphText(*torch::jit::Canonicalize(b, /*keep_unique_names=*/true), false));
  alignValueNumbers(linesA, linesB);
  return unifiedDiff(linesA, linesB, nameA, nameB);
}

} // namespace tsopt
