#include "ir_tools/equivalence.h"
#include "passes/core/error.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

namespace tsopt {
namespace {

LeafComparison onlyLeaf(const std::vector<LeafComparison>& leaves) {
  EXPECT_EQ(leaves.size(), 1u);
  return leaves.empty() ? LeafComparison{} : leaves.front();
}

TEST(EquivalenceTest, DefaultTolerancesFollowAssertClose) {
  EXPECT_DOUBLE_EQ(toleranceFor(at::kFloat, {}).rtol, 1.3e-6);
  EXPECT_DOUBLE_EQ(toleranceFor(at::kFloat, {}).atol, 1e-5);
  EXPECT_DOUBLE_EQ(toleranceFor(at::kDouble, {}).rtol, 1e-7);
  EXPECT_DOUBLE_EQ(toleranceFor(at::kHalf, {}).rtol, 1e-3);
  EXPECT_DOUBLE_EQ(toleranceFor(at::kBFloat16, {}).rtol, 1.6e-2);
  EXPECT_DOUBLE_EQ(toleranceFor(at::kLong, {}).atol, 0);
  ToleranceOverride override{0.5, std::nullopt};
  EXPECT_DOUBLE_EQ(toleranceFor(at::kFloat, override).rtol, 0.5);
  EXPECT_DOUBLE_EQ(toleranceFor(at::kFloat, override).atol, 1e-5);
}

TEST(EquivalenceTest, FloatWithinToleranceMatchesAndReportsErrors) {
  at::Tensor expected = at::ones({4});
  at::Tensor actual = expected + 5e-6;  // within atol 1e-5
  LeafComparison leaf = onlyLeaf(compareOutputs(expected, actual, {}));
  EXPECT_TRUE(leaf.matches) << leaf.problem;
  EXPECT_NEAR(leaf.maxAbsError, 5e-6, 1e-7);
  EXPECT_EQ(leaf.path, "output");
  EXPECT_EQ(leaf.description, "Float[4]");
}

TEST(EquivalenceTest, FloatOutsideToleranceMismatches) {
  at::Tensor expected = at::ones({4});
  at::Tensor actual = expected.clone();
  actual[2] = 1.001;
  LeafComparison leaf = onlyLeaf(compareOutputs(expected, actual, {}));
  EXPECT_FALSE(leaf.matches);
  EXPECT_NE(leaf.problem.find("1 of 4 elements differ"), std::string::npos) << leaf.problem;
  EXPECT_TRUE(onlyLeaf(compareOutputs(expected, actual, ToleranceOverride{1e-2, 0.0})).matches);
}

TEST(EquivalenceTest, DoubleIsHeldToTighterTolerance) {
  at::Tensor expected = at::ones({3}, at::kDouble);
  EXPECT_FALSE(onlyLeaf(compareOutputs(expected, expected + 1e-6, {})).matches);
  at::Tensor asFloat = at::ones({3});
  EXPECT_TRUE(onlyLeaf(compareOutputs(asFloat, asFloat + 1e-6, {})).matches);
}

TEST(EquivalenceTest, IntegersMustBeExact) {
  at::Tensor expected = at::arange(5);
  EXPECT_TRUE(onlyLeaf(compareOutputs(expected, expected.clone(), {})).matches);
  EXPECT_FALSE(onlyLeaf(compareOutputs(expected, expected + 1, ToleranceOverride{1.0, 1.0})).matches);
}

TEST(EquivalenceTest, NaNMatchesOnlyNaNAtTheSamePosition) {
  at::Tensor expected = at::tensor({1.0f, NAN, 3.0f});
  EXPECT_TRUE(onlyLeaf(compareOutputs(expected, expected.clone(), {})).matches);
  at::Tensor moved = at::tensor({NAN, 2.0f, 3.0f});
  LeafComparison leaf = onlyLeaf(compareOutputs(expected, moved, {}));
  EXPECT_FALSE(leaf.matches);
  EXPECT_TRUE(std::isnan(leaf.maxAbsError));
  at::Tensor finite = at::tensor({1.0f, 2.0f, 3.0f});
  EXPECT_FALSE(onlyLeaf(compareOutputs(expected, finite, {})).matches);
}

TEST(EquivalenceTest, ShapeAndDtypeChangesMismatch) {
  at::Tensor expected = at::zeros({2, 3});
  EXPECT_FALSE(onlyLeaf(compareOutputs(expected, at::zeros({3, 2}), {})).matches);
  EXPECT_FALSE(onlyLeaf(compareOutputs(expected, at::zeros({2, 3}, at::kDouble), {})).matches);
}

TEST(EquivalenceTest, NestedOutputsAreComparedLeafByLeaf) {
  auto list = c10::List<at::Tensor>({at::ones({2}), at::zeros({1})});
  c10::Dict<std::string, at::Tensor> dict;
  dict.insert("logits", at::ones({3}));
  c10::IValue expected = c10::ivalue::Tuple::create({c10::IValue(list), c10::IValue(dict), c10::IValue(7)});

  auto badList = c10::List<at::Tensor>({at::ones({2}), at::ones({1})});
  c10::IValue actual = c10::ivalue::Tuple::create({c10::IValue(badList), c10::IValue(dict), c10::IValue(7)});
  std::vector<LeafComparison> leaves = compareOutputs(expected, actual, {});
  ASSERT_EQ(leaves.size(), 4u);
  EXPECT_EQ(leaves[0].path, "output[0][0]");
  EXPECT_TRUE(leaves[0].matches);
  EXPECT_EQ(leaves[1].path, "output[0][1]");
  EXPECT_FALSE(leaves[1].matches);
  EXPECT_EQ(leaves[2].path, "output[1]['logits']");
  EXPECT_TRUE(leaves[2].matches);
  EXPECT_EQ(leaves[3].path, "output[2]");
  EXPECT_TRUE(leaves[3].matches);

  c10::IValue shorter = c10::ivalue::Tuple::create({c10::IValue(list)});
  EXPECT_FALSE(onlyLeaf(compareOutputs(expected, shorter, {})).matches);
  EXPECT_FALSE(onlyLeaf(compareOutputs(c10::IValue(7), c10::IValue(8), {})).matches);
  EXPECT_FALSE(onlyLeaf(compareOutputs(c10::IValue(at::ones({1})), c10::IValue(1.0), {})).matches);
}

TEST(EquivalenceTest, CheckRunsEveryInputSetTwiceOnCopies) {
  torch::jit::Module reference("M");
  reference.define("def forward(self, x):\n  y = x * 2\n  return y\n");
  torch::jit::Module mutating("N");
  // Mutates its input: the copies per call keep the reference's input intact.
  mutating.define("def forward(self, x):\n  x.mul_(2)\n  return x\n");
  InputSets inputs = {{at::ones({3})}, {at::arange(3).to(at::kFloat)}};
  EquivalenceReport report = checkEquivalence(reference, mutating, "forward", inputs, {});
  EXPECT_TRUE(report.equivalent) << report.failure;
  EXPECT_EQ(report.calls, 4u);
  EXPECT_TRUE(inputs[0][0].toTensor().equal(at::ones({3})));

  torch::jit::Module wrong("W");
  wrong.define("def forward(self, x):\n  return x * 3\n");
  EquivalenceReport mismatch = checkEquivalence(reference, wrong, "forward", inputs, {});
  EXPECT_FALSE(mismatch.equivalent);
  EXPECT_NE(mismatch.failure.find("on call 1"), std::string::npos) << mismatch.failure;
}

TEST(EquivalenceTest, SynthesizesInputsOnlyFromCompleteTypes) {
  torch::jit::Module module("M");
  module.define("def forward(self, x):\n  return x\n");
  EXPECT_THROW(synthesizeInputs(module, "forward"), Error);
  auto graph = module.get_method("forward").graph();
  graph->inputs()[1]->setType(c10::TensorType::createContiguous(at::kFloat, at::kCPU, {2, 5}));
  InputSets inputs = synthesizeInputs(module, "forward");
  ASSERT_EQ(inputs.size(), 1u);
  EXPECT_EQ(inputs[0][0].toTensor().sizes(), at::IntArrayRef({2, 5}));
}

TEST(EquivalenceTest, InputFileErrors) {
  std::string garbage = ::testing::TempDir() + "garbage.inputs.pt";
  std::ofstream(garbage) << "not a pickle";
  EXPECT_THROW(loadInputSets(garbage), Error);
  EXPECT_THROW(loadInputSets("/nonexistent/inputs.pt"), Error);
}

} // namespace
} // namespace tsopt
