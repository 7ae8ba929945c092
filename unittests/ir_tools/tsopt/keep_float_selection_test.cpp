#include "ir_tools/tsopt/keep_float_selection.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

namespace tsopt {
namespace {

std::vector<std::string> names(const std::vector<LayerSensitivity>& layers) {
  std::vector<std::string> result;
  for (const LayerSensitivity& layer : layers) {
    result.push_back(layer.layer);
  }
  return result;
}

TEST(RankBySensitivityTest, WorstOnlyInt8CosineFirst) {
  std::vector<LayerSensitivity> table{{"a", 0.999, 0.98}, {"b", 0.95, 0.99}, {"c", 0.99, 0.985}};
  EXPECT_EQ(names(rankBySensitivity(table)), (std::vector<std::string>{"b", "c", "a"}));
}

TEST(RankBySensitivityTest, TiesGoToTheLargerGainThenToTheGivenOrder) {
  std::vector<LayerSensitivity> table{{"a", 0.99, 0.97}, {"b", 0.99, 0.98}, {"c", 0.99, 0.98}, {"d", 0.99, 0.96}};
  EXPECT_EQ(names(rankBySensitivity(table)), (std::vector<std::string>{"b", "c", "a", "d"}));
}

TEST(RankBySensitivityTest, NotFiniteRanksWorst) {
  double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<LayerSensitivity> table{{"a", 0.5, 0.9}, {"b", nan, 0.9}, {"c", 0.7, nan}, {"d", 0.7, 0.8}};
  EXPECT_EQ(names(rankBySensitivity(table)), (std::vector<std::string>{"b", "a", "d", "c"}));
}

/// A model whose cosine rises by `steps[k]` when the k-th ranked layer is kept.
struct FakeModel {
  double base;
  std::vector<double> steps;
  std::vector<size_t> calls;
  double operator()(size_t kept) {
    calls.push_back(kept);
    double cosine = base;
    for (size_t index = 0; index < kept; ++index) {
      cosine += steps[index];
    }
    return cosine;
  }
};

KeepFloatChoice choose(FakeModel& model, double floor) {
  return chooseKeepFloatPrefix(model.steps.size(), floor, [&](size_t kept) { return model(kept); });
}

TEST(ChooseKeepFloatPrefixTest, FindsTheShortestPrefixOnAMonotoneModel) {
  FakeModel model{0.90, {0.05, 0.02, 0.01, 0.005, 0.001, 0.001, 0.0005, 0.0005}};
  for (size_t expected = 0; expected <= model.steps.size(); ++expected) {
    double floor = model.base;
    for (size_t index = 0; index < expected; ++index) {
      floor += model.steps[index];
    }
    model.calls.clear();
    KeepFloatChoice choice = choose(model, floor - 1e-12);
    EXPECT_TRUE(choice.reached);
    EXPECT_EQ(choice.keptLayers, expected) << "floor " << floor;
    EXPECT_GE(choice.cosine, floor - 1e-12);
    EXPECT_EQ(choice.measurements, model.calls.size());
    EXPECT_LE(choice.measurements, 2u + 3u);  // 2 + ceil(log2(8))
  }
}

TEST(ChooseKeepFloatPrefixTest, AllInt8IsEnoughWhenItReachesTheFloor) {
  FakeModel model{0.9995, {0.0001, 0.0001}};
  KeepFloatChoice choice = choose(model, 0.999);
  EXPECT_TRUE(choice.reached);
  EXPECT_EQ(choice.keptLayers, 0u);
  EXPECT_DOUBLE_EQ(choice.cosine, 0.9995);
  EXPECT_EQ(model.calls, (std::vector<size_t>{2, 0}));
}

TEST(ChooseKeepFloatPrefixTest, UnreachableFloorMeasuresOnlyEverythingKept) {
  FakeModel model{0.9, {0.01, 0.01, 0.01}};
  KeepFloatChoice choice = choose(model, 0.95);
  EXPECT_FALSE(choice.reached);
  EXPECT_EQ(choice.keptLayers, 3u);
  EXPECT_NEAR(choice.cosine, 0.93, 1e-12);
  EXPECT_EQ(model.calls, (std::vector<size_t>{3}));
}

TEST(ChooseKeepFloatPrefixTest, NaNNeverReachesTheFloor) {
  KeepFloatChoice choice =
      chooseKeepFloatPrefix(2, 0.5, [](size_t kept) { return kept == 2 ? 1.0 : std::nan(""); });
  EXPECT_TRUE(choice.reached);
  EXPECT_EQ(choice.keptLayers, 2u);
}

TEST(ChooseKeepFloatPrefixTest, TheChoiceIsAlwaysAMeasuredPrefixAtTheFloor) {
  // Not monotone: keeping the third layer costs accuracy. The search may miss
  // a shorter prefix, but what it returns was measured at the floor.
  std::vector<double> cosines{0.90, 0.99, 0.97, 0.96, 0.995};
  std::set<size_t> measured;
  KeepFloatChoice choice = chooseKeepFloatPrefix(4, 0.98, [&](size_t kept) {
    measured.insert(kept);
    return cosines[kept];
  });
  EXPECT_TRUE(choice.reached);
  EXPECT_TRUE(measured.count(choice.keptLayers));
  EXPECT_GE(cosines[choice.keptLayers], 0.98);
  EXPECT_DOUBLE_EQ(choice.cosine, cosines[choice.keptLayers]);
}

TEST(ChooseKeepFloatPrefixTest, NoLayers) {
  KeepFloatChoice reached = chooseKeepFloatPrefix(0, 0.9, [](size_t) { return 0.95; });
  EXPECT_TRUE(reached.reached);
  EXPECT_EQ(reached.keptLayers, 0u);
  EXPECT_EQ(reached.measurements, 1u);
  EXPECT_FALSE(chooseKeepFloatPrefix(0, 0.99, [](size_t) { return 0.95; }).reached);
}

TEST(ChooseKeepFloatPrefixTest, SameMeasurementsSameChoice) {
  FakeModel first{0.9, {0.03, 0.03, 0.02, 0.01, 0.01}};
  FakeModel second = first;
  KeepFloatChoice a = choose(first, 0.975);
  KeepFloatChoice b = choose(second, 0.975);
  EXPECT_EQ(a.keptLayers, b.keptLayers);
  EXPECT_EQ(first.calls, second.calls);
  EXPECT_EQ(a.keptLayers, 3u);
}

} // namespace
} // namespace tsopt
