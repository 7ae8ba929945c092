#include "ir_tools/driver.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace tsopt {
namespace {

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result runDriver(const std::vector<std::string>& args) {
  std::ostringstream out;
  std::ostringstream err;
  int code = runTsopt(args, out, err);
  return {code, out.str(), err.str()};
}

std::string writeIR(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

TEST(DriverTest, RunsPipelineAndPrintsIR) {
  std::string path = writeIR("driver_dce.ir", "graph(%x : Tensor):\n  %y : Tensor = aten::relu(%x)\n  return (%x)\n");
  Result result = runDriver({path, "--passes=dce", "--stats"});
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(result.out, "graph(%x : Tensor):\n  return (%x)\n");
  EXPECT_NE(result.err.find("1 dce - Dead nodes removed"), std::string::npos) << result.err;
}

TEST(DriverTest, ExitCodesPerErrorKind) {
  std::string good = writeIR("driver_good.ir", "graph(%x : Tensor):\n  return (%x)\n");
  std::string bad = writeIR("driver_bad.ir", "graph(%x : Tensor):\n  return (%y)\n");
  Result usage = runDriver({good, "--passes=nope"});
  EXPECT_EQ(usage.code, 2);
  EXPECT_EQ(usage.err, "tsopt: error: --passes:1: unknown pass 'nope'\n");
  Result input = runDriver({bad, "--passes=dce"});
  EXPECT_EQ(input.code, 3);
  EXPECT_EQ(input.err.rfind("tsopt: error: " + bad + ":2:", 0), 0u) << input.err;
  Result moduleOnText = runDriver({good, "--passes=freeze"});
  EXPECT_EQ(moduleOnText.code, 2);
  Result output = runDriver({good, "-o", "/nonexistent-dir/x.ir"});
  EXPECT_EQ(output.code, 4);
  EXPECT_EQ(std::count(output.err.begin(), output.err.end(), '\n'), 1) << "one-line error: " << output.err;
}

TEST(DriverTest, LevelOnTextLeavesOutModulePasses) {
  std::string path = writeIR("driver_o1.ir", "graph(%x : Tensor):\n  %p : float = prim::Constant[value=0.5]()\n"
                                             "  %t : bool = prim::Constant[value=0]()\n"
                                             "  %y : Tensor = aten::dropout(%x, %p, %t)\n  return (%y)\n");
  Result result = runDriver({path, "-O1", "--dump-pass-pipeline"});
  EXPECT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(result.out, "graph(%x : Tensor):\n  return (%x)\n");
  EXPECT_NE(result.err.find("# pipeline: inline,canonicalize-traced{"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("freeze"), std::string::npos) << result.err;
}

} // namespace
} // namespace tsopt
