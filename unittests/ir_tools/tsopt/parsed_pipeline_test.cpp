#include "ir_tools/tsopt/parsed_pipeline.h"
#include "ir_tools/tool_testing.h"
#include "passes/core/pipeline.h"

#include <gtest/gtest.h>

namespace tsopt {
namespace {

ParsedPipeline parse(const std::string& text) {
  return ParsedPipeline::parse(text, PassRegistry::global(), "--passes");
}

TEST(ParsedPipelineTest, InstancesAreNewPassesWithTheParsedOptions) {
  ParsedPipeline pipeline = parse("dce, lower-tuples{all=true}");
  ASSERT_EQ(pipeline.size(), 2u);
  EXPECT_EQ(pipeline.text(), "dce,lower-tuples{all=true}");
  EXPECT_EQ(pipeline.passText(1), "lower-tuples{all=true}");
  std::vector<std::unique_ptr<Pass>> first = pipeline.instantiate();
  std::vector<std::unique_ptr<Pass>> second = pipeline.instantiate();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_NE(first[1].get(), second[1].get());
  EXPECT_NE(first[1].get(), pipeline.passes()[1].get());
  EXPECT_EQ(printPipeline(first), pipeline.text());
}

TEST(ParsedPipelineTest, EmptyTextIsTheEmptyPipeline) {
  ParsedPipeline pipeline = parse("");
  EXPECT_EQ(pipeline.size(), 0u);
  EXPECT_EQ(pipeline.text(), "");
  EXPECT_TRUE(pipeline.instantiate().empty());
}

TEST(ParsedPipelineTest, ErrorsNameTheOrigin) {
  EXPECT_EQ(testing_tools::errorMessage(ErrorKind::Usage,
                                        [] { ParsedPipeline::parse("dce,nope", PassRegistry::global(), "-O9"); }),
            "-O9:5: unknown pass 'nope'");
}

TEST(ParsedPipelineTest, CalibrationDataGoesToCalibratingPassesWithoutAFile) {
  ParsedPipeline pipeline = parse("calibrate,calibrate{calibration-data=own.pt}");
  EXPECT_TRUE(pipeline.setDefaultCalibrationData("given.pt"));
  EXPECT_EQ(pipeline.text(), "calibrate{calibration-data=given.pt},calibrate{calibration-data=own.pt}");
  EXPECT_EQ(printPipeline(pipeline.instantiate()), pipeline.text());
  EXPECT_FALSE(parse("dce").setDefaultCalibrationData("given.pt"));
}

} // namespace
} // namespace tsopt
