#include "passes/core/error.h"
#include "passes/core/reduce_range.h"
#include "passes/quantization/quantization_params.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <string>

namespace tsopt {
namespace {

TEST(QuantizationParamsTest, PerChannelScalesAreSymmetricOverMaxAbs) {
  at::Tensor weight = at::tensor({1.0f, -2.0f, 0.5f, 0.25f, 0.0f, 0.0f}).reshape({3, 2});
  PerChannelParams params = symmetricPerChannelParams(weight);
  ASSERT_EQ(params.scales.numel(), 3);
  EXPECT_EQ(params.scales.scalar_type(), at::kDouble);
  EXPECT_DOUBLE_EQ(params.scales[0].item<double>(), 2.0 / 127.5);
  EXPECT_DOUBLE_EQ(params.scales[1].item<double>(), 0.5 / 127.5);
  // An all-zero channel still gets a usable scale, as in PyTorch's observers.
  EXPECT_DOUBLE_EQ(params.scales[2].item<double>(), std::numeric_limits<float>::epsilon());
  EXPECT_TRUE(params.zeroPoints.eq(0).all().item<bool>());
}

TEST(QuantizationParamsTest, QuantizedWeightsRoundTripWithinHalfAStep) {
  at::manual_seed(0);
  at::Tensor weight = at::randn({16, 32});
  at::Tensor quantized = quantizeWeightPerChannel(weight);
  EXPECT_EQ(quantized.scalar_type(), at::kQInt8);
  EXPECT_EQ(quantized.qscheme(), at::kPerChannelAffine);
  PerChannelParams params = symmetricPerChannelParams(weight);
  at::Tensor error = (quantized.dequantize() - weight).abs().amax(1).to(at::kDouble);
  // Half a step, give or take float32 rounding of the dequantized values.
  EXPECT_TRUE(error.le(params.scales * (0.5 + 1e-5)).all().item<bool>());
  // The largest magnitude of each row lands on (or next to) the int8 edges.
  at::Tensor codes = quantized.int_repr().to(at::kInt).abs().amax(1);
  EXPECT_TRUE(codes.ge(127).all().item<bool>());
}

TEST(QuantizationParamsTest, AffineParamsFollowMinMaxObserver) {
  AffineParams unit = affineParamsForRange(0.0, 255.0, false);
  EXPECT_DOUBLE_EQ(unit.scale, 1.0);
  EXPECT_EQ(unit.zeroPoint, 0);
  AffineParams symmetric = affineParamsForRange(-1.0, 1.0, false);
  EXPECT_DOUBLE_EQ(symmetric.scale, 2.0 / 255);
  EXPECT_EQ(symmetric.zeroPoint, 128);  // 127.5 rounds to even.
  AffineParams reduced = affineParamsForRange(-1.0, 1.0, true);
  EXPECT_DOUBLE_EQ(reduced.scale, 2.0 / 127);
  EXPECT_EQ(reduced.zeroPoint, 64);
  // The range always contains 0, so 0 is exact.
  AffineParams positive = affineParamsForRange(2.0, 4.0, false);
  EXPECT_DOUBLE_EQ(positive.scale, 4.0 / 255);
  EXPECT_EQ(positive.zeroPoint, 0);
  AffineParams negative = affineParamsForRange(-4.0, -2.0, false);
  EXPECT_EQ(negative.zeroPoint, 255);
  EXPECT_DOUBLE_EQ(affineParamsForRange(0.0, 0.0, false).scale, std::numeric_limits<float>::epsilon());
}

TEST(QuantizationParamsTest, EnginesParseAndScopesRestore) {
  c10::QEngine before = at::globalContext().qEngine();
  EXPECT_EQ(parseQEngine("current", "test"), before);
  EXPECT_THROW(parseQEngine("bogus", "test"), Error);
  EXPECT_EQ(qEngineName(c10::kONEDNN), "onednn");
  {
    QEngineScope scope(parseQEngine("qnnpack", "test"));
    EXPECT_EQ(at::globalContext().qEngine(), c10::kQNNPACK);
  }
  EXPECT_EQ(at::globalContext().qEngine(), before);
}

// reduce-range=auto follows the CPU, as the kernel reads /proc/cpuinfo's flags.
TEST(QuantizationParamsTest, ReduceRangeParsesAndAutoFollowsVnni) {
  EXPECT_TRUE(parseReduceRange("true", "pass"));
  EXPECT_FALSE(parseReduceRange("false", "pass"));
  EXPECT_THROW(parseReduceRange("yes", "pass"), Error);
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  bool flagsSeen = false;
  bool vnni = false;
  while (!flagsSeen && std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) == 0) {
      flagsSeen = true;
      vnni = line.find(" avx512_vnni") != std::string::npos || line.find(" avx_vnni") != std::string::npos;
    }
  }
  if (!flagsSeen) {
    GTEST_SKIP() << "no x86 flags in /proc/cpuinfo";
  }
  EXPECT_EQ(parseReduceRange("auto", "pass"), !vnni);
}

TEST(QuantizationParamsTest, PrepackedWeightsRunInLinearDynamic) {
  at::manual_seed(1);
  at::Tensor weight = at::randn({24, 40});
  at::Tensor bias = at::randn({24});
  at::Tensor input = at::randn({5, 40});
  c10::IValue packed = prepackLinearWeight(quantizeWeightPerChannel(weight), bias);
  ASSERT_TRUE(packed.isObject());
  EXPECT_EQ(packed.type()->str(), "__torch__.torch.classes.quantized.LinearPackedParamsBase");
  auto linearDynamic = c10::Dispatcher::singleton().findSchemaOrThrow("quantized::linear_dynamic", "");
  torch::jit::Stack stack{input, packed, false};
  linearDynamic.callBoxed(&stack);
  at::Tensor result = stack.at(0).toTensor();
  at::Tensor expected = at::linear(input, weight, bias);
  double cosine = (result.flatten().to(at::kDouble).dot(expected.flatten().to(at::kDouble)) /
                   (result.to(at::kDouble).norm() * expected.to(at::kDouble).norm()))
                      .item<double>();
  EXPECT_GT(cosine, 0.999);
}

} // namespace
} // namespace tsopt
