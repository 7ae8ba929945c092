//===- cuda_ops.cpp - CUDA kernels of the tsopt:: ops ---------------------===//
///
/// Registered under the CUDA dispatch key of the ops libtsopt_runtime.so
/// defines (register_ops.cpp), so a CUDA tensor reaches these and a CPU tensor
/// the catch-all kernels. Each op checks its operands; anything its kernel does
/// not cover (a dtype other than float32, float16 or bfloat16, mixed dtypes or
/// devices, autograd, a residual that broadcasts, non-contiguous operands where
/// the kernel needs dense ones, empty tensors) takes the ATen computation of
/// the unfused graph on the same device. docs/cuda.md describes each kernel.
///
//===----------------------------------------------------------------------===//
#include "runtime/activation.h"
#include "runtime/add_layer_norm.h"
#include "runtime/attention.h"
#include "runtime/cuda/cudnn_fused_conv.h"
#include "runtime/cuda/kernels.h"
#include "runtime/packed_layers.h"

#include <ATen/Context.h>
#include <ATen/Functions.h>
#include <ATen/cuda/CUDAContextLight.h>
#include <c10/core/GradMode.h>
#include <c10/util/accumulate.h>
#include <c10/util/hash.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/custom_class.h>
#include <torch/library.h>

#include <cublasLt.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace tsopt::runtime::cuda {
namespace {

bool needsAutograd(const at::Tensor& tensor) { return at::GradMode::is_enabled() && tensor.requires_grad(); }

bool isKernelType(at::ScalarType type) {
  return type == at::kFloat || type == at::kHalf || type == at::kBFloat16;
}

ElementType elementTypeOf(at::ScalarType type) {
  switch (type) {
  case at::kHalf:
    return ElementType::Half;
  case at::kBFloat16:
    return ElementType::BFloat16;
  default:
    return ElementType::Float;
  }
}

/// A strided CUDA tensor of `type` on `device`.
bool isOperand(const at::Tensor& tensor, at::ScalarType type, const at::Device& device) {
  return tensor.defined() && tensor.is_cuda() && tensor.layout() == at::kStrided && tensor.scalar_type() == type &&
         tensor.device() == device;
}

/// The first operand of a kernel: a CUDA tensor of a kernel dtype, with elements, autograd off.
bool isLeadOperand(const at::Tensor& tensor) {
  return tensor.defined() && tensor.is_cuda() && tensor.layout() == at::kStrided &&
         isKernelType(tensor.scalar_type()) && tensor.numel() > 0 && !needsAutograd(tensor);
}

/// An optional parameter (bias, weight): absent, or an operand of `type` on `device`.
bool isOptionalOperand(const c10::optional<at::Tensor>& tensor, at::ScalarType type, const at::Device& device) {
  return !tensor || !tensor->defined() || isOperand(*tensor, type, device);
}

const at::Tensor* definedOrNull(const c10::optional<at::Tensor>& tensor) {
  return tensor && tensor->defined() ? &*tensor : nullptr;
}

EpilogueActivation epilogueActivation(ActivationKind kind) {
  switch (kind) {
  case ActivationKind::None:
    return EpilogueActivation::None;
  case ActivationKind::Relu:
    return EpilogueActivation::Relu;
  case ActivationKind::Clamp:
    return EpilogueActivation::Clamp;
  case ActivationKind::Silu:
    return EpilogueActivation::Silu;
  case ActivationKind::Hardswish:
    return EpilogueActivation::Hardswish;
  case ActivationKind::Gelu:
    return EpilogueActivation::Gelu;
  case ActivationKind::GeluTanh:
    return EpilogueActivation::GeluTanh;
  case ActivationKind::Sigmoid:
    return EpilogueActivation::Sigmoid;
  case ActivationKind::Tanh:
    return EpilogueActivation::Tanh;
  case ActivationKind::LeakyRelu:
    return EpilogueActivation::LeakyRelu;
  case ActivationKind::Elu:
    return EpilogueActivation::Elu;
  case ActivationKind::Hardsigmoid:
    return EpilogueActivation::Hardsigmoid;
  case ActivationKind::Mish:
    return EpilogueActivation::Mish;
  case ActivationKind::Abs:
    return EpilogueActivation::Abs;
  case ActivationKind::Exp:
    return EpilogueActivation::Exp;
  case ActivationKind::Square:
    return EpilogueActivation::Square;
  case ActivationKind::LogSigmoid:
    return EpilogueActivation::LogSigmoid;
  case ActivationKind::Softplus:
    return EpilogueActivation::Softplus;
  }
  TORCH_CHECK(false, "tsopt: unhandled activation");
}

void checkLaunch(cudaError_t status, const char* kernel) {
  TORCH_CHECK(status == cudaSuccess, "tsopt: launching the ", kernel, " kernel failed: ", cudaGetErrorString(status));
}

/// bias (per channel), activation and residual applied to `out` in place.
/// `out` is dense in `format`; for (..., features) tensors pass Contiguous with
/// `inner` = 1. The residual has out's sizes and dtype.
void runEpilogue(at::Tensor& out, at::MemoryFormat format, int64_t channels, int64_t inner, const at::Tensor* bias,
                 const Activation& activation, const at::Tensor& residual, ResidualAdd where) {
  if (bias == nullptr && activation.kind == ActivationKind::None && !residual.defined()) {
    return;
  }
  at::Tensor denseBias = bias != nullptr ? bias->contiguous() : at::Tensor();
  at::Tensor denseResidual = residual.defined() ? residual.contiguous(format) : at::Tensor();
  EpilogueArguments arguments;
  arguments.out = out.data_ptr();
  arguments.bias = denseBias.defined() ? denseBias.data_ptr() : nullptr;
  arguments.residual = denseResidual.defined() ? denseResidual.data_ptr() : nullptr;
  arguments.count = out.numel();
  arguments.channels = channels;
  arguments.inner = inner;
  arguments.activation = epilogueActivation(activation.kind);
  arguments.alpha = static_cast<float>(activation.alpha);
  arguments.beta = static_cast<float>(activation.beta);
  arguments.residualAfter = where == ResidualAdd::AfterActivation;
  checkLaunch(launchEpilogue(arguments, elementTypeOf(out.scalar_type()), c10::cuda::getCurrentCUDAStream()),
              "epilogue");
}

// --- conv2d ------------------------------------------------------------------

std::vector<int64_t> convOutputSizes(const at::Tensor& input, const at::Tensor& weight, const Conv2dParams& params) {
  std::vector<int64_t> sizes{input.size(0), weight.size(0)};
  for (int64_t dim = 0; dim < 2; ++dim) {
    const int64_t extent =
        input.size(2 + dim) + 2 * params.padding[dim] - params.dilation[dim] * (weight.size(2 + dim) - 1) - 1;
    sizes.push_back(extent < 0 ? 0 : extent / params.stride[dim] + 1);
  }
  return sizes;
}

/// The CUDA kernels cover plain 2-D convolutions; 1-D, 3-D and transposed
/// ones take ConvPacked::runReference (at::conv*d / conv_transpose*d, then the
/// activation and the add), so device-generic graphs fused for the CPU still run.
bool convApplies(const at::Tensor& input, const at::Tensor& residual, const ConvPacked& packed) {
  const at::Tensor& weight = packed.weight();
  if (packed.spatialRank() != 2 || packed.params().transposed) {
    return false;
  }
  if (!isLeadOperand(input) || input.dim() != 4 || !isOperand(weight, input.scalar_type(), input.device()) ||
      !isOptionalOperand(packed.bias(), input.scalar_type(), input.device()) ||
      input.size(1) != weight.size(1) * packed.params().groups) {
    return false;
  }
  const std::vector<int64_t> outSizes = convOutputSizes(input, weight, packed.params());
  if (outSizes[2] <= 0 || outSizes[3] <= 0) {
    return false;
  }
  return !residual.defined() || (isOperand(residual, input.scalar_type(), input.device()) &&
                                 !needsAutograd(residual) && residual.sizes() == at::IntArrayRef(outSizes));
}

/// cuDNN's fused convolution + bias (+ add) + relu, through ATen
/// (cudnn_convolution_relu, cudnn_convolution_add_relu), for float32 and float16.
bool fusedConvReluAvailable(at::ScalarType type) {
  return at::Context::hasCuDNN() && at::globalContext().userEnabledCuDNN() &&
         (type == at::kFloat || type == at::kHalf);
}

at::Tensor convCuda(const at::Tensor& input, const at::Tensor& residual, const ConvPacked& packed,
                    const Activation& activation, ResidualAdd where) {
  if (!convApplies(input, residual, packed)) {
    return packed.runReference(input, residual, activation, where);
  }
  c10::cuda::CUDAGuard deviceGuard(input.device());
  at::NoGradGuard noGrad;
  const at::MemoryFormat format = input.suggest_memory_format();
  const at::Tensor& weight =
      format == at::MemoryFormat::ChannelsLast ? packed.channelsLastWeight() : packed.weight();
  const Conv2dParams& params = packed.params();
  // cuDNN's graph API first: the convolution and its whole epilogue in one kernel, when cuDNN has an engine for it.
  at::Tensor fused;
  if (runCudnnFusedConv(input, weight, definedOrNull(packed.bias()), residual, where, activation, params, fused)) {
    return fused;
  }
  const bool residualBefore = residual.defined() && where == ResidualAdd::BeforeActivation;
  if (activation.kind == ActivationKind::Relu && (!residual.defined() || residualBefore) &&
      fusedConvReluAvailable(input.scalar_type())) {
    try {
      at::Tensor out = residual.defined()
                           ? at::cudnn_convolution_add_relu(input, weight, residual, at::Scalar(1.0), packed.bias(),
                                                            params.stride, params.padding, params.dilation,
                                                            params.groups)
                           : at::cudnn_convolution_relu(input, weight, packed.bias(), params.stride, params.padding,
                                                        params.dilation, params.groups);
      return out.contiguous(format);
    } catch (const c10::Error&) {
      // cuDNN found no engine for the fused graph (its v8 path raises then):
      // the convolution and the epilogue kernel below compute the same.
    }
  }
  // The bias joins the epilogue when there is one; cuDNN would add it in a pass of its own.
  const bool epilogue = activation.kind != ActivationKind::None || residual.defined();
  at::Tensor out = at::convolution(input, weight, epilogue ? c10::nullopt : packed.bias(), params.stride,
                                   params.padding, params.dilation, false, {0, 0}, params.groups);
  if (!epilogue) {
    return out.contiguous(format);
  }
  at::MemoryFormat outFormat = out.suggest_memory_format();
  if (!out.is_contiguous(outFormat)) {
    outFormat = format;
    out = out.contiguous(outFormat);
  }
  const int64_t inner = outFormat == at::MemoryFormat::ChannelsLast ? 1 : out.size(2) * out.size(3);
  runEpilogue(out, outFormat, out.size(1), inner, definedOrNull(packed.bias()), activation, residual,
              residual.defined() ? where : ResidualAdd::None);
  return out.contiguous(format);
}

// --- linear ------------------------------------------------------------------

/// cuBLASLt's workspace, from PyTorch's caching allocator per call.
constexpr size_t kLtWorkspaceBytes = 4 * 1024 * 1024;

cudaDataType_t cudaTypeOf(at::ScalarType type) {
  switch (type) {
  case at::kHalf:
    return CUDA_R_16F;
  case at::kBFloat16:
    return CUDA_R_16BF;
  default:
    return CUDA_R_32F;
  }
}

/// An operand's alignment as cuBLASLt's preferences take it: up to 256 bytes.
uint32_t alignmentOf(const void* pointer) { return alignmentUpTo(pointer, 256); }

/// cuBLASLt descriptors, destroyed with the object.
struct LtDescriptors {
  cublasLtMatmulDesc_t matmul = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t preference = nullptr;
  LtDescriptors() = default;
  LtDescriptors(const LtDescriptors&) = delete;
  LtDescriptors& operator=(const LtDescriptors&) = delete;
  ~LtDescriptors() {
    if (preference != nullptr) {
      cublasLtMatmulPreferenceDestroy(preference);
    }
    for (cublasLtMatrixLayout_t layout : {a, b, c}) {
      if (layout != nullptr) {
        cublasLtMatrixLayoutDestroy(layout);
      }
    }
    if (matmul != nullptr) {
      cublasLtMatmulDescDestroy(matmul);
    }
  }
};

/// What decides a matmul's descriptors and algorithm: everything but the
/// operands' addresses (their alignments aside) and the bias pointer.
struct LtPlanKey {
  int64_t rows = 0, inFeatures = 0, outFeatures = 0;
  at::ScalarType type = at::kFloat;
  cublasComputeType_t computeType = CUBLAS_COMPUTE_32F;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  bool columnMajorWeight = false;
  uint32_t alignments[4] = {};
  c10::DeviceIndex device = 0;

  bool operator==(const LtPlanKey& other) const {
    return rows == other.rows && inFeatures == other.inFeatures && outFeatures == other.outFeatures &&
           type == other.type && computeType == other.computeType && epilogue == other.epilogue &&
           columnMajorWeight == other.columnMajorWeight &&
           std::equal(std::begin(alignments), std::end(alignments), std::begin(other.alignments)) &&
           device == other.device;
  }
};

struct LtPlanKeyHash {
  size_t operator()(const LtPlanKey& key) const {
    size_t hash = c10::get_hash(key.rows, key.inFeatures, key.outFeatures, static_cast<int>(key.type),
                                static_cast<int>(key.computeType), static_cast<int>(key.epilogue), key.columnMajorWeight,
                                key.device);
    for (uint32_t alignment : key.alignments) {
      hash = c10::hash_combine(hash, alignment);
    }
    return hash;
  }
};

/// One matmul shape's descriptors and the algorithms cuBLASLt's heuristic
/// offers for it, best guess first. Creating the descriptors and asking the
/// heuristic cost tens of microseconds per call, as much as the matmul itself
/// at batch 1, so they are made once per shape. The heuristic's first guess is
/// often not the fastest (float32 on an H200: a split-K kernel plus a separate
/// epilogue kernel, twice the time of the best): the first call outside a
/// CUDA-graph capture times the candidates and keeps the fastest, as
/// cudnn.benchmark does for convolutions. The bias pointer is the one per-call
/// attribute: it is set and the matmul enqueued under `mutex`.
struct LtPlan {
  LtDescriptors descriptors;
  std::vector<cublasLtMatmulHeuristicResult_t> candidates;
  size_t chosen = 0;
  bool tuned = false;
  std::mutex mutex;
};

/// A 2-D tensor stored column by column (the transpose of a contiguous one), not also contiguous.
bool isColumnMajor(const at::Tensor& matrix) { return !matrix.is_contiguous() && matrix.t().is_contiguous(); }


/// The index of the fastest of `count` ways to do the same work, each
/// enqueued on `stream` by `run(index)` (false: that way failed), timed with
/// CUDA events over a few runs after one warm-up run. 0 when timing fails.
size_t fastest(size_t count, cudaStream_t stream, const std::function<bool(size_t)>& run) {
  constexpr int kTimedRuns = 3;
  cudaEvent_t start = nullptr, stop = nullptr;
  if (cudaEventCreate(&start) != cudaSuccess || cudaEventCreate(&stop) != cudaSuccess) {
    cudaEventDestroy(start);
    (void)cudaGetLastError();
    return 0;
  }
  size_t best = 0;
  float bestMs = std::numeric_limits<float>::infinity();
  for (size_t index = 0; index < count; ++index) {
    bool ok = run(index) && cudaEventRecord(start, stream) == cudaSuccess;
    for (int repeat = 0; ok && repeat < kTimedRuns; ++repeat) {
      ok = run(index);
    }
    float ms = 0.f;
    ok = ok && cudaEventRecord(stop, stream) == cudaSuccess && cudaEventSynchronize(stop) == cudaSuccess &&
         cudaEventElapsedTime(&ms, start, stop) == cudaSuccess;
    if (ok && ms < bestMs) {
      bestMs = ms;
      best = index;
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return best;
}

/// The column-major view of row-major tensors: outᵀ (N, rows) = weight (N, K)
/// · inputᵀ (K, rows). A row-major weight is a (K, N) column-major matrix,
/// hence transposed ("TN"); a column-major one (LinearPacked's float32 layout
/// on a GPU) is (N, K) as it is ("NN"). Null when cuBLASLt has no algorithm.
std::unique_ptr<LtPlan> makeLtPlan(const LtPlanKey& key, cublasLtHandle_t handle) {
  auto plan = std::make_unique<LtPlan>();
  LtDescriptors& descriptors = plan->descriptors;
  const cudaDataType_t dataType = cudaTypeOf(key.type);
  const cublasOperation_t weightOperation = key.columnMajorWeight ? CUBLAS_OP_N : CUBLAS_OP_T;
  const cublasOperation_t plain = CUBLAS_OP_N;
  const uint64_t weightRows = key.columnMajorWeight ? key.outFeatures : key.inFeatures;
  const uint64_t weightColumns = key.columnMajorWeight ? key.inFeatures : key.outFeatures;
  const uint64_t workspaceBytes = kLtWorkspaceBytes;
  const cublasLtMatmulPreferenceAttributes_t alignmentAttributes[4] = {
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
  bool ok = cublasLtMatmulDescCreate(&descriptors.matmul, key.computeType, CUDA_R_32F) == CUBLAS_STATUS_SUCCESS &&
            cublasLtMatmulDescSetAttribute(descriptors.matmul, CUBLASLT_MATMUL_DESC_TRANSA, &weightOperation,
                                           sizeof(weightOperation)) == CUBLAS_STATUS_SUCCESS &&
            cublasLtMatmulDescSetAttribute(descriptors.matmul, CUBLASLT_MATMUL_DESC_TRANSB, &plain, sizeof(plain)) ==
                CUBLAS_STATUS_SUCCESS &&
            cublasLtMatmulDescSetAttribute(descriptors.matmul, CUBLASLT_MATMUL_DESC_EPILOGUE, &key.epilogue,
                                           sizeof(key.epilogue)) == CUBLAS_STATUS_SUCCESS &&
            cublasLtMatrixLayoutCreate(&descriptors.a, dataType, weightRows, weightColumns, weightRows) ==
                CUBLAS_STATUS_SUCCESS &&
            cublasLtMatrixLayoutCreate(&descriptors.b, dataType, key.inFeatures, key.rows, key.inFeatures) ==
                CUBLAS_STATUS_SUCCESS &&
            cublasLtMatrixLayoutCreate(&descriptors.c, dataType, key.outFeatures, key.rows, key.outFeatures) ==
                CUBLAS_STATUS_SUCCESS &&
            cublasLtMatmulPreferenceCreate(&descriptors.preference) == CUBLAS_STATUS_SUCCESS &&
            cublasLtMatmulPreferenceSetAttribute(descriptors.preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                 &workspaceBytes, sizeof(workspaceBytes)) == CUBLAS_STATUS_SUCCESS;
  for (size_t operand = 0; ok && operand < 4; ++operand) {
    ok = cublasLtMatmulPreferenceSetAttribute(descriptors.preference, alignmentAttributes[operand],
                                              &key.alignments[operand],
                                              sizeof(key.alignments[operand])) == CUBLAS_STATUS_SUCCESS;
  }
  constexpr int kCandidates = 8;
  plan->candidates.resize(kCandidates);
  int found = 0;
  ok = ok && cublasLtMatmulAlgoGetHeuristic(handle, descriptors.matmul, descriptors.a, descriptors.b, descriptors.c,
                                            descriptors.c, descriptors.preference, kCandidates,
                                            plan->candidates.data(), &found) == CUBLAS_STATUS_SUCCESS;
  plan->candidates.resize(ok ? static_cast<size_t>(found) : 0);
  plan->tuned = plan->candidates.size() == 1;
  return plan->candidates.empty() ? nullptr : std::move(plan);
}

/// The plan of `key`, made on first use and kept for the process (a model has
/// a few dozen shapes; the table is emptied if it ever outgrows kMaxLtPlans).
/// Null when cuBLASLt has none; that answer is kept too.
std::shared_ptr<LtPlan> ltPlanFor(const LtPlanKey& key, cublasLtHandle_t handle) {
  constexpr size_t kMaxLtPlans = 4096;
  static std::mutex tableMutex;
  static std::unordered_map<LtPlanKey, std::shared_ptr<LtPlan>, LtPlanKeyHash> table;
  std::lock_guard<std::mutex> lock(tableMutex);
  auto found = table.find(key);
  if (found != table.end()) {
    return found->second;
  }
  if (table.size() >= kMaxLtPlans) {
    table.clear();
  }
  std::shared_ptr<LtPlan> plan = makeLtPlan(key, handle);
  table.emplace(key, plan);
  return plan;
}

/// out (rows, N) = input (rows, K) · weightᵀ [+ bias] [+ residual], then relu
/// or gelu (tanh) when `activation` names one, as one cuBLASLt matmul: the
/// residual is C with beta = 1 (added before the epilogue's activation).
/// Everything dense; the bias contiguous. False when cuBLASLt offers no
/// algorithm or fails (the caller then takes ATen's path).
bool runLtMatmul(const at::Tensor& input, const at::Tensor& weight, const at::Tensor* bias,
                 const at::Tensor& residual, ActivationKind activation, at::Tensor& out) {
  const at::ScalarType type = input.scalar_type();
  LtPlanKey key;
  key.outFeatures = weight.size(0);
  key.inFeatures = weight.size(1);
  key.rows = input.numel() / key.inFeatures;
  key.type = type;
  key.computeType = type == at::kFloat && at::globalContext().allowTF32CuBLAS() ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                                                 : CUBLAS_COMPUTE_32F;
  if (activation == ActivationKind::Relu) {
    key.epilogue = bias != nullptr ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
  } else if (activation == ActivationKind::GeluTanh) {
    key.epilogue = bias != nullptr ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
  } else if (bias != nullptr) {
    key.epilogue = CUBLASLT_EPILOGUE_BIAS;
  }
  const void* cPointer = residual.defined() ? residual.data_ptr() : out.data_ptr();
  key.alignments[0] = alignmentOf(weight.data_ptr());
  key.alignments[1] = alignmentOf(input.data_ptr());
  key.alignments[2] = alignmentOf(cPointer);
  key.alignments[3] = alignmentOf(out.data_ptr());
  key.columnMajorWeight = isColumnMajor(weight);
  key.device = input.device().index();
  cublasLtHandle_t handle = at::cuda::getCurrentCUDABlasLtHandle();
  const std::shared_ptr<LtPlan> plan = ltPlanFor(key, handle);
  if (!plan) {
    return false;
  }
  at::Tensor workspace = at::empty({static_cast<int64_t>(kLtWorkspaceBytes)}, input.options().dtype(at::kByte));
  const float alpha = 1.f;
  const float beta = residual.defined() ? 1.f : 0.f;
  const void* biasPointer = bias != nullptr ? bias->data_ptr() : nullptr;
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  std::lock_guard<std::mutex> lock(plan->mutex);
  LtDescriptors& descriptors = plan->descriptors;
  if (bias != nullptr && cublasLtMatmulDescSetAttribute(descriptors.matmul, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                        &biasPointer, sizeof(biasPointer)) != CUBLAS_STATUS_SUCCESS) {
    return false;
  }
  const auto launch = [&](const cublasLtMatmulAlgo_t& algo) {
    return cublasLtMatmul(handle, descriptors.matmul, &alpha, weight.data_ptr(), descriptors.a, input.data_ptr(),
                          descriptors.b, &beta, cPointer, descriptors.c, out.data_ptr(), descriptors.c, &algo,
                          workspace.data_ptr(), kLtWorkspaceBytes, stream) == CUBLAS_STATUS_SUCCESS;
  };
  if (!plan->tuned && !isCapturing(stream)) {
    // out is written, C (the residual) only read: every run computes the same out.
    plan->chosen = fastest(plan->candidates.size(), stream,
                           [&](size_t candidate) { return launch(plan->candidates[candidate].algo); });
    plan->tuned = true;
  }
  return launch(plan->candidates[plan->chosen].algo);
}

std::vector<int64_t> linearOutputSizes(const at::Tensor& input, int64_t outFeatures) {
  std::vector<int64_t> sizes(input.sizes().begin(), input.sizes().end() - 1);
  sizes.push_back(outFeatures);
  return sizes;
}

bool linearApplies(const at::Tensor& input, const at::Tensor& residual, const LinearPacked& packed) {
  const at::Tensor& weight = packed.weight();
  if (!isLeadOperand(input) || input.dim() < 1 || !input.is_contiguous() ||
      !isOperand(weight, input.scalar_type(), input.device()) || !(weight.is_contiguous() || isColumnMajor(weight)) ||
      input.size(-1) != weight.size(1)) {
    return false;
  }
  // cuBLASLt rejects (or, in some versions, miscomputes) degenerate matrices; ATen handles them.
  if (weight.size(0) < 2 || weight.size(1) < 2 || input.numel() / weight.size(1) < 2) {
    return false;
  }
  if (const at::Tensor* bias = definedOrNull(packed.bias())) {
    // cuBLASLt reads the bias vector with 16-byte loads.
    if (!isOperand(*bias, input.scalar_type(), input.device()) || !bias->is_contiguous() ||
        alignmentOf(bias->data_ptr()) < 16) {
      return false;
    }
  }
  return !residual.defined() ||
         (isOperand(residual, input.scalar_type(), input.device()) && !needsAutograd(residual) &&
          residual.is_contiguous() && residual.sizes() == at::IntArrayRef(linearOutputSizes(input, weight.size(0))));
}

at::Tensor linearCuda(const at::Tensor& input, const at::Tensor& residual, const LinearPacked& packed,
                      const Activation& activation, ResidualAdd where) {
  if (!linearApplies(input, residual, packed)) {
    return packed.runReference(input, residual, activation, where);
  }
  c10::cuda::CUDAGuard deviceGuard(input.device());
  at::NoGradGuard noGrad;
  const at::Tensor& weight = packed.weight();
  const bool residualBefore = residual.defined() && where == ResidualAdd::BeforeActivation;
  const bool residualAfter = residual.defined() && where == ResidualAdd::AfterActivation;
  // cuBLASLt's epilogues: relu, and gelu in its tanh approximation only.
  const ActivationKind ltActivation =
      activation.kind == ActivationKind::Relu || activation.kind == ActivationKind::GeluTanh ? activation.kind
                                                                                             : ActivationKind::None;
  at::Tensor out = at::empty(linearOutputSizes(input, weight.size(0)), input.options());
  if (!runLtMatmul(input, weight, definedOrNull(packed.bias()), residualBefore ? residual : at::Tensor(),
                   ltActivation, out)) {
    return packed.runReference(input, residual, activation, where);
  }
  Activation remaining = activation;
  if (ltActivation != ActivationKind::None) {
    remaining = Activation{};
  }
  runEpilogue(out, at::MemoryFormat::Contiguous, weight.size(0), 1, nullptr, remaining,
              residualAfter ? residual : at::Tensor(), residualAfter ? where : ResidualAdd::None);
  return out;
}

// --- attention -----------------------------------------------------------------

bool attentionApplies(const at::Tensor& query, const at::Tensor& keyT, const at::Tensor& value,
                      const c10::optional<at::Tensor>& mask) {
  if (!isLeadOperand(query) || query.dim() != 4 || !isOperand(keyT, query.scalar_type(), query.device()) ||
      !isOperand(value, query.scalar_type(), query.device()) || keyT.dim() != 4 || value.dim() != 4 ||
      needsAutograd(keyT) || needsAutograd(value) || keyT.numel() == 0 || value.numel() == 0) {
    return false;
  }
  // Batch and head dimensions must agree exactly (ATen's matmul would broadcast them).
  for (int64_t dim = 0; dim < 2; ++dim) {
    if (keyT.size(dim) != query.size(dim) || value.size(dim) != query.size(dim)) {
      return false;
    }
  }
  if (keyT.size(2) != query.size(3) || value.size(2) != keyT.size(3)) {
    return false;
  }
  if (const at::Tensor* additive = definedOrNull(mask)) {
    // An additive float mask that broadcasts to the scores (a boolean mask means something else to SDPA).
    if (!additive->is_cuda() || additive->device() != query.device() || !at::isFloatingType(additive->scalar_type()) ||
        needsAutograd(*additive) || additive->dim() > 4) {
      return false;
    }
    const int64_t scores[4] = {query.size(0), query.size(1), query.size(2), keyT.size(3)};
    const int64_t offset = 4 - additive->dim();
    for (int64_t dim = 0; dim < additive->dim(); ++dim) {
      if (additive->size(dim) != 1 && additive->size(dim) != scores[offset + dim]) {
        return false;
      }
    }
  }
  return true;
}

at::Tensor attentionCuda(const at::Tensor& query, const at::Tensor& keyT, const at::Tensor& value,
                         const c10::optional<at::Tensor>& mask, double scale, bool permuteOutput) {
  if (!attentionApplies(query, keyT, value, mask)) {
    return attentionReference(query, keyT, value, mask, scale, permuteOutput);
  }
  c10::cuda::CUDAGuard deviceGuard(query.device());
  at::NoGradGuard noGrad;
  c10::optional<at::Tensor> additiveMask;
  if (const at::Tensor* additive = definedOrNull(mask)) {
    additiveMask = additive->to(query.scalar_type());
  }
  // PyTorch picks the backend: flash (no mask), cuDNN, memory-efficient or its math fallback.
  at::Tensor context = at::scaled_dot_product_attention(query, keyT.transpose(-2, -1), value, additiveMask, 0.0,
                                                        false, scale);
  return permuteOutput ? context.permute({0, 2, 1, 3}).contiguous() : context;
}

// --- add + layer_norm ------------------------------------------------------------

bool addLayerNormApplies(const at::Tensor& input, const at::Tensor& other, at::IntArrayRef normalizedShape,
                         const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias) {
  if (!isLeadOperand(input) || !isOperand(other, input.scalar_type(), input.device()) || needsAutograd(other) ||
      other.sizes() != input.sizes() || normalizedShape.empty() ||
      input.dim() < static_cast<int64_t>(normalizedShape.size()) ||
      input.sizes().slice(input.dim() - normalizedShape.size()) != normalizedShape) {
    return false;
  }
  for (const c10::optional<at::Tensor>* parameter : {&weight, &bias}) {
    if (const at::Tensor* tensor = definedOrNull(*parameter)) {
      if (!isOperand(*tensor, input.scalar_type(), input.device()) || needsAutograd(*tensor) ||
          tensor->sizes() != normalizedShape) {
        return false;
      }
    }
  }
  return true;
}

at::Tensor addLayerNormCuda(const at::Tensor& input, const at::Tensor& other, std::vector<int64_t> normalizedShape,
                            const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias,
                            double eps) {
  if (!addLayerNormApplies(input, other, normalizedShape, weight, bias)) {
    return addLayerNormReference(input, other, normalizedShape, weight, bias, eps);
  }
  c10::cuda::CUDAGuard deviceGuard(input.device());
  at::Tensor denseInput = input.contiguous();
  at::Tensor denseOther = other.contiguous();
  at::Tensor denseWeight = definedOrNull(weight) != nullptr ? weight->contiguous() : at::Tensor();
  at::Tensor denseBias = definedOrNull(bias) != nullptr ? bias->contiguous() : at::Tensor();
  at::Tensor out = at::empty(input.sizes(), input.options().memory_format(at::MemoryFormat::Contiguous));
  AddLayerNormArguments arguments;
  arguments.out = out.data_ptr();
  arguments.input = denseInput.data_ptr();
  arguments.other = denseOther.data_ptr();
  arguments.weight = denseWeight.defined() ? denseWeight.data_ptr() : nullptr;
  arguments.bias = denseBias.defined() ? denseBias.data_ptr() : nullptr;
  arguments.columns = c10::multiply_integers(normalizedShape);
  arguments.rows = input.numel() / arguments.columns;
  arguments.eps = static_cast<float>(eps);
  checkLaunch(launchAddLayerNorm(arguments, elementTypeOf(input.scalar_type()), c10::cuda::getCurrentCUDAStream()),
              "add_layer_norm");
  return out;
}

// --- the ops' CUDA kernels (signatures as in register_ops.cpp) --------------------

at::Tensor conv2dAct(const at::Tensor& input, const c10::intrusive_ptr<ConvPacked>& packed,
                     c10::string_view activation, double alpha, double beta) {
  return convCuda(input, at::Tensor(), *packed, parseActivation(activation, alpha, beta), ResidualAdd::None);
}

at::Tensor conv2dAddAct(const at::Tensor& input, at::Tensor other, const c10::intrusive_ptr<ConvPacked>& packed,
                        c10::string_view activation, double alpha, double beta) {
  return convCuda(input, other, *packed, parseActivation(activation, alpha, beta), ResidualAdd::BeforeActivation);
}

at::Tensor conv2dActAdd(const at::Tensor& input, at::Tensor other, const c10::intrusive_ptr<ConvPacked>& packed,
                        c10::string_view activation, double alpha, double beta) {
  return convCuda(input, other, *packed, parseActivation(activation, alpha, beta), ResidualAdd::AfterActivation);
}

at::Tensor linearAct(const at::Tensor& input, const c10::intrusive_ptr<LinearPacked>& packed,
                     c10::string_view activation, double alpha, double beta) {
  return linearCuda(input, at::Tensor(), *packed, parseActivation(activation, alpha, beta), ResidualAdd::None);
}

at::Tensor linearAddAct(const at::Tensor& input, at::Tensor other, const c10::intrusive_ptr<LinearPacked>& packed,
                        c10::string_view activation, double alpha, double beta) {
  return linearCuda(input, other, *packed, parseActivation(activation, alpha, beta), ResidualAdd::BeforeActivation);
}

at::Tensor linearActAdd(const at::Tensor& input, at::Tensor other, const c10::intrusive_ptr<LinearPacked>& packed,
                        c10::string_view activation, double alpha, double beta) {
  return linearCuda(input, other, *packed, parseActivation(activation, alpha, beta), ResidualAdd::AfterActivation);
}

} // namespace
} // namespace tsopt::runtime::cuda

TORCH_LIBRARY_IMPL(tsopt, CUDA, m) {
  using namespace tsopt::runtime::cuda;
  m.impl("conv2d_act", conv2dAct);
  m.impl("conv2d_add_act", conv2dAddAct);
  m.impl("conv2d_act_add", conv2dActAdd);
  m.impl("linear_act", linearAct);
  m.impl("linear_add_act", linearAddAct);
  m.impl("linear_act_add", linearActAdd);
  m.impl("attention", attentionCuda);
  m.impl("add_layer_norm", addLayerNormCuda);
}
