#include "passes/builtin/builtin_passes.h"
#include "passes/core/error.h"
#include "passes/core/registry.h"

#include <gtest/gtest.h>

namespace tsopt {
namespace {

class NoOpPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>&, PassContext&) override { return false; }
  Option<int64_t> limit{this, "limit", "A limit", 3};
};

PassFactory noOp() {
  return [] { return std::make_unique<NoOpPass>(); };
}

TEST(RegistryTest, CreateSetsNameAndSummary) {
  PassRegistry registry;
  registry.registerPass("no-op", "Does nothing", noOp());
  std::unique_ptr<Pass> pass = registry.create("no-op");
  EXPECT_EQ(pass->name(), "no-op");
  EXPECT_EQ(pass->summary(), "Does nothing");
  ASSERT_NE(pass->findOption("limit"), nullptr);
  EXPECT_EQ(pass->findOption("limit")->valueText(), "3");
  EXPECT_EQ(pass->findOption("missing"), nullptr);
}

TEST(RegistryTest, DuplicateNameIsRefusedNamingBothOrigins) {
  PassRegistry registry;
  registry.registerPass("no-op", "Does nothing", noOp(), "libfirst");
  try {
    registry.registerPass("no-op", "Again", noOp(), "libsecond");
    FAIL() << "duplicate registration accepted";
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()),
              "cannot register pass 'no-op' from libsecond: already registered by libfirst");
  }
}

TEST(RegistryTest, NamesMustBeKebabCase) {
  EXPECT_TRUE(isKebabCase("fold-conv-bn"));
  EXPECT_TRUE(isKebabCase("o2"));
  EXPECT_FALSE(isKebabCase(""));
  EXPECT_FALSE(isKebabCase("FoldConvBn"));
  EXPECT_FALSE(isKebabCase("fold_conv"));
  EXPECT_FALSE(isKebabCase("-fold"));
  EXPECT_FALSE(isKebabCase("fold-"));
  EXPECT_FALSE(isKebabCase("fold--bn"));
  PassRegistry registry;
  EXPECT_THROW(registry.registerPass("Bad_Name", "x", noOp()), Error);
}

TEST(RegistryTest, UnknownNameThrowsAndSuggestsNearest) {
  PassRegistry registry;
  registry.registerPass("fold-conv-bn", "x", noOp());
  registry.registerPass("dce", "x", noOp());
  EXPECT_THROW(registry.create("fold-conv"), Error);
  EXPECT_EQ(registry.nearestName("fold-conv-bm"), "fold-conv-bn");
  EXPECT_EQ(registry.nearestName("dcee"), "dce");
  EXPECT_EQ(registry.nearestName("completely-unrelated-name"), "");
}

TEST(RegistryTest, BuiltinsRegisterSortedWithTheLevels) {
  PassRegistry registry;
  registerBuiltinPasses(registry);
  std::vector<std::string> names;
  for (const PassRegistration* registration : registry.all()) {
    names.push_back(registration->name);
  }
  for (const char* expected : {"O1", "O2", "O3", "canonicalize", "constant-propagation", "cse", "dce", "freeze",
                               "inline", "lower-tuples", "peephole", "remove-dropout"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(registry.create("freeze")->kind(), PassKind::Module);
  EXPECT_EQ(registry.create("dce")->kind(), PassKind::Graph);
  EXPECT_TRUE(registry.find("O2")->isPipeline());
  EXPECT_EQ(registry.find("O2")->pipeline(true).rfind("O1,", 0), 0u);
  EXPECT_EQ(registry.find("O1")->pipeline(true).rfind("freeze,", 0), 0u);
  EXPECT_EQ(registry.find("O1")->pipeline(false).rfind("inline,", 0), 0u);
  EXPECT_THROW(registerBuiltinPasses(registry), Error);
}

TEST(RegistryTest, GlobalBuiltinRegistrationHappensOnce) {
  registerBuiltinPasses();
  registerBuiltinPasses();
  EXPECT_NE(PassRegistry::global().find("fold-conv-bn"), nullptr);
}

TEST(OptionTest, ParsesEveryType) {
  std::string error;
  bool flag = false;
  EXPECT_TRUE(parseOptionValue("true", flag, error) && flag);
  EXPECT_TRUE(parseOptionValue("0", flag, error) && !flag);
  EXPECT_TRUE(parseOptionValue("", flag, error) && flag);  // `{flag}` alone means true
  EXPECT_FALSE(parseOptionValue("yes", flag, error));
  EXPECT_EQ(error, "expected true or false, got 'yes'");

  int64_t number = 0;
  EXPECT_TRUE(parseOptionValue("-42", number, error));
  EXPECT_EQ(number, -42);
  EXPECT_FALSE(parseOptionValue("4x", number, error));
  EXPECT_FALSE(parseOptionValue("99999999999999999999", number, error));

  double real = 0;
  EXPECT_TRUE(parseOptionValue("1e-3", real, error));
  EXPECT_DOUBLE_EQ(real, 1e-3);
  EXPECT_FALSE(parseOptionValue("nan", real, error));
  EXPECT_FALSE(parseOptionValue("", real, error));

  std::vector<std::string> list;
  EXPECT_TRUE(parseOptionValue("relu,silu", list, error));
  EXPECT_EQ(list, (std::vector<std::string>{"relu", "silu"}));
  EXPECT_TRUE(parseOptionValue("", list, error));
  EXPECT_TRUE(list.empty());
  EXPECT_FALSE(parseOptionValue("relu,,silu", list, error));
  EXPECT_FALSE(parseOptionValue("relu,", list, error));
}

} // namespace
} // namespace tsopt
