#include "ir_tools/tsdump/line_diff.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace tsopt {
namespace {

std::vector<std::string> lines(const std::string& letters) {
  std::vector<std::string> result;
  for (char c : letters) {
    result.push_back(std::string(1, c));
  }
  return result;
}

/// Length of a longest common subsequence, by the textbook O(NM) table.
size_t lcsLength(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::vector<size_t>> table(a.size() + 1, std::vector<size_t>(b.size() + 1, 0));
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      table[i][j] = a[i - 1] == b[j - 1] ? table[i - 1][j - 1] + 1 : std::max(table[i - 1][j], table[i][j - 1]);
    }
  }
  return table[a.size()][b.size()];
}

/// Checks that `edits` walks both sequences in order, keeps only equal lines,
/// and returns the number of kept lines.
size_t checkScript(const std::vector<DiffEdit>& edits, const std::vector<std::string>& a,
                   const std::vector<std::string>& b) {
  size_t oldIndex = 0, newIndex = 0, kept = 0;
  for (const DiffEdit& edit : edits) {
    EXPECT_EQ(edit.oldIndex, oldIndex);
    EXPECT_EQ(edit.newIndex, newIndex);
    switch (edit.kind) {
    case DiffKind::Keep:
      EXPECT_EQ(a.at(oldIndex), b.at(newIndex));
      ++oldIndex;
      ++newIndex;
      ++kept;
      break;
    case DiffKind::Remove:
      ++oldIndex;
      break;
    case DiffKind::Insert:
      ++newIndex;
      break;
    }
  }
  EXPECT_EQ(oldIndex, a.size());
  EXPECT_EQ(newIndex, b.size());
  return kept;
}

std::string kinds(const std::vector<DiffEdit>& edits) {
  std::string text;
  for (const DiffEdit& edit : edits) {
    text += edit.kind == DiffKind::Keep ? '=' : edit.kind == DiffKind::Remove ? '-' : '+';
  }
  return text;
}

TEST(LineDiffTest, EqualSequencesAreAllKept) {
  auto a = lines("abcde");
  EXPECT_EQ(kinds(diffLines(a, a)), "=====");
  EXPECT_EQ(unifiedDiff(a, a, "a", "b"), "");
}

TEST(LineDiffTest, EmptySides) {
  EXPECT_EQ(kinds(diffLines({}, {})), "");
  EXPECT_EQ(kinds(diffLines({}, lines("xy"))), "++");
  EXPECT_EQ(kinds(diffLines(lines("xy"), {})), "--");
  EXPECT_EQ(unifiedDiff({}, lines("xy"), "a", "b"), "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n");
  EXPECT_EQ(unifiedDiff(lines("xy"), {}, "a", "b"), "--- a\n+++ b\n@@ -1,2 +0,0 @@\n-x\n-y\n");
}

TEST(LineDiffTest, MyersPaperExampleIsShortest) {
  // The example of Myers' paper: D = 5, a longest common subsequence has 4 lines.
  auto a = lines("abcabba");
  auto b = lines("cbabac");
  std::vector<DiffEdit> edits = diffLines(a, b);
  EXPECT_EQ(checkScript(edits, a, b), 4u);
  EXPECT_EQ(edits.size(), 4u + 5u);
}

TEST(LineDiffTest, RemovesComeBeforeInsertsInAChange) {
  EXPECT_EQ(kinds(diffLines(lines("axyb"), lines("apqb"))), "=--++=");
}

TEST(LineDiffTest, NoCommonLines) {
  EXPECT_EQ(kinds(diffLines(lines("abc"), lines("xyz"))), "---+++");
}

TEST(LineDiffTest, RandomSequencesGetShortestScripts) {
  std::mt19937 random(1234);
  for (int round = 0; round < 500; ++round) {
    std::uniform_int_distribution<int> length(0, 40);
    // Few letters: long common runs. Many: lines found on one side only.
    std::uniform_int_distribution<int> letter(0, round % 3 == 0 ? 2 : round % 3 == 1 ? 6 : 25);
    std::vector<std::string> a(length(random)), b(length(random));
    for (auto& line : a) {
      line = std::string(1, static_cast<char>('a' + letter(random)));
    }
    for (auto& line : b) {
      line = std::string(1, static_cast<char>('a' + letter(random)));
    }
    SCOPED_TRACE("round " + std::to_string(round));
    EXPECT_EQ(checkScript(diffLines(a, b), a, b), lcsLength(a, b));
  }
}

TEST(LineDiffTest, LargeInputsStayLinearInMemory) {
  // Two 20000-line sequences over two distinct lines, far apart (D in the
  // thousands): a quadratic table would need gigabytes, the linear-space
  // search a few hundred kilobytes.
  std::vector<std::string> a, b;
  for (int index = 0; index < 20000; ++index) {
    a.push_back(index % 3 == 0 ? "x" : "y");
    b.push_back(index % 5 == 0 ? "x" : "y");
  }
  // The 13333 "y" lines of a fit in order among the 16000 of b.
  EXPECT_GE(checkScript(diffLines(a, b), a, b), 13333u);
}

TEST(LineDiffTest, LinesOnOneSideOnlyAreSetAside) {
  // Everything differs: no search is needed, and none happens.
  std::vector<std::string> a, b;
  for (int index = 0; index < 50000; ++index) {
    a.push_back("a" + std::to_string(index));
    b.push_back("b" + std::to_string(index));
  }
  EXPECT_EQ(checkScript(diffLines(a, b), a, b), 0u);
  b = a;
  b[10000] = "changed";
  b.insert(b.begin() + 500, "inserted");
  EXPECT_EQ(checkScript(diffLines(a, b), a, b), a.size() - 1);
  // Unique lines interleaved with shared ones still give a shortest script.
  EXPECT_EQ(kinds(diffLines(lines("aXbYc"), lines("aPbQRc"))), "=-+=-++=");
}

TEST(LineDiffTest, UnifiedHunksCarryContext) {
  auto a = lines("abcdefghijklmnop");
  auto b = a;
  b[1] = "B";  // Line 2.
  b.erase(b.begin() + 14);  // Line 15, 'o', more than 2 * 3 lines further.
  EXPECT_EQ(unifiedDiff(a, b, "old", "new"),
            "--- old\n+++ new\n"
            "@@ -1,5 +1,5 @@\n a\n-b\n+B\n c\n d\n e\n"
            "@@ -12,5 +12,4 @@\n l\n m\n n\n-o\n p\n");
}

TEST(LineDiffTest, CloseChangesShareAHunk) {
  auto a = lines("abcdefghij");
  auto b = a;
  b[1] = "B";
  b[8] = "I";  // Six kept lines between the changes: one hunk.
  EXPECT_EQ(unifiedDiff(a, b, "old", "new"),
            "--- old\n+++ new\n"
            "@@ -1,10 +1,10 @@\n a\n-b\n+B\n c\n d\n e\n f\n g\n h\n-i\n+I\n j\n");
}

TEST(LineDiffTest, SingleLineRangesHaveNoCount) {
  EXPECT_EQ(unifiedDiff(lines("a"), lines("b"), "old", "new"), "--- old\n+++ new\n@@ -1 +1 @@\n-a\n+b\n");
  EXPECT_EQ(unifiedDiff(lines("ab"), lines("axb"), "old", "new", 0), "--- old\n+++ new\n@@ -1,0 +2 @@\n+x\n");
}

TEST(LineDiffTest, SplitLines) {
  EXPECT_EQ(splitLines("a\nb\n"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(splitLines("a\n\nb"), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_TRUE(splitLines("").empty());
}

} // namespace
} // namespace tsopt
