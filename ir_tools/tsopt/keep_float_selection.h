//===- keep_float_selection.h - Which layers to keep in float32 -----------===//
///
/// The decisions of --sensitivity and --auto-keep-float, apart from the models
/// they measure, so that they are testable on made-up tables: the ranking of
/// layers by their sensitivity to int8, and the search for the fewest layers
/// to keep in float32 for an accuracy floor. Nothing here runs a model.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace tsopt {

/// One layer's row of the sensitivity table: the worst output cosine against
/// the float32 module with only this layer in int8, and with every layer but
/// this one in int8. NaN stands for a result that is not finite.
struct LayerSensitivity {
  std::string layer;
  double onlyInt8Cosine = 1;
  double onlyFloatCosine = 1;
};

/// Worst first: by onlyInt8Cosine ascending (what the layer loses on its own),
/// ties by onlyFloatCosine descending (what keeping it float gains), then in
/// the given order. NaN ranks worst. Deterministic for equal inputs.
std::vector<LayerSensitivity> rankBySensitivity(std::vector<LayerSensitivity> layers);

struct KeepFloatChoice {
  bool reached = false;     ///< False when even all `layerCount` layers in float32 fall short.
  size_t keptLayers = 0;    ///< Keep the first keptLayers layers of the ranking in float32.
  double cosine = 0;        ///< The measured cosine with them kept (with all of them when !reached).
  size_t measurements = 0;  ///< Calls of `measure`.
};

/// The shortest prefix of a ranking to keep in float32 for a cosine of at least
/// `minCosine`: `measure(k)` is the cosine with the first k ranked layers kept.
/// Measures k = layerCount (reachable at all?) and k = 0, then binary-searches
/// k, which assumes that keeping more layers never lowers the cosine; the
/// chosen k is always one measured at or above the floor, so the floor holds
/// even where that assumption does not (a smaller k may then be missed). NaN
/// never reaches a floor. At most 2 + ceil(log2(layerCount)) measurements.
KeepFloatChoice chooseKeepFloatPrefix(size_t layerCount, double minCosine,
                                      const std::function<double(size_t)>& measure);

} // namespace tsopt
