//===- attention.h - Fused scaled dot-product attention ---------------------===//
///
/// The kernel behind tsopt::attention, which fuse-attention puts in place of
///
///   scores = matmul(query, key_t) * scale [+ mask]
///   result = matmul(softmax(scores, -1), value)        [.permute(0, 2, 1, 3)]
///
/// (BERT's self-attention; key_t is the key already transposed). The oneDNN
/// kernel reads query, key_t and value in whatever strides they have (the
/// permuted views of a projection's output need no copy), applies the scale
/// and the mask as post-ops of the first matmul, runs the softmax in place and
/// writes the second matmul straight into the permuted layout when asked, so
/// the `contiguous()` that usually follows finds nothing to do.
///
/// Anything the kernel does not cover (other dtypes, autograd, ranks other than
/// 3 or 4, batch dimensions that broadcast, a mask that does not broadcast to
/// the scores, a problem oneDNN would only run with its reference code) takes
/// the same computation through ATen ops.
///
//===----------------------------------------------------------------------===//
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

namespace tsopt::runtime {

/// What the two matmuls read. BFloat16 (tsopt::attention_bf16): query, key_t,
/// value and the softmax's probabilities rounded to bfloat16, products summed
/// in float32; scale, mask and softmax stay float32, and so does the result.
/// It runs only where oneDNN has a native bf16 matmul for the problem (AMX or
/// AVX512-BF16 brgemm); elsewhere the float32 kernel runs.
enum class AttentionPrecision { Float32, BFloat16 };

/// softmax(query @ key_t * scale + mask, dim=-1) @ value, the mask optional.
/// With permuteOutput (4-D operands only) the result is returned permuted
/// (0, 2, 1, 3) and contiguous: (batch, query rows, heads, value columns).
at::Tensor attention(const at::Tensor& query, const at::Tensor& keyT, const at::Tensor& value,
                     const c10::optional<at::Tensor>& mask, double scale, bool permuteOutput,
                     AttentionPrecision precision = AttentionPrecision::Float32);

/// The same through ATen ops: the fallback of attention().
at::Tensor attentionReference(const at::Tensor& query, const at::Tensor& keyT, const at::Tensor& value,
                              const c10::optional<at::Tensor>& mask, double scale, bool permuteOutput);

/// PyTorch 2.x's scaled_dot_product_attention(query, key, value, mask,
/// dropout_p=0, is_causal, scale) on the kernel above (behind
/// tsopt::sdp_attention, which fuse-attention puts in place of
/// aten::scaled_dot_product_attention): `key` as SDPA takes it (not
/// transposed), `mask` additive (float32) or boolean (true: the key takes
/// part), is_causal PyTorch's lower-triangular mask aligned at the top left
/// (added by the kernel as a -inf bias), `scale` 1/sqrt(query.size(-1)) when
/// absent. Where the mask leaves a
/// row of scores no key at all (all -inf, or all false), PyTorch's safe softmax
/// makes that row 0 where the kernel's softmax gives NaN: such calls run ATen's
/// own scaled_dot_product_attention, as do other devices and whatever the
/// kernel does not cover (a call attention() would hand to ATen ops).
/// permuteOutput as for attention().
at::Tensor scaledDotProductAttention(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                                     const c10::optional<at::Tensor>& mask, bool isCausal,
                                     c10::optional<double> scale, bool permuteOutput,
                                     AttentionPrecision precision = AttentionPrecision::Float32);

/// Whether `mask` (additive float32, or boolean) leaves some row of the
/// scores it is added to without any key: a row along its last dimension all
/// -inf (all false). Other dtypes count as yes (the caller takes ATen's path).
bool maskLeavesRowWithoutKeys(const at::Tensor& mask);

/// Whether attention() would use the oneDNN kernel of `precision` for these arguments.
bool attentionKernelApplies(const at::Tensor& query, const at::Tensor& keyT, const at::Tensor& value,
                            const c10::optional<at::Tensor>& mask, bool permuteOutput,
                            AttentionPrecision precision = AttentionPrecision::Float32);

} // namespace tsopt::runtime
