//===- input_specialization.h - Input types from example inputs, and guards -===//
///
/// A saved archive keeps only `Tensor` on a graph's inputs, so passes that need
/// a rank (fold-linear-bn, a [1, C, 1, 1] constant in fold-conv-add-mul) give
/// up. tsopt's --example-inputs records each tensor input's rank, dtype and
/// device on the graph (sizes stay unknown: one example does not fix them),
/// and after the pipeline puts a guard at the top of the graph that raises a
/// clear error when a call passes another rank, dtype or device, where the
/// optimized graph would otherwise compute a wrong result.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <ATen/core/ivalue.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <torch/csrc/jit/ir/ir.h>

#include <string>
#include <vector>

namespace tsopt {

/// What the optimized graph assumes of one tensor input.
struct InputSpec {
  size_t input = 0;  ///< Index among the graph's inputs (0 is a method's self).
  std::string name;  ///< The argument's name, for messages.
  int64_t rank = 0;
  at::ScalarType dtype = at::kFloat;
  at::Device device = at::kCPU;

  /// "a 4-D Float tensor on cpu"
  std::string describe() const;
};

/// Gives each tensor input of a method graph (inputs after self) the rank,
/// dtype and device of the matching example argument; returns what it
/// recorded. The last `defaulted` arguments have default values: the example
/// may leave them out, and those it leaves out keep their types. Throws
/// tsopt::Error (Input), prefixed by `origin`, when the example has another
/// argument count or a non-tensor where the graph takes a tensor.
std::vector<InputSpec> specializeInputs(torch::jit::Graph& graph, const std::vector<c10::IValue>& example,
                                        const std::string& origin, size_t defaulted = 0);

/// Puts, before the graph's first node, one check per spec that raises
/// "tsopt: <name>: expected a 4-D Float tensor on cpu (the module was optimized
/// for --example-inputs of that kind)" when a call breaks it. Runs after every
/// pass: a pass that trusts the recorded rank would fold the check away.
void insertInputGuards(torch::jit::Graph& graph, const std::vector<InputSpec>& specs);

} // namespace tsopt
