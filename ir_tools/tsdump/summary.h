//===- summary.h - tsdump's default mode: what an archive holds -----------===//
#pragma once

#include "ir_tools/tsdump/dump_options.h"

#include <torch/csrc/jit/api/module.h>

#include <string>

namespace tsopt {

/// The summary of `module`, read from `path`: its type and mode (eval,
/// training), the module tree with each module's methods, the parameters and
/// buffers (name, shape, dtype, bytes; with totals) and the other attributes,
/// as text or JSON (`format` is Text or Json).
std::string summaryOutput(const torch::jit::Module& module, const std::string& path, DumpFormat format);

} // namespace tsopt
