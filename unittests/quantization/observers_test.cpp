#include "passes/quantization/observers.h"
#include "passes/quantization/quantization_params.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace tsopt {
namespace {

std::pair<at::Tensor, at::Tensor> qparams(torch::jit::Module& observer) {
  auto result = observer.get_method("calculate_qparams")(std::vector<c10::IValue>{}).toTuple();
  return {result->elements()[0].toTensor(), result->elements()[1].toTensor()};
}

TEST(ObserversTest, MinMaxObserverAgreesWithAffineParamsForRange) {
  for (bool reduceRange : {false, true}) {
    torch::jit::Module observer = makeMinMaxObserver(reduceRange);
    EXPECT_FALSE(observerHasData(observer));
    observer.forward({at::tensor({-1.0f, 0.5f})});
    observer.forward({at::tensor({3.0f, 0.0f})});
    observer.forward({at::empty({0})});  // Empty tensors record nothing.
    EXPECT_TRUE(observerHasData(observer));
    auto [scale, zeroPoint] = qparams(observer);
    AffineParams expected = affineParamsForRange(-1.0, 3.0, reduceRange);
    EXPECT_NEAR(scale.item<double>(), expected.scale, 1e-7);
    EXPECT_EQ(zeroPoint.item<int64_t>(), expected.zeroPoint);
    EXPECT_EQ(observer.attr("dtype").toScalarType(), at::kQUInt8);
    EXPECT_EQ(observer.attr("qscheme").toQScheme(), at::kPerTensorAffine);
  }
}

TEST(ObserversTest, WeightObserverAgreesWithSymmetricPerChannelParams) {
  torch::jit::Module observer = makePerChannelWeightObserver();
  EXPECT_FALSE(observerHasData(observer));
  at::manual_seed(0);
  at::Tensor weight = at::randn({6, 3, 2, 2});
  observer.forward({weight});
  ASSERT_TRUE(observerHasData(observer));
  auto [scale, zeroPoint] = qparams(observer);
  PerChannelParams expected = symmetricPerChannelParams(weight);
  EXPECT_TRUE(at::allclose(scale.to(at::kDouble), expected.scales, 1e-6, 0));
  EXPECT_TRUE(zeroPoint.eq(0).all().item<bool>());
  EXPECT_EQ(observer.attr("ch_axis").toInt(), 0);
  EXPECT_EQ(observer.attr("qscheme").toQScheme(), at::kPerChannelSymmetric);
}

TEST(ObserversTest, ObserversDeepCopyWithTheirState) {
  // InsertObservers clones the configured observer once per observed value.
  torch::jit::Module observer = makeMinMaxObserver(false);
  torch::jit::Module copy = observer.deepcopy();
  copy.forward({at::tensor({2.0f})});
  EXPECT_TRUE(observerHasData(copy));
  EXPECT_FALSE(observerHasData(observer));
}

} // namespace
} // namespace tsopt
