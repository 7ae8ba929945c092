//===- reproducer.h - Failures written as ready-to-run lit tests ----------===//
#pragma once

#include "passes/core/pass_manager.h"

#include <optional>
#include <string>
#include <vector>

namespace tsopt {

struct ReproducerRequest {
  std::string directory;          ///< Created if missing.
  const IRUnit* unitBeforePass;   ///< The IR just before the failing pass.
  std::string passText;           ///< The failing pass with its options, as pipeline text.
  std::string pipelineText;       ///< The whole pipeline, for the record.
  size_t passIndex = 0;
  std::string reason;             ///< One line: what went wrong.
  bool equivalenceCheck = false;                 ///< The failure is a mismatch.
  std::optional<std::string> equivalenceInputs;  ///< Inputs file of the check, copied along.
  std::optional<double> minCosine;               ///< The failure is an accuracy floor (--min-cosine).
  std::vector<std::string> plugins;              ///< Pass plugins the pipeline needs.
  std::string reduction;  ///< How the IR was reduced (--reduce-reproducer), one line; empty when whole.
};

/// Writes DIR/reproducer.ir (bare graph) or DIR/reproducer.test plus
/// DIR/reproducer.pt (module): a lit test whose RUN line reruns the failing
/// pass on the IR it failed on, with the check that caught it. Returns the path
/// of the test file. Throws tsopt::Error (Output).
std::string writeReproducer(const ReproducerRequest& request);

} // namespace tsopt
