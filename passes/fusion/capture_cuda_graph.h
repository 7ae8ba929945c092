//===- capture_cuda_graph.h - A method replayed from a captured CUDA graph -===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// capture-cuda-graph (module pass): keeps the method's body as a new method
/// `<method>_uncaptured` and makes the method one tsopt::cuda_graph_run call of
/// it. On CUDA tensors that op captures the body into a CUDA graph, once per
/// input signature (sizes, strides, dtype, device, grad and inference mode),
/// and replays it: one launch per call instead of one per kernel, which is
/// what bounds a small batch on a GPU. On the CPU it calls the body, so the
/// module computes what it did everywhere (docs/cuda.md).
/// What a captured call does differently: it copies the inputs into the
/// graph's static buffers and returns copies of the graph's static outputs
/// (never a tensor that the next call overwrites, nor an alias of an input).
/// Each captured graph keeps its memory (the activations of one call and the
/// static buffers) for the life of the module; `max-graphs` bounds the input
/// signatures the op tries to capture, failed captures included.
/// Refuses (--debug-only says why) a method whose arguments are not all
/// Tensors, that takes none, that returns anything but a Tensor or a tuple of
/// Tensors, that holds a node that synchronizes with the host or cannot be
/// captured (aten::item, tensor-to-scalar conversions, nonzero, unique,
/// prim::Print, a copy to the CPU, forks, attribute assignments; the list is
/// in the source, nested blocks and called methods included), that writes an argument in place
/// (the write would reach the static copy, not the caller's tensor) or may
/// return one, or that is captured already (a second run changes nothing).
/// Run it last: later passes see only the wrapper, and freezing after it drops
/// `<method>_uncaptured`.
///   graph(%self : __torch__.M, %x : Tensor):  <the body>  return (%y)
///   ==>   %ys : Tensor[] = tsopt::cuda_graph_run(%cache, %self, "forward_uncaptured", [%x])
///   %y : Tensor = prim::ListUnpack(%ys)   return (%y)      (and the body as forward_uncaptured)
class CaptureCudaGraphPass final : public ModulePass {
public:
  bool runOnModule(torch::jit::Module& module, PassContext& context) override;

private:
  Option<int64_t> maxGraphs{this, "max-graphs",
                            "Input signatures (shapes, dtypes, devices) that each get a captured graph; other "
                            "signatures run uncaptured",
                            4};
  Statistic captured{this, "captured", "Methods rewritten to replay a captured CUDA graph"};
  Statistic refused{this, "refused", "Methods left uncaptured (--debug-only says why)"};
};

} // namespace tsopt
