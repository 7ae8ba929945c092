//===- precision_casts.h - Casts that precision-changing passes insert ----===//
///
/// convert-bf16 casts around single layers and convert-half at the graph's
/// boundaries; both spell a cast as aten::to(value, dtype, False, False, None).
///
//===----------------------------------------------------------------------===//
#pragma once

#include <c10/core/ScalarType.h>
#include <torch/csrc/jit/ir/ir.h>

namespace tsopt {

/// Inserts aten::to(value, dtype, non_blocking=False, copy=False,
/// memory_format=None) at the graph's insert point; its output is typed
/// `Tensor` (the dtype is known, the rest may not be).
torch::jit::Value* insertCast(torch::jit::Graph& graph, torch::jit::Value* value, at::ScalarType dtype);

/// Inserts `value.to(dtype) if value.is_floating_point() else value` at the
/// graph's insert point: the cast for a tensor whose dtype the graph does not
/// know (a loaded archive's inputs), which may be token ids or a mask.
torch::jit::Value* insertCastIfFloatingPoint(torch::jit::Graph& graph, torch::jit::Value* value,
                                             at::ScalarType dtype);

} // namespace tsopt
