//===- class_merging.h - One class for identical module classes of an archive -===//
///
/// torch.jit.trace gives every submodule instance a class of its own: a
/// stack of 1,600 identical residual blocks is saved with 4,800 classes
/// (`__torch__.m.___torch_mangle_7.Block`, ...) whose code differs only in the
/// names of the classes it mentions. LibTorch's loader compiles each of them,
/// which took most of `tsopt`'s memory and time on such models
/// (docs/scaling.md). mergeIdenticalClasses finds the module classes whose
/// code is the same up to a consistent renaming of the module classes it
/// mentions (the coarsest partition in which two classes are together when
/// their texts match and every class they mention is in the same block;
/// partition refinement), keeps one class of each block, and renames every
/// mention of the others, in the code and in the pickles' GLOBALs, to it. The
/// loader then compiles one class per block: what torch.jit.script gives
/// instances of one module type.
///
/// The rewrite keeps every code file's length and every byte offset in it (a
/// name is replaced by a name no longer than it, padded with spaces), so the
/// source-range records (`*.debug_pkl`) still point at the same code. It
/// declines, leaving the archive as it is, when anything it cannot rewrite
/// mentions a class it would rename: a pickle other than data.pkl and
/// constants.pkl (e.g. a lite interpreter's bytecode.pkl), a pickle string, a
/// pickle with frames.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace tsopt {

/// The merged archive: the original's first `head` bytes (every record's
/// local entry, the weights among them, unchanged), then `tail` (the renamed
/// records and a new central directory; zipTailReplacing).
struct ClassMerge {
  uint64_t head = 0;
  std::string tail;
  size_t moduleClasses = 0;  ///< Module classes in the archive's code.
  size_t kept = 0;           ///< Of them, those still mentioned (one per block).
};

/// The archive `bytes` (which archiveProblem and tensorStorageProblem passed)
/// with its identical module classes merged; unset when there are none to
/// merge or the archive is one it declines (see above). Throws what LibTorch's
/// archive reader throws on an archive it cannot read.
std::optional<ClassMerge> mergeIdenticalClasses(const std::string& bytes);

} // namespace tsopt
