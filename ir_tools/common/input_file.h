//===- input_file.h - Reading TorchScript archives and IR text ------------===//
///
/// Shared by every tool: decides whether a file is a TorchScript archive or
/// textual IR, loads it, and turns every failure into a one-line tsopt::Error
/// naming the file (and line:column for IR text).
///
//===----------------------------------------------------------------------===//
#pragma once

#include "ir_tools/common/quantization_record.h"

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tsopt {

/// How the loader treats an archive's module classes.
enum class ModuleClasses {
  AsSaved,  ///< Each as the archive defines it (what tsdump shows).
  Merged,   ///< Identical ones merged into one (class_merging.h): what tsopt optimizes.
};

/// One graph parsed from IR text, with where its text starts in the file.
struct IRCase {
  std::shared_ptr<torch::jit::Graph> graph;
  size_t firstLine = 1;
};

struct LoadedInput {
  std::string path;  ///< As given; "-" is stdin.
  std::optional<torch::jit::Module> module;  ///< Set for archives.
  /// The archive, for fresh copies, where it cannot be read again (stdin, or
  /// bytes handed to loadInputBytes). An archive from a file is not held: a
  /// model's weights would be in memory twice for the whole run.
  std::string archiveBytes;
  /// For an archive read from a file: its size and modification time when it
  /// was read. freshModule() reads the file again, and fails if they changed.
  struct FileStamp {
    uint64_t size = 0;
    std::filesystem::file_time_type modified;
  };
  std::optional<FileStamp> archiveFile;
  std::vector<IRCase> cases;                 ///< Set for IR text.
  /// Where the archive's tensors were loaded (--device); unset: where they were saved.
  std::optional<c10::Device> device;
  /// Whether identical module classes were merged; fresh copies do the same.
  ModuleClasses classes = ModuleClasses::AsSaved;
  /// What the archive says it was quantized for (see quantization_record.h).
  std::optional<QuantizationRecord> quantization;

  /// A new, independent load of the archive (the original, for comparisons).
  /// Throws tsopt::Error (Input) when the file changed since it was read.
  torch::jit::Module freshModule() const;
};

/// What an input may ask of the tool before it is rejected with one line
/// (docs/robustness.md): pathological files fail fast instead of exhausting
/// memory or the stack inside LibTorch.
struct InputLimits {
  /// Bytes of the file (tsopt --max-input-size); 0 means no limit.
  uint64_t maxBytes = uint64_t(4) << 30;
  /// Elements of one `value=<Tensor>` constant of IR text, which is allocated
  /// and filled while parsing.
  uint64_t maxConstantElements = uint64_t(1) << 28;
  /// Nesting of IR text: brackets ( [ { inside one another, and blocks.
  size_t maxNesting = 100;
};

/// Line separating cases in --split-input-file mode, as in mlir-opt.
constexpr const char* kSplitMarker = "# -----";

/// Reads `path` ("-" for stdin) as an archive or IR text. With `splitInputFile`,
/// IR text is cut at kSplitMarker lines and each part parsed on its own.
/// Every graph read from text is verified (known operators, matching schemas).
/// An archive's tensors are loaded onto `device` when it is given (as
/// torch.jit.load's map_location), else onto the devices they were saved from.
/// With ModuleClasses::Merged, an archive's identical module classes load as
/// one class (mergeIdenticalClasses): faster and smaller for traced models.
LoadedInput loadInput(const std::string& path, bool splitInputFile,
                      std::optional<c10::Device> device = std::nullopt, const InputLimits& limits = {},
                      ModuleClasses classes = ModuleClasses::AsSaved);

/// loadInput on `bytes` already read from `path` (which only names them in
/// messages): what the fuzz targets call, without a file.
LoadedInput loadInputBytes(const std::string& path, std::string bytes, bool splitInputFile,
                           std::optional<c10::Device> device = std::nullopt, const InputLimits& limits = {},
                           ModuleClasses classes = ModuleClasses::AsSaved);

/// Parses IR text; `firstLine` is the line of `text` within the file, so errors
/// name file lines. Throws tsopt::Error (Input) "PATH:LINE:COL: message".
std::shared_ptr<torch::jit::Graph> parseGraphText(const std::string& text, const std::string& path,
                                                  size_t firstLine = 1, const InputLimits& limits = {});

/// Whether `bytes` start like a zip archive (what torch.jit.save writes).
bool looksLikeArchive(const std::string& bytes);

} // namespace tsopt
