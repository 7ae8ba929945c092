//===- fuse_concat_linear.h - Linears sharing an input become one ----------===//
#pragma once

#include "passes/core/pass.h"

namespace tsopt {

/// fuse-concat-linear: two or more aten::linear nodes in one block that read
/// the same input value with constant weights of one dtype and the same
/// in_features (BERT's query, key and value projections) become one linear
/// over the concatenated weights, split back along the last dimension. One
/// wide matrix product keeps the cores busier than three narrow ones.
/// Needs: a frozen graph (constant weights); otherwise a no-op. Never merges
/// linears whose shared input is written in place anywhere (reordering would
/// change what they read), or linears in different blocks. A slice's
/// aten::view(slice, sizes) becomes aten::reshape, a view of the slice where
/// its strides allow (BERT's heads split the last dimension) and a copy
/// otherwise, unless something writes the output in place; any other user that
/// may depend on strides gets a contiguous copy, so every user sees what it saw
/// before.
///   %q = aten::linear(%x, %wq, %bq)   %k = aten::linear(%x, %wk, %bk)
///   ==>   %qk = aten::linear(%x, %wqk, %bqk)   %q, %k = split_with_sizes(%qk, [nq, nk], -1)
class FuseConcatLinearPass final : public GraphPass {
public:
  bool runOnGraph(std::shared_ptr<torch::jit::Graph>& graph, PassContext& context) override;

private:
  Statistic groups{this, "groups", "Groups of linears merged into one"};
  Statistic merged{this, "merged", "Linear layers merged into a wider one"};
  Statistic skipped{this, "skipped", "Linear layers sharing an input left alone (--debug-only says why)"};
};

} // namespace tsopt
