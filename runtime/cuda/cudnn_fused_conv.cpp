//===- cudnn_fused_conv.cpp - conv2d + epilogue as one cuDNN graph -------------===//
///
/// cuDNN's backend API, called directly (cudnn_graph.h; no cudnn-frontend):
/// tensor, convolution and pointwise descriptors make an operation graph; the
/// heuristic (instant mode, then the fallback list) offers engine
/// configurations, tried in order until one finalizes into an execution plan
/// and runs. Every cudnnBackend* status is checked: the first failure ends the
/// attempt and becomes the reason runCudnnFusedConv gives.
///
//===----------------------------------------------------------------------===//
#include "runtime/cuda/cudnn_fused_conv.h"
#include "runtime/cuda/kernels.h"

#include "runtime/packed_layers.h"

#include <ATen/Context.h>
#include <ATen/Functions.h>
#include <ATen/cudnn/Handle.h>
#include <c10/core/GradMode.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>
#include <c10/util/hash.h>

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <cfloat>
#include <cstring>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace tsopt::runtime::cuda {
namespace {

using Sizes = std::array<int64_t, 4>;

/// Unique ids of the graph's tensors: the variant pack binds the real ones
/// (below kFirstVirtual) to their addresses.
constexpr int64_t kInputId = 1, kWeightId = 2, kBiasId = 3, kResidualId = 4, kOutputId = 5, kFirstVirtualId = 100;

std::string statusText(cudnnStatus_t status) {
  std::string text = cudnnGetErrorString(status);
  char detail[512] = {};
  cudnnGetLastErrorString(detail, sizeof(detail));
  if (detail[0] != '\0') {
    text += std::string(": ") + detail;
  }
  return text;
}

struct DescriptorDeleter {
  void operator()(void* descriptor) const { cudnnBackendDestroyDescriptor(descriptor); }
};
using OwnedDescriptor = std::unique_ptr<void, DescriptorDeleter>;

/// Creates, sets, reads and finalizes backend descriptors, and owns what it
/// creates: a plan keeps the descriptors of its graph alive as long as itself.
/// The first failing call stops the build (later calls do nothing) and is
/// kept, with the step that made it, as failure().
class DescriptorBuilder {
public:
  /// Names what the next calls build, for failure().
  void step(std::string name) { step_ = std::move(name); }

  cudnnBackendDescriptor_t create(cudnnBackendDescriptorType_t type) {
    cudnnBackendDescriptor_t descriptor = nullptr;
    if (ok() && check(cudnnBackendCreateDescriptor(type, &descriptor), "cudnnBackendCreateDescriptor", type)) {
      owned_.emplace_back(descriptor);
      return descriptor;
    }
    return nullptr;
  }

  void set(cudnnBackendDescriptor_t descriptor, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
           int64_t count, const void* values) {
    if (ok()) {
      check(cudnnBackendSetAttribute(descriptor, name, type, count, values), "cudnnBackendSetAttribute", name);
    }
  }

  void get(cudnnBackendDescriptor_t descriptor, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
           int64_t requested, int64_t* count, void* values) {
    if (ok()) {
      check(cudnnBackendGetAttribute(descriptor, name, type, requested, count, values), "cudnnBackendGetAttribute",
            name);
    }
  }

  void finalize(cudnnBackendDescriptor_t descriptor) {
    if (ok()) {
      check(cudnnBackendFinalize(descriptor), "cudnnBackendFinalize", -1);
    }
  }

  void fail(const std::string& what) {
    if (ok()) {
      failure_ = step_ + ": " + what;
    }
  }

  /// Takes over the descriptors `other` created.
  void adopt(DescriptorBuilder&& other) {
    std::move(other.owned_.begin(), other.owned_.end(), std::back_inserter(owned_));
    other.owned_.clear();
  }

  bool ok() const { return failure_.empty(); }
  const std::string& failure() const { return failure_; }

private:
  bool check(cudnnStatus_t status, const char* call, int64_t what) {
    if (status != CUDNN_STATUS_SUCCESS) {
      fail(std::string(call) + (what >= 0 ? "(" + std::to_string(what) + ")" : std::string()) + ": " +
           statusText(status));
    }
    return status == CUDNN_STATUS_SUCCESS;
  }

  std::vector<OwnedDescriptor> owned_;
  std::string step_;
  std::string failure_;
};

cudnnDataType_t dataTypeOf(at::ScalarType type) {
  switch (type) {
  case at::kHalf:
    return CUDNN_DATA_HALF;
  case at::kBFloat16:
    return CUDNN_DATA_BFLOAT16;
  default:
    return CUDNN_DATA_FLOAT;
  }
}

/// The strides of a dense (N, C, H, W) tensor in `format`: NCHW or channels-last
/// (NHWC). A size-1 dimension gets the stride it would have if it were larger,
/// as cuDNN expects of a packed layout.
Sizes denseStrides(const Sizes& sizes, at::MemoryFormat format) {
  const int64_t channels = sizes[1], height = sizes[2], width = sizes[3];
  if (format == at::MemoryFormat::ChannelsLast) {
    return {height * width * channels, 1, width * channels, channels};
  }
  return {channels * height * width, height * width, width, 1};
}

/// An operand's byte alignment as cuDNN's tensor descriptors take it: up to 16.
int64_t alignmentOf(const void* pointer) { return alignmentUpTo(pointer, 16); }

/// Everything that decides the graph and its plan, none of the addresses.
struct FusedConvProblem {
  Sizes input{}, weight{}, output{};
  std::array<int64_t, 2> stride{}, padding{}, dilation{};
  at::MemoryFormat format = at::MemoryFormat::Contiguous;
  at::ScalarType type = at::kFloat;
  bool bias = false;
  ResidualAdd where = ResidualAdd::None;
  Activation activation;
  bool allowTf32 = false;
  /// Byte alignments of input, weight, bias, residual and output (0: absent).
  std::array<int64_t, 5> alignments{};
};

using PlanKey = std::vector<int64_t>;

PlanKey planKeyOf(const FusedConvProblem& problem, c10::DeviceIndex device, cudnnHandle_t handle) {
  PlanKey key;
  for (const Sizes* sizes : {&problem.input, &problem.weight}) {
    key.insert(key.end(), sizes->begin(), sizes->end());
  }
  for (const std::array<int64_t, 2>* pair : {&problem.stride, &problem.padding, &problem.dilation}) {
    key.insert(key.end(), pair->begin(), pair->end());
  }
  int64_t alpha = 0, beta = 0;
  std::memcpy(&alpha, &problem.activation.alpha, sizeof(alpha));
  std::memcpy(&beta, &problem.activation.beta, sizeof(beta));
  key.insert(key.end(), {static_cast<int64_t>(problem.format), static_cast<int64_t>(problem.type), problem.bias,
                         static_cast<int64_t>(problem.where), static_cast<int64_t>(problem.activation.kind), alpha,
                         beta, problem.allowTf32, device, static_cast<int64_t>(reinterpret_cast<intptr_t>(handle))});
  key.insert(key.end(), problem.alignments.begin(), problem.alignments.end());
  return key;
}

struct PlanKeyHash {
  size_t operator()(const PlanKey& key) const { return c10::hash<PlanKey>()(key); }
};

/// cuDNN's pointwise mode for an activation; false when it has none (hardswish,
/// and the ones whose parameters or form cuDNN's modes do not take).
bool activationMode(ActivationKind kind, cudnnPointwiseMode_t& mode) {
  switch (kind) {
  case ActivationKind::Relu:
  case ActivationKind::Clamp:
    mode = CUDNN_POINTWISE_RELU_FWD;
    return true;
  case ActivationKind::Silu:
    mode = CUDNN_POINTWISE_SWISH_FWD;
    return true;
  case ActivationKind::Gelu:
    mode = CUDNN_POINTWISE_GELU_FWD;
    return true;
  case ActivationKind::GeluTanh:
    mode = CUDNN_POINTWISE_GELU_APPROX_TANH_FWD;
    return true;
  case ActivationKind::Sigmoid:
    mode = CUDNN_POINTWISE_SIGMOID_FWD;
    return true;
  case ActivationKind::Tanh:
    mode = CUDNN_POINTWISE_TANH_FWD;
    return true;
  case ActivationKind::None:
  case ActivationKind::Hardswish:
  case ActivationKind::LeakyRelu:
  case ActivationKind::Elu:
  case ActivationKind::Hardsigmoid:
  case ActivationKind::Mish:
  case ActivationKind::Abs:
  case ActivationKind::Exp:
  case ActivationKind::Square:
  case ActivationKind::LogSigmoid:
  case ActivationKind::Softplus:
    return false;
  }
  return false;
}

double withinFloat(double value) { return std::clamp(value, -static_cast<double>(FLT_MAX), static_cast<double>(FLT_MAX)); }

cudnnBackendDescriptor_t tensorDescriptor(DescriptorBuilder& builder, int64_t id, cudnnDataType_t type,
                                          const Sizes& sizes, at::MemoryFormat format, int64_t alignment,
                                          bool isVirtual) {
  cudnnBackendDescriptor_t tensor = builder.create(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const Sizes strides = denseStrides(sizes, format);
  builder.set(tensor, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
  builder.set(tensor, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, sizes.data());
  builder.set(tensor, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides.data());
  builder.set(tensor, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &id);
  builder.set(tensor, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment);
  if (isVirtual) {
    const bool yes = true;
    builder.set(tensor, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &yes);
  }
  builder.finalize(tensor);
  return tensor;
}

/// A pointwise descriptor computing in float32: `mode` with the activation's
/// parameters (relu's clips: [0, max) for relu, [alpha, beta] for clamp;
/// swish's beta = 1 for silu).
cudnnBackendDescriptor_t pointwiseDescriptor(DescriptorBuilder& builder, cudnnPointwiseMode_t mode,
                                             const Activation& activation) {
  cudnnBackendDescriptor_t pointwise = builder.create(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
  const cudnnDataType_t precision = CUDNN_DATA_FLOAT;
  builder.set(pointwise, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
  builder.set(pointwise, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &precision);
  if (mode == CUDNN_POINTWISE_RELU_FWD) {
    // NaN stays NaN, as in ATen's relu and clamp.
    const cudnnNanPropagation_t nan = CUDNN_PROPAGATE_NAN;
    const bool clamp = activation.kind == ActivationKind::Clamp;
    const double lower = clamp ? withinFloat(activation.alpha) : 0.0;
    const double upper = clamp ? withinFloat(activation.beta) : static_cast<double>(FLT_MAX);
    const double slope = 0.0;
    builder.set(pointwise, CUDNN_ATTR_POINTWISE_NAN_PROPAGATION, CUDNN_TYPE_NAN_PROPOGATION, 1, &nan);
    builder.set(pointwise, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP, CUDNN_TYPE_DOUBLE, 1, &lower);
    builder.set(pointwise, CUDNN_ATTR_POINTWISE_RELU_UPPER_CLIP, CUDNN_TYPE_DOUBLE, 1, &upper);
    builder.set(pointwise, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP_SLOPE, CUDNN_TYPE_DOUBLE, 1, &slope);
  } else if (mode == CUDNN_POINTWISE_SWISH_FWD) {
    const double beta = 1.0;
    builder.set(pointwise, CUDNN_ATTR_POINTWISE_SWISH_BETA, CUDNN_TYPE_DOUBLE, 1, &beta);
  }
  builder.finalize(pointwise);
  return pointwise;
}

/// y = pointwise(x) or pointwise(x, second).
cudnnBackendDescriptor_t pointwiseOperation(DescriptorBuilder& builder, cudnnBackendDescriptor_t pointwise,
                                            cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t second,
                                            cudnnBackendDescriptor_t y) {
  cudnnBackendDescriptor_t operation = builder.create(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
  builder.set(operation, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pointwise);
  builder.set(operation, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
  if (second != nullptr) {
    builder.set(operation, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &second);
  }
  builder.set(operation, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
  builder.finalize(operation);
  return operation;
}

/// y = conv(x, w): cross-correlation, float32 accumulation, alpha 1, beta 0.
cudnnBackendDescriptor_t convolutionOperation(DescriptorBuilder& builder, const FusedConvProblem& problem,
                                              cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t w,
                                              cudnnBackendDescriptor_t y) {
  cudnnBackendDescriptor_t convolution = builder.create(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  const cudnnDataType_t computeType = CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  const int64_t spatialDims = 2;
  builder.set(convolution, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &computeType);
  builder.set(convolution, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
  builder.set(convolution, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatialDims);
  builder.set(convolution, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, problem.padding.data());
  builder.set(convolution, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, problem.padding.data());
  builder.set(convolution, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, problem.dilation.data());
  builder.set(convolution, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, problem.stride.data());
  builder.finalize(convolution);

  cudnnBackendDescriptor_t operation = builder.create(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
  const float alpha = 1.f, beta = 0.f;
  builder.set(operation, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
  builder.set(operation, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w);
  builder.set(operation, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
  builder.set(operation, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
              &convolution);
  builder.set(operation, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha);
  builder.set(operation, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta);
  builder.finalize(operation);
  return operation;
}

/// Whether the engine of `config` computes as the float32 reference expects:
/// inputs not down-converted, float32 accumulation, and for float32 operands
/// no tensor cores (TF32) unless TF32 is allowed. An engine whose notes
/// cannot be read is accepted (as PyTorch's filter does).
bool numericsAcceptable(cudnnBackendDescriptor_t config, bool float32WithoutTf32) {
  DescriptorBuilder builder;
  cudnnBackendDescriptor_t engine = builder.create(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  int64_t count = 0;
  builder.get(config, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count, &engine);
  std::array<cudnnBackendNumericalNote_t, CUDNN_NUMERICAL_NOTE_TYPE_COUNT> notes{};
  int64_t noteCount = 0;
  builder.get(engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE, notes.size(), &noteCount,
              notes.data());
  if (!builder.ok()) {
    return true;
  }
  const auto end = notes.begin() + std::clamp<int64_t>(noteCount, 0, notes.size());
  const auto has = [&](cudnnBackendNumericalNote_t note) { return std::find(notes.begin(), end, note) != end; };
  return !has(CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS) && !has(CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION) &&
         !(float32WithoutTf32 && has(CUDNN_NUMERICAL_NOTE_TENSOR_CORE));
}

/// One graph: its descriptors, the engine configurations the heuristics
/// offered for it (acceptable numerics, best first), and the execution plan
/// of the first that finalized and ran. With no plan and no configuration
/// left, `declined` says why, and every later call is declined at once.
struct FusedConvPlan {
  DescriptorBuilder graph;
  std::vector<cudnnBackendDescriptor_t> configs;
  size_t nextConfig = 0;
  DescriptorBuilder planDescriptors;
  cudnnBackendDescriptor_t plan = nullptr;
  int64_t workspaceBytes = 0;
  std::string declined;
  std::mutex mutex;
};

/// Appends to `plan.configs` the engine configurations heuristic `mode`
/// offers for `graph`, best first; says in `notes` when the query fails.
void appendEngineConfigs(FusedConvPlan& plan, cudnnBackendDescriptor_t graph, cudnnBackendHeurMode_t mode,
                         const char* modeName, std::string& notes) {
  DescriptorBuilder builder;
  builder.step(std::string("heuristics (") + modeName + ")");
  cudnnBackendDescriptor_t heuristics = builder.create(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  builder.set(heuristics, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph);
  builder.set(heuristics, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
  builder.finalize(heuristics);
  int64_t available = 0;
  builder.get(heuristics, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &available, nullptr);
  std::vector<cudnnBackendDescriptor_t> configs;
  for (int64_t index = 0; builder.ok() && index < available; ++index) {
    configs.push_back(builder.create(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
  }
  int64_t returned = 0;
  if (!configs.empty()) {
    builder.get(heuristics, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, configs.size(), &returned,
                configs.data());
  }
  if (!builder.ok()) {
    notes += builder.failure() + "; ";
    return;
  }
  configs.resize(std::clamp<int64_t>(returned, 0, configs.size()));
  plan.configs.insert(plan.configs.end(), configs.begin(), configs.end());
  plan.graph.adopt(std::move(builder));
}

/// The operation graph of `problem`, built with `handle`, and its engine
/// configurations; `declined` set when there is none.
std::shared_ptr<FusedConvPlan> makeFusedConvPlan(const FusedConvProblem& problem, cudnnHandle_t handle) {
  auto plan = std::make_shared<FusedConvPlan>();
  DescriptorBuilder& builder = plan->graph;
  const cudnnDataType_t type = dataTypeOf(problem.type);
  const at::MemoryFormat format = problem.format;
  const int64_t outputAlignment = problem.alignments[4];
  cudnnPointwiseMode_t activationModeValue = CUDNN_POINTWISE_IDENTITY;
  const bool activation = activationMode(problem.activation.kind, activationModeValue);
  const bool residual = problem.where != ResidualAdd::None;

  // Each operation writes a virtual float32 intermediate, the last one Y.
  const int operations = 1 + problem.bias + residual + activation;
  int written = 0;
  int64_t nextVirtualId = kFirstVirtualId;
  const auto nextOutput = [&]() {
    return ++written == operations
               ? tensorDescriptor(builder, kOutputId, type, problem.output, format, outputAlignment, false)
               : tensorDescriptor(builder, nextVirtualId++, CUDNN_DATA_FLOAT, problem.output, format, outputAlignment,
                                  true);
  };
  std::vector<cudnnBackendDescriptor_t> operationDescriptors;
  const auto add = [&](cudnnBackendDescriptor_t current, cudnnBackendDescriptor_t other) {
    cudnnBackendDescriptor_t sum = nextOutput();
    operationDescriptors.push_back(
        pointwiseOperation(builder, pointwiseDescriptor(builder, CUDNN_POINTWISE_ADD, Activation{}), current, other,
                           sum));
    return sum;
  };

  builder.step("convolution");
  cudnnBackendDescriptor_t x =
      tensorDescriptor(builder, kInputId, type, problem.input, format, problem.alignments[0], false);
  cudnnBackendDescriptor_t w =
      tensorDescriptor(builder, kWeightId, type, problem.weight, format, problem.alignments[1], false);
  cudnnBackendDescriptor_t current = nextOutput();
  operationDescriptors.push_back(convolutionOperation(builder, problem, x, w, current));
  if (problem.bias) {
    builder.step("bias add");
    const Sizes biasSizes{1, problem.output[1], 1, 1};
    current = add(current, tensorDescriptor(builder, kBiasId, type, biasSizes, format, problem.alignments[2], false));
  }
  cudnnBackendDescriptor_t z = nullptr;
  if (residual) {
    builder.step("residual");
    z = tensorDescriptor(builder, kResidualId, type, problem.output, format, problem.alignments[3], false);
  }
  if (problem.where == ResidualAdd::BeforeActivation) {
    builder.step("residual add");
    current = add(current, z);
  }
  if (activation) {
    builder.step("activation");
    cudnnBackendDescriptor_t activated = nextOutput();
    operationDescriptors.push_back(pointwiseOperation(
        builder, pointwiseDescriptor(builder, activationModeValue, problem.activation), current, nullptr, activated));
    current = activated;
  }
  if (problem.where == ResidualAdd::AfterActivation) {
    builder.step("residual add");
    current = add(current, z);
  }

  builder.step("operation graph");
  cudnnBackendDescriptor_t graph = builder.create(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  builder.set(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
              static_cast<int64_t>(operationDescriptors.size()), operationDescriptors.data());
  builder.set(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
  builder.finalize(graph);
  if (!builder.ok()) {
    plan->declined = builder.failure();
    return plan;
  }

  std::string notes;
  appendEngineConfigs(*plan, graph, CUDNN_HEUR_MODE_INSTANT, "instant", notes);
  appendEngineConfigs(*plan, graph, CUDNN_HEUR_MODE_FALLBACK, "fallback", notes);
  const size_t offered = plan->configs.size();
  const bool float32WithoutTf32 = problem.type == at::kFloat && !problem.allowTf32;
  plan->configs.erase(std::remove_if(plan->configs.begin(), plan->configs.end(),
                                     [&](cudnnBackendDescriptor_t config) {
                                       return !numericsAcceptable(config, float32WithoutTf32);
                                     }),
                      plan->configs.end());
  if (plan->configs.empty()) {
    plan->declined = "no engine: the heuristics offered " + std::to_string(offered) + " configuration(s)" +
                     (offered > 0 ? ", none with float32 numerics (no TF32, down-conversion or reduced precision)"
                                  : std::string()) +
                     (notes.empty() ? std::string() : "; " + notes);
  }
  return plan;
}

/// Finalizes the next engine configuration of `plan` that cuDNN accepts into
/// its execution plan. False, with `declined` saying why, when none is left.
bool finalizeNextPlan(FusedConvPlan& plan, cudnnHandle_t handle) {
  if (plan.nextConfig >= plan.configs.size()) {
    return false;
  }
  std::string lastFailure = plan.declined;
  while (plan.nextConfig < plan.configs.size()) {
    cudnnBackendDescriptor_t config = plan.configs[plan.nextConfig++];
    DescriptorBuilder builder;
    builder.step("execution plan " + std::to_string(plan.nextConfig) + "/" + std::to_string(plan.configs.size()));
    cudnnBackendDescriptor_t executionPlan = builder.create(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    // Deprecated since cuDNN 9 (the frontend stopped setting it in 1.13) but
    // still read by older releases: set where accepted, ignored where not.
    if (executionPlan != nullptr) {
      cudnnBackendSetAttribute(executionPlan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
    }
    builder.set(executionPlan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &config);
    builder.finalize(executionPlan);
    int64_t count = 0, workspaceBytes = 0;
    builder.get(executionPlan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &count,
                &workspaceBytes);
    if (builder.ok() && workspaceBytes >= 0) {
      plan.planDescriptors = std::move(builder);
      plan.plan = executionPlan;
      plan.workspaceBytes = workspaceBytes;
      return true;
    }
    lastFailure = builder.failure();
  }
  plan.declined = "no engine: none of " + std::to_string(plan.configs.size()) +
                  " engine configuration(s) ran (last: " + lastFailure + ")";
  return false;
}

/// The plan of `problem`, made on first use and kept for the process; null
/// when it is not made yet and the stream is capturing a CUDA graph (building
/// compiles kernels, which a capture must not see). The table
/// is never destroyed: PyTorch leaks its cuDNN plans too, after destroying
/// them at exit crashed with cuDNN 9.10+. Emptied if it ever outgrows
/// kMaxPlans (a model has a few dozen convolution shapes).
std::shared_ptr<FusedConvPlan> fusedConvPlanFor(const FusedConvProblem& problem, c10::DeviceIndex device,
                                                cudnnHandle_t handle, bool capturing) {
  constexpr size_t kMaxPlans = 4096;
  static auto* tableMutex = new std::mutex;
  static auto* table = new std::unordered_map<PlanKey, std::shared_ptr<FusedConvPlan>, PlanKeyHash>;
  const PlanKey key = planKeyOf(problem, device, handle);
  std::lock_guard<std::mutex> lock(*tableMutex);
  auto found = table->find(key);
  if (found != table->end()) {
    return found->second;
  }
  if (capturing) {
    return nullptr;
  }
  if (table->size() >= kMaxPlans) {
    table->clear();
  }
  std::shared_ptr<FusedConvPlan> plan = makeFusedConvPlan(problem, handle);
  table->emplace(key, plan);
  return plan;
}

/// Runs the plan on the bound tensors: false (with `failure`) when the
/// variant pack or cudnnBackendExecute fails.
bool execute(const FusedConvPlan& plan, cudnnHandle_t handle, const std::vector<int64_t>& ids,
             const std::vector<void*>& pointers, void* workspace, std::string& failure) {
  DescriptorBuilder builder;
  builder.step("variant pack");
  cudnnBackendDescriptor_t pack = builder.create(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  builder.set(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, static_cast<int64_t>(ids.size()),
              ids.data());
  builder.set(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, static_cast<int64_t>(pointers.size()),
              pointers.data());
  builder.set(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace);
  builder.finalize(pack);
  if (!builder.ok()) {
    failure = builder.failure();
    return false;
  }
  const cudnnStatus_t status = cudnnBackendExecute(handle, plan.plan, pack);
  if (status != CUDNN_STATUS_SUCCESS) {
    failure = "cudnnBackendExecute: " + statusText(status);
    return false;
  }
  return true;
}

bool isGraphType(at::ScalarType type) { return type == at::kFloat || type == at::kHalf || type == at::kBFloat16; }

bool needsAutograd(const at::Tensor& tensor) { return at::GradMode::is_enabled() && tensor.requires_grad(); }

/// A CUDA tensor of `type` on `device`, strided, autograd off.
bool isOperandLike(const at::Tensor& tensor, const at::Tensor& input) {
  return tensor.defined() && tensor.is_cuda() && tensor.layout() == at::kStrided &&
         tensor.scalar_type() == input.scalar_type() && tensor.device() == input.device() && !needsAutograd(tensor);
}

/// Why the operands are not what the graph takes; empty when they are.
std::string operandProblem(const at::Tensor& input, const at::Tensor& weight, const at::Tensor* bias,
                           const at::Tensor& residual, const Conv2dParams& params, const Sizes& output) {
  if (!input.defined() || !input.is_cuda() || input.layout() != at::kStrided || input.dim() != 4 ||
      !isGraphType(input.scalar_type()) || input.numel() == 0 || needsAutograd(input)) {
    return "the input is not a non-empty 4-D CUDA float32, float16 or bfloat16 tensor without autograd";
  }
  if (!isOperandLike(weight, input) || weight.dim() != 4 || params.groups < 1 ||
      input.size(1) != weight.size(1) * params.groups || weight.size(0) % params.groups != 0) {
    return "the weight does not fit the input (dtype, device, 4-D, channels per group)";
  }
  if (params.stride.size() != 2 || params.padding.size() != 2 || params.dilation.size() != 2) {
    return "stride, padding and dilation need two values each";
  }
  if (bias != nullptr && (!isOperandLike(*bias, input) || bias->dim() != 1 || bias->size(0) != weight.size(0))) {
    return "the bias is not a vector of the output channels, in the input's dtype and device";
  }
  if (output[2] <= 0 || output[3] <= 0) {
    return "empty output";
  }
  if (residual.defined() && (!isOperandLike(residual, input) || residual.sizes() != at::IntArrayRef(output))) {
    return "the residual does not have the output's sizes, dtype and device";
  }
  return {};
}

bool runFusedConv(const at::Tensor& input, const at::Tensor& weight, const at::Tensor* bias, const at::Tensor& residual,
                  ResidualAdd where, const Activation& activation, const Conv2dParams& params, at::Tensor& out,
                  std::string& reason, bool& calledCuda) {
  if (!cudnnFusionEnabled()) {
    reason = "TSOPT_CUDNN_FUSION is not 1";
    return false;
  }
  cudnnPointwiseMode_t unused = CUDNN_POINTWISE_IDENTITY;
  if (activation.kind != ActivationKind::None && !activationMode(activation.kind, unused)) {
    reason = "cuDNN has no pointwise mode for this activation";
    return false;
  }
  if (activation.kind == ActivationKind::Clamp && !(activation.alpha <= activation.beta)) {
    reason = "clamp with a lower bound above the upper one (or NaN)";
    return false;
  }
  if (!at::Context::hasCuDNN() || !at::globalContext().userEnabledCuDNN()) {
    reason = "cuDNN unavailable or disabled";
    return false;
  }
  const bool withResidual = residual.defined() && where != ResidualAdd::None;
  FusedConvProblem problem;
  if (input.defined() && input.dim() == 4 && weight.defined() && weight.dim() == 4 && params.stride.size() == 2 &&
      params.padding.size() == 2 && params.dilation.size() == 2) {
    problem.output = {input.size(0), weight.size(0), 0, 0};
    for (size_t dim = 0; dim < 2; ++dim) {
      const int64_t extent =
          input.size(2 + dim) + 2 * params.padding[dim] - params.dilation[dim] * (weight.size(2 + dim) - 1) - 1;
      problem.output[2 + dim] = extent < 0 || params.stride[dim] <= 0 ? 0 : extent / params.stride[dim] + 1;
    }
  }
  reason = operandProblem(input, weight, bias, withResidual ? residual : at::Tensor(), params, problem.output);
  if (!reason.empty()) {
    return false;
  }

  calledCuda = true;
  c10::cuda::CUDAGuard deviceGuard(input.device());
  problem.format = input.suggest_memory_format();
  const at::Tensor x = input.contiguous(problem.format);
  const at::Tensor w = weight.contiguous(problem.format);
  const at::Tensor b = bias != nullptr ? bias->contiguous() : at::Tensor();
  const at::Tensor z = withResidual ? residual.contiguous(problem.format) : at::Tensor();
  at::Tensor y = at::empty(at::IntArrayRef(problem.output), x.options().memory_format(problem.format));
  std::copy(x.sizes().begin(), x.sizes().end(), problem.input.begin());
  std::copy(w.sizes().begin(), w.sizes().end(), problem.weight.begin());
  std::copy(params.stride.begin(), params.stride.end(), problem.stride.begin());
  std::copy(params.padding.begin(), params.padding.end(), problem.padding.begin());
  std::copy(params.dilation.begin(), params.dilation.end(), problem.dilation.begin());
  problem.type = x.scalar_type();
  problem.bias = b.defined();
  problem.where = withResidual ? where : ResidualAdd::None;
  problem.activation = activation;
  if (activation.kind != ActivationKind::Clamp) {
    problem.activation.alpha = problem.activation.beta = 0.0;
  }
  problem.allowTf32 = problem.type == at::kFloat && at::globalContext().allowTF32CuDNN();

  std::vector<int64_t> ids{kInputId, kWeightId, kOutputId};
  std::vector<void*> pointers{x.data_ptr(), w.data_ptr(), y.data_ptr()};
  if (b.defined()) {
    ids.push_back(kBiasId);
    pointers.push_back(b.data_ptr());
  }
  if (z.defined()) {
    ids.push_back(kResidualId);
    pointers.push_back(z.data_ptr());
  }
  problem.alignments = {alignmentOf(x.data_ptr()), alignmentOf(w.data_ptr()),
                        b.defined() ? alignmentOf(b.data_ptr()) : 0, z.defined() ? alignmentOf(z.data_ptr()) : 0,
                        alignmentOf(y.data_ptr())};

  // ATen's handle of this thread and device, bound to the current stream.
  cudnnHandle_t handle = at::native::getCudnnHandle();
  const bool capturing = isCapturing(c10::cuda::getCurrentCUDAStream());
  const std::shared_ptr<FusedConvPlan> plan = fusedConvPlanFor(problem, input.device().index(), handle, capturing);
  if (plan == nullptr) {
    reason = "the graph's first call is inside a CUDA graph capture";
    return false;
  }
  std::lock_guard<std::mutex> lock(plan->mutex);
  while (plan->plan != nullptr || (!capturing && finalizeNextPlan(*plan, handle))) {
    at::Tensor workspace;
    if (plan->workspaceBytes > 0) {
      workspace = at::empty({plan->workspaceBytes}, x.options().dtype(at::kByte));
    }
    std::string failure;
    if (execute(*plan, handle, ids, pointers, workspace.defined() ? workspace.data_ptr() : nullptr, failure)) {
      out = std::move(y);
      return true;
    }
    // This engine does not run here: the next configuration may.
    plan->planDescriptors = DescriptorBuilder();
    plan->plan = nullptr;
    plan->declined = failure;
    (void)cudaGetLastError();
  }
  reason = capturing && plan->declined.empty() ? "no execution plan yet, and the stream is capturing a CUDA graph"
                                               : plan->declined;
  return false;
}

} // namespace

bool runCudnnFusedConv(const at::Tensor& input, const at::Tensor& weight, const at::Tensor* bias,
                       const at::Tensor& residual, ResidualAdd where, const Activation& activation,
                       const Conv2dParams& params, at::Tensor& out, std::string* reason) {
  std::string why;
  bool calledCuda = false;
  bool done = false;
  try {
    done = runFusedConv(input, weight, bias, residual, where, activation, params, out, why, calledCuda);
  } catch (const c10::Error& error) {
    why = std::string("exception: ") + error.what_without_backtrace();
  } catch (const std::exception& error) {
    why = std::string("exception: ") + error.what();
  } catch (...) {
    why = "unknown exception";
  }
  if (!done) {
    if (calledCuda) {
      // A failed cuDNN call may leave a (non-sticky) error for the next CUDA check to trip on.
      (void)cudaGetLastError();
    }
    if (reason != nullptr) {
      *reason = std::move(why);
    }
  }
  return done;
}

} // namespace tsopt::runtime::cuda

extern "C" __attribute__((visibility("default"))) bool
tsopt_run_cudnn_fused_conv(const at::Tensor& input, const at::Tensor& weight, const at::Tensor* bias,
                           const at::Tensor& residual, tsopt::runtime::ResidualAdd where,
                           const tsopt::runtime::Activation& activation, const tsopt::runtime::Conv2dParams& params,
                           at::Tensor& out, std::string* reason) {
  return tsopt::runtime::cuda::runCudnnFusedConv(input, weight, bias, residual, where, activation, params, out,
                                                 reason);
}

static_assert(std::is_same_v<decltype(&tsopt_run_cudnn_fused_conv), tsopt::runtime::cuda::RunCudnnFusedConvFunction>,
              "kRunCudnnFusedConvSymbol's function has RunCudnnFusedConvFunction's type");
