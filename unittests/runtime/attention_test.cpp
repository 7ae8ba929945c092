#include "runtime/attention.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace tsopt::runtime {
namespace {

/// What the graph computed before fuse-attention: BERT's formulation.
at::Tensor unfused(const at::Tensor& query, const at::Tensor& keyT, const at::Tensor& value, const at::Tensor& mask,
                   double divisor, bool permute) {
  at::Tensor scores = at::div(at::matmul(query, keyT), divisor);
  if (mask.defined()) {
    scores = at::add(scores, mask);
  }
  at::Tensor context = at::matmul(at::softmax(scores, -1), value);
  return permute ? context.permute({0, 2, 1, 3}) : context;
}

void expectClose(const at::Tensor& actual, const at::Tensor& expected) {
  ASSERT_EQ(actual.sizes(), expected.sizes());
  EXPECT_TRUE(at::allclose(actual, expected, 1e-5, 1e-5)) << (actual - expected).abs().max().item<double>();
}

/// q, k and v as BERT makes them: one (batch, seq, heads * dim) projection
/// each, viewed as (batch, seq, heads, dim) and permuted to (batch, heads, seq, dim).
struct Heads {
  at::Tensor query, keyT, value;
};

Heads bertHeads(int64_t batch, int64_t heads, int64_t querySeq, int64_t keySeq, int64_t dim, int64_t valueDim) {
  auto split = [&](int64_t seq, int64_t width) {
    return at::randn({batch, seq, heads * width}).view({batch, seq, heads, width}).permute({0, 2, 1, 3});
  };
  return {split(querySeq, dim), split(keySeq, dim).transpose(-1, -2), split(keySeq, valueDim)};
}

TEST(AttentionTest, KernelMatchesTheUnfusedGraphOnBertLayouts) {
  at::manual_seed(0);
  struct Case {
    int64_t batch, heads, querySeq, keySeq, dim, valueDim;
  };
  for (const Case& c : std::vector<Case>{{1, 12, 16, 16, 8, 8}, {3, 2, 5, 7, 4, 6}, {2, 4, 33, 33, 16, 16}}) {
    Heads heads = bertHeads(c.batch, c.heads, c.querySeq, c.keySeq, c.dim, c.valueDim);
    // BERT's extended mask (batch, 1, 1, keys): 0 or a large negative number.
    at::Tensor padding = (at::rand({c.batch, 1, 1, c.keySeq}) < 0.3).to(at::kFloat) * -10000.0;
    const std::vector<at::Tensor> masks = {
        at::Tensor(), padding, at::randn({c.querySeq, c.keySeq}), at::randn({c.batch, c.heads, c.querySeq, c.keySeq}),
        at::randn({c.batch, 1, c.querySeq, c.keySeq}), at::randn({1, 1, 1, 1})};
    for (const at::Tensor& mask : masks) {
      c10::optional<at::Tensor> maybeMask = mask.defined() ? c10::optional<at::Tensor>(mask) : c10::nullopt;
      for (bool permute : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "batch " << c.batch << " heads " << c.heads << " mask "
                                          << (mask.defined() ? mask.sizes() : at::IntArrayRef{}) << " permute "
                                          << permute);
        EXPECT_TRUE(attentionKernelApplies(heads.query, heads.keyT, heads.value, maybeMask, permute));
        at::Tensor fused = attention(heads.query, heads.keyT, heads.value, maybeMask, 0.125, permute);
        expectClose(fused, unfused(heads.query, heads.keyT, heads.value, mask, 8.0, permute));
        if (permute) {
          EXPECT_TRUE(fused.is_contiguous()) << "the permuted result is written dense";
        }
      }
    }
  }
}

TEST(AttentionTest, ThreeDimensionalAndContiguousOperands) {
  at::manual_seed(1);
  at::Tensor query = at::randn({4, 9, 8});
  at::Tensor keyT = at::randn({4, 8, 11});
  at::Tensor value = at::randn({4, 11, 5});
  at::Tensor mask = at::randn({9, 11});
  ASSERT_TRUE(attentionKernelApplies(query, keyT, value, mask, false));
  expectClose(attention(query, keyT, value, mask, 1.0, false), unfused(query, keyT, value, mask, 1.0, false));
  expectClose(attention(query, keyT, value, c10::nullopt, 0.3, false),
              unfused(query, keyT, value, at::Tensor(), 1.0 / 0.3, false));
}

TEST(AttentionTest, UnsupportedInputsTakeTheAtenPath) {
  at::manual_seed(2);
  Heads heads = bertHeads(2, 3, 6, 6, 4, 4);
  at::Tensor mask = at::randn({2, 1, 1, 6});
  // float64: same ops in double precision.
  at::Tensor q64 = heads.query.to(at::kDouble), k64 = heads.keyT.to(at::kDouble), v64 = heads.value.to(at::kDouble);
  EXPECT_FALSE(attentionKernelApplies(q64, k64, v64, mask.to(at::kDouble), true));
  at::Tensor result = attention(q64, k64, v64, mask.to(at::kDouble), 0.5, true);
  EXPECT_EQ(result.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::allclose(result, unfused(q64, k64, v64, mask.to(at::kDouble), 2.0, true), 1e-12, 1e-12));
  // Batch dimensions that broadcast, a mask that needs more than broadcasting,
  // an operand that needs autograd, an expanded (stride 0) operand.
  at::Tensor sharedKey = heads.keyT.narrow(0, 0, 1);
  EXPECT_FALSE(attentionKernelApplies(heads.query, sharedKey, heads.value, c10::nullopt, false));
  expectClose(attention(heads.query, sharedKey, heads.value, c10::nullopt, 1.0, false),
              unfused(heads.query, sharedKey, heads.value, at::Tensor(), 1.0, false));
  EXPECT_FALSE(attentionKernelApplies(heads.query, heads.keyT, heads.value, at::randn({3, 1, 1, 6}), false));
  at::Tensor withGrad = heads.query.detach().clone().requires_grad_(true);
  EXPECT_FALSE(attentionKernelApplies(withGrad, heads.keyT, heads.value, c10::nullopt, false));
  at::Tensor expanded = at::randn({1, 3, 6, 4}).expand({2, 3, 6, 4});
  EXPECT_FALSE(attentionKernelApplies(expanded, heads.keyT, heads.value, c10::nullopt, false));
  expectClose(attention(expanded, heads.keyT, heads.value, mask, 0.5, false),
              unfused(expanded, heads.keyT, heads.value, mask, 2.0, false));
  // permute_output needs 4-D operands.
  at::Tensor q3 = at::randn({3, 6, 4}), k3 = at::randn({3, 4, 6}), v3 = at::randn({3, 6, 4});
  EXPECT_FALSE(attentionKernelApplies(q3, k3, v3, c10::nullopt, true));
}

at::Tensor roundedToBf16(const at::Tensor& tensor) { return tensor.to(at::kBFloat16).to(at::kFloat); }

/// What tsopt::attention_bf16 computes, in ATen ops: operands and probabilities
/// rounded to bf16, everything else float32.
at::Tensor bf16Reference(const at::Tensor& query, const at::Tensor& keyT, const at::Tensor& value,
                         const at::Tensor& mask, double divisor, bool permute) {
  at::Tensor scores = at::div(at::matmul(roundedToBf16(query), roundedToBf16(keyT)), divisor);
  if (mask.defined()) {
    scores = at::add(scores, mask);
  }
  at::Tensor context = at::matmul(roundedToBf16(at::softmax(scores, -1)), roundedToBf16(value));
  return permute ? context.permute({0, 2, 1, 3}) : context;
}

// The bf16 kernel is as far from float32 as the same roundings in ATen are
// (not bit for bit: oneDNN's softmax rounds probabilities near a bf16 boundary
// differently): maximum and mean absolute error within 1.25x of the ATen
// roundings' (measured 0.97-1.06x), cosine to float32 above 0.9999. Without a
// native bf16 matmul the float32 kernel runs, and the results are float32's.
TEST(AttentionTest, Bf16KernelMatchesBf16RoundingOnBertLayouts) {
  at::manual_seed(3);
  for (int64_t seq : {16, 33, 128}) {
    Heads heads = bertHeads(2, 4, seq, seq, 64, 64);
    at::Tensor padding = (at::rand({2, 1, 1, seq}) < 0.3).to(at::kFloat) * -10000.0;
    for (const at::Tensor& mask : {at::Tensor(), padding}) {
      c10::optional<at::Tensor> maybeMask = mask.defined() ? c10::optional<at::Tensor>(mask) : c10::nullopt;
      for (bool permute : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "seq " << seq << " mask " << mask.defined() << " permute " << permute);
        at::Tensor fused =
            attention(heads.query, heads.keyT, heads.value, maybeMask, 0.125, permute, AttentionPrecision::BFloat16);
        at::Tensor exact = unfused(heads.query, heads.keyT, heads.value, mask, 8.0, permute);
        if (!attentionKernelApplies(heads.query, heads.keyT, heads.value, maybeMask, permute,
                                    AttentionPrecision::BFloat16)) {
          expectClose(fused, exact);
          continue;
        }
        at::Tensor rounded = bf16Reference(heads.query, heads.keyT, heads.value, mask, 8.0, permute);
        ASSERT_EQ(fused.sizes(), rounded.sizes());
        at::Tensor fusedError = (fused - exact).abs();
        at::Tensor roundedError = (rounded - exact).abs();
        EXPECT_LE(fusedError.max().item<double>(), 1.25 * roundedError.max().item<double>());
        EXPECT_LE(fusedError.mean().item<double>(), 1.25 * roundedError.mean().item<double>());
        EXPECT_GT(at::cosine_similarity(fused.flatten(), exact.flatten(), 0).item<double>(), 0.9999);
        if (permute) {
          EXPECT_TRUE(fused.is_contiguous());
        }
      }
    }
  }
}

TEST(AttentionTest, Bf16UnsupportedInputsTakeTheFloatPaths) {
  at::manual_seed(4);
  Heads heads = bertHeads(2, 3, 6, 6, 4, 4);
  at::Tensor q64 = heads.query.to(at::kDouble), k64 = heads.keyT.to(at::kDouble), v64 = heads.value.to(at::kDouble);
  EXPECT_FALSE(attentionKernelApplies(q64, k64, v64, c10::nullopt, true, AttentionPrecision::BFloat16));
  at::Tensor result = attention(q64, k64, v64, c10::nullopt, 0.5, true, AttentionPrecision::BFloat16);
  EXPECT_EQ(result.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::allclose(result, unfused(q64, k64, v64, at::Tensor(), 2.0, true), 1e-12, 1e-12));
  at::Tensor sharedKey = heads.keyT.narrow(0, 0, 1);
  EXPECT_FALSE(attentionKernelApplies(heads.query, sharedKey, heads.value, c10::nullopt, false,
                                      AttentionPrecision::BFloat16));
  expectClose(attention(heads.query, sharedKey, heads.value, c10::nullopt, 1.0, false, AttentionPrecision::BFloat16),
              unfused(heads.query, sharedKey, heads.value, at::Tensor(), 1.0, false));
}

TEST(AttentionTest, ShapeErrorsAreAtensErrors) {
  at::Tensor query = at::randn({2, 3, 5, 4});
  at::Tensor keyT = at::randn({2, 3, 7, 5});  // inner dimensions disagree (4 vs 7)
  at::Tensor value = at::randn({2, 3, 5, 4});
  EXPECT_FALSE(attentionKernelApplies(query, keyT, value, c10::nullopt, false));
  EXPECT_THROW(attention(query, keyT, value, c10::nullopt, 1.0, false), c10::Error);
}

/// PyTorch's scaled_dot_product_attention (2.x only), through the dispatcher.
at::Tensor atenSdpa(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value, const at::Tensor& mask,
                    c10::optional<double> scale, bool isCausal = false) {
  auto op = c10::Dispatcher::singleton().findSchemaOrThrow("aten::scaled_dot_product_attention", "");
  std::vector<c10::IValue> stack{query, key, value, mask.defined() ? c10::IValue(mask) : c10::IValue(), 0.0, isCausal,
                                 scale ? c10::IValue(*scale) : c10::IValue()};
  while (stack.size() < op.schema().arguments().size()) {
    stack.emplace_back(false);
  }
  op.callBoxed(&stack);
  return stack.back().toTensor();
}

bool hasAtenSdpa() { return c10::Dispatcher::singleton().findOp({"aten::scaled_dot_product_attention", ""}).has_value(); }

TEST(AttentionTest, MaskRowsWithoutKeysAreFoundThroughBroadcastStrides) {
  const float inf = std::numeric_limits<float>::infinity();
  at::Tensor padding = at::zeros({2, 1, 1, 5});
  EXPECT_FALSE(maskLeavesRowWithoutKeys(padding));
  padding[1][0][0].fill_(-inf);  // the second batch's keys all masked
  EXPECT_TRUE(maskLeavesRowWithoutKeys(padding));
  EXPECT_TRUE(maskLeavesRowWithoutKeys(padding.expand({2, 12, 7, 5})));
  at::Tensor partly = at::zeros({3, 4});
  partly.narrow(1, 0, 3).fill_(-inf);  // one key left in every row
  EXPECT_FALSE(maskLeavesRowWithoutKeys(partly));
  EXPECT_FALSE(maskLeavesRowWithoutKeys(partly.t().contiguous().t()));
  EXPECT_TRUE(maskLeavesRowWithoutKeys(partly.t().contiguous().t().narrow(1, 0, 3)));
  at::Tensor causal = at::ones({4, 4}, at::kBool).tril();
  EXPECT_FALSE(maskLeavesRowWithoutKeys(causal));
  EXPECT_TRUE(maskLeavesRowWithoutKeys(causal.triu(1)));  // the last row keeps nothing
  EXPECT_TRUE(maskLeavesRowWithoutKeys(at::zeros({1}, at::kBool)));
  EXPECT_FALSE(maskLeavesRowWithoutKeys(at::full({}, -1e30)));       // a finite bias masks nothing
  EXPECT_TRUE(maskLeavesRowWithoutKeys(at::zeros({2, 2}, at::kDouble)));  // other dtypes: ATen's path
  EXPECT_FALSE(maskLeavesRowWithoutKeys(at::zeros({0, 3})));
}

// tsopt::sdp_attention against PyTorch's op: float, boolean and no masks, the
// scale given or not, the heads permuted back or not, within float32
// reassociation (1e-5); rows the mask leaves without keys are 0, as PyTorch's.
TEST(AttentionTest, ScaledDotProductAttentionMatchesPyTorchs) {
  if (!hasAtenSdpa()) {
    GTEST_SKIP() << "this LibTorch has no aten::scaled_dot_product_attention";
  }
  at::manual_seed(5);
  const float inf = std::numeric_limits<float>::infinity();
  Heads heads = bertHeads(2, 4, 9, 11, 8, 6);
  at::Tensor key = heads.keyT.transpose(-1, -2);
  at::Tensor keep = at::rand({2, 1, 9, 11}) < 0.7;
  keep.select(3, 0).fill_(true);  // every row keeps a key
  at::Tensor noKeys = keep.clone();
  noKeys[1][0][3].fill_(false);  // one row of the second batch keeps none
  at::Tensor additive = at::where(keep, at::zeros({}), at::full({}, -inf));
  struct Case {
    const char* what;
    at::Tensor mask, additive;  ///< what the kernel adds (undefined: no mask, or ATen's path)
    bool kernel;
  };
  at::Tensor floatMask = at::randn({2, 1, 1, 11});
  const std::vector<Case> cases = {
      {"none", at::Tensor(), at::Tensor(), true},
      {"float", floatMask, floatMask, true},
      {"bool", keep, additive, true},
      {"-inf", additive, additive, true},
      {"bool, a row without keys", noKeys, at::Tensor(), false},
      {"-inf, a row without keys", at::where(noKeys, at::zeros({}), at::full({}, -inf)), at::Tensor(), false}};
  for (const auto& [what, mask, kernelMask, kernel] : cases) {
    for (c10::optional<double> scale : {c10::optional<double>(), c10::optional<double>(0.3)}) {
      for (bool permute : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "mask " << what << " scale " << (scale ? *scale : -1.0) << " permute "
                                          << permute);
        c10::optional<at::Tensor> maybeMask = mask.defined() ? c10::optional<at::Tensor>(mask) : c10::nullopt;
        at::Tensor fused = scaledDotProductAttention(heads.query, key, heads.value, maybeMask, false, scale, permute);
        at::Tensor expected = atenSdpa(heads.query, key, heads.value, mask, scale);
        expectClose(fused, permute ? expected.permute({0, 2, 1, 3}) : expected);
        EXPECT_FALSE(fused.isnan().any().item<bool>());
        // Which path ran: the kernel's result bit for bit, or PyTorch's.
        if (kernel) {
          c10::optional<at::Tensor> added =
              kernelMask.defined() ? c10::optional<at::Tensor>(kernelMask) : c10::nullopt;
          ASSERT_TRUE(attentionKernelApplies(heads.query, heads.keyT, heads.value, added, permute));
          EXPECT_TRUE(at::equal(fused, attention(heads.query, heads.keyT, heads.value, added,
                                                 scale ? *scale : 1.0 / std::sqrt(8.0), permute)));
        } else {
          EXPECT_TRUE(at::equal(fused, permute ? expected.permute({0, 2, 1, 3}).contiguous() : expected));
        }
        if (permute) {
          EXPECT_TRUE(fused.is_contiguous());
        }
        at::Tensor bf16 = scaledDotProductAttention(heads.query, key, heads.value, maybeMask, false, scale, permute,
                                                    AttentionPrecision::BFloat16);
        at::Tensor reference = permute ? expected.permute({0, 2, 1, 3}) : expected;
        EXPECT_TRUE(at::allclose(bf16, reference, 0.05, 0.05)) << (bf16 - reference).abs().max().item<double>();
      }
    }
  }
}

TEST(AttentionTest, ScaledDotProductAttentionLeavesOtherDtypesAndErrorsToPyTorch) {
  if (!hasAtenSdpa()) {
    GTEST_SKIP() << "this LibTorch has no aten::scaled_dot_product_attention";
  }
  at::manual_seed(6);
  Heads heads = bertHeads(1, 2, 4, 4, 8, 8);
  at::Tensor q64 = heads.query.to(at::kDouble), k64 = heads.keyT.transpose(-1, -2).to(at::kDouble),
             v64 = heads.value.to(at::kDouble);
  at::Tensor result = scaledDotProductAttention(q64, k64, v64, c10::nullopt, false, c10::nullopt, false);
  EXPECT_EQ(result.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::allclose(result, atenSdpa(q64, k64, v64, at::Tensor(), c10::nullopt), 1e-12, 1e-12));
  at::Tensor wrongKey = at::randn({1, 2, 4, 5});  // query's last size is 8
  EXPECT_THROW(scaledDotProductAttention(heads.query, wrongKey, heads.value, c10::nullopt, false, c10::nullopt, false),
               c10::Error);
  // is_causal with a mask is PyTorch's error too.
  at::Tensor key = heads.keyT.transpose(-1, -2);
  EXPECT_THROW(scaledDotProductAttention(heads.query, key, heads.value, at::zeros({4, 4}), true, c10::nullopt, false),
               c10::Error);
}

// is_causal: PyTorch's lower-triangular mask aligned at the top left, for
// square problems and for fewer or more queries than keys, on the kernel
// (bit-equal to attention() with that mask added) and within 1e-5 of PyTorch's.
TEST(AttentionTest, CausalScaledDotProductAttentionMatchesPyTorchs) {
  if (!hasAtenSdpa()) {
    GTEST_SKIP() << "this LibTorch has no aten::scaled_dot_product_attention";
  }
  at::manual_seed(7);
  const float inf = std::numeric_limits<float>::infinity();
  for (auto [queries, keys] : std::vector<std::pair<int64_t, int64_t>>{{9, 9}, {5, 9}, {9, 5}, {1, 7}}) {
    SCOPED_TRACE(::testing::Message() << queries << " queries, " << keys << " keys");
    Heads heads = bertHeads(2, 3, queries, keys, 8, 8);
    at::Tensor key = heads.keyT.transpose(-1, -2);
    for (bool permute : {false, true}) {
      at::Tensor fused = scaledDotProductAttention(heads.query, key, heads.value, c10::nullopt, true, c10::nullopt,
                                                   permute);
      at::Tensor expected = atenSdpa(heads.query, key, heads.value, at::Tensor(), c10::nullopt, true);
      expectClose(fused, permute ? expected.permute({0, 2, 1, 3}) : expected);
      at::Tensor tril = at::full({queries, keys}, -inf).triu(1);
      EXPECT_TRUE(at::equal(fused, attention(heads.query, heads.keyT, heads.value, tril, 1.0 / std::sqrt(8.0),
                                             permute)));
    }
  }
}

} // namespace
} // namespace tsopt::runtime
