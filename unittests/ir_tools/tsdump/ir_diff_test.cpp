#include "ir_tools/tsdump/ir_diff.h"
#include "ir_tools/common/input_file.h"

#include <gtest/gtest.h>

namespace tsopt {
namespace {

TEST(IRDiffTest, AlignedNumbersFollowTheFirstSequence) {
  std::vector<std::string> a = {"  %1 : int = prim::Constant[value=1]()", "  %2 : Tensor = aten::relu(%x)",
                                "  %3 : Tensor = aten::neg(%2)", "  %4 : Tensor = aten::add(%3, %x, %1)"};
  // The relu is gone, so B's printer numbered everything after it one lower.
  std::vector<std::string> b = {"  %1 : int = prim::Constant[value=1]()", "  %2 : Tensor = aten::neg(%x)",
                                "  %3 : Tensor = aten::add(%2, %x, %1)"};
  alignValueNumbers(a, b);
  EXPECT_EQ(b, (std::vector<std::string>{"  %1 : int = prim::Constant[value=1]()", "  %3 : Tensor = aten::neg(%x)",
                                         "  %4 : Tensor = aten::add(%3, %x, %1)"}));
}

TEST(IRDiffTest, UnmatchedValuesGetNumbersTheFirstSequenceDoesNotUse) {
  std::vector<std::string> a = {"  %1 : Tensor = aten::relu(%x)", "  return (%1)"};
  std::vector<std::string> b = {"  %1 : Tensor = aten::neg(%x)", "  %2 : Tensor = aten::relu(%1)", "  return (%2)"};
  alignValueNumbers(a, b);
  // Only the returns line up: B's relu takes A's %1, B's neg a number A does not use.
  EXPECT_EQ(b, (std::vector<std::string>{"  %2 : Tensor = aten::neg(%x)", "  %1 : Tensor = aten::relu(%2)",
                                         "  return (%1)"}));
}

TEST(IRDiffTest, NamesAndStringsAreLeftAlone) {
  std::vector<std::string> a = {"  %7 : str = prim::Constant[value=\"%5 \\\" %6\"]()", "  %8 : Tensor = aten::relu(%x.1)"};
  std::vector<std::string> b = {"  %3 : str = prim::Constant[value=\"%5 \\\" %6\"]()", "  %4 : Tensor = aten::relu(%x.1)"};
  alignValueNumbers(a, b);
  EXPECT_EQ(b, a);
}

TEST(IRDiffTest, RemovedNodeShowsAsOneChange) {
  auto before = parseGraphText(R"IR(graph(%x : Tensor):
  %1 : Tensor = aten::relu(%x)
  %2 : Tensor = aten::relu(%1)
  %3 : Tensor = aten::neg(%2)
  %4 : Tensor = aten::mul(%3, %3)
  %5 : Tensor = aten::tanh(%4)
  return (%5)
)IR",
                               "before.ir");
  auto after = parseGraphText(R"IR(graph(%x : Tensor):
  %1 : Tensor = aten::relu(%x)
  %3 : Tensor = aten::neg(%1)
  %4 : Tensor = aten::mul(%3, %3)
  %5 : Tensor = aten::tanh(%4)
  return (%5)
)IR",
                              "after.ir");
  EXPECT_EQ(canonicalIRDiff(before, after, "before", "after"), "--- before\n+++ after\n"
                                                               "@@ -1,7 +1,6 @@\n"
                                                               " graph(%x : Tensor):\n"
                                                               "   %1 : Tensor = aten::relu(%x)\n"
                                                               "-  %2 : Tensor = aten::relu(%1)\n"
                                                               "-  %3 : Tensor = aten::neg(%2)\n"
                                                               "+  %3 : Tensor = aten::neg(%1)\n"
                                                               "   %4 : Tensor = aten::mul(%3, %3)\n"
                                                               "   %5 : Tensor = aten::tanh(%4)\n"
                                                               "   return (%5)\n");
  EXPECT_EQ(canonicalIRDiff(before, before, "before", "before"), "");
}

} // namespace
} // namespace tsopt
