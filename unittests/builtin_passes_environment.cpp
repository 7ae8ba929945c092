//===- builtin_passes_environment.cpp - The tools' registration, for tests -===//
///
/// Tools register the built-in passes in main(), as mlir-opt does; the tests'
/// main is GoogleTest's, so this environment does it before any test runs.
///
//===----------------------------------------------------------------------===//
#include "passes/builtin/builtin_passes.h"

#include <gtest/gtest.h>

namespace {

class BuiltinPassesEnvironment final : public ::testing::Environment {
public:
  void SetUp() override { tsopt::registerBuiltinPasses(); }
};

const ::testing::Environment* const kBuiltinPasses =
    ::testing::AddGlobalTestEnvironment(new BuiltinPassesEnvironment);

} // namespace
