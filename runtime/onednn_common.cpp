#include "runtime/onednn_common.h"
#include "runtime/output_pool.h"

#include <ATen/Functions.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>
#include <c10/util/hash.h>

namespace tsopt::runtime {
namespace {

dnnl::algorithm eltwiseAlgorithm(ActivationKind kind) {
  switch (kind) {
  case ActivationKind::Relu:
    return dnnl::algorithm::eltwise_relu;
  case ActivationKind::Clamp:
    return dnnl::algorithm::eltwise_clip_v2;
  case ActivationKind::Silu:
    return dnnl::algorithm::eltwise_swish;
  case ActivationKind::Hardswish:
    return dnnl::algorithm::eltwise_hardswish;
  case ActivationKind::Gelu:
    return dnnl::algorithm::eltwise_gelu_erf;
  case ActivationKind::GeluTanh:
    return dnnl::algorithm::eltwise_gelu_tanh;
  case ActivationKind::Sigmoid:
    return dnnl::algorithm::eltwise_logistic;
  case ActivationKind::Tanh:
    return dnnl::algorithm::eltwise_tanh;
  case ActivationKind::None:
    break;
  }
  TORCH_CHECK(false, "tsopt: no oneDNN post-op for this activation");
}

} // namespace

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

dnnl::primitive_attr fusedAttr(const Activation& activation, ResidualAdd residual) {
  dnnl::post_ops ops;
  if (residual == ResidualAdd::BeforeActivation) {
    ops.append_sum(1.f);
  }
  if (activation.kind != ActivationKind::None) {
    // swish is x * sigmoid(alpha * x): silu is alpha = 1. The other
    // algorithms ignore alpha and beta, except clip_v2 (lower, upper bound).
    float alpha = activation.kind == ActivationKind::Silu ? 1.f : static_cast<float>(activation.alpha);
    ops.append_eltwise(1.f, eltwiseAlgorithm(activation.kind), alpha, static_cast<float>(activation.beta));
  }
  if (residual == ResidualAdd::AfterActivation) {
    ops.append_sum(1.f);
  }
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::memory viewAsMemory(const at::Tensor& tensor, const dnnl::memory::desc& desc) {
  return dnnl::memory(desc, cpuEngine(), tensor.data_ptr());
}

at::Tensor accumulatorFor(at::Tensor residual, at::MemoryFormat format) {
  if (residual.use_count() == 1 && residual.storage().use_count() == 1 && residual.is_contiguous(format)) {
    return residual;
  }
  at::Tensor copy = emptyOutput(residual.sizes(), residual.options(), format);
  copy.copy_(residual);
  return copy;
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
                              key.activation.beta, static_cast<int>(key.residual));
  for (int64_t extent : key.shape) {
    hash = c10::hash_combine(hash, std::hash<int64_t>()(extent));
  }
  return hash;
}

} // namespace tsopt::runtime
