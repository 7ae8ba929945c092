#include "ir_tools/tsopt/coverage_report.h"
#include "ir_tools/tsopt/remark_output.h"
#include "ir_tools/tool_testing.h"

#include <gtest/gtest.h>

#include <sstream>
#include <utility>
#include <vector>

namespace tsopt {
namespace {

Remark remarkOf(RemarkKind kind, std::string pass, std::string nodeKind, std::string value, std::string message,
                std::vector<std::pair<std::string, std::string>> args) {
  Remark remark;
  remark.kind = kind;
  remark.pass = std::move(pass);
  remark.nodeKind = std::move(nodeKind);
  remark.value = std::move(value);
  remark.message = std::move(message);
  remark.args = std::move(args);
  return remark;
}

Remark missedBatchNorm() {
  Remark remark = remarkOf(RemarkKind::Missed, "fold-conv-bn", "aten::batch_norm", "x.3",
                           "kept aten::batch_norm: the conv's output is used twice",
                           {{"reason", "the conv's output is used twice"}});
  remark.function = "forward";
  remark.location = RemarkLocation{"net.py", 12, 5};
  return remark;
}

Remark passedFusion() {
  return remarkOf(RemarkKind::Passed, "fuse-conv-act", "aten::conv2d", "y",
                  "fuse %y = aten::conv2d, %z = aten::relu into tsopt::conv2d_act",
                  {{"absorbed", "aten::conv2d,aten::relu"}});
}

TEST(RemarkOutputTest, LinesAreClangLike) {
  EXPECT_EQ(remarkLine(missedBatchNorm(), "model.pt"),
            "net.py:12:5: remark: kept aten::batch_norm: the conv's output is used twice "
            "[-Rpass-missed=fold-conv-bn]");
  // No location: the value, in the input (a bare graph has no method).
  EXPECT_EQ(remarkLine(passedFusion(), "in.ir"),
            "in.ir:%y: remark: fuse %y = aten::conv2d, %z = aten::relu into tsopt::conv2d_act [-Rpass=fuse-conv-act]");
  Remark analysis = remarkOf(RemarkKind::Analysis, "calibrate", "", "", "ran 4 calibration calls", {});
  analysis.function = "forward";
  EXPECT_EQ(remarkLine(analysis, "m.pt"), "forward: remark: ran 4 calibration calls [-Rpass-analysis=calibrate]");
}

TEST(RemarkOutputTest, FilterSearchesPassNamesPerKind) {
  RemarkFilter filter;
  EXPECT_TRUE(filter.empty());
  EXPECT_FALSE(filter.selects(passedFusion()));
  filter.setPattern(RemarkKind::Passed, "-Rpass", "conv-act$");
  EXPECT_FALSE(filter.empty());
  EXPECT_TRUE(filter.selects(passedFusion()));
  // The missed remark's kind has no pattern, though "fold-conv-bn" would match "conv".
  EXPECT_FALSE(filter.selects(missedBatchNorm()));
  filter.setPattern(RemarkKind::Missed, "-Rpass-missed", "^fuse-");
  EXPECT_FALSE(filter.selects(missedBatchNorm()));
  filter.setPattern(RemarkKind::Missed, "-Rpass-missed", "fold");
  EXPECT_TRUE(filter.selects(missedBatchNorm()));
}

TEST(RemarkOutputTest, BadRegexNamesTheFlag) {
  RemarkFilter filter;
  std::string message = testing_tools::errorMessage(
      ErrorKind::Usage, [&] { filter.setPattern(RemarkKind::Missed, "-Rpass-missed", "fuse-("); });
  EXPECT_NE(message.find("option '-Rpass-missed': invalid regular expression 'fuse-('"), std::string::npos)
      << message;
}

TEST(RemarkOutputTest, FormatFromFlagOrExtension) {
  EXPECT_EQ(remarkFormatFor("", "r.json"), RemarkFormat::Json);
  EXPECT_EQ(remarkFormatFor("", "r.yaml"), RemarkFormat::Yaml);
  EXPECT_EQ(remarkFormatFor("", "remarks"), RemarkFormat::Yaml);
  EXPECT_EQ(remarkFormatFor("yaml", "r.json"), RemarkFormat::Yaml);
  std::string message = testing_tools::errorMessage(ErrorKind::Usage, [] { remarkFormatFor("xml", "r.xml"); });
  EXPECT_NE(message.find("option '--remarks-format': unknown format 'xml'"), std::string::npos) << message;
}

TEST(RemarkOutputTest, YamlRecordPerRemarkWithQuotesDoubled) {
  std::string yaml = remarksYaml({missedBatchNorm(), passedFusion()});
  EXPECT_EQ(yaml,
            "--- !Missed\n"
            "Pass:     'fold-conv-bn'\n"
            "Function: 'forward'\n"
            "Node:     'aten::batch_norm'\n"
            "Value:    '%x.3'\n"
            "DebugLoc: { File: 'net.py', Line: 12, Column: 5 }\n"
            "Message:  'kept aten::batch_norm: the conv''s output is used twice'\n"
            "Args:\n"
            "  - reason: 'the conv''s output is used twice'\n"
            "...\n"
            "--- !Passed\n"
            "Pass:     'fuse-conv-act'\n"
            "Node:     'aten::conv2d'\n"
            "Value:    '%y'\n"
            "Message:  'fuse %y = aten::conv2d, %z = aten::relu into tsopt::conv2d_act'\n"
            "Args:\n"
            "  - absorbed: 'aten::conv2d,aten::relu'\n"
            "...\n");
}

TEST(RemarkOutputTest, JsonArrayOfObjects) {
  std::string json = remarksJson({missedBatchNorm(), passedFusion()});
  EXPECT_NE(json.find("\"kind\": \"missed\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"location\": {\n      \"file\": \"net.py\",\n      \"line\": 12"), std::string::npos) << json;
  EXPECT_NE(json.find("\"location\": null"), std::string::npos) << json;
  EXPECT_NE(json.find("\"absorbed\": \"aten::conv2d,aten::relu\""), std::string::npos) << json;
  EXPECT_EQ(json.front(), '[');
  EXPECT_EQ(remarksJson({}), "[]\n");
}

TEST(RemarkOutputTest, CollectorGivesIRTextLocationsTheirFileAndLine) {
  std::ostringstream err;
  RemarkFilter filter;
  filter.setPattern(RemarkKind::Missed, "-Rpass-missed", ".*");
  RemarkCollector text(filter, "cases.ir", true, err);
  text.setFirstLine(10);
  Remark remark = missedBatchNorm();
  remark.location = RemarkLocation{"", 3, 16};
  text.add(remark);
  text.add(passedFusion());  // Collected, not printed: no -Rpass.
  EXPECT_EQ(err.str(), "cases.ir:12:16: remark: kept aten::batch_norm: the conv's output is used twice "
                       "[-Rpass-missed=fold-conv-bn]\n");
  ASSERT_EQ(text.remarks().size(), 2u);

  // An archive's graph has no text of its own: a location without a file is dropped.
  RemarkCollector archive(RemarkFilter(), "m.pt", false, err);
  archive.add(remark);
  EXPECT_FALSE(archive.remarks()[0].location.has_value());
}

TEST(CoverageReportTest, SplitsGoneNodesIntoKernelsAndFolds) {
  OpCounts before{{"aten::conv2d", 3}, {"aten::relu", 3}, {"aten::batch_norm", 3}, {"aten::add", 1}};
  OpCounts after{{"aten::conv2d", 1}, {"aten::relu", 1}, {"aten::add", 1}, {"tsopt::conv2d_act", 2}};
  Remark fusion = passedFusion();
  Remark kept = missedBatchNorm();
  kept.nodeKind = "aten::conv2d";
  kept.args = {{"reason", "its weight is not a constant"}};
  CoverageReport report = coverageReport(before, after, {fusion, fusion, kept});

  ASSERT_EQ(report.ops.size(), 4u);
  const OpCoverage& conv = report.ops[2];  // By kind: add, batch_norm, conv2d, relu.
  EXPECT_EQ(conv.kind, "aten::conv2d");
  EXPECT_EQ(conv.inKernels, 2u);
  EXPECT_EQ(conv.folded, 0u);
  EXPECT_EQ(conv.onAten, 1u);
  ASSERT_EQ(conv.reasons.size(), 1u);
  EXPECT_EQ(conv.reasons[0], (std::pair<std::string, size_t>{"its weight is not a constant", 1}));
  const OpCoverage& norm = report.ops[1];
  EXPECT_EQ(norm.inKernels, 0u);
  EXPECT_EQ(norm.folded, 3u);
  ASSERT_EQ(report.kernels.size(), 1u);
  EXPECT_EQ(report.kernels[0].nodes, 2u);
  EXPECT_EQ(report.kernels[0].absorbed.at("aten::relu"), 2u);

  std::string text = coverageText(report);
  EXPECT_NE(text.find("total: 10 nodes; 4 in tsopt kernels, 3 on ATen"), std::string::npos) << text;
  EXPECT_NE(text.find("FLOPs: unknown"), std::string::npos) << text;
  report.flops = FlopCount{4e9, 1e9};
  EXPECT_NE(coverageText(report).find("4.000 GFLOP; 75.0% in tsopt kernels, 25.0% on ATen"), std::string::npos);
}

TEST(CoverageReportTest, FollowsNodesACanonicalizationRenamed) {
  Remark canonical = remarkOf(RemarkKind::Passed, "canonicalize-convolutions", "aten::_convolution", "y",
                              "%y = aten::_convolution -> aten::conv2d", {});
  Remark fusion = passedFusion();
  fusion.args = {{"absorbed", "aten::conv2d"}};
  OpCounts before{{"aten::_convolution", 3}};
  OpCounts after{{"tsopt::conv2d_act", 2}, {"aten::conv2d", 1}};
  CoverageReport report = coverageReport(before, after, {canonical, canonical, canonical, fusion, fusion});
  // The third became the aten::conv2d that stayed: on ATen, not made by the passes.
  ASSERT_EQ(report.ops.size(), 1u);
  EXPECT_EQ(report.ops[0].inKernels, 2u);
  EXPECT_EQ(report.ops[0].onAten, 1u);
  EXPECT_EQ(report.ops[0].folded, 0u);
  EXPECT_TRUE(report.made.empty());
}

} // namespace
} // namespace tsopt
