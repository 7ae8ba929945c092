//===- output_file.h - All-or-nothing output files ------------------------===//
#pragma once

#include <torch/csrc/jit/api/module.h>

#include <functional>
#include <iosfwd>
#include <string>

namespace tsopt {

/// Writes `path` through a temporary file in the same folder, renamed over
/// `path` only once `write` succeeded: a failure never leaves a partial file.
/// Throws tsopt::Error (Output) naming the path.
void writeFileAtomically(const std::string& path, const std::function<void(const std::string& tempPath)>& write);

void writeTextAtomically(const std::string& path, const std::string& text);
/// torch.jit.save, with `extraFiles` (name -> content) as the archive's extra files.
void saveModuleAtomically(const std::string& path, const torch::jit::Module& module,
                          const torch::jit::ExtraFilesMap& extraFiles = {});

/// A tool's -o: `text` to `stdoutStream` (flushed) when `path` is "-", else
/// to the file, written whole or not at all.
void writeOutput(const std::string& path, const std::string& text, std::ostream& stdoutStream);

} // namespace tsopt
