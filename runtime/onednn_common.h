//===- onednn_common.h - oneDNN plumbing shared by the packed layers ------===//
///
/// Internal to the runtime library. oneDNN is the one LibTorch links (same
/// libdnnl.so, same OpenMP runtime), so a primitive runs on the OpenMP threads
/// ATen uses and honours at::set_num_threads without any setting of ours.
///
//===----------------------------------------------------------------------===//
#pragma once

#include "runtime/activation.h"
#include "runtime/keyed_cache.h"

#include <ATen/core/Tensor.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tsopt::runtime {

inline dnnl::memory::dims dimsOf(at::IntArrayRef sizes) { return dnnl::memory::dims(sizes.begin(), sizes.end()); }

/// A dense float32 CPU tensor: what the kernels take (any strides; they copy to their layout).
bool isPlainFloat(const at::Tensor& tensor);
/// Whether autograd must see the computation (the kernels have no backward).
bool needsAutograd(const at::Tensor& tensor);

dnnl::engine& cpuEngine();
/// A stream per calling thread: streams are cheap but not free to create.
dnnl::stream& threadStream();

/// Post-ops computing activation(result [+ sumScale * what dst already holds]),
/// or activation(result) + sumScale * what dst holds for
/// ResidualAdd::AfterActivation, with the scratchpad passed in by the caller. A
/// residual add is a sum post-op into a destination that holds the residual:
/// faster than a binary post-op in oneDNN 2.6 (1x1 convolutions take a slow
/// path with a binary post-op). oneDNN applies post-ops in the order given, so
/// the sum goes before or after the eltwise.
dnnl::primitive_attr fusedAttr(const Activation& activation, ResidualAdd residual, float sumScale = 1.f);
/// Appends `activation` as an eltwise post-op (nothing for "none").
void appendActivation(dnnl::post_ops& ops, const Activation& activation);
/// Appends fusedAttr's epilogue (the activation, the residual's sum before or after it) to `ops`.
void appendEpilogue(dnnl::post_ops& ops, const Activation& activation, ResidualAdd residual, float sumScale = 1.f);

/// Whether oneDNN picked its reference implementation (plain loops, slow).
template <typename PrimitiveDesc> bool isReferenceImplementation(const PrimitiveDesc& pd) {
  return std::string(pd.impl_info_str()).rfind("ref", 0) == 0;
}

/// The primitive descriptor `create(attr)` returns for fusedAttr(activation,
/// residual, sumScale). `sumScale` is the residual's scale (aten::add's alpha,
/// -1 for a subtraction); on return, the scale the primitive's sum post-op
/// applies, which the caller divides out of the residual it accumulates into:
/// 1 where oneDNN has no optimized kernel with that scale (2.6's AVX2
/// convolutions take a sum at scale 1 only), so the caller scales the residual
/// itself. oneDNN 2.6 has no optimized kernel for a few layers (small grouped
/// convolutions) with a sum post-op after an eltwise one and would run its
/// slow reference implementation; those get the eltwise post-op alone, and
/// `sumSeparately` tells the caller to add the residual itself (sumScale 1).
template <typename PrimitiveDesc, typename Create>
PrimitiveDesc fusedPrimitiveDesc(Create&& create, const Activation& activation, ResidualAdd residual,
                                 float& sumScale, bool& sumSeparately) {
  if (residual == ResidualAdd::None) {
    sumScale = 1.f;
  }
  PrimitiveDesc pd = create(fusedAttr(activation, residual, sumScale));
  if (sumScale != 1.f && isReferenceImplementation(pd)) {
    sumScale = 1.f;
    pd = create(fusedAttr(activation, residual));
  }
  sumSeparately = residual == ResidualAdd::AfterActivation && isReferenceImplementation(pd);
  return sumSeparately ? create(fusedAttr(activation, ResidualAdd::None)) : pd;
}

/// The same with the residual at scale 1.
template <typename PrimitiveDesc, typename Create>
PrimitiveDesc fusedPrimitiveDesc(Create&& create, const Activation& activation, ResidualAdd residual,
                                 bool& sumSeparately) {
  float sumScale = 1.f;
  return fusedPrimitiveDesc<PrimitiveDesc>(std::forward<Create>(create), activation, residual, sumScale,
                                           sumSeparately);
}

/// The tensor a kernel with a sum post-op writes into: `residual` itself when
/// nothing can observe the write (the caller moved in its last reference, as
/// TorchScript's interpreter does for a value's last use; no view shares its
/// storage; it is dense in `format`); otherwise a copy in `format`. Either
/// holds `scale` times the residual (1 where the sum post-op applies the
/// residual's scale itself: no pass of its own in place, a plain copy
/// otherwise), plus `secondScale` times `second` if defined (two sums into one
/// layer: the residuals are summed first, a float reassociation), so the sum
/// post-op stays one primitive.
at::Tensor accumulatorFor(at::Tensor residual, at::MemoryFormat format, double scale = 1.0,
                          const at::Tensor& second = at::Tensor(), double secondScale = 1.0);
/// Whether the kernels can add `second` to an accumulator for `residual`:
/// undefined, or a float32 CPU tensor of the residual's sizes that needs no autograd.
bool secondResidualFits(const at::Tensor& second, const at::Tensor& residual);

/// A convolution weight's dimensions for oneDNN: (out, in, k...), or
/// (groups, out / groups, in / groups, k...) with groups. A transposed
/// convolution's PyTorch weight is (in, out / groups, k...).
dnnl::memory::dims convWeightDims(at::IntArrayRef weightSizes, int64_t groups, bool transposed = false);

/// A float32 tensor's memory seen by oneDNN, without a copy.
dnnl::memory viewAsMemory(const at::Tensor& tensor, const dnnl::memory::desc& desc);

/// How many distinct threads at::parallel_for runs `tasks` one-item tasks on
/// when the runtime's code calls it: at::get_num_threads() (at most `tasks`)
/// when the runtime is built with OpenMP, as it must be; 1 if not.
int64_t parallelForThreads(int64_t tasks);
/// The scratchpad a primitive asked for as an execute() argument, in a buffer
/// each thread keeps and grows; nothing when the primitive needs none.
void addScratchpad(const dnnl::memory::desc& desc, std::unordered_map<int, dnnl::memory>& args);

/// Per-thread buffers a kernel uses between its own steps (one primitive runs
/// at a time on a thread, and fresh allocations cost page faults).
enum class BufferSlot { Scratchpad, BlockedSource, BlockedDestination };
/// The calling thread's buffer for `slot`, at least `desc`'s size, as memory of that layout.
dnnl::memory threadBuffer(BufferSlot slot, const dnnl::memory::desc& desc);

/// One float32 weight tensor and the layouts oneDNN asked for it in: each
/// reorder happens once, on the first call that needs the layout, never per call.
class PackedWeights {
public:
  PackedWeights(at::Tensor plain, dnnl::memory::desc plainDesc)
      : plain_(std::move(plain)), plainDesc_(std::move(plainDesc)) {}
  /// The weights in `layout`; the caller holds the owner's lock.
  dnnl::memory in(const dnnl::memory::desc& layout);

private:
  at::Tensor plain_;
  dnnl::memory::desc plainDesc_;
  std::vector<dnnl::memory> packs_;
};

/// What identifies a primitive besides the layer: input shape, post-ops and the
/// thread count it was created for (oneDNN tunes its blocking to it).
struct ProblemKey {
  std::array<int64_t, 5> shape{};  ///< Input sizes (a linear layer's: rows only).
  int threads = 0;
  Activation activation;
  ResidualAdd residual = ResidualAdd::None;
  double residualScale = 1.0;  ///< The sum post-op's scale, when oneDNN takes it.
  /// Convolutions: the activations stay in the contiguous layout (NCHW,
  /// NCDHW) instead of channels-last.
  bool contiguousLayout = false;
  /// 2-D convolutions: the activations are in oneDNN's nChw16c layout (ConvPacked::run's blocked tensors).
  bool blockedLayout = false;

  bool operator==(const ProblemKey& other) const {
    return shape == other.shape && threads == other.threads && activation == other.activation &&
           residual == other.residual && residualScale == other.residualScale &&
           contiguousLayout == other.contiguousLayout && blockedLayout == other.blockedLayout;
  }
};

struct ProblemKeyHash {
  size_t operator()(const ProblemKey& key) const;
};

/// A primitive ready to run: the weights are packed for it.
template <typename Primitive> struct PreparedPrimitive {
  Primitive primitive;
  dnnl::memory weights;
  dnnl::memory::desc src;
  dnnl::memory::desc dst;
  dnnl::memory::desc scratchpad;
  bool sumSeparately = false;  ///< See fusedPrimitiveDesc.
  float sumScale = 1.f;        ///< The scale the sum post-op applies (see fusedPrimitiveDesc).
};

/// The primitives of one packed layer, created on first use of each problem.
/// `Prepared` is a PreparedPrimitive or a struct extending one; `Key` a
/// ProblemKey or a key extending one (the int8 kernels add quantization parameters).
template <typename Prepared, typename Key = ProblemKey, typename KeyHash = ProblemKeyHash>
using PrimitiveCache = KeyedCache<Prepared, Key, KeyHash>;

} // namespace tsopt::runtime
