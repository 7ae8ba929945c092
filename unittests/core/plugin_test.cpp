#include "passes/core/error.h"
#include "passes/core/plugin.h"

#include <gtest/gtest.h>

namespace tsopt {
namespace {

std::string loadError(const std::string& path, PassRegistry& registry) {
  try {
    loadPassPlugin(path, registry);
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::Usage);
    return error.what();
  }
  return "";
}

TEST(PluginTest, LoadsAndRegistersPasses) {
  PassRegistry registry;
  EXPECT_EQ(loadPassPlugin(TSOPT_TEST_PLUGIN, registry), "test-plugin");
  const PassRegistration* registration = registry.find("test-plugin-count");
  ASSERT_NE(registration, nullptr);
  EXPECT_EQ(registration->origin, "tsopt_test_plugin");
  EXPECT_EQ(registry.create("test-plugin-count")->kind(), PassKind::Graph);
}

TEST(PluginTest, MissingFileNamesThePath) {
  PassRegistry registry;
  std::string message = loadError("/nonexistent/libnothing.so", registry);
  EXPECT_NE(message.find("/nonexistent/libnothing.so: cannot load pass plugin"), std::string::npos) << message;
}

TEST(PluginTest, LibraryWithoutEntryPointIsRefused) {
  PassRegistry registry;
  std::string message = loadError(TSOPT_NOT_A_PLUGIN, registry);
  EXPECT_NE(message.find("no 'tsoptGetPassPluginInfo' entry point"), std::string::npos) << message;
}

TEST(PluginTest, OtherApiVersionIsRefusedBeforeRegistering) {
  PassRegistry registry;
  std::string message = loadError(TSOPT_TEST_PLUGIN_BAD_API, registry);
  EXPECT_NE(message.find("plugin API version"), std::string::npos) << message;
  EXPECT_TRUE(registry.all().empty());
}

} // namespace
} // namespace tsopt
