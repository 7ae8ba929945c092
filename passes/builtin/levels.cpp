#include "passes/builtin/levels.h"

#include "passes/core/error.h"

namespace tsopt {

std::string levelPipelineName(int level) {
  if (level < 1 || level > kMaxOptimizationLevel) {
    throw Error(ErrorKind::Usage, "unknown optimization level -O" + std::to_string(level) + " (use -O0 to -O" +
                                      std::to_string(kMaxOptimizationLevel) + ")");
  }
  return "O" + std::to_string(level);
}

PipelineBuilder fixedPipeline(std::string text) {
  return [text = std::move(text)](bool) { return text; };
}

PipelineBuilder levelPipeline(int level) {
  return [level](bool hasModule) -> std::string {
    if (level == 1) {
      // The freezing pipeline: freeze (modules; bare graphs get inline), give
      // values the ranks that ranked inputs imply (--example-inputs; again
      // once constants are folded: reductions need constant dims), bring
      // traced forms to canonical ones (which also drops identity dropout), fold
      // constants so weights are plain constants and activations written out
      // by hand become their ATen ops, then fold batch norms and constant
      // arithmetic into the layers, and clean up. Each step exposes work for the next.
      // fold-pad-conv needs the constant pad lists fold-constants leaves.
      return std::string(hasModule ? "freeze," : "inline,") +
             "propagate-ranks,canonicalize-traced,peephole,fold-constants,propagate-ranks,canonicalize-activations,"
             "fold-pad-conv,fold-layers,cse,dce";
    }
    if (level == 2) {
      // Fusion into prepacked oneDNN calls. Residual chains go before conv +
      // activation (which would take their convolution alone). fuse-concat-linear
      // stays out: oneDNN runs BERT's q/k/v as fast one by one as merged, and the
      // merged output's slices cost copies (docs/fusion.md). fuse-attention takes
      // the attention between the projections. sink-views first brings
      // activations and residual adds next to layers that end in a view.
      // decompose-transformer-encoder-layer opens nn.TransformerEncoderLayer's
      // native call into its attention (a native multi-head attention call),
      // norms and feed-forward layers; decompose-multi-head-attention then
      // opens nn.MultiheadAttention's native call, so that its projections and
      // attention fuse like the rest.
      // fuse-add-layer-norm comes after the layer fusions: a residual add
      // right after a linear or convolution is theirs (linear_add_act folds it
      // into the GEMM's epilogue, where it costs nothing), so models where
      // those fire compile as before; it takes only the adds no layer absorbed
      // (a transformer's embeddings sum, a residual after attention's output).
      // onednn-pooling follows propagate-layout, to which aten::max_pool2d is layout-free.
      return "O1,decompose-transformer-encoder-layer,decompose-multi-head-attention,sink-views,fuse-conv-add-act,fuse-conv-act{lone-convs=true},fuse-linear-act{lone-linears=true},"
             "fuse-add-layer-norm,fuse-attention,propagate-layout,onednn-pooling,dce";
    }
    return "O" + std::to_string(level - 1);
  };
}

} // namespace tsopt
