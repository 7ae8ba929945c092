#include "ir_tools/tsopt/equivalence.h"
#include "passes/core/error.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/pickle.h>

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

// The unpickler makes every list a List[Any] (torch.save of a Python list);
// a method taking a List[Tensor] refuses that, so the sets type lists and
// dicts by their elements. Mixed or empty lists keep their types.
TEST(EquivalenceTest, InputListsAreTypedByTheirElements) {
  auto anyList = [](std::vector<c10::IValue> elements) {
    c10::impl::GenericList list(c10::AnyType::get());
    for (c10::IValue& element : elements) {
      list.push_back(std::move(element));
    }
    return list;
  };
  c10::impl::GenericDict dict(c10::AnyType::get(), c10::AnyType::get());
  dict.insert(c10::IValue(std::string("a")), c10::IValue(at::ones({2})));
  c10::IValue call = c10::ivalue::Tuple::create(
      {anyList({at::ones({2, 3}), at::zeros({4})}), anyList({int64_t{1}, 2.5}), anyList({}),
       anyList({anyList({int64_t{1}}), anyList({int64_t{2}, int64_t{3}})}), dict});
  std::vector<char> bytes = torch::jit::pickle_save(anyList({call}));
  InputSets sets = parseInputSets("typed.inputs.pt", bytes);
  ASSERT_EQ(sets.size(), 1u);
  ASSERT_EQ(sets[0].size(), 5u);
  EXPECT_EQ(sets[0][0].type()->str(), "Tensor[]");
  EXPECT_EQ(sets[0][1].type()->str(), "Any[]");
  EXPECT_EQ(sets[0][2].type()->str(), "Any[]");
  EXPECT_EQ(sets[0][3].type()->str(), "int[][]");
  EXPECT_EQ(sets[0][4].type()->str(), "Dict(str, Tensor)");

  torch::jit::Module module("M");
  module.define("def forward(self, xs: List[Tensor], table: Dict[str, Tensor]):\n"
                "  return xs[0].sum() + xs[1].sum() + table['a'].sum()\n");
  EXPECT_EQ(module.forward({sets[0][0], sets[0][4]}).toTensor().item<double>(), 8.0);
}

TEST(AccuracyTest, CosineSimilarityOfFlattenedTensors) {
  at::Tensor a = at::tensor({1.0f, 2.0f, 3.0f, 4.0f}).reshape({2, 2});
  EXPECT_NEAR(cosineSimilarity(a, a), 1.0, 1e-12);
  EXPECT_NEAR(cosineSimilarity(a, a * 3), 1.0, 1e-12);  // Scale-invariant.
  EXPECT_NEAR(cosineSimilarity(a, -a), -1.0, 1e-12);
  EXPECT_NEAR(cosineSimilarity(at::tensor({1.0f, 0.0f}), at::tensor({0.0f, 1.0f})), 0.0, 1e-12);
  EXPECT_NEAR(cosineSimilarity(at::tensor({1.0f, 1.0f}), at::tensor({1.0f, 0.0f})), std::sqrt(0.5), 1e-12);
  // Computed in double: 1 - 0.125 / 2^20 is 1 in float32.
  at::Tensor big = at::ones({1 << 20});
  at::Tensor nudged = big.clone();
  nudged[0] = 1.5;
  EXPECT_NEAR(cosineSimilarity(big, nudged), 1.0 - 0.125 / (1 << 20), 1e-10);
}

TEST(AccuracyTest, CosineSimilarityEdgeCases) {
  at::Tensor zeros = at::zeros({3});
  EXPECT_EQ(cosineSimilarity(zeros, zeros), 1.0);
  EXPECT_EQ(cosineSimilarity(zeros, at::ones({3})), 0.0);
  EXPECT_TRUE(std::isnan(cosineSimilarity(at::tensor({1.0f, NAN}), at::tensor({1.0f, 1.0f}))));
  EXPECT_TRUE(std::isnan(cosineSimilarity(at::tensor({1.0f, 1.0f}), at::tensor({INFINITY, 1.0f}))));
  EXPECT_NEAR(cosineSimilarity(at::ones({2}, at::kBFloat16), at::ones({2}, at::kBFloat16)), 1.0, 1e-12);
}

TEST(AccuracyTest, Top1AgreementCountsRowsWhoseArgmaxAgrees) {
  at::Tensor expected = at::tensor({0.1f, 0.9f, 0.0f, 0.7f, 0.2f, 0.1f, 0.3f, 0.3f, 0.4f}).reshape({3, 3});
  at::Tensor actual = at::tensor({0.2f, 0.8f, 0.0f, 0.1f, 0.8f, 0.1f, 0.0f, 0.1f, 0.9f}).reshape({3, 3});
  Top1Agreement top1 = top1Agreement(expected, actual);
  EXPECT_EQ(top1.rows, 3);
  EXPECT_EQ(top1.agreeing, 2);
  EXPECT_EQ(top1Agreement(expected, expected).agreeing, 3);
  // Not a [batch, classes] output: no rows.
  EXPECT_EQ(top1Agreement(at::ones({3}), at::ones({3})).rows, 0);
  EXPECT_EQ(top1Agreement(at::ones({3, 1}), at::ones({3, 1})).rows, 0);
  EXPECT_EQ(top1Agreement(at::ones({2, 3, 4}), at::ones({2, 3, 4})).rows, 0);
  EXPECT_EQ(top1Agreement(at::ones({2, 3}, at::kLong), at::ones({2, 3}, at::kLong)).rows, 0);
}

TEST(AccuracyTest, CompareOutputsFillsCosineAndTop1AndStructure) {
  at::Tensor logits = at::tensor({1.0f, 2.0f, 3.0f, 3.0f, 2.0f, 1.0f}).reshape({2, 3});
  LeafComparison leaf = onlyLeaf(compareOutputs(logits, logits + 0.01, {}));
  EXPECT_FALSE(leaf.matches);
  EXPECT_TRUE(leaf.sameStructure);
  EXPECT_GT(leaf.cosine, 0.999);
  EXPECT_EQ(leaf.top1.rows, 2);
  EXPECT_EQ(leaf.top1.agreeing, 2);
  EXPECT_FALSE(onlyLeaf(compareOutputs(logits, logits.t(), {})).sameStructure);
  EXPECT_FALSE(onlyLeaf(compareOutputs(logits, logits.to(at::kDouble), {})).sameStructure);
  EXPECT_FALSE(onlyLeaf(compareOutputs(c10::IValue(logits), c10::IValue(1.0), {})).sameStructure);
}

TEST(AccuracyTest, MeasureAccuracyAggregatesOverCallsWithoutFailingOnValues) {
  torch::jit::Module reference("M");
  reference.define("def forward(self, x):\n  return (x * 2, x.sum())\n");
  torch::jit::Module noisy("N");
  noisy.define("def forward(self, x):\n  return (x * 2 + 0.01, x.sum())\n");
  InputSets inputs = {{at::tensor({1.0f, 2.0f, 3.0f, 1.0f, 2.0f, 3.0f}).reshape({2, 3})},
                      {at::tensor({1.0f, 2.0f, 3.0f, 3.0f, 2.0f, 1.0f}).reshape({2, 3})}};
  AccuracyReport report = measureAccuracy(reference, noisy, "forward", inputs);
  ASSERT_TRUE(report.ok) << report.failure;
  EXPECT_EQ(report.calls, 4u);
  ASSERT_EQ(report.leaves.size(), 2u);
  EXPECT_EQ(report.leaves[0].path, "output[0]");
  EXPECT_LT(report.leaves[0].cosine, 1.0);
  EXPECT_GT(report.leaves[0].cosine, 0.999);
  EXPECT_NEAR(report.leaves[0].maxAbsError, 0.01, 1e-5);
  EXPECT_EQ(report.leaves[0].top1.rows, 8);  // Two rows, four calls.
  EXPECT_EQ(report.leaves[0].top1.agreeing, 8);
  EXPECT_EQ(report.leaves[1].cosine, 1.0);
  EXPECT_DOUBLE_EQ(report.worstCosine(), report.leaves[0].cosine);

  torch::jit::Module reshaped("R");
  reshaped.define("def forward(self, x):\n  return (x.t() * 2, x.sum())\n");
  AccuracyReport broken = measureAccuracy(reference, reshaped, "forward", inputs);
  EXPECT_FALSE(broken.ok);
  EXPECT_NE(broken.failure.find("output[0]"), std::string::npos) << broken.failure;

  torch::jit::Module throwing("T");
  throwing.define("def forward(self, x):\n  return (x.view(7), x.sum())\n");
  AccuracyReport thrown = measureAccuracy(reference, throwing, "forward", inputs);
  EXPECT_FALSE(thrown.ok);
  EXPECT_NE(thrown.failure.find("optimized module failed to run"), std::string::npos) << thrown.failure;
}

} // namespace
} // namespace tsopt
