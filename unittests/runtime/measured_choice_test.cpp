#include "runtime/keyed_cache.h"
#include "runtime/measured_choice.h"
#include "runtime/packed_layers.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

namespace tsopt::runtime {
namespace {

std::function<void()> sleepingFor(int milliseconds) {
  return [milliseconds] { std::this_thread::sleep_for(std::chrono::milliseconds(milliseconds)); };
}

TEST(MeasuredChoiceTest, ChallengerWinsOnlyWhenClearlyFaster) {
  // A sleep never ends early, so these orders cannot flip with the machine's load.
  EXPECT_TRUE(challengerMeasuredFaster(sleepingFor(20), sleepingFor(1)).challengerFaster);
  EXPECT_FALSE(challengerMeasuredFaster(sleepingFor(1), sleepingFor(20)).challengerFaster);
  // Equal work keeps the incumbent: the challenger must beat it by the margin.
  const Measurement tie = challengerMeasuredFaster(sleepingFor(5), sleepingFor(5));
  EXPECT_FALSE(tie.challengerFaster);
  EXPECT_GE(tie.incumbentSeconds, 0.005);
  EXPECT_GE(tie.challengerSeconds, 0.005);
}

TEST(MeasuredChoiceTest, EachProblemIsMeasuredOnce) {
  // Measured choices are kept in a KeyedCache, as ConvPacked keeps them.
  KeyedCache<bool, int, std::hash<int>> choices;
  int measured = 0;
  const auto measure = [&](bool faster) {
    return [&measured, faster] {
      ++measured;
      return faster;
    };
  };
  EXPECT_EQ(choices.find(1), nullptr);
  EXPECT_TRUE(*choices.get(1, measure(true)));
  EXPECT_TRUE(*choices.get(1, measure(false)));  // kept, not measured again
  EXPECT_FALSE(*choices.get(2, measure(false)));
  EXPECT_EQ(measured, 2);
  ASSERT_NE(choices.find(1), nullptr);
  EXPECT_TRUE(*choices.find(1));
  ASSERT_NE(choices.find(2), nullptr);
  EXPECT_FALSE(*choices.find(2));
  EXPECT_EQ(choices.find(3), nullptr);
}

TEST(MeasuredChoiceTest, MeasuredLayersGiveTheLayersResultAndLeaveTheResidualAlone) {
  // Large enough to be measured on its first call (ConvPacked::run): the trial
  // calls must neither sum into the caller's residual nor change the result,
  // whichever computation wins; every later call takes the winner.
  ASSERT_TRUE(measuringEnabled()) << "TSOPT_MEASURE=0 in the environment";
  at::manual_seed(3);
  for (int64_t groups : {1, 2}) {
    SCOPED_TRACE(::testing::Message() << "groups " << groups);
    ConvPacked packed(at::randn({64, 64 / groups, 3, 3}), at::randn({64}), {{1, 1}, {1, 1}, {1, 1}, groups});
    const at::Tensor input = at::randn({1, 64, 40, 40}).contiguous(at::MemoryFormat::ChannelsLast);
    const at::Tensor kept = at::randn({1, 64, 40, 40}).contiguous(at::MemoryFormat::ChannelsLast);
    const at::Tensor expected = packed.runReference(input, kept, Activation(), ResidualAdd::AfterActivation);
    // The first call (measured) gets the residual handed over: a trial that
    // summed into it would show in the result. The second keeps its residual.
    at::Tensor handedOver = kept.clone();
    const at::Tensor first = packed.run(input, std::move(handedOver), Activation(), ResidualAdd::AfterActivation);
    at::Tensor residual = kept.clone();
    const at::Tensor second = packed.run(input, residual, Activation(), ResidualAdd::AfterActivation);
    EXPECT_TRUE(at::equal(residual, kept));
    for (const at::Tensor& result : {first, second}) {
      ASSERT_EQ(result.sizes(), expected.sizes());
      EXPECT_TRUE(at::allclose(result, expected, 1e-4, 1e-4)) << (result - expected).abs().max().item<double>();
      EXPECT_TRUE(result.is_contiguous(at::MemoryFormat::ChannelsLast));
    }
    const std::string algorithm = packed.algorithmFor(input);
    EXPECT_TRUE(algorithm == "winograd" || algorithm == "direct" || algorithm == "aten (measured)") << algorithm;
  }
}

} // namespace
} // namespace tsopt::runtime
