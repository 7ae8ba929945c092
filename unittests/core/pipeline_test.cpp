#include "passes/core/error.h"
#include "passes/core/pipeline.h"

#include <gtest/gtest.h>

namespace tsopt {
namespace {

class OptionsPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>&, PassContext&) override { return false; }
  Option<bool> flag{this, "flag", "A flag", false};
  Option<int64_t> count{this, "count", "A count", 1};
  Option<std::vector<std::string>> activations{this, "activations", "A list", {"relu"}};
  Option<std::string> label{this, "label", "A string", ""};
};

class PlainPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>&, PassContext&) override { return false; }
};

class PipelineTest : public ::testing::Test {
protected:
  PipelineTest() {
    registry.registerPass("fuse-conv-act", "x", [] { return std::make_unique<OptionsPass>(); });
    registry.registerPass("dce", "x", [] { return std::make_unique<PlainPass>(); });
    registry.registerPass("cse", "x", [] { return std::make_unique<PlainPass>(); });
  }

  std::string errorOf(const std::string& text) {
    try {
      buildPipeline(text, registry);
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::Usage);
      return error.what();
    }
    ADD_FAILURE() << "pipeline '" << text << "' was accepted";
    return "";
  }

  PassRegistry registry;
};

TEST_F(PipelineTest, ParsesNamesAndOptions) {
  auto elements = parsePipelineText(" dce , fuse-conv-act{activations=relu,silu flag count=3},cse");
  ASSERT_EQ(elements.size(), 3u);
  EXPECT_EQ(elements[0].passName, "dce");
  EXPECT_EQ(elements[0].column, 2u);
  EXPECT_EQ(elements[1].passName, "fuse-conv-act");
  ASSERT_EQ(elements[1].options.size(), 3u);
  EXPECT_EQ(elements[1].options[0].key, "activations");
  EXPECT_EQ(elements[1].options[0].value, "relu,silu");
  EXPECT_EQ(elements[1].options[1].key, "flag");
  EXPECT_EQ(elements[1].options[1].value, "");
  EXPECT_EQ(elements[1].options[2].value, "3");
  EXPECT_EQ(elements[2].passName, "cse");
}

TEST_F(PipelineTest, AppliesTypedOptions) {
  auto passes = buildPipeline("fuse-conv-act{activations=relu,silu flag count=3 label='a b'},dce", registry);
  ASSERT_EQ(passes.size(), 2u);
  auto& pass = static_cast<OptionsPass&>(*passes[0]);
  EXPECT_TRUE(pass.flag.value());
  EXPECT_EQ(pass.count.value(), 3);
  EXPECT_EQ(pass.activations.value(), (std::vector<std::string>{"relu", "silu"}));
  EXPECT_EQ(pass.label.value(), "a b");
}

TEST_F(PipelineTest, PrintedPipelineParsesBackToTheSameText) {
  auto passes = buildPipeline("fuse-conv-act{count=7 label='x y'},dce", registry);
  std::string printed = printPipeline(passes);
  EXPECT_EQ(printed, "fuse-conv-act{flag=false count=7 activations=relu label='x y'},dce");
  EXPECT_EQ(printPipeline(buildPipeline(printed, registry)), printed);
}

TEST_F(PipelineTest, ValuesWithQuotesPrintInTheOtherQuote) {
  for (const char* label : {"a'b", "'a", "say \"hi\"", "x'y z", "{}"}) {
    auto passes = buildPipeline(std::string("fuse-conv-act{label=") + (std::string(label).find('\'') == std::string::npos
                                                                         ? std::string("'") + label + "'"
                                                                         : std::string("\"") + label + "\"") + "}",
                                registry);
    EXPECT_EQ(static_cast<OptionsPass&>(*passes[0]).label.value(), label);
    std::string printed = printPipeline(passes);
    auto again = buildPipeline(printed, registry);
    EXPECT_EQ(static_cast<OptionsPass&>(*again[0]).label.value(), label) << printed;
    EXPECT_EQ(printPipeline(again), printed);
  }
  // A bare value may hold one quote kind; it prints quoted in the other.
  auto bare = buildPipeline("fuse-conv-act{label=it's}", registry);
  EXPECT_EQ(printPipeline(bare), "fuse-conv-act{flag=false count=1 activations=relu label=\"it's\"}");
}

TEST_F(PipelineTest, UnknownPassNamesColumnAndSuggestion) {
  EXPECT_EQ(errorOf("dce,fuse-conv-ac"), "--passes:5: unknown pass 'fuse-conv-ac'; did you mean 'fuse-conv-act'?");
  EXPECT_EQ(errorOf("zzzzzzzzzz"), "--passes:1: unknown pass 'zzzzzzzzzz'");
}

TEST_F(PipelineTest, UnknownOptionListsTheKnownOnes) {
  EXPECT_EQ(errorOf("fuse-conv-act{colour=red}"),
            "--passes:15: unknown option 'colour' for pass 'fuse-conv-act' (options: flag, count, activations, label)");
  EXPECT_EQ(errorOf("dce{x=1}"), "--passes:5: unknown option 'x' for pass 'dce' (options: none)");
}

TEST_F(PipelineTest, BadValueNamesTheValueColumn) {
  EXPECT_EQ(errorOf("fuse-conv-act{count=many}"),
            "--passes:21: bad value for option 'count' of pass 'fuse-conv-act': expected an integer, got 'many'");
}

TEST_F(PipelineTest, SyntaxErrors) {
  EXPECT_EQ(errorOf(""), "--passes:1: empty pipeline");
  EXPECT_EQ(errorOf("   "), "--passes:4: empty pipeline");
  EXPECT_EQ(errorOf("dce,,cse"), "--passes:5: expected a pass name, found ','");
  EXPECT_EQ(errorOf("dce,"), "--passes:5: expected a pass name at end of pipeline");
  EXPECT_EQ(errorOf("fuse-conv-act{flag"), "--passes:14: unbalanced '{': missing '}' for the options of 'fuse-conv-act'");
  EXPECT_EQ(errorOf("fuse-conv-act{count=1"), "--passes:14: unbalanced '{': missing '}' for the options of 'fuse-conv-act'");
  EXPECT_EQ(errorOf("dce}"), "--passes:4: unbalanced '}' without a matching '{'");
  EXPECT_EQ(errorOf("fuse-conv-act{count=1}}"), "--passes:23: expected ',' or end of pipeline, found '}'");
  EXPECT_EQ(errorOf("fuse-conv-act{count={1}}"), "--passes:21: unexpected '{' inside the options of 'fuse-conv-act'");
  EXPECT_EQ(errorOf("fuse-conv-act{flag flag}"), "--passes:20: option 'flag' given twice");
  EXPECT_EQ(errorOf("fuse-conv-act{label='x}"), "--passes:21: unterminated quoted value");
  EXPECT_EQ(errorOf("fuse-conv-act{label=a'b\"c}"),
            "--passes:21: an option value cannot hold both ' and \" (pipeline text has no escapes)");
  EXPECT_EQ(errorOf("dce cse"), "--passes:5: expected ',' or end of pipeline, found 'c'");
}

TEST_F(PipelineTest, OriginIsNamedInErrors) {
  try {
    buildPipeline("nope", registry, "-O1");
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()).rfind("-O1:1: unknown pass 'nope'", 0), 0u);
  }
}

TEST_F(PipelineTest, NamedPipelinesExpandInPlaceAndNest) {
  registry.registerPipeline("cleanup", "x", [](bool) { return "cse,dce"; });
  registry.registerPipeline("O1", "x", [](bool hasModule) {
    return std::string(hasModule ? "fuse-conv-act{count=2}" : "dce") + ",cleanup";
  });
  EXPECT_EQ(printPipeline(buildPipeline("O1,dce", registry)),
            "fuse-conv-act{flag=false count=2 activations=relu label=''},cse,dce,dce");
  EXPECT_EQ(printPipeline(buildPipeline("O1", registry, "-O1", /*hasModule=*/false)), "dce,cse,dce");
  EXPECT_THROW(registry.create("cleanup"), Error);
}

TEST_F(PipelineTest, NamedPipelineErrorsNameThePipeline) {
  registry.registerPipeline("broken", "x", [](bool) { return "dce,nope"; });
  registry.registerPipeline("loop", "x", [](bool) { return "dce,loop"; });
  EXPECT_EQ(errorOf("cse,broken"), "pipeline 'broken':5: unknown pass 'nope'");
  EXPECT_EQ(errorOf("loop"), "pipeline 'loop':5: pipeline 'loop' nests too deeply: does it name itself?");
}

TEST_F(PipelineTest, NamedPipelineOptionsSetEveryPassThatHasThem) {
  registry.registerPipeline("twice", "x", [](bool) { return "fuse-conv-act,dce,fuse-conv-act{flag}"; });
  EXPECT_EQ(printPipeline(buildPipeline("twice{count=3}", registry)),
            "fuse-conv-act{flag=false count=3 activations=relu label=''},dce,"
            "fuse-conv-act{flag=true count=3 activations=relu label=''}");
  EXPECT_EQ(errorOf("twice{nope}"),
            "--passes:7: unknown option 'nope' for pipeline 'twice' (options: flag, count, activations, label)");
  EXPECT_EQ(errorOf("twice{count=x}"), "--passes:13: bad value for option 'count' of pipeline 'twice': "
                                       "expected an integer, got 'x'");
}

TEST_F(PipelineTest, PipelineNamesAreKebabCaseOrLevels) {
  auto text = [](bool) { return "dce"; };
  EXPECT_NO_THROW(registry.registerPipeline("O2", "x", text));
  EXPECT_NO_THROW(registry.registerPipeline("my-pipeline", "x", text));
  EXPECT_THROW(registry.registerPipeline("O", "x", text), Error);
  EXPECT_THROW(registry.registerPipeline("Oz", "x", text), Error);
  EXPECT_THROW(registry.registerPipeline("dce", "x", text), Error);
  EXPECT_THROW(registry.registerPass("O3", "x", [] { return std::make_unique<PlainPass>(); }), Error);
}

} // namespace
} // namespace tsopt
