#include "ir_tools/tsdump/line_diff.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <utility>

namespace tsopt {
namespace {

/// Lines interned as numbers, so comparing two lines is comparing two ints.
using Sequence = std::vector<size_t>;

struct Range {
  size_t begin;
  size_t end;
  size_t size() const { return end - begin; }
};

class MyersDiff {
public:
  MyersDiff(const Sequence& a, const Sequence& b) : a_(a), b_(b) {}

  std::vector<DiffKind> run() {
    diff(Range{0, a_.size()}, Range{0, b_.size()});
    return std::move(script_);
  }

private:
  void emit(DiffKind kind, size_t count) { script_.insert(script_.end(), count, kind); }

  void diff(Range a, Range b) {
    size_t prefix = 0;
    while (prefix < a.size() && prefix < b.size() && a_[a.begin + prefix] == b_[b.begin + prefix]) {
      ++prefix;
    }
    emit(DiffKind::Keep, prefix);
    a.begin += prefix;
    b.begin += prefix;
    size_t suffix = 0;
    while (suffix < a.size() && suffix < b.size() && a_[a.end - 1 - suffix] == b_[b.end - 1 - suffix]) {
      ++suffix;
    }
    a.end -= suffix;
    b.end -= suffix;
    if (a.size() == 0 || b.size() == 0) {
      emit(DiffKind::Remove, a.size());
      emit(DiffKind::Insert, b.size());
    } else if (auto split = middleSnake(a, b)) {
      diff(Range{a.begin, split->first}, Range{b.begin, split->second});
      diff(Range{split->first, a.end}, Range{split->second, b.end});
    } else {
      emit(DiffKind::Remove, a.size());
      emit(DiffKind::Insert, b.size());
    }
    emit(DiffKind::Keep, suffix);
  }

  /// A point (x, y) on a shortest edit path through the box a × b, found by
  /// running the greedy search from both corners until the two frontiers
  /// overlap; nothing when the ranges have no line in common. Diagonal k holds
  /// the points with x - y = k; v[k] is the furthest x reached on it (from the
  /// far corner, for the reverse search).
  std::optional<std::pair<size_t, size_t>> middleSnake(Range a, Range b) const {
    const long n = static_cast<long>(a.size());
    const long m = static_cast<long>(b.size());
    const long maxD = (n + m + 1) / 2;
    const long offset = maxD;
    const long length = 2 * maxD + 2;
    std::vector<long> forward(length, -1), reverse(length, -1);
    forward[offset + 1] = 0;
    reverse[offset + 1] = 0;
    const long delta = n - m;
    // With an odd delta the paths meet on a forward step, else on a reverse one.
    const bool meetsForward = delta % 2 != 0;
    // Diagonals that ran off the box are trimmed from the search.
    long forwardStart = 0, forwardEnd = 0, reverseStart = 0, reverseEnd = 0;
    auto oldAt = [&](long x) { return a_[a.begin + x]; };
    auto newAt = [&](long y) { return b_[b.begin + y]; };
    for (long d = 0; d < maxD; ++d) {
      for (long k = -d + forwardStart; k <= d - forwardEnd; k += 2) {
        long index = offset + k;
        long x = (k == -d || (k != d && forward[index - 1] < forward[index + 1])) ? forward[index + 1]
                                                                                 : forward[index - 1] + 1;
        long y = x - k;
        while (x < n && y < m && oldAt(x) == newAt(y)) {
          ++x;
          ++y;
        }
        forward[index] = x;
        if (x > n) {
          forwardEnd += 2;
        } else if (y > m) {
          forwardStart += 2;
        } else if (meetsForward) {
          long mirror = offset + delta - k;
          if (mirror >= 0 && mirror < length && reverse[mirror] != -1 && x >= n - reverse[mirror]) {
            return std::make_pair(a.begin + x, b.begin + y);
          }
        }
      }
      for (long k = -d + reverseStart; k <= d - reverseEnd; k += 2) {
        long index = offset + k;
        long x = (k == -d || (k != d && reverse[index - 1] < reverse[index + 1])) ? reverse[index + 1]
                                                                                 : reverse[index - 1] + 1;
        long y = x - k;
        while (x < n && y < m && oldAt(n - 1 - x) == newAt(m - 1 - y)) {
          ++x;
          ++y;
        }
        reverse[index] = x;
        if (x > n) {
          reverseEnd += 2;
        } else if (y > m) {
          reverseStart += 2;
        } else if (!meetsForward) {
          long mirror = offset + delta - k;
          if (mirror >= 0 && mirror < length && forward[mirror] != -1) {
            long forwardX = forward[mirror];
            long forwardY = offset + forwardX - mirror;
            if (forwardX >= n - x) {
              return std::make_pair(a.begin + forwardX, b.begin + forwardY);
            }
          }
        }
      }
    }
    return std::nullopt;
  }

  const Sequence& a_;
  const Sequence& b_;
  std::vector<DiffKind> script_;
};

/// Puts the Removes of each run of changes before its Inserts, as diff does.
void removesFirst(std::vector<DiffKind>& script) {
  auto runBegin = script.begin();
  while (runBegin != script.end()) {
    runBegin = std::find_if(runBegin, script.end(), [](DiffKind kind) { return kind != DiffKind::Keep; });
    auto runEnd = std::find(runBegin, script.end(), DiffKind::Keep);
    std::stable_partition(runBegin, runEnd, [](DiffKind kind) { return kind == DiffKind::Remove; });
    runBegin = runEnd;
  }
}

/// The edit script for `a` and `b`. A line found on one side only is in no
/// common subsequence, so, as GNU diff does, such lines are set aside before
/// the search (which then runs on far fewer lines when most lines changed) and
/// merged back as removals and insertions; the script stays a shortest one.
std::vector<DiffKind> mergeDiscarded(const Sequence& a, const Sequence& b) {
  size_t idCount = 0;
  for (size_t id : a) {
    idCount = std::max(idCount, id + 1);
  }
  for (size_t id : b) {
    idCount = std::max(idCount, id + 1);
  }
  std::vector<bool> inA(idCount, false), inB(idCount, false);
  for (size_t id : a) {
    inA[id] = true;
  }
  for (size_t id : b) {
    inB[id] = true;
  }
  Sequence sharedA, sharedB;
  std::copy_if(a.begin(), a.end(), std::back_inserter(sharedA), [&](size_t id) { return inB[id]; });
  std::copy_if(b.begin(), b.end(), std::back_inserter(sharedB), [&](size_t id) { return inA[id]; });

  std::vector<DiffKind> script;
  size_t i = 0, j = 0;
  auto flushOld = [&] {
    for (; i < a.size() && !inB[a[i]]; ++i) {
      script.push_back(DiffKind::Remove);
    }
  };
  auto flushNew = [&] {
    for (; j < b.size() && !inA[b[j]]; ++j) {
      script.push_back(DiffKind::Insert);
    }
  };
  for (DiffKind kind : MyersDiff(sharedA, sharedB).run()) {
    if (kind != DiffKind::Insert) {
      flushOld();
      ++i;
    }
    if (kind != DiffKind::Remove) {
      flushNew();
      ++j;
    }
    script.push_back(kind);
  }
  flushOld();
  flushNew();
  return script;
}

std::string hunkRange(size_t start, size_t count) {
  // As `diff -u`: an empty range names the line before it, a single line has no count.
  if (count == 0) {
    return std::to_string(start) + ",0";
  }
  if (count == 1) {
    return std::to_string(start + 1);
  }
  return std::to_string(start + 1) + "," + std::to_string(count);
}

} // namespace

std::vector<DiffEdit> diffLines(const std::vector<std::string>& oldLines, const std::vector<std::string>& newLines) {
  std::unordered_map<std::string, size_t> ids;
  auto intern = [&](const std::vector<std::string>& lines) {
    Sequence sequence;
    sequence.reserve(lines.size());
    for (const std::string& line : lines) {
      sequence.push_back(ids.emplace(line, ids.size()).first->second);
    }
    return sequence;
  };
  Sequence a = intern(oldLines);
  Sequence b = intern(newLines);
  std::vector<DiffKind> script = mergeDiscarded(a, b);
  removesFirst(script);

  std::vector<DiffEdit> edits;
  edits.reserve(script.size());
  size_t oldIndex = 0, newIndex = 0;
  for (DiffKind kind : script) {
    edits.push_back(DiffEdit{kind, oldIndex, newIndex});
    oldIndex += kind != DiffKind::Insert ? 1 : 0;
    newIndex += kind != DiffKind::Remove ? 1 : 0;
  }
  return edits;
}

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  std::string line;
  while (std::getline(stream, line)) {
    lines.push_back(line);
  }
  return lines;
}

std::string unifiedDiff(const std::vector<std::string>& oldLines, const std::vector<std::string>& newLines,
                        const std::string& oldName, const std::string& newName, size_t context) {
  std::vector<DiffEdit> edits = diffLines(oldLines, newLines);
  std::vector<size_t> changes;
  for (size_t index = 0; index < edits.size(); ++index) {
    if (edits[index].kind != DiffKind::Keep) {
      changes.push_back(index);
    }
  }
  if (changes.empty()) {
    return "";
  }
  std::string text = "--- " + oldName + "\n+++ " + newName + "\n";
  size_t next = 0;
  while (next < changes.size()) {
    // A hunk spans changes whose gaps of kept lines do not exceed 2 * context.
    size_t last = next;
    while (last + 1 < changes.size() && changes[last + 1] - changes[last] - 1 <= 2 * context) {
      ++last;
    }
    size_t begin = changes[next] - std::min(context, changes[next]);
    size_t end = std::min(edits.size(), changes[last] + 1 + context);
    size_t oldCount = 0, newCount = 0;
    std::string body;
    for (size_t index = begin; index < end; ++index) {
      const DiffEdit& edit = edits[index];
      switch (edit.kind) {
      case DiffKind::Keep:
        body += " " + oldLines[edit.oldIndex] + "\n";
        ++oldCount;
        ++newCount;
        break;
      case DiffKind::Remove:
        body += "-" + oldLines[edit.oldIndex] + "\n";
        ++oldCount;
        break;
      case DiffKind::Insert:
        body += "+" + newLines[edit.newIndex] + "\n";
        ++newCount;
        break;
      }
    }
    text += "@@ -" + hunkRange(edits[begin].oldIndex, oldCount) + " +" + hunkRange(edits[begin].newIndex, newCount) +
            " @@\n" + body;
    next = last + 1;
  }
  return text;
}

} // namespace tsopt
