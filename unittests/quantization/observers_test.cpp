#include "passes/quantization/observers.h"
#include "passes/quantization/quantization_params.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

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

// The batches of each case, drawn as Python draws them with
// torch.manual_seed(0) and the same torch calls.
std::vector<at::Tensor> histogramCase(const std::string& name) {
  at::manual_seed(0);
  std::vector<at::Tensor> batches;
  if (name == "integer-range") {
    batches.push_back(at::clamp(at::randn({4096}) * 1.5 + 1.0, -2.0, 5.0));
  } else if (name == "integer-range-3") {
    for (int i = 0; i < 3; ++i) {
      batches.push_back(at::clamp(at::randn({4096}) * 1.5 + 1.0, -2.0, 5.0));
    }
  } else if (name == "relu") {
    for (int i = 0; i < 2; ++i) {
      batches.push_back(at::clamp_max(at::relu(at::randn({4096}) * 2.0), 6.0));
    }
  } else if (name == "outliers") {
    batches.push_back(at::cat({at::randn({4096}), at::tensor({-6.0f, 9.0f})}));
  } else if (name == "growing") {
    for (int i = 0; i < 4; ++i) {
      batches.push_back(at::randn({4096}) * (0.3 + 0.4 * i) + 0.1 * i);
    }
  }
  return batches;
}

struct HistogramExpectation {
  const char* data;
  bool reduceRange;
  double scale;
  int64_t zeroPoint;
};

void expectHistogramQParams(const HistogramExpectation& expected) {
  SCOPED_TRACE(std::string(expected.data) + (expected.reduceRange ? ", reduce-range" : ""));
  torch::jit::Module observer = makeHistogramObserver(expected.reduceRange);
  for (const at::Tensor& batch : histogramCase(expected.data)) {
    observer.forward({batch});
  }
  auto [scale, zeroPoint] = qparams(observer);
  EXPECT_NEAR(scale.item<double>(), expected.scale, 1e-6 * expected.scale);
  EXPECT_EQ(zeroPoint.item<int64_t>(), expected.zeroPoint);
}

TEST(ObserversTest, HistogramObserverAgreesWithPyTorchsHistogramObserver) {
  // Expected values (histogram_observer_expected.py prints them):
  // torch.ao.quantization.HistogramObserver(reduce_range=...) of PyTorch 1.13
  // fed the same batches. Every range end here is an integer,
  // where PyTorch's truncation of the histogram range to integers changes
  // nothing; "integer-range-3" adds histograms of equal ranges, "relu" is
  // one-sided, "outliers" has two values far out in the tails.
  const HistogramExpectation expectations[] = {
      {"integer-range", false, 2.743757702e-02, 73},   {"integer-range", true, 5.509119853e-02, 36},
      {"integer-range-3", false, 2.743757702e-02, 73}, {"integer-range-3", true, 5.509119853e-02, 36},
      {"relu", false, 2.351792343e-02, 0},             {"relu", true, 4.722102731e-02, 0},
      {"outliers", false, 5.879480764e-02, 102},       {"outliers", true, 1.180525646e-01, 51},
  };
  for (const HistogramExpectation& expected : expectations) {
    expectHistogramQParams(expected);
  }
}

TEST(ObserversTest, HistogramObserverKeepsTheExactRangeWherePyTorchTruncatesIt) {
  // Batches whose ranges grow and whose ends are not integers: the expected
  // values ("exact range" in histogram_observer_expected.py) are PyTorch
  // 1.13's HistogramObserver with torch.histc given the exact range
  // (min=min_val.item() for min=int(min_val)). PyTorch 1.13 as
  // shipped gives 3.994848952e-02 / 121 here: its histograms drop the values
  // beyond the truncated range.
  const HistogramExpectation expectations[] = {
      {"growing", false, 4.222470149e-02, 129},
      {"growing", true, 8.478187770e-02, 64},
  };
  for (const HistogramExpectation& expected : expectations) {
    expectHistogramQParams(expected);
  }
}

TEST(ObserversTest, HistogramObserverClipsLessThanMinMaxNeverMore) {
  // The search only narrows the observed range: its scale is at most the
  // min/max observer's on the same data, and constant data still yields a
  // usable (epsilon) scale.
  torch::jit::Module histogram = makeHistogramObserver(false);
  torch::jit::Module minMax = makeMinMaxObserver(false);
  EXPECT_FALSE(observerHasData(histogram));
  for (const at::Tensor& batch : histogramCase("growing")) {
    histogram.forward({batch});
    minMax.forward({batch});
  }
  EXPECT_TRUE(observerHasData(histogram));
  EXPECT_LE(qparams(histogram).first.item<double>(), qparams(minMax).first.item<double>() * (1 + 1e-6));

  torch::jit::Module constant = makeHistogramObserver(false);
  constant.forward({at::full({16}, 2.0f)});
  auto [scale, zeroPoint] = qparams(constant);
  EXPECT_GT(scale.item<double>(), 0.0);
  EXPECT_EQ(constant.attr("qscheme").toQScheme(), at::kPerTensorAffine);
  EXPECT_EQ(constant.attr("dtype").toScalarType(), at::kQUInt8);
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
