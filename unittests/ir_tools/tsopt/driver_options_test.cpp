#include "ir_tools/tsopt/driver_options.h"
#include "ir_tools/tool_testing.h"

#include <gtest/gtest.h>

namespace tsopt {
namespace {

std::string usageError(const std::vector<std::string>& args) {
  return testing_tools::errorMessage(ErrorKind::Usage, [&] { parseDriverOptions(args); });
}

TEST(DriverOptionsTest, ParsesEveryForm) {
  DriverOptions options = parseDriverOptions({"model.pt", "--passes", "dce,cse", "-o", "out.pt", "--method=encode",
                                              "--print-ir-after=dce,cse", "--print-ir-after-all", "--verify-each",
                                              "--time-passes", "--stats", "--debug-only=dce", "--load-pass-plugin=a.so",
                                              "--load-pass-plugin", "b.so", "--split-input-file"});
  EXPECT_EQ(options.input, "model.pt");
  EXPECT_EQ(options.passes.value(), "dce,cse");
  EXPECT_EQ(options.output, "out.pt");
  EXPECT_EQ(options.method, "encode");
  EXPECT_EQ(options.printAfter, (std::vector<std::string>{"dce", "cse", "all"}));
  EXPECT_TRUE(options.verifyEach && options.timePasses && options.stats && options.splitInputFile);
  EXPECT_EQ(options.debugOnly, (std::vector<std::string>{"dce"}));
  EXPECT_EQ(options.plugins, (std::vector<std::string>{"a.so", "b.so"}));
}

TEST(DriverOptionsTest, LevelsAndStdin) {
  DriverOptions options = parseDriverOptions({"-", "-O2"});
  EXPECT_EQ(options.input, "-");
  EXPECT_EQ(options.level.value(), 2);
  EXPECT_EQ(usageError({"-", "-O7"}), "unknown optimization level '-O7' (use -O0 to -O3)");
}

TEST(DriverOptionsTest, UsageErrors) {
  EXPECT_EQ(usageError({"a.ir", "--passes=dce", "-O1"}), "give either --passes or -O<level>, not both");
  EXPECT_EQ(usageError({"a.ir", "--pases=dce"}), "unknown option '--pases'; did you mean '--passes'? (see --help)");
  EXPECT_EQ(usageError({"a.ir", "--frobnicate"}), "unknown option '--frobnicate' (see --help)");
  EXPECT_EQ(usageError({"a.ir", "-o"}), "option '-o' needs a value");
  EXPECT_EQ(usageError({"a.ir", "--passes="}), "option '--passes' needs a non-empty value");
  EXPECT_EQ(usageError({"a.ir", "--stats=1"}), "option '--stats' takes no value");
  EXPECT_EQ(usageError({"a.ir", "--check-equivalence="}), "option '--check-equivalence' needs a non-empty value");
  EXPECT_EQ(usageError({"a.ir", "b.ir"}), "more than one input file: 'a.ir' and 'b.ir'");
  EXPECT_EQ(usageError({"--stats"}), "no input file (use '-' for stdin; see --help)");
}

TEST(DriverOptionsTest, CheckEquivalenceTakesAnOptionalInputsFile) {
  EXPECT_EQ(parseDriverOptions({"m.pt", "--check-equivalence"}).checkEquivalence.value(), "");
  EXPECT_EQ(parseDriverOptions({"m.pt", "--check-equivalence=in.pt"}).checkEquivalence.value(), "in.pt");
  EXPECT_EQ(parseDriverOptions({"m.pt", "--min-cosine=0.99"}).checkEquivalence.value(), "");
}

TEST(DriverOptionsTest, ListingNeedsNoInput) {
  EXPECT_TRUE(parseDriverOptions({"--list-passes"}).listPasses);
  EXPECT_TRUE(parseDriverOptions({"--help"}).help);
}

TEST(DriverOptionsTest, PerNodeNeedsCheckEquivalence) {
  DriverOptions options = parseDriverOptions({"m.pt", "--check-equivalence", "--per-node=d.json", "--per-node-rows=3"});
  EXPECT_TRUE(options.perNode);
  EXPECT_EQ(options.perNodeReport.value(), "d.json");
  EXPECT_EQ(options.perNodeRows, 3);
  EXPECT_TRUE(parseDriverOptions({"m.pt", "--min-cosine=0.9", "--per-node"}).perNode);
  EXPECT_EQ(usageError({"m.pt", "--per-node"}), "--per-node needs --check-equivalence (it compares the values of both runs)");
  EXPECT_EQ(usageError({"m.pt", "--check-equivalence", "--per-node-rows=2"}), "--per-node-rows needs --per-node");
  EXPECT_EQ(usageError({"m.pt", "--check-equivalence", "--per-node", "--per-node-rows=x"}),
            "option '--per-node-rows' needs a positive integer, got 'x'");
}

} // namespace
} // namespace tsopt
