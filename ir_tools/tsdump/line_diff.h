//===- line_diff.h - Minimal line diffs and unified-diff output ------------===//
///
/// Myers' O(ND) difference algorithm in its linear-space form (the middle
/// snake, as in "An O(ND) Difference Algorithm and Its Variations", 1986):
/// a shortest edit script between two sequences of lines, in O((N+M)·D) time
/// and O(N+M) memory, so diffing two large graphs that differ a lot stays
/// cheap. Lines found on one side only are set aside first, as GNU diff does:
/// after renumbering, most changed lines of printed IR are such lines.
/// unifiedDiff() formats the script the way `diff -u` does.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <string>
#include <vector>

namespace tsopt {

enum class DiffKind { Keep, Remove, Insert };

/// One step of an edit script. Keep and Remove consume line `oldIndex` of the
/// old sequence, Keep and Insert line `newIndex` of the new one (0-based); the
/// index a step does not consume is where it happens in that sequence.
struct DiffEdit {
  DiffKind kind;
  size_t oldIndex;
  size_t newIndex;
};

/// A shortest edit script turning `oldLines` into `newLines`: Keeps are a
/// longest common subsequence, and within a run of changes Removes come
/// before Inserts.
std::vector<DiffEdit> diffLines(const std::vector<std::string>& oldLines, const std::vector<std::string>& newLines);

/// `text` cut at '\n'; a final line without '\n' still counts.
std::vector<std::string> splitLines(const std::string& text);

/// The changes as a unified diff with `context` lines around each change,
/// headed by "--- oldName" and "+++ newName"; empty when the lines are equal.
std::string unifiedDiff(const std::vector<std::string>& oldLines, const std::vector<std::string>& newLines,
                        const std::string& oldName, const std::string& newName, size_t context = 3);

} // namespace tsopt
