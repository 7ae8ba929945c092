#include "passes/freezing/affine_folding.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace tsopt {
namespace {

// Reference: the layer followed by the affine map, computed the slow way.
at::Tensor affineAfter(const at::Tensor& y, const Affine& affine) {
  std::vector<int64_t> shape(y.dim(), 1);
  shape[1] = -1;
  return y * affine.scale.to(y.scalar_type()).view(shape) + affine.shift.to(y.scalar_type()).view(shape);
}

TEST(AffineFoldingTest, BatchNormAsAffineMatchesBatchNorm) {
  at::manual_seed(0);
  at::Tensor x = at::randn({2, 4, 3, 3});
  at::Tensor gamma = at::rand({4}) + 0.5;
  at::Tensor beta = at::randn({4});
  at::Tensor mean = at::randn({4});
  at::Tensor var = at::rand({4}) + 0.1;
  Affine affine = batchNormAsAffine(gamma, beta, mean, var, 1e-3);
  at::Tensor expected = at::batch_norm(x, gamma, beta, mean, var, false, 0.1, 1e-3, false);
  EXPECT_TRUE(at::allclose(affineAfter(x, affine), expected, 1e-5, 1e-5));
  Affine plain = batchNormAsAffine(std::nullopt, std::nullopt, mean, var, 1e-3);
  at::Tensor expectedPlain = at::batch_norm(x, {}, {}, mean, var, false, 0.1, 1e-3, false);
  EXPECT_TRUE(at::allclose(affineAfter(x, plain), expectedPlain, 1e-5, 1e-5));
}

TEST(AffineFoldingTest, GroupedDilatedConvolution) {
  at::manual_seed(1);
  at::Tensor x = at::randn({2, 6, 9, 9});
  at::Tensor weight = at::randn({4, 3, 3, 3});  // groups = 2
  at::Tensor bias = at::randn({4});
  Affine affine{at::randn({4}, at::kDouble), at::randn({4}, at::kDouble)};
  FoldedParams folded = foldAffine(weight, bias, affine.scale, affine.shift, WeightLayout{false, 2});
  at::Tensor expected = affineAfter(at::conv2d(x, weight, bias, 1, 2, 2, 2), affine);
  EXPECT_TRUE(at::allclose(at::conv2d(x, folded.weight, folded.bias, 1, 2, 2, 2), expected, 1e-4, 1e-5));
  EXPECT_EQ(folded.weight.scalar_type(), at::kFloat);
}

TEST(AffineFoldingTest, GroupedTransposedConvolutionWithoutBias) {
  at::manual_seed(2);
  at::Tensor x = at::randn({1, 4, 5, 5});
  at::Tensor weight = at::randn({4, 3, 3, 3});  // groups = 2: 2 * 3 = 6 output channels
  ASSERT_EQ(outputChannels(weight, WeightLayout{true, 2}), 6);
  Affine affine{at::randn({6}, at::kDouble), at::randn({6}, at::kDouble)};
  FoldedParams folded = foldAffine(weight, std::nullopt, affine.scale, affine.shift, WeightLayout{true, 2});
  at::Tensor expected = affineAfter(at::conv_transpose2d(x, weight, {}, 2, 1, 1, 2), affine);
  at::Tensor actual = at::conv_transpose2d(x, folded.weight, folded.bias, 2, 1, 1, 2);
  EXPECT_TRUE(at::allclose(actual, expected, 1e-4, 1e-5));
}

TEST(AffineFoldingTest, LinearAndConv1dAndConv3d) {
  at::manual_seed(3);
  at::Tensor x = at::randn({3, 8});
  at::Tensor weight = at::randn({5, 8});
  Affine affine{at::randn({5}, at::kDouble), at::randn({5}, at::kDouble)};
  at::Tensor bias = at::randn({5});
  FoldedParams folded = foldAffine(weight, bias, affine.scale, affine.shift, WeightLayout{});
  EXPECT_TRUE(at::allclose(at::linear(x, folded.weight, folded.bias), affineAfter(at::linear(x, weight, bias), affine),
                           1e-4, 1e-5));

  at::Tensor weight3d = at::randn({2, 3, 1, 2, 2});
  Affine affine3d{at::randn({2}, at::kDouble), at::randn({2}, at::kDouble)};
  FoldedParams folded3d = foldAffine(weight3d, std::nullopt, affine3d.scale, affine3d.shift, WeightLayout{});
  at::Tensor x3d = at::randn({1, 3, 2, 4, 4});
  EXPECT_TRUE(at::allclose(at::conv3d(x3d, folded3d.weight, folded3d.bias),
                           affineAfter(at::conv3d(x3d, weight3d), affine3d), 1e-4, 1e-5));
}

TEST(AffineFoldingTest, DoublePrecisionMathKeepsTinyVariancesAccurate) {
  // pytorch/pytorch#76578: a batch norm with a tiny variance amplifies rounding
  // error; folding in double then rounding once stays within float accuracy.
  at::manual_seed(4);
  at::Tensor x = at::randn({1, 2, 4, 4});
  at::Tensor weight = at::randn({2, 2, 3, 3});
  at::Tensor mean = at::randn({2});
  at::Tensor var = at::full({2}, 1e-7);
  Affine affine = batchNormAsAffine(std::nullopt, std::nullopt, mean, var, 1e-9);
  FoldedParams folded = foldAffine(weight, std::nullopt, affine.scale, affine.shift, WeightLayout{});
  at::Tensor expected = at::batch_norm(at::conv2d(x.to(at::kDouble), weight.to(at::kDouble)), {}, {},
                                       mean.to(at::kDouble), var.to(at::kDouble), false, 0.1, 1e-9, false);
  at::Tensor actual = at::conv2d(x, folded.weight, folded.bias).to(at::kDouble);
  double relative = ((actual - expected).abs().max() / expected.abs().max()).item<double>();
  EXPECT_LT(relative, 1e-5);
}

TEST(AffineFoldingTest, HalfWeightsStayHalf) {
  at::Tensor weight = at::randn({2, 3}).to(at::kHalf);
  FoldedParams folded = foldAffine(weight, std::nullopt, at::ones({2}, at::kDouble), at::zeros({2}, at::kDouble),
                                   WeightLayout{});
  EXPECT_EQ(folded.weight.scalar_type(), at::kHalf);
  EXPECT_EQ(folded.bias.scalar_type(), at::kHalf);
  EXPECT_TRUE(folded.weight.equal(weight));
}

// A CUDA layer's factors may be CPU tensors (fold-conv-add-mul's scalars) and
// a missing bias is made by the fold: everything lands on the weight's device.
// The meta device stands in for CUDA on machines without a GPU.
TEST(AffineFoldingTest, ResultsStayOnTheWeightsDevice) {
  at::Tensor weight = at::empty({4, 3, 3, 3}, at::TensorOptions().device(at::kMeta));
  for (const std::optional<at::Tensor>& bias :
       {std::optional<at::Tensor>(), std::optional<at::Tensor>(at::empty({4}, weight.options()))}) {
    FoldedParams folded = foldAffine(weight, bias, at::full({4}, 2.0, at::kDouble), at::zeros({4}, at::kDouble),
                                     WeightLayout{});
    EXPECT_TRUE(folded.weight.device().is_meta());
    EXPECT_TRUE(folded.bias.device().is_meta());
    EXPECT_EQ(folded.bias.scalar_type(), at::kFloat);
  }
}

} // namespace
} // namespace tsopt
