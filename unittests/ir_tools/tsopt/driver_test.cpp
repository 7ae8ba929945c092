#include "ir_tools/tsopt/driver.h"
#include "ir_tools/tool_testing.h"

#include <gtest/gtest.h>

namespace tsopt {
namespace {

using testing_tools::runTool;
using testing_tools::ToolResult;
using testing_tools::writeTempFile;

TEST(DriverTest, RunsPipelineAndPrintsIR) {
  std::string path =
      writeTempFile("driver_dce.ir", "graph(%x : Tensor):\n  %y : Tensor = aten::relu(%x)\n  return (%x)\n");
  ToolResult result = runTool(runTsopt, {path, "--passes=dce", "--stats"});
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(result.out, "graph(%x : Tensor):\n  return (%x)\n");
  EXPECT_NE(result.err.find("1 dce - Dead nodes removed"), std::string::npos) << result.err;
}

TEST(DriverTest, ExitCodesPerErrorKind) {
  std::string good = writeTempFile("driver_good.ir", "graph(%x : Tensor):\n  return (%x)\n");
  std::string bad = writeTempFile("driver_bad.ir", "graph(%x : Tensor):\n  return (%y)\n");
  ToolResult usage = runTool(runTsopt, {good, "--passes=nope"});
  EXPECT_EQ(usage.code, 2);
  EXPECT_EQ(usage.err, "tsopt: error: --passes:1: unknown pass 'nope'\n");
  ToolResult input = runTool(runTsopt, {bad, "--passes=dce"});
  EXPECT_EQ(input.code, 3);
  EXPECT_EQ(input.err.rfind("tsopt: error: " + bad + ":2:", 0), 0u) << input.err;
  ToolResult moduleOnText = runTool(runTsopt, {good, "--passes=freeze"});
  EXPECT_EQ(moduleOnText.code, 2);
  ToolResult output = runTool(runTsopt, {good, "-o", "/nonexistent-dir/x.ir"});
  EXPECT_EQ(output.code, 4);
  EXPECT_EQ(std::count(output.err.begin(), output.err.end(), '\n'), 1) << "one-line error: " << output.err;
}

TEST(DriverTest, LevelOnTextLeavesOutModulePasses) {
  std::string path = writeTempFile("driver_o1.ir", "graph(%x : Tensor):\n  %p : float = prim::Constant[value=0.5]()\n"
                                                   "  %t : bool = prim::Constant[value=0]()\n"
                                                   "  %y : Tensor = aten::dropout(%x, %p, %t)\n  return (%y)\n");
  ToolResult result = runTool(runTsopt, {path, "-O1", "--dump-pass-pipeline"});
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(result.out, "graph(%x : Tensor):\n  return (%x)\n");
  EXPECT_NE(result.err.find("# pipeline: inline,propagate-ranks,remove-no-ops{"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("freeze"), std::string::npos) << result.err;
}

} // namespace
} // namespace tsopt
