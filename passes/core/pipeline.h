//===- pipeline.h - Textual pass pipelines --------------------------------===//
///
/// Grammar (MLIR-style options in braces, whitespace-separated):
///
///   pipeline := element (',' element)*
///   element  := pass-name ('{' (key ('=' value)?)* '}')?
///   value    := bare-word | '...' | "..."        (a list is "a,b,c")
///
/// e.g. `inline,freeze{preserved-attrs=version},dce`. A pass name may also be a
/// named pipeline (`O2,quantize-dynamic`), which expands in place; an option
/// given to it is set in each of its passes that has that option. Errors carry
/// the 1-based column of the offending character and name the text's origin
/// ("--passes", or "pipeline 'O2'" inside a named pipeline's text).
///
//===----------------------------------------------------------------------===//
#pragma once

#include "passes/core/pass.h"
#include "passes/core/registry.h"

#include <memory>
#include <string>
#include <vector>

namespace tsopt {

struct PipelineOption {
  std::string key;
  std::string value;
  size_t keyColumn = 0;
  size_t valueColumn = 0;
};

struct PipelineElement {
  std::string passName;
  size_t column = 0;
  std::vector<PipelineOption> options;
};

/// Splits pipeline text into elements; throws tsopt::Error (Usage) for syntax
/// errors such as empty names or unbalanced braces.
std::vector<PipelineElement> parsePipelineText(const std::string& text,
                                               const std::string& origin = "--passes");

/// Parses the text, resolves names against `registry`, expands named pipelines
/// (for an input with a module, or bare IR text when `hasModule` is false) and
/// applies options. Throws tsopt::Error (Usage) naming the position of an
/// unknown pass (with the nearest registered name), unknown option or bad value.
std::vector<std::unique_ptr<Pass>> buildPipeline(const std::string& text, const PassRegistry& registry,
                                                 const std::string& origin = "--passes", bool hasModule = true);

/// Canonical text of a pipeline, every option spelled out: parses back to the same pipeline.
std::string printPipeline(const std::vector<std::unique_ptr<Pass>>& passes);

} // namespace tsopt
