#include "ir_tools/common/command_line.h"
#include "ir_tools/tool_testing.h"

#include <gtest/gtest.h>

#include <sstream>

namespace tsopt {
namespace {

using Value = std::optional<std::string>;

/// Every flag kind, recording what it was given as "name=value" ("name" when bare).
struct Recorder {
  std::vector<std::string> seen;
  std::vector<std::string> positional;

  FlagTable table() {
    auto record = [this](const std::string& name) {
      return [this, name](const Value& v) { seen.push_back(v ? name + "=" + *v : name); };
    };
    return {{"KINDS",
             {{"--none", FlagValue::None, record("--none"), "", "Takes no value"},
              {"--required", FlagValue::Required, record("--required"), "--required=X", "Takes X"},
              {"--optional", FlagValue::Optional, record("--optional"), "--optional[=X]", "May take X"}}}};
  }

  void parse(const std::vector<std::string>& args) {
    parseFlags(args, table(), [this](const std::string& arg) { positional.push_back(arg); });
  }
};

std::string usageError(const std::vector<std::string>& args) {
  Recorder recorder;
  return testing_tools::errorMessage(ErrorKind::Usage, [&] { recorder.parse(args); });
}

TEST(ParseFlagsTest, ValuesPerKind) {
  Recorder recorder;
  recorder.parse({"a", "--required", "x", "--required=y", "--none", "--optional", "b", "--optional=z", "-", ""});
  EXPECT_EQ(recorder.seen, (std::vector<std::string>{"--required=x", "--required=y", "--none", "--optional",
                                                     "--optional=z"}));
  // An optional value is never taken from the next argument.
  EXPECT_EQ(recorder.positional, (std::vector<std::string>{"a", "b", "-", ""}));
}

TEST(ParseFlagsTest, SpecialArgumentsComeBeforeTheTable) {
  std::vector<std::string> special;
  Recorder recorder;
  parseFlags({"-O2", "--none", "-O9"}, recorder.table(), [](const std::string&) {},
             [&](const std::string& arg) {
               bool isLevel = arg.rfind("-O", 0) == 0;
               if (isLevel) {
                 special.push_back(arg);
               }
               return isLevel;
             });
  EXPECT_EQ(special, (std::vector<std::string>{"-O2", "-O9"}));
  EXPECT_EQ(recorder.seen, (std::vector<std::string>{"--none"}));
}

TEST(ParseFlagsTest, UsageErrors) {
  EXPECT_EQ(usageError({"--requir"}), "unknown option '--requir'; did you mean '--required'? (see --help)");
  EXPECT_EQ(usageError({"--bogus"}), "unknown option '--bogus' (see --help)");
  EXPECT_EQ(usageError({"--required"}), "option '--required' needs a value");
  EXPECT_EQ(usageError({"--required="}), "option '--required' needs a non-empty value");
  EXPECT_EQ(usageError({"--required", ""}), "option '--required' needs a non-empty value");
  EXPECT_EQ(usageError({"--optional="}), "option '--optional' needs a non-empty value");
  EXPECT_EQ(usageError({"--none=1"}), "option '--none' takes no value");
}

TEST(FlagHelpTest, RowsPerSectionWithHelpInOneColumn) {
  auto ignore = [](const Value&) {};
  FlagTable table = {
      {"FIRST",
       {{"-o", FlagValue::Required, ignore, "-o FILE", "Write FILE"},
        {"", FlagValue::None, nullptr, "-O0 .. -O3", "Read by the tool itself"},
        {"--a-flag-whose-usage-is-long", FlagValue::Required, ignore, "--a-flag-whose-usage-is-long=X",
         "Starts below\nand goes on"},
        {"--unlisted", FlagValue::None, ignore}},
       "A note."},
      {"EMPTY", {{"--help", FlagValue::None, ignore}}},
      {"SECOND", {{"--stats", FlagValue::None, ignore, "", "Print statistics"}}},
  };
  EXPECT_EQ(flagHelp(table), "FIRST:\n"
                             "  -o FILE                   Write FILE\n"
                             "  -O0 .. -O3                Read by the tool itself\n"
                             "  --a-flag-whose-usage-is-long=X\n"
                             "                            Starts below\n"
                             "                            and goes on\n"
                             "  A note.\n"
                             "\n"
                             "SECOND:\n"
                             "  --stats                   Print statistics\n"
                             "\n");
  // A help row does not make a flag: only named flags parse.
  auto parseLevel = [&] { parseFlags({"-O0"}, table, [](const std::string&) {}); };
  EXPECT_EQ(testing_tools::errorMessage(ErrorKind::Usage, parseLevel), "unknown option '-O0' (see --help)");
}

TEST(RunReportingErrorsTest, OneLinePerErrorWithItsKindsExitCode) {
  std::ostringstream err;
  EXPECT_EQ(runReportingErrors("tool", err, [] { return 0; }, ErrorKind::PassFailure), 0);
  EXPECT_EQ(err.str(), "");
  auto throwsInput = []() -> int { throw Error(ErrorKind::Input, "a.pt: empty input"); };
  EXPECT_EQ(runReportingErrors("tool", err, throwsInput, ErrorKind::PassFailure), 3);
  EXPECT_EQ(err.str(), "tool: error: a.pt: empty input\n");
  err.str("");
  auto throwsOther = []() -> int { throw std::runtime_error("boom\nbacktrace"); };
  EXPECT_EQ(runReportingErrors("tool", err, throwsOther, ErrorKind::Input), 3);
  EXPECT_EQ(err.str(), "tool: error: internal error: boom\n");
}

} // namespace
} // namespace tsopt
