#include "passes/core/pass.h"
#include "passes/core/remarks.h"

#include <torch/csrc/jit/ir/irparser.h>

#include <gtest/gtest.h>

#include <sstream>

namespace tsopt {
namespace {

// Line 3, column 17 holds "aten::relu" (the text starts with a newline).
const char* kReluGraph = R"IR(
graph(%x : Tensor):
  %y : Tensor = aten::relu(%x)
  return (%y)
)IR";

struct Parsed {
  std::shared_ptr<torch::jit::Graph> graph = std::make_shared<torch::jit::Graph>();
  torch::jit::Node* relu = nullptr;

  Parsed() {
    torch::jit::parseIR(kReluGraph, graph.get());
    relu = *graph->nodes().begin();
    relu->output()->setDebugName("y");  // parseIR numbers the values; tsopt's reader keeps the names.
  }
};

TEST(RemarksTest, MissedRemarkFeedsTheHandlerAndTheDebugStream) {
  Parsed parsed;
  std::vector<Remark> remarks;
  std::ostringstream debug;
  PassContext context("fold-x", "forward", true, &debug, nullptr,
                      [&remarks](const Remark& remark) { remarks.push_back(remark); });
  context.missed(parsed.relu) << "its input is used " << 2 << " times";

  ASSERT_EQ(remarks.size(), 1u);
  const Remark& remark = remarks[0];
  EXPECT_EQ(remark.kind, RemarkKind::Missed);
  EXPECT_EQ(remark.pass, "fold-x");
  EXPECT_EQ(remark.function, "forward");
  EXPECT_EQ(remark.nodeKind, "aten::relu");
  EXPECT_EQ(remark.value, "y");
  EXPECT_EQ(remark.message, "kept aten::relu: its input is used 2 times");
  EXPECT_EQ(remark.arg("reason"), "its input is used 2 times");
  EXPECT_EQ(debug.str(), "fold-x: kept %y = aten::relu: its input is used 2 times\n");
}

TEST(RemarksTest, IRTextLocationsCountFromOneWithoutAFile) {
  Parsed parsed;
  auto location = remarkLocationOf(parsed.relu);
  ASSERT_TRUE(location.has_value());
  EXPECT_EQ(location->file, "");
  EXPECT_EQ(location->line, 3u);
  EXPECT_EQ(location->column, 17u);
}

TEST(RemarksTest, NodesMadeByPassesHaveNoLocation) {
  Parsed parsed;
  torch::jit::Node* made = parsed.graph->create(c10::Symbol::fromQualString("aten::relu"), {parsed.graph->inputs()[0]});
  EXPECT_FALSE(remarkLocationOf(made).has_value());
  made->destroy();
}

TEST(RemarksTest, AllowedRewritesArePassedRemarksWithWhatTheyAbsorbed) {
  Parsed parsed;
  std::vector<Remark> remarks;
  RewriteBudget budget;
  budget.limit = 1;
  PassContext context("fuse-x", "forward", false, nullptr, &budget,
                      [&remarks](const Remark& remark) { remarks.push_back(remark); });
  EXPECT_TRUE(context.shouldRewrite("fuse %y into tsopt::x", parsed.relu, {parsed.relu}));
  // Past the --bisect budget: skipped, so no remark.
  EXPECT_FALSE(context.shouldRewrite("fuse again", parsed.relu));

  ASSERT_EQ(remarks.size(), 1u);
  EXPECT_EQ(remarks[0].kind, RemarkKind::Passed);
  EXPECT_EQ(remarks[0].message, "fuse %y into tsopt::x");
  EXPECT_EQ(remarks[0].arg("absorbed"), "aten::relu");
  EXPECT_EQ(remarks[0].function, "");  // A bare graph has no method.
}

TEST(RemarksTest, VerbatimAndAnalysisRemarksKeepTheirText) {
  std::vector<Remark> remarks;
  PassContext context("p", "forward", true, nullptr, nullptr,
                      [&remarks](const Remark& remark) { remarks.push_back(remark); });
  context.missedText() << "graph left alone: training mode";
  context.analysis().arg("bits", "7") << "activations observed for 7 bits";

  ASSERT_EQ(remarks.size(), 2u);
  EXPECT_EQ(remarks[0].kind, RemarkKind::Missed);
  EXPECT_EQ(remarks[0].message, "graph left alone: training mode");
  EXPECT_EQ(remarks[0].nodeKind, "");
  EXPECT_EQ(remarks[1].kind, RemarkKind::Analysis);
  EXPECT_EQ(remarks[1].arg("bits"), "7");
  EXPECT_EQ(remarks[1].arg("reason"), "");
}

TEST(RemarksTest, WithoutHandlerOrDebugNothingIsFormatted) {
  Parsed parsed;
  PassContext context("p", "forward", true, nullptr);
  EXPECT_FALSE(context.remarksEnabled());
  // A builder of a context with nowhere to send it must be harmless.
  context.missed(parsed.relu) << "ignored";
  EXPECT_TRUE(context.shouldRewrite("anything", parsed.relu));
}

TEST(RemarksTest, KindNames) {
  EXPECT_STREQ(remarkKindName(RemarkKind::Passed), "passed");
  EXPECT_STREQ(remarkKindName(RemarkKind::Missed), "missed");
  EXPECT_STREQ(remarkKindName(RemarkKind::Analysis), "analysis");
}

} // namespace
} // namespace tsopt
