#include "ir_tools/tsopt/keep_float_selection.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tsopt {
namespace {

double orWorst(double cosine) { return std::isnan(cosine) ? -std::numeric_limits<double>::infinity() : cosine; }

} // namespace

std::vector<LayerSensitivity> rankBySensitivity(std::vector<LayerSensitivity> layers) {
  std::stable_sort(layers.begin(), layers.end(), [](const LayerSensitivity& a, const LayerSensitivity& b) {
    if (orWorst(a.onlyInt8Cosine) != orWorst(b.onlyInt8Cosine)) {
      return orWorst(a.onlyInt8Cosine) < orWorst(b.onlyInt8Cosine);
    }
    return orWorst(a.onlyFloatCosine) > orWorst(b.onlyFloatCosine);
  });
  return layers;
}

KeepFloatChoice chooseKeepFloatPrefix(size_t layerCount, double minCosine,
                                      const std::function<double(size_t)>& measure) {
  KeepFloatChoice choice;
  auto reaches = [&](size_t kept, double& cosine) {
    cosine = measure(kept);
    ++choice.measurements;
    return cosine >= minCosine;
  };
  double cosine = 0;
  if (!reaches(layerCount, cosine)) {
    choice.keptLayers = layerCount;
    choice.cosine = cosine;
    return choice;
  }
  choice.reached = true;
  choice.keptLayers = layerCount;
  choice.cosine = cosine;
  if (layerCount == 0) {
    return choice;
  }
  if (reaches(0, cosine)) {
    choice.keptLayers = 0;
    choice.cosine = cosine;
    return choice;
  }
  // Invariant: `below` falls short, choice.keptLayers reaches the floor.
  size_t below = 0;
  while (choice.keptLayers - below > 1) {
    size_t middle = below + (choice.keptLayers - below) / 2;
    if (reaches(middle, cosine)) {
      choice.keptLayers = middle;
      choice.cosine = cosine;
    } else {
      below = middle;
    }
  }
  return choice;
}

} // namespace tsopt
