//===- bisect.h - Find the pass and rewrite that break a pipeline ---------===//
///
/// Like LLVM's -opt-bisect-limit, driven automatically: rerun ever longer
/// prefixes of the pipeline on fresh copies of the input until the check fails,
/// which names the first bad pass; then, if that pass counts its rewrites
/// (PassContext::shouldRewrite), binary-search its rewrite budget for the first
/// bad rewrite. Assumes passes are deterministic.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "ir_tools/tsopt/parsed_pipeline.h"
#include "passes/core/pass_manager.h"

#include <functional>
#include <optional>
#include <string>

namespace tsopt {

struct BisectResult {
  std::optional<size_t> badPass;      ///< Index into the pipeline.
  std::string badPassText;            ///< That pass with its options.
  std::optional<size_t> badRewrite;   ///< 1-based rewrite number within the pass.
  std::string badRewriteDescription;
  std::string failure;                ///< What the check said about the first bad prefix.
  size_t runs = 0;                    ///< Pipeline prefixes tried.
};

/// `freshUnit` makes a new copy of the input; `failureOf` checks a unit after a
/// prefix ran and returns why it is wrong, or nothing when it is right.
BisectResult bisectPipeline(const ParsedPipeline& pipeline, const std::function<IRUnit()>& freshUnit,
                            const std::function<std::optional<std::string>(IRUnit&)>& failureOf);

/// The unit as it is just before pass `index` of the pipeline: a fresh copy of
/// the input after passes [0, index) ran.
IRUnit unitBeforePass(const ParsedPipeline& pipeline, size_t index, const std::function<IRUnit()>& freshUnit);

} // namespace tsopt
