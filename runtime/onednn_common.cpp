#include "runtime/onednn_common.h"
#include "runtime/output_pool.h"

#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>
#include <c10/util/hash.h>

#include <mutex>
#include <set>
#include <thread>
#include <utility>

namespace tsopt::runtime {

// One eltwise post-op for most activations; two where oneDNN 2.6 has
// no single algorithm for PyTorch's function.
void appendActivation(dnnl::post_ops& ops, const Activation& activation) {
  using dnnl::algorithm;
  const auto alpha = static_cast<float>(activation.alpha);
  const auto beta = static_cast<float>(activation.beta);
  switch (activation.kind) {
  case ActivationKind::None:
    return;
  case ActivationKind::Relu:
    ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
    return;
  case ActivationKind::LeakyRelu:
    ops.append_eltwise(1.f, algorithm::eltwise_relu, alpha, 0.f);
    return;
  case ActivationKind::Clamp:
    ops.append_eltwise(1.f, algorithm::eltwise_clip_v2, alpha, beta);
    return;
  case ActivationKind::Silu:
    // swish is x * sigmoid(alpha * x): silu is alpha = 1.
    ops.append_eltwise(1.f, algorithm::eltwise_swish, 1.f, 0.f);
    return;
  case ActivationKind::Hardswish:
    ops.append_eltwise(1.f, algorithm::eltwise_hardswish, 0.f, 0.f);
    return;
  case ActivationKind::Hardsigmoid:
    // relu6(x + 3) / 6 = clip(x / 6 + 1/2, 0, 1): 2.6 has no hardsigmoid.
    ops.append_eltwise(1.f, algorithm::eltwise_linear, 1.f / 6.f, 0.5f);
    ops.append_eltwise(1.f, algorithm::eltwise_clip_v2, 0.f, 1.f);
    return;
  case ActivationKind::Gelu:
    ops.append_eltwise(1.f, algorithm::eltwise_gelu_erf, 0.f, 0.f);
    return;
  case ActivationKind::GeluTanh:
    ops.append_eltwise(1.f, algorithm::eltwise_gelu_tanh, 0.f, 0.f);
    return;
  case ActivationKind::Sigmoid:
    ops.append_eltwise(1.f, algorithm::eltwise_logistic, 0.f, 0.f);
    return;
  case ActivationKind::Tanh:
    ops.append_eltwise(1.f, algorithm::eltwise_tanh, 0.f, 0.f);
    return;
  case ActivationKind::Elu:
    ops.append_eltwise(1.f, algorithm::eltwise_elu, alpha, 0.f);
    return;
  case ActivationKind::Mish:
    ops.append_eltwise(1.f, algorithm::eltwise_mish, 0.f, 0.f);
    return;
  case ActivationKind::Abs:
    ops.append_eltwise(1.f, algorithm::eltwise_abs, 0.f, 0.f);
    return;
  case ActivationKind::Exp:
    ops.append_eltwise(1.f, algorithm::eltwise_exp, 0.f, 0.f);
    return;
  case ActivationKind::Square:
    ops.append_eltwise(1.f, algorithm::eltwise_square, 0.f, 0.f);
    return;
  case ActivationKind::LogSigmoid:
    ops.append_eltwise(1.f, algorithm::eltwise_logsigmoid, 0.f, 0.f);
    return;
  case ActivationKind::Softplus:
    // log(1 + exp(beta x)) / beta. 2.6's soft_relu has no beta and no
    // threshold: parseActivation admits only thresholds past which the two agree
    // in float32. The 1 / beta is the soft_relu's scale, not a second linear
    // post-op: 2.6's AVX2 kernels gave two linear post-ops the first one's alpha.
    ops.append_eltwise(1.f, algorithm::eltwise_linear, alpha, 0.f);
    ops.append_eltwise(1.f / alpha, algorithm::eltwise_soft_relu, 0.f, 0.f);
    return;
  }
  TORCH_CHECK(false, "tsopt: no oneDNN post-op for this activation");
}

bool isPlainFloat(const at::Tensor& tensor) {
  return tensor.defined() && tensor.device().is_cpu() && tensor.layout() == at::kStrided &&
         tensor.scalar_type() == at::kFloat;
}

bool needsAutograd(const at::Tensor& tensor) { return at::GradMode::is_enabled() && tensor.requires_grad(); }

dnnl::engine& cpuEngine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& threadStream() {
  thread_local dnnl::stream stream(cpuEngine());
  return stream;
}

void appendEpilogue(dnnl::post_ops& ops, const Activation& activation, ResidualAdd residual, float sumScale) {
  if (residual == ResidualAdd::BeforeActivation) {
    ops.append_sum(sumScale);
  }
  appendActivation(ops, activation);
  if (residual == ResidualAdd::AfterActivation) {
    ops.append_sum(sumScale);
  }
}

dnnl::primitive_attr fusedAttr(const Activation& activation, ResidualAdd residual, float sumScale) {
  dnnl::post_ops ops;
  appendEpilogue(ops, activation, residual, sumScale);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::memory::dims convWeightDims(at::IntArrayRef weightSizes, int64_t groups, bool transposed) {
  dnnl::memory::dims dims = dimsOf(weightSizes);
  if (transposed) {
    std::swap(dims[0], dims[1]);  // (out / groups, in, k...)
  }
  if (groups == 1) {
    return dims;
  }
  dnnl::memory::dims grouped{groups, transposed ? dims[0] : dims[0] / groups, transposed ? dims[1] / groups : dims[1]};
  grouped.insert(grouped.end(), dims.begin() + 2, dims.end());
  return grouped;
}

dnnl::memory viewAsMemory(const at::Tensor& tensor, const dnnl::memory::desc& desc) {
  return dnnl::memory(desc, cpuEngine(), tensor.data_ptr());
}

int64_t parallelForThreads(int64_t tasks) {
  std::mutex mutex;
  std::set<std::thread::id> threads;
  at::parallel_for(0, tasks, 1, [&](int64_t, int64_t) {
    std::lock_guard<std::mutex> lock(mutex);
    threads.insert(std::this_thread::get_id());
  });
  return static_cast<int64_t>(threads.size());
}

namespace {

/// to = scale * from, split over threads as ATen splits elementwise ops
/// (at::internal::GRAIN_SIZE, not in every LibTorch's headers).
void scaleInto(float* to, const float* from, int64_t count, float scale) {
  at::parallel_for(0, count, /*grain_size=*/32768, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      to[i] = scale * from[i];
    }
  });
}

} // namespace

at::Tensor accumulatorFor(at::Tensor residual, at::MemoryFormat format, double scale, const at::Tensor& second,
                          double secondScale) {
  at::Tensor sum;
  if (residual.use_count() == 1 && residual.storage().use_count() == 1 && residual.is_contiguous(format)) {
    sum = scale == 1.0 ? std::move(residual) : residual.mul_(scale);
  } else {
    sum = emptyOutput(residual.sizes(), residual.options(), format);
    if (scale == 1.0 && second.defined()) {
      return at::add_out(sum, residual, second, secondScale);  // one pass, not a copy and an add
    }
    if (scale == 1.0) {
      sum.copy_(residual);
    } else if (residual.scalar_type() == at::kFloat && residual.is_contiguous(format)) {
      // A plain loop: ATen's mul_out with a scalar tensor made for the call
      // cost a few microseconds of a 33 us linear layer (linear(x) - r, 32 rows).
      scaleInto(sum.data_ptr<float>(), residual.data_ptr<float>(), residual.numel(), static_cast<float>(scale));
    } else {
      at::mul_out(sum, residual, at::scalar_tensor(scale, residual.options()));
    }
  }
  return second.defined() ? sum.add_(second, secondScale) : sum;
}

bool secondResidualFits(const at::Tensor& second, const at::Tensor& residual) {
  return !second.defined() || (isPlainFloat(second) && !needsAutograd(second) && second.sizes() == residual.sizes());
}

dnnl::memory threadBuffer(BufferSlot slot, const dnnl::memory::desc& desc) {
  thread_local std::array<at::Tensor, 3> buffers;
  at::Tensor& buffer = buffers[static_cast<size_t>(slot)];
  const int64_t bytes = static_cast<int64_t>(desc.get_size());
  if (!buffer.defined() || buffer.numel() < bytes) {
    buffer = at::empty({bytes}, at::kByte);
  }
  return viewAsMemory(buffer, desc);
}

void addScratchpad(const dnnl::memory::desc& desc, std::unordered_map<int, dnnl::memory>& args) {
  if (desc.get_size() != 0) {
    args.emplace(DNNL_ARG_SCRATCHPAD, threadBuffer(BufferSlot::Scratchpad, desc));
  }
}

dnnl::memory PackedWeights::in(const dnnl::memory::desc& layout) {
  for (const dnnl::memory& pack : packs_) {
    if (pack.get_desc() == layout) {
      return pack;
    }
  }
  dnnl::memory plain(plainDesc_, cpuEngine(), plain_.data_ptr());
  dnnl::memory pack(layout, cpuEngine());
  dnnl::reorder(plain, pack).execute(threadStream(), plain, pack);
  threadStream().wait();
  packs_.push_back(pack);
  return pack;
}

size_t ProblemKeyHash::operator()(const ProblemKey& key) const {
  size_t hash = c10::get_hash(key.threads, static_cast<int>(key.activation.kind), key.activation.alpha,
                              key.activation.beta, static_cast<int>(key.residual), key.residualScale,
                              key.contiguousLayout, key.blockedLayout);
  for (int64_t extent : key.shape) {
    hash = c10::hash_combine(hash, std::hash<int64_t>()(extent));
  }
  return hash;
}

} // namespace tsopt::runtime
