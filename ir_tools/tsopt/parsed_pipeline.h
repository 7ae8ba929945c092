//===- parsed_pipeline.h - A pipeline parsed once, instantiated per run ---===//
///
/// The driver parses its pipeline text once. Bisection and reproducers rerun
/// the pipeline, or a prefix of it, on fresh copies of the input, and every
/// run needs pass objects of its own (passes carry statistics and per-run
/// state): instantiate() makes them from the parsed passes, with the same
/// options, without reading the text again.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/pass.h"
#include "passes/core/registry.h"

#include <memory>
#include <string>
#include <vector>

namespace tsopt {

class ParsedPipeline {
public:
  /// Parses `text` and resolves its passes against `registry`, expanding named
  /// pipelines for an input with a module or for bare IR text (`hasModule`);
  /// empty text is the empty pipeline (-O0). Throws tsopt::Error (Usage) naming
  /// `origin` ("--passes", "-O2") and the column of the problem.
  static ParsedPipeline parse(const std::string& text, const PassRegistry& registry, const std::string& origin,
                              bool hasModule = true);

  const std::vector<std::unique_ptr<Pass>>& passes() const { return passes_; }
  size_t size() const { return passes_.size(); }

  /// Gives the inputs file of --calibration-data to every pass that calibrates
  /// (CalibratingPass) and was not given a file of its own, in this pipeline and
  /// every instance made from it. Returns whether any pass calibrates.
  bool setDefaultCalibrationData(const std::string& path);

  /// Canonical text, every option spelled out (what --dump-pass-pipeline prints).
  std::string text() const;
  /// Pass `index` alone, as pipeline text.
  std::string passText(size_t index) const;

  /// New pass objects for one run, configured as the parsed ones are.
  std::vector<std::unique_ptr<Pass>> instantiate() const;

private:
  ParsedPipeline(const PassRegistry& registry, std::vector<std::unique_ptr<Pass>> passes)
      : registry_(&registry), passes_(std::move(passes)) {}

  std::unique_ptr<Pass> instantiate(const Pass& parsed) const;

  const PassRegistry* registry_;
  std::vector<std::unique_ptr<Pass>> passes_;
};

} // namespace tsopt
