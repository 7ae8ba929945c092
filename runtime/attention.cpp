#include "runtime/attention.h"

#include "runtime/onednn_common.h"

#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/hash.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <unordered_map>
#include <vector>

namespace tsopt::runtime {
namespace {

using DataType = dnnl::memory::data_type;

/// Everything a set of primitives depends on: sizes and strides of every
/// operand, the scale's bits, the flags and the thread count.
using ProblemSignature = std::vector<int64_t>;

struct SignatureHash {
  size_t operator()(const ProblemSignature& signature) const {
    size_t hash = 0;
    for (int64_t word : signature) {
      hash = c10::hash_combine(hash, std::hash<int64_t>()(word));
    }
    return hash;
  }
};

/// The primitives of one attention problem; `usable` is false when oneDNN
/// offers only its reference implementation (the ATen path is faster), or for
/// bf16 no native bf16 matmul. The mask is a post-op of the first matmul where
/// oneDNN supports its broadcast, otherwise an in-place add before the softmax
/// (maskAdded false). With bf16 the operands are first reordered into dense
/// bf16 copies (`toBf16`, into `dense`), the softmax writes bf16 probabilities.
struct AttentionPrimitives {
  bool usable = false;
  bool maskAdded = false;
  dnnl::matmul scores;
  dnnl::primitive softmax;
  dnnl::matmul context;
  dnnl::memory::desc query, keyT, value, mask, scoresDesc, probabilities, output;
  dnnl::memory::desc scoresScratch, softmaxScratch, contextScratch;
  std::array<dnnl::reorder, 3> toBf16;
  std::array<dnnl::memory::desc, 3> dense;
};

dnnl::memory::desc stridedDesc(at::IntArrayRef sizes, at::IntArrayRef strides, DataType type = DataType::f32) {
  return dnnl::memory::desc(dimsOf(sizes), type, dimsOf(strides));
}

dnnl::memory::desc stridedDesc(const at::Tensor& tensor) { return stridedDesc(tensor.sizes(), tensor.strides()); }

/// Row-major strides of `sizes`.
std::vector<int64_t> denseStrides(at::IntArrayRef sizes) {
  std::vector<int64_t> strides(sizes.size(), 1);
  for (int64_t dim = static_cast<int64_t>(sizes.size()) - 2; dim >= 0; --dim) {
    strides[dim] = strides[dim + 1] * std::max<int64_t>(sizes[dim + 1], 1);
  }
  return strides;
}

/// Row-major strides for `tensor`'s sizes in the order of its own strides, as
/// empty_like keeps a permuted layout: a transposed key stays transposed, so
/// its bf16 copy is a plain conversion, not a transpose (twice the time).
std::vector<int64_t> denseStridesInOrderOf(const at::Tensor& tensor) {
  std::vector<int64_t> order(static_cast<size_t>(tensor.dim()));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return tensor.stride(a) > tensor.stride(b); });
  std::vector<int64_t> strides(order.size(), 1);
  int64_t stride = 1;
  for (auto dim = order.rbegin(); dim != order.rend(); ++dim) {
    strides[static_cast<size_t>(*dim)] = stride;
    stride *= std::max<int64_t>(tensor.size(*dim), 1);
  }
  return strides;
}

std::vector<int64_t> scoresSizes(const at::Tensor& query, const at::Tensor& keyT) {
  std::vector<int64_t> sizes(query.sizes().begin(), query.sizes().end());
  sizes.back() = keyT.size(-1);
  return sizes;
}

/// The mask's sizes with leading ones up to the scores' rank.
std::vector<int64_t> paddedMaskSizes(const at::Tensor& mask, size_t rank) {
  std::vector<int64_t> sizes(rank - static_cast<size_t>(mask.dim()), 1);
  sizes.insert(sizes.end(), mask.sizes().begin(), mask.sizes().end());
  return sizes;
}

/// Sizes of the result as the kernel lays it out (before the optional permutation).
std::vector<int64_t> contextSizes(const at::Tensor& query, const at::Tensor& value) {
  std::vector<int64_t> sizes(query.sizes().begin(), query.sizes().end());
  sizes.back() = value.size(-1);
  return sizes;
}

/// Strides that put a (batch, heads, rows, columns) result in memory as
/// (batch, rows, heads, columns): the layout permute(0, 2, 1, 3) makes dense.
std::vector<int64_t> permutedStrides(at::IntArrayRef sizes) {
  return {sizes[2] * sizes[1] * sizes[3], sizes[3], sizes[1] * sizes[3], 1};
}

bool hasBroadcastStride(const at::Tensor& tensor) {
  for (int64_t dim = 0; dim < tensor.dim(); ++dim) {
    if (tensor.stride(dim) == 0 && tensor.size(dim) > 1) {
      return true;
    }
  }
  return false;
}

bool isKernelOperand(const at::Tensor& tensor) {
  return isPlainFloat(tensor) && !needsAutograd(tensor) && tensor.numel() > 0 && !hasBroadcastStride(tensor);
}

void appendTensor(ProblemSignature& signature, const at::Tensor& tensor) {
  signature.push_back(tensor.dim());
  signature.insert(signature.end(), tensor.sizes().begin(), tensor.sizes().end());
  signature.insert(signature.end(), tensor.strides().begin(), tensor.strides().end());
}

bool isReference(const dnnl::primitive_desc_base& pd) {
  return std::string(pd.impl_info_str()).find("ref") != std::string::npos;
}

/// A bf16 matmul without bf16 hardware is emulated (gemm:jit): slower than float32.
bool isNativeBf16(const dnnl::primitive_desc_base& pd) {
  return std::string(pd.impl_info_str()).find("bf16") != std::string::npos;
}

AttentionPrimitives createPrimitives(const at::Tensor& query, const at::Tensor& keyT, const at::Tensor& value,
                                     const at::Tensor& mask, float scale, bool permuteOutput, bool maskPostOp,
                                     AttentionPrecision precision) {
  AttentionPrimitives result;
  const bool bf16 = precision == AttentionPrecision::BFloat16;
  const size_t rank = static_cast<size_t>(query.dim());
  std::vector<int64_t> scores = scoresSizes(query, keyT);
  result.query = stridedDesc(query);
  result.keyT = stridedDesc(keyT);
  result.value = stridedDesc(value);
  result.scoresDesc = stridedDesc(scores, denseStrides(scores));
  std::vector<int64_t> context = contextSizes(query, value);
  result.output = stridedDesc(context, permuteOutput ? permutedStrides(context) : denseStrides(context));

  dnnl::primitive_attr scoresAttr;
  scoresAttr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (scale != 1.f) {
    scoresAttr.set_output_scales(0, {scale});
  }
  if (mask.defined() && maskPostOp) {
    std::vector<int64_t> maskSizes = paddedMaskSizes(mask, rank);
    result.mask = stridedDesc(maskSizes, denseStrides(maskSizes));
    dnnl::post_ops ops;
    ops.append_binary(dnnl::algorithm::binary_add, result.mask);
    scoresAttr.set_post_ops(ops);
  }
  dnnl::primitive_attr plainAttr;
  plainAttr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  result.probabilities = bf16 ? stridedDesc(scores, denseStrides(scores), DataType::bf16) : result.scoresDesc;
  // The matmuls read the operands as given (float32), or their dense bf16 copies.
  std::array<dnnl::memory::desc, 3> operands{result.query, result.keyT, result.value};
  if (bf16) {
    const std::array<const at::Tensor*, 3> tensors{&query, &keyT, &value};
    for (size_t i = 0; i < tensors.size(); ++i) {
      result.dense[i] = stridedDesc(tensors[i]->sizes(), denseStridesInOrderOf(*tensors[i]), DataType::bf16);
      operands[i] = result.dense[i];
    }
  }
  try {
    dnnl::matmul::primitive_desc scoresPd(dnnl::matmul::desc(operands[0], operands[1], result.scoresDesc), scoresAttr,
                                          cpuEngine());
    dnnl::matmul::primitive_desc contextPd(dnnl::matmul::desc(result.probabilities, operands[2], result.output),
                                           plainAttr, cpuEngine());
    const dnnl::algorithm accurate = dnnl::algorithm::softmax_accurate;
    const dnnl::prop_kind inference = dnnl::prop_kind::forward_inference;
    const int axis = static_cast<int>(rank) - 1;
    std::unique_ptr<dnnl::primitive_desc> softmaxPd;
    if (bf16) {
      softmaxPd = std::make_unique<dnnl::softmax_v2_forward::primitive_desc>(
          dnnl::softmax_v2_forward::desc(inference, accurate, result.scoresDesc, result.probabilities, axis), plainAttr,
          cpuEngine());
    } else {
      softmaxPd = std::make_unique<dnnl::softmax_forward::primitive_desc>(
          dnnl::softmax_forward::desc(inference, result.scoresDesc, axis), plainAttr, cpuEngine());
    }
    if (isReference(scoresPd) || isReference(*softmaxPd) || isReference(contextPd) ||
        (bf16 && !(isNativeBf16(scoresPd) && isNativeBf16(contextPd)))) {
      return result;
    }
    if (bf16) {
      const std::array<dnnl::memory::desc, 3> sources{result.query, result.keyT, result.value};
      for (size_t i = 0; i < sources.size(); ++i) {
        dnnl::reorder::primitive_desc reorderPd(cpuEngine(), sources[i], cpuEngine(), result.dense[i]);
        if (isReference(reorderPd)) {
          return result;
        }
        result.toBf16[i] = dnnl::reorder(reorderPd);
      }
    }
    result.scores = dnnl::matmul(scoresPd);
    result.softmax = dnnl::primitive(*softmaxPd);
    result.context = dnnl::matmul(contextPd);
    result.scoresScratch = scoresPd.scratchpad_desc();
    result.softmaxScratch = softmaxPd->scratchpad_desc();
    result.contextScratch = contextPd.scratchpad_desc();
    result.usable = true;
    result.maskAdded = mask.defined() && maskPostOp;
  } catch (const dnnl::error&) {
    result.usable = false;  // oneDNN has no implementation for these strides or this broadcast.
  }
  return result;
}

/// The primitives for a problem, created on first use. Bounded: a program that
/// feeds ever new shapes starts over rather than growing without end.
std::shared_ptr<const AttentionPrimitives> primitivesFor(const at::Tensor& query, const at::Tensor& keyT,
                                                         const at::Tensor& value, const at::Tensor& mask,
                                                         float scale, bool permuteOutput,
                                                         AttentionPrecision precision) {
  ProblemSignature signature;
  for (const at::Tensor* tensor : {&query, &keyT, &value}) {
    appendTensor(signature, *tensor);
  }
  if (mask.defined()) {
    signature.insert(signature.end(), mask.sizes().begin(), mask.sizes().end());
  }
  int32_t scaleBits = 0;
  std::memcpy(&scaleBits, &scale, sizeof scaleBits);
  signature.insert(signature.end(), {mask.defined() ? mask.dim() : -1, scaleBits, permuteOutput ? 1 : 0,
                                     static_cast<int64_t>(at::get_num_threads()), static_cast<int64_t>(precision)});

  static std::mutex mutex;
  static std::unordered_map<ProblemSignature, std::shared_ptr<const AttentionPrimitives>, SignatureHash> cache;
  constexpr size_t kMaxProblems = 256;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = cache.find(signature);
  if (found != cache.end()) {
    return found->second;
  }
  if (cache.size() >= kMaxProblems) {
    cache.clear();
  }
  AttentionPrimitives primitives = createPrimitives(query, keyT, value, mask, scale, permuteOutput, true, precision);
  if (!primitives.usable && mask.defined()) {
    primitives = createPrimitives(query, keyT, value, mask, scale, permuteOutput, false, precision);
  }
  auto created = std::make_shared<const AttentionPrimitives>(std::move(primitives));
  cache.emplace(std::move(signature), created);
  return created;
}

bool maskBroadcasts(const at::Tensor& mask, at::IntArrayRef scores) {
  if (mask.dim() > static_cast<int64_t>(scores.size())) {
    return false;
  }
  const int64_t offset = static_cast<int64_t>(scores.size()) - mask.dim();
  for (int64_t dim = 0; dim < mask.dim(); ++dim) {
    if (mask.size(dim) != 1 && mask.size(dim) != scores[offset + dim]) {
      return false;
    }
  }
  return true;
}

/// The checks on the arguments alone (oneDNN may still decline the problem).
bool argumentsSupported(const at::Tensor& query, const at::Tensor& keyT, const at::Tensor& value,
                        const c10::optional<at::Tensor>& mask, bool permuteOutput) {
  if (!isKernelOperand(query) || !isKernelOperand(keyT) || !isKernelOperand(value)) {
    return false;
  }
  const int64_t rank = query.dim();
  if ((rank != 3 && rank != 4) || keyT.dim() != rank || value.dim() != rank || (permuteOutput && rank != 4)) {
    return false;
  }
  // Batch dimensions must agree exactly (ATen would broadcast them).
  if (query.sizes().slice(0, rank - 2) != keyT.sizes().slice(0, rank - 2) ||
      query.sizes().slice(0, rank - 2) != value.sizes().slice(0, rank - 2)) {
    return false;
  }
  if (keyT.size(-2) != query.size(-1) || value.size(-2) != keyT.size(-1)) {
    return false;
  }
  if (mask && mask->defined()) {
    if (!isPlainFloat(*mask) || needsAutograd(*mask) || !maskBroadcasts(*mask, scoresSizes(query, keyT))) {
      return false;
    }
  }
  return true;
}

at::Tensor denseMaskOf(const c10::optional<at::Tensor>& mask) {
  // The mask is small (BERT's: batch x 1 x 1 x keys); oneDNN reads it dense.
  return mask && mask->defined() ? mask->contiguous() : at::Tensor();
}

/// Whether some row along the last dimension of `mask` has `masked(element)`
/// for every element. A dimension of stride 0 repeats the same rows: only its
/// first index is visited. A row stops at its first element that is not masked.
template <typename Element, typename Masked> bool someRowAllMasked(const at::Tensor& mask, Masked masked) {
  if (mask.numel() == 0) {
    return false;
  }
  const Element* data = mask.data_ptr<Element>();
  const int64_t rank = mask.dim();
  const int64_t rowLength = rank == 0 ? 1 : mask.size(-1);
  const int64_t rowStride = rank == 0 ? 0 : mask.stride(-1);
  std::vector<int64_t> index(static_cast<size_t>(std::max<int64_t>(rank - 1, 0)), 0);
  while (true) {
    int64_t offset = 0;
    for (size_t d = 0; d < index.size(); ++d) {
      offset += index[d] * mask.stride(static_cast<int64_t>(d));
    }
    int64_t column = 0;
    while (column < rowLength && masked(data[offset + column * rowStride])) {
      ++column;
    }
    if (column == rowLength) {
      return true;
    }
    int64_t d = static_cast<int64_t>(index.size()) - 1;
    for (; d >= 0; --d) {
      if (mask.stride(d) != 0 && ++index[static_cast<size_t>(d)] < mask.size(d)) {
        break;
      }
      index[static_cast<size_t>(d)] = 0;
    }
    if (d < 0) {
      return false;
    }
  }
}

/// ATen's scaled_dot_product_attention, called through the dispatcher (the
/// op is PyTorch 2.x's; 2.5 added enable_gqa, passed false where the schema has it).
at::Tensor atenScaledDotProductAttention(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                                         const c10::optional<at::Tensor>& mask, bool isCausal,
                                         c10::optional<double> scale) {
  static const c10::OperatorHandle op =
      c10::Dispatcher::singleton().findSchemaOrThrow("aten::scaled_dot_product_attention", "");
  std::vector<c10::IValue> stack{query, key, value, mask && mask->defined() ? c10::IValue(*mask) : c10::IValue(),
                                 0.0, isCausal, scale ? c10::IValue(*scale) : c10::IValue()};
  while (stack.size() < op.schema().arguments().size()) {
    stack.emplace_back(false);
  }
  op.callBoxed(&stack);
  return stack.back().toTensor();
}

/// is_causal's mask as the kernel adds it: 0 where key column <= query row
/// (PyTorch's tril, aligned at the top left), -inf above. Kept per thread for
/// the last (rows, columns) asked.
at::Tensor causalMask(int64_t rows, int64_t columns) {
  thread_local at::Tensor mask;
  if (!mask.defined() || mask.size(0) != rows || mask.size(1) != columns) {
    mask = at::full({rows, columns}, -std::numeric_limits<float>::infinity(), at::kFloat).triu_(1);
  }
  return mask;
}

} // namespace

bool maskLeavesRowWithoutKeys(const at::Tensor& mask) {
  if (!mask.device().is_cpu()) {
    return true;
  }
  if (mask.scalar_type() == at::kBool) {
    return someRowAllMasked<bool>(mask, [](bool keep) { return !keep; });
  }
  if (mask.scalar_type() == at::kFloat) {
    return someRowAllMasked<float>(mask, [](float bias) { return bias == -std::numeric_limits<float>::infinity(); });
  }
  return true;
}

at::Tensor scaledDotProductAttention(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                                     const c10::optional<at::Tensor>& mask, bool isCausal,
                                     c10::optional<double> scale, bool permuteOutput, AttentionPrecision precision) {
  const bool hasMask = mask && mask->defined();
  const auto atenPath = [&] {
    at::Tensor result = atenScaledDotProductAttention(query, key, value, mask, isCausal, scale);
    return permuteOutput ? result.permute({0, 2, 1, 3}).contiguous() : result;
  };
  // is_causal with a mask is PyTorch's error; a causal problem with no keys is left to it as well.
  if (!query.device().is_cpu() || query.scalar_type() != at::kFloat || key.dim() < 2 || query.dim() < 2 ||
      (hasMask && (isCausal || maskLeavesRowWithoutKeys(*mask))) || (isCausal && key.size(-2) == 0)) {
    return atenPath();
  }
  c10::optional<at::Tensor> additive = mask;
  if (isCausal) {
    additive = causalMask(query.size(-2), key.size(-2));
  } else if (hasMask && mask->scalar_type() == at::kBool) {
    additive = at::zeros(mask->sizes(), query.options())
                   .masked_fill_(mask->logical_not(), -std::numeric_limits<float>::infinity());
  }
  at::Tensor keyT = key.transpose(-2, -1);
  if (!argumentsSupported(query, keyT, value, additive, permuteOutput)) {
    return atenPath();
  }
  const double applied = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(query.size(-1)));
  return attention(query, keyT, value, additive, applied, permuteOutput, precision);
}

bool attentionKernelApplies(const at::Tensor& query, const at::Tensor& keyT, const at::Tensor& value,
                            const c10::optional<at::Tensor>& mask, bool permuteOutput, AttentionPrecision precision) {
  return argumentsSupported(query, keyT, value, mask, permuteOutput) &&
         primitivesFor(query, keyT, value, denseMaskOf(mask), 1.f, permuteOutput, precision)->usable;
}

at::Tensor attentionReference(const at::Tensor& query, const at::Tensor& keyT, const at::Tensor& value,
                              const c10::optional<at::Tensor>& mask, double scale, bool permuteOutput) {
  at::Tensor scores = at::matmul(query, keyT);
  if (scale != 1.0) {
    scores = at::mul(scores, scale);
  }
  if (mask && mask->defined()) {
    scores = at::add(scores, *mask);
  }
  at::Tensor context = at::matmul(at::softmax(scores, -1), value);
  return permuteOutput ? context.permute({0, 2, 1, 3}).contiguous() : context;
}

at::Tensor attention(const at::Tensor& query, const at::Tensor& keyT, const at::Tensor& value,
                     const c10::optional<at::Tensor>& mask, double scale, bool permuteOutput,
                     AttentionPrecision precision) {
  if (!argumentsSupported(query, keyT, value, mask, permuteOutput)) {
    return attentionReference(query, keyT, value, mask, scale, permuteOutput);
  }
  at::Tensor denseMask = denseMaskOf(mask);
  auto primitives = primitivesFor(query, keyT, value, denseMask, static_cast<float>(scale), permuteOutput, precision);
  if (!primitives->usable && precision != AttentionPrecision::Float32) {
    return attention(query, keyT, value, mask, scale, permuteOutput, AttentionPrecision::Float32);
  }
  if (!primitives->usable) {
    return attentionReference(query, keyT, value, mask, scale, permuteOutput);
  }
  std::vector<int64_t> scoresShape = scoresSizes(query, keyT);
  at::Tensor scores = at::empty(scoresShape, query.options());
  std::vector<int64_t> contextShape = contextSizes(query, value);
  at::Tensor result = permuteOutput
                          ? at::empty({contextShape[0], contextShape[2], contextShape[1], contextShape[3]},
                                      query.options())
                          : at::empty(contextShape, query.options());

  dnnl::stream& stream = threadStream();
  std::array<dnnl::memory, 3> operands{viewAsMemory(query, primitives->query), viewAsMemory(keyT, primitives->keyT),
                                       viewAsMemory(value, primitives->value)};
  const bool bf16 = precision == AttentionPrecision::BFloat16;
  std::array<at::Tensor, 3> denseCopies;
  if (bf16) {
    const std::array<const at::Tensor*, 3> tensors{&query, &keyT, &value};
    for (size_t i = 0; i < operands.size(); ++i) {
      denseCopies[i] = at::empty_strided(tensors[i]->sizes(), denseStridesInOrderOf(*tensors[i]),
                                         query.options().dtype(at::kBFloat16));
      dnnl::memory dense = viewAsMemory(denseCopies[i], primitives->dense[i]);
      primitives->toBf16[i].execute(stream, operands[i], dense);
      operands[i] = dense;
    }
  }
  dnnl::memory scoresMemory = viewAsMemory(scores, primitives->scoresDesc);
  std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC, operands[0]}, {DNNL_ARG_WEIGHTS, operands[1]}, {DNNL_ARG_DST, scoresMemory}};
  if (primitives->maskAdded) {
    args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, viewAsMemory(denseMask, primitives->mask));
  }
  addScratchpad(primitives->scoresScratch, args);
  primitives->scores.execute(stream, args);
  if (denseMask.defined() && !primitives->maskAdded) {
    scores.add_(denseMask);
  }

  // float32: the softmax runs in place; bf16: it writes the probabilities as bf16.
  at::Tensor probabilities = bf16 ? at::empty(scoresShape, query.options().dtype(at::kBFloat16)) : scores;
  dnnl::memory probabilitiesMemory = bf16 ? viewAsMemory(probabilities, primitives->probabilities) : scoresMemory;
  args = {{DNNL_ARG_SRC, scoresMemory}, {DNNL_ARG_DST, probabilitiesMemory}};
  addScratchpad(primitives->softmaxScratch, args);
  primitives->softmax.execute(stream, args);

  args = {{DNNL_ARG_SRC, probabilitiesMemory},
          {DNNL_ARG_WEIGHTS, operands[2]},
          {DNNL_ARG_DST, viewAsMemory(result, primitives->output)}};
  addScratchpad(primitives->contextScratch, args);
  primitives->context.execute(stream, args);
  return result;
}

} // namespace tsopt::runtime
