#include "ir_tools/tsdump/dump.h"
#include "ir_tools/common/input_file.h"
#include "ir_tools/tool_testing.h"
#include "ir_tools/tsdump/op_stats.h"

#include <gtest/gtest.h>

namespace tsopt {
namespace {

using testing_tools::runTool;
using testing_tools::ToolResult;
using testing_tools::writeTempFile;

const char* kBranchy = R"IR(graph(%x : Tensor, %c : bool):
  %y : Tensor = aten::relu(%x)
  %z : Tensor = prim::If(%c)
    block0():
      %a : Tensor = aten::relu(%y)
      -> (%a)
    block1():
      %b : Tensor = aten::neg(%y)
      -> (%b)
  return (%z)
)IR";

TEST(DumpTest, HistogramCountsNestedBlocksAndSortsByCountThenKind) {
  auto graph = parseGraphText(kBranchy, "t.ir");
  std::vector<std::pair<std::string, size_t>> expected = {
      {"aten::relu", 2}, {"aten::neg", 1}, {"prim::If", 1}};
  EXPECT_EQ(opHistogram(*graph), expected);
}

TEST(DumpTest, ErrorsAreOneLineWithExitCodes) {
  std::string good = writeTempFile("dump_good.ir", kBranchy);
  ToolResult usage = runTool(runTsdump, {good, "--format=yaml"});
  EXPECT_EQ(usage.code, 2);
  EXPECT_EQ(usage.err, "tsdump: error: unknown format 'yaml' for --format (use text, dot or json)\n");
  EXPECT_EQ(usage.out, "");
  ToolResult input = runTool(runTsdump, {writeTempFile("dump_bad.ir", "graph(%x : Tensor):\n  return (%y)\n")});
  EXPECT_EQ(input.code, 3);
  EXPECT_EQ(input.err.rfind("tsdump: error: ", 0), 0u) << input.err;
  EXPECT_NE(input.err.find("dump_bad.ir:2:"), std::string::npos) << input.err;
  ToolResult output = runTool(runTsdump, {good, "-o", "/nonexistent-dir/out.txt"});
  EXPECT_EQ(output.code, 4);
  EXPECT_EQ(std::count(output.err.begin(), output.err.end(), '\n'), 1) << output.err;
}

TEST(DumpTest, DiffOfEqualGraphsSaysIdentical) {
  std::string a = writeTempFile("dump_a.ir", kBranchy);
  ToolResult result = runTool(runTsdump, {"--diff", a, a});
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_NE(result.out.find("op counts: identical (4 nodes)"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("canonical IR: identical"), std::string::npos) << result.out;
}

TEST(DumpTest, DiffExitsOneWhenTheInputsDiffer) {
  std::string a = writeTempFile("dump_diff_a.ir", kBranchy);
  std::string replaced = kBranchy;
  replaced.replace(replaced.find("aten::neg"), 9, "aten::abs");
  std::string b = writeTempFile("dump_diff_b.ir", replaced);
  ToolResult result = runTool(runTsdump, {"--diff", a, b});
  EXPECT_EQ(result.code, 1) << result.err;
  EXPECT_EQ(result.err, "");
  EXPECT_NE(result.out.find("op counts that differ:"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("aten::abs"), std::string::npos) << result.out;
}

} // namespace
} // namespace tsopt
