//===- reduce_range.h - The reduce-range option of int8 passes ------------===//
///
/// Every pass that quantizes activations to uint8 (insert-observers,
/// quantize-dynamic, fuse-linear-dynamic) takes the same `reduce-range`
/// option: 7-bit activations or 8. On an x86 CPU without VNNI int8 products
/// are summed in pairs into int16 (vpmaddubsw), which saturates with 8-bit
/// activations; oneDNN and fbgemm both document it, and PyTorch's x86 qconfigs
/// reduce the range for it.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <string>

namespace tsopt {

/// The option's help text, shared by the passes that declare it.
constexpr const char* kReduceRangeHelp =
    "Quantize activations to 7 bits: true, false, or auto (true on x86 CPUs without VNNI, where 8-bit activations "
    "saturate)";

/// Whether activations take 7 bits, from a `reduce-range` value: "true",
/// "false", or "auto" (true on an x86 CPU without VNNI). Anything else is a
/// usage error naming `owner`.
bool parseReduceRange(const std::string& value, const std::string& owner);

} // namespace tsopt
