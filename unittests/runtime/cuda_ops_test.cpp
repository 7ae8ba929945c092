// The CUDA kernels of the tsopt:: ops (runtime/cuda/, docs/cuda.md). The
// loading and registration tests run everywhere the companion library is
// built; the numerical tests need a GPU and skip, saying so, without one.
#include "runtime/activation.h"
#include "runtime/add_layer_norm.h"
#include "runtime/attention.h"
#include "runtime/cuda/cudnn_fused_conv.h"
#include "runtime/load_cuda_kernels.h"
#include "runtime/packed_layers.h"
#include "runtime/register_ops.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <vector>

namespace tsopt::runtime {
namespace {

bool isPrepack(const std::string& name) { return name.size() > 8 && name.substr(name.size() - 8) == "_prepack"; }
/// The dynamic int8 linear ops and the static int8 convolution run on the CPU only
/// (fuse-linear-dynamic fires on CPU weights only; quantized tensors live on the CPU);
/// tsopt::attention_bf16 has no CUDA kernel of its own (CUDA tensors get tsopt::attention's);
/// tsopt::max_pool2d's catch-all kernel hands a CUDA tensor to at::max_pool2d, and
/// tsopt::sdp_attention's (and its bf16 twin's) to ATen's scaled_dot_product_attention.
bool isCpuOnly(const std::string& name) {
  return name.rfind("tsopt::linear_dynamic", 0) == 0 || name.rfind("tsopt::qconv2d", 0) == 0 ||
         name == "tsopt::quantized_gate" || name == "tsopt::attention_bf16" || name == "tsopt::max_pool2d" ||
         name.rfind("tsopt::sdp_attention", 0) == 0;
}

TEST(CudaKernelsTest, CompanionLibraryLoads) {
  std::string error;
  ASSERT_TRUE(loadCudaKernels(&error)) << error;
  EXPECT_TRUE(loadCudaKernels(&error)) << "a second call finds the library loaded";
}

TEST(CudaKernelsTest, EveryFusedOpHasACudaKernel) {
  std::string error;
  ASSERT_TRUE(loadCudaKernels(&error)) << error;
  for (const std::string& name : registeredOperators()) {
    auto handle = c10::Dispatcher::singleton().findSchema({name, ""});
    ASSERT_TRUE(handle.has_value()) << name;
    // The prepack ops build the classes on the weights' device through the catch-all kernel.
    EXPECT_EQ(handle->hasKernelForDispatchKey(c10::DispatchKey::CUDA), !isPrepack(name) && !isCpuOnly(name)) << name;
  }
}

/// Python: `import torch` (a CUDA build), then load libtsopt_runtime.so alone:
/// it does not load its companion while it is being loaded (that broke cuDNN on
/// a GPU), the first CUDA call does; loading the companion registers every
/// fused op's CUDA kernel.
TEST(CudaKernelsTest, LoadingTheLibrariesFromPythonRegistersTheCudaKernels) {
  std::string ops;
  for (const std::string& name : registeredOperators()) {
    if (!isPrepack(name) && !isCpuOnly(name)) {
      ops += "'" + name + "',";
    }
  }
  const std::string script =
      "import os, sys, torch\n"
      "runtime = '" TSOPT_TEST_RUNTIME_LIBRARY "'\n"
      "ops = [" + ops + "]\n"
      "cuda = lambda: [op for op in ops if 'CUDA:' in torch._C._dispatch_dump(op)]\n"
      "torch.ops.load_library(runtime)\n"
      "early = cuda()\n"
      "torch.ops.load_library(os.path.join(os.path.dirname(runtime), 'libtsopt_runtime_cuda.so'))\n"
      "missing = [op for op in ops if op not in cuda()]\n"
      "print('CUDA kernels at the runtime load:', early, 'missing after the companion:', missing)\n"
      "sys.exit(1 if early or missing else 0)\n";
  const std::string command = "'" TSOPT_TEST_PYTHON "' -c \"" + script + "\" 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[256];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) {
    output += buffer;
  }
  const int status = pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
}

/// runCudnnFusedConv, found in the loaded companion (the tests do not link it); null if it is missing.
cuda::RunCudnnFusedConvFunction cudnnFusedConv() {
  std::string error;
  if (!loadCudaKernels(&error)) {
    return nullptr;
  }
  void* library = dlopen(cudaKernelsLibraryPath().c_str(), RTLD_NOW | RTLD_NOLOAD);
  return library == nullptr ? nullptr
                            : reinterpret_cast<cuda::RunCudnnFusedConvFunction>(
                                  dlsym(library, cuda::kRunCudnnFusedConvSymbol));
}

/// Sets (or, with nullopt, unsets) an environment variable while it lives.
class ScopedEnvironment {
public:
  ScopedEnvironment(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) {
      old_ = old;
    }
    apply(value);
  }
  ~ScopedEnvironment() { apply(old_); }

private:
  void apply(const std::optional<std::string>& value) {
    if (value) {
      setenv(name_, value->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  const char* name_;
  std::optional<std::string> old_;
};

TEST(CudaKernelsTest, CudnnFusionSwitchOffDeclinesEveryCall) {
  cuda::RunCudnnFusedConvFunction fusedConv = cudnnFusedConv();
  ASSERT_NE(fusedConv, nullptr) << cuda::kRunCudnnFusedConvSymbol << " not found in " << cudaKernelsLibraryPath();
  // CPU operands: declined in any case, for a reason the switch takes precedence over.
  at::Tensor input = at::randn({1, 4, 5, 5});
  at::Tensor weight = at::randn({4, 4, 3, 3});
  const Conv2dParams params{{1, 1}, {1, 1}, {1, 1}, 1};
  const Activation relu = parseActivation("relu", 0, 0);
  at::Tensor out;
  std::string reason;
  // Opt-in until verified on a GPU: only "1" turns it on.
  for (std::optional<std::string> off : {std::optional<std::string>("0"), std::optional<std::string>(""),
                                         std::optional<std::string>()}) {
    ScopedEnvironment environment("TSOPT_CUDNN_FUSION", off);
    EXPECT_FALSE(cuda::cudnnFusionEnabled()) << "TSOPT_CUDNN_FUSION='" << off.value_or("(unset)") << "'";
    EXPECT_FALSE(fusedConv(input, weight, nullptr, at::Tensor(), ResidualAdd::None, relu, params, out, &reason));
    EXPECT_EQ(reason, "TSOPT_CUDNN_FUSION is not 1");
  }
  ScopedEnvironment on("TSOPT_CUDNN_FUSION", std::string("1"));
  EXPECT_TRUE(cuda::cudnnFusionEnabled());
  EXPECT_FALSE(fusedConv(input, weight, nullptr, at::Tensor(), ResidualAdd::None, relu, params, out, &reason));
  EXPECT_NE(reason, "TSOPT_CUDNN_FUSION=0");
  EXPECT_FALSE(out.defined()) << "a declined call leaves out untouched";
}

/// Tolerances against a float32 reference (ATen, TF32 off) computed from the
/// same, already rounded, inputs. The kernels compute in float32; float16 and
/// bfloat16 results carry their own rounding (about 2^-11 and 2^-8 relative)
/// and that of their half-precision operands inside cuBLAS/cuDNN.
struct Tolerance {
  double rtol, atol;
};

Tolerance toleranceFor(at::ScalarType type) {
  switch (type) {
  case at::kHalf:
    return {1e-2, 1e-2};
  case at::kBFloat16:
    return {4e-2, 4e-2};
  default:
    return {1e-4, 1e-4};
  }
}

const std::vector<at::ScalarType> kTypes = {at::kFloat, at::kHalf, at::kBFloat16};

void expectClose(const at::Tensor& actual, const at::Tensor& expected, at::ScalarType type) {
  ASSERT_EQ(actual.sizes(), expected.sizes());
  ASSERT_EQ(actual.scalar_type(), type);
  ASSERT_TRUE(actual.is_cuda());
  const Tolerance tolerance = toleranceFor(type);
  at::Tensor difference = (actual.to(at::kFloat) - expected.to(at::kFloat)).abs();
  EXPECT_TRUE(at::allclose(actual.to(at::kFloat), expected.to(at::kFloat), tolerance.rtol, tolerance.atol))
      << "max abs difference " << difference.max().item<double>() << " (" << type << ")";
}

std::vector<Activation> everyActivation() {
  std::vector<Activation> result{Activation{}};
  for (const std::string& name : activationNames()) {
    // The parameters each activation reads (activation.h); the rest take 0.
    static const std::map<std::string, std::pair<double, double>> kParameters = {
        {"clamp", {-0.5, 0.75}}, {"leaky_relu", {0.1, 0.0}}, {"elu", {0.7, 0.0}}, {"softplus", {1.5, 20.0}}};
    auto parameters = kParameters.find(name);
    result.push_back(parameters == kParameters.end()
                         ? parseActivation(name, 0.0, 0.0)
                         : parseActivation(name, parameters->second.first, parameters->second.second));
  }
  return result;
}

std::string nameOf(const Activation& activation) {
  if (activation.kind == ActivationKind::None) {
    return "none";
  }
  for (const std::string& name : activationNames()) {
    if (parseActivation(name, activation.alpha, activation.beta).kind == activation.kind) {
      return name;
    }
  }
  return "?";
}

const char* opSuffix(ResidualAdd where) {
  switch (where) {
  case ResidualAdd::BeforeActivation:
    return "_add_act";
  case ResidualAdd::AfterActivation:
    return "_act_add";
  default:
    return "_act";
  }
}

/// Calls tsopt::<layer><suffix> through the dispatcher, as a graph does.
template <typename Packed>
at::Tensor callLayerOp(const std::string& layer, const at::Tensor& input, const at::Tensor& residual,
                       const c10::intrusive_ptr<Packed>& packed, const Activation& activation, ResidualAdd where) {
  const std::string name = "tsopt::" + layer + opSuffix(where);
  auto handle = c10::Dispatcher::singleton().findSchemaOrThrow(name.c_str(), "");
  const std::string activationName = nameOf(activation);
  if (where == ResidualAdd::None) {
    return handle
        .typed<at::Tensor(const at::Tensor&, const c10::intrusive_ptr<Packed>&, c10::string_view, double, double)>()
        .call(input, packed, activationName, activation.alpha, activation.beta);
  }
  return handle
      .typed<at::Tensor(const at::Tensor&, at::Tensor, const c10::intrusive_ptr<Packed>&, c10::string_view, double,
                        double)>()
      .call(input, residual, packed, activationName, activation.alpha, activation.beta);
}

at::Tensor callAttention(const at::Tensor& query, const at::Tensor& keyT, const at::Tensor& value,
                         const c10::optional<at::Tensor>& mask, double scale, bool permute) {
  return c10::Dispatcher::singleton()
      .findSchemaOrThrow("tsopt::attention", "")
      .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&,
                        double, bool)>()
      .call(query, keyT, value, mask, scale, permute);
}

at::Tensor callAddLayerNorm(const at::Tensor& input, const at::Tensor& other, std::vector<int64_t> shape,
                            const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias,
                            double eps) {
  return c10::Dispatcher::singleton()
      .findSchemaOrThrow("tsopt::add_layer_norm", "")
      .typed<at::Tensor(const at::Tensor&, const at::Tensor&, std::vector<int64_t>, const c10::optional<at::Tensor>&,
                        const c10::optional<at::Tensor>&, double)>()
      .call(input, other, std::move(shape), weight, bias, eps);
}

/// A convolution weight on the GPU in `type`, scaled by its fan-in so that outputs stay near 1.
at::Tensor randomConvWeight(int64_t inChannels, int64_t outChannels, int64_t kernel, int64_t groups,
                            at::ScalarType type) {
  const int64_t fanIn = inChannels / groups * kernel * kernel;
  return (at::randn({outChannels, inChannels / groups, kernel, kernel}, at::TensorOptions().device(at::kCUDA)) /
          std::sqrt(double(fanIn)))
      .to(type);
}

/// A bias of `channels` values on the GPU in `type`, or none.
c10::optional<at::Tensor> randomBias(bool present, int64_t channels, at::ScalarType type) {
  if (!present) {
    return c10::nullopt;
  }
  return at::randn({channels}, at::TensorOptions().device(at::kCUDA).dtype(type));
}

c10::optional<at::Tensor> floatOrNull(const c10::optional<at::Tensor>& tensor) {
  return tensor ? c10::optional<at::Tensor>(tensor->to(at::kFloat)) : c10::nullopt;
}

/// Loads the kernels, skips without a GPU, and turns TF32 off for the float32 references.
class CudaOpsTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(loadCudaKernels(&error)) << error;
    if (!torch::cuda::is_available()) {
      GTEST_SKIP() << "no CUDA device: the CUDA kernels' numerical tests need a GPU "
                      "(loading and registration are checked by CudaKernelsTest)";
    }
    allowTf32CuBlas_ = at::globalContext().allowTF32CuBLAS();
    allowTf32CuDnn_ = at::globalContext().allowTF32CuDNN();
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
    at::manual_seed(0);
  }
  void TearDown() override {
    if (torch::cuda::is_available()) {
      at::globalContext().setAllowTF32CuBLAS(allowTf32CuBlas_);
      at::globalContext().setAllowTF32CuDNN(allowTf32CuDnn_);
    }
  }

  at::TensorOptions cuda(at::ScalarType type = at::kFloat) const {
    return at::TensorOptions().device(at::kCUDA).dtype(type);
  }

private:
  bool allowTf32CuBlas_ = false;
  bool allowTf32CuDnn_ = false;
};

const std::vector<ResidualAdd> kResiduals = {ResidualAdd::None, ResidualAdd::BeforeActivation,
                                             ResidualAdd::AfterActivation};

TEST_F(CudaOpsTest, LinearMatchesAtenForEveryDtypeActivationAndResidual) {
  struct Shape {
    std::vector<int64_t> input;
    int64_t outFeatures;
    bool bias;
  };
  const std::vector<Shape> shapes = {{{3, 5, 37}, 29, true}, {{64, 128}, 256, true}, {{7, 64}, 48, false},
                                     {{1, 32}, 16, true}};
  for (at::ScalarType type : kTypes) {
    for (const Shape& shape : shapes) {
      const int64_t inFeatures = shape.input.back();
      at::Tensor weight = at::randn({shape.outFeatures, inFeatures}, cuda()) / std::sqrt(double(inFeatures));
      c10::optional<at::Tensor> bias;
      if (shape.bias) {
        bias = at::randn({shape.outFeatures}, cuda()).to(type);
      }
      weight = weight.to(type);
      auto packed = c10::make_intrusive<LinearPacked>(weight, bias);
      auto reference = c10::make_intrusive<LinearPacked>(weight.to(at::kFloat), floatOrNull(bias));
      at::Tensor input = at::randn(shape.input, cuda(type));
      std::vector<int64_t> outSizes(shape.input.begin(), shape.input.end() - 1);
      outSizes.push_back(shape.outFeatures);
      for (const Activation& activation : everyActivation()) {
        for (ResidualAdd where : kResiduals) {
          SCOPED_TRACE(::testing::Message() << type << " input " << at::IntArrayRef(shape.input) << " -> "
                                            << shape.outFeatures << " " << nameOf(activation) << opSuffix(where));
          at::Tensor residual = where == ResidualAdd::None ? at::Tensor() : at::randn(outSizes, cuda(type));
          at::Tensor expected = reference->runReference(
              input.to(at::kFloat), residual.defined() ? residual.to(at::kFloat) : residual, activation, where);
          at::Tensor actual = callLayerOp("linear", input, residual.defined() ? residual.clone() : residual, packed,
                                          activation, where);
          expectClose(actual, expected, type);
        }
      }
    }
  }
}

TEST_F(CudaOpsTest, ConvMatchesAtenForEveryDtypeLayoutActivationAndResidual) {
  struct Layer {
    int64_t inChannels, outChannels, kernel;
    Conv2dParams params;
    bool bias;
  };
  const std::vector<Layer> layers = {
      {8, 16, 3, {{1, 1}, {1, 1}, {1, 1}, 1}, true},   {8, 12, 3, {{2, 2}, {0, 0}, {1, 1}, 1}, true},
      {8, 10, 3, {{1, 2}, {2, 2}, {2, 2}, 2}, false},  {8, 8, 3, {{1, 1}, {1, 1}, {1, 1}, 8}, true},
      {8, 24, 1, {{1, 1}, {0, 0}, {1, 1}, 1}, true}};
  for (at::ScalarType type : kTypes) {
    for (const Layer& layer : layers) {
      const at::Tensor weight = randomConvWeight(layer.inChannels, layer.outChannels, layer.kernel,
                                                 layer.params.groups, type);
      const c10::optional<at::Tensor> bias = randomBias(layer.bias, layer.outChannels, type);
      auto packed = c10::make_intrusive<ConvPacked>(weight, bias, layer.params);
      auto reference = c10::make_intrusive<ConvPacked>(weight.to(at::kFloat), floatOrNull(bias), layer.params);
      for (at::MemoryFormat format : {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast}) {
        at::Tensor input = at::randn({2, layer.inChannels, 11, 13}, cuda(type)).contiguous(format);
        at::Tensor plain = reference->runReference(input.to(at::kFloat), at::Tensor(), Activation{});
        for (const Activation& activation : everyActivation()) {
          for (ResidualAdd where : kResiduals) {
            SCOPED_TRACE(::testing::Message()
                         << type << " groups " << layer.params.groups << " stride " << layer.params.stride[0]
                         << " dilation " << layer.params.dilation[0] << " kernel " << layer.kernel << " "
                         << (format == at::MemoryFormat::ChannelsLast ? "channels_last " : "nchw ")
                         << nameOf(activation) << opSuffix(where));
            at::Tensor residual =
                where == ResidualAdd::None ? at::Tensor() : at::randn(plain.sizes(), cuda(type)).contiguous(format);
            at::Tensor expected = reference->runReference(
                input.to(at::kFloat), residual.defined() ? residual.to(at::kFloat) : residual, activation, where);
            at::Tensor actual = callLayerOp("conv2d", input, residual.defined() ? residual.clone() : residual, packed,
                                            activation, where);
            expectClose(actual, expected, type);
            EXPECT_TRUE(actual.is_contiguous(format)) << "the result keeps the input's memory format";
          }
        }
      }
    }
  }
}

/// runCudnnFusedConv itself, for every activation, dtype, layout and residual
/// position on a few layers: what cuDNN fuses must match ATen; what it
/// declines is reported (with cuDNN's reason), not failed: which graphs its
/// runtime-fusion engines take depends on the GPU and the cuDNN release.
TEST_F(CudaOpsTest, CudnnFusedConvMatchesAtenOrDeclines) {
  cuda::RunCudnnFusedConvFunction fusedConv = cudnnFusedConv();
  ASSERT_NE(fusedConv, nullptr);
  ScopedEnvironment on("TSOPT_CUDNN_FUSION", std::string("1"));
  struct Layer {
    const char* name;
    int64_t inChannels, outChannels, kernel;
    Conv2dParams params;
    bool bias;
  };
  const std::vector<Layer> layers = {{"3x3", 32, 32, 3, {{1, 1}, {1, 1}, {1, 1}, 1}, true},
                                     {"3x3 stride 2", 32, 48, 3, {{2, 2}, {1, 1}, {1, 1}, 1}, true},
                                     {"3x3 groups 4 dilation 2", 32, 32, 3, {{1, 1}, {2, 2}, {2, 2}, 4}, false},
                                     {"1x1", 32, 64, 1, {{1, 1}, {0, 0}, {1, 1}, 1}, true}};
  std::map<std::string, std::vector<std::string>> declined;
  std::map<std::string, int> fused;
  const auto start = std::chrono::steady_clock::now();
  for (at::ScalarType type : kTypes) {
    for (const Layer& layer : layers) {
      const at::Tensor weight = randomConvWeight(layer.inChannels, layer.outChannels, layer.kernel,
                                                 layer.params.groups, type);
      const c10::optional<at::Tensor> bias = randomBias(layer.bias, layer.outChannels, type);
      auto reference = c10::make_intrusive<ConvPacked>(weight.to(at::kFloat), floatOrNull(bias), layer.params);
      for (at::MemoryFormat format : {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast}) {
        const char* layout = format == at::MemoryFormat::ChannelsLast ? "nhwc" : "nchw";
        at::Tensor input = at::randn({2, layer.inChannels, 9, 10}, cuda(type)).contiguous(format);
        at::Tensor formatWeight = weight.contiguous(format);
        at::Tensor plain = reference->runReference(input.to(at::kFloat), at::Tensor(), Activation{});
        for (const Activation& activation : everyActivation()) {
          for (ResidualAdd where : kResiduals) {
            std::ostringstream combination;
            combination << type << " " << layout << " " << layer.name << " " << nameOf(activation)
                        << opSuffix(where);
            SCOPED_TRACE(combination.str());
            at::Tensor residual =
                where == ResidualAdd::None ? at::Tensor() : at::randn(plain.sizes(), cuda(type)).contiguous(format);
            at::Tensor out;
            std::string reason;
            if (!fusedConv(input, formatWeight, bias ? &*bias : nullptr, residual, where, activation, layer.params,
                           out, &reason)) {
              EXPECT_FALSE(reason.empty());
              declined[reason].push_back(combination.str());
              continue;
            }
            ++fused[std::string(c10::toString(type)) + " " + layout];
            at::Tensor expected = reference->runReference(
                input.to(at::kFloat), residual.defined() ? residual.to(at::kFloat) : residual, activation, where);
            expectClose(out, expected, type);
            EXPECT_TRUE(out.is_contiguous(format)) << "the result has the input's memory format";
            // The second call of a graph runs its kept plan.
            at::Tensor again;
            ASSERT_TRUE(fusedConv(input, formatWeight, bias ? &*bias : nullptr, residual, where, activation,
                                  layer.params, again, &reason))
                << reason;
            expectClose(again, expected, type);
          }
        }
      }
    }
  }
  // A CUDA error left set would make this kernel's launch check throw.
  EXPECT_NO_THROW(at::ones({4}, cuda()).add_(1).sum().item<float>()) << "no CUDA error left set";
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[ cuDNN graph ] " << seconds << " s; fused:";
  for (const auto& [group, count] : fused) {
    std::cout << " " << group << " " << count << ";";
  }
  std::cout << "\n";
  for (const auto& [reason, combinations] : declined) {
    std::cout << "[ cuDNN graph ] declined " << combinations.size() << " (e.g. " << combinations.front()
              << "): " << reason << "\n";
  }
}

TEST_F(CudaOpsTest, CudnnFusionSwitchOffKeepsConvCorrect) {
  cuda::RunCudnnFusedConvFunction fusedConv = cudnnFusedConv();
  ASSERT_NE(fusedConv, nullptr);
  ScopedEnvironment off("TSOPT_CUDNN_FUSION", "0");
  at::Tensor weight = (at::randn({16, 16, 3, 3}, cuda()) / 12.0).to(at::kHalf);
  at::Tensor bias = at::randn({16}, cuda(at::kHalf));
  const Conv2dParams params{{1, 1}, {1, 1}, {1, 1}, 1};
  auto packed = c10::make_intrusive<ConvPacked>(weight, bias, params);
  at::Tensor input = at::randn({2, 16, 8, 8}, cuda(at::kHalf)).contiguous(at::MemoryFormat::ChannelsLast);
  const Activation silu = parseActivation("silu", 0, 0);
  at::Tensor out;
  std::string reason;
  EXPECT_FALSE(fusedConv(input, weight.contiguous(at::MemoryFormat::ChannelsLast), &bias, at::Tensor(),
                         ResidualAdd::None, silu, params, out, &reason));
  EXPECT_EQ(reason, "TSOPT_CUDNN_FUSION is not 1");
  auto reference = c10::make_intrusive<ConvPacked>(weight.to(at::kFloat), bias.to(at::kFloat), params);
  expectClose(callLayerOp("conv2d", input, at::Tensor(), packed, silu, ResidualAdd::None),
              reference->runReference(input.to(at::kFloat), at::Tensor(), silu), at::kHalf);
}

TEST_F(CudaOpsTest, ConvResidualInTheOtherMemoryFormat) {
  at::Tensor weight = at::randn({6, 4, 3, 3}, cuda()) / 6.0;
  auto packed = c10::make_intrusive<ConvPacked>(weight, at::randn({6}, cuda()), Conv2dParams{{1, 1}, {1, 1}, {1, 1}, 1});
  at::Tensor input = at::randn({1, 4, 5, 7}, cuda()).contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor residual = at::randn({1, 6, 5, 7}, cuda());
  for (ResidualAdd where : {ResidualAdd::BeforeActivation, ResidualAdd::AfterActivation}) {
    for (const Activation& activation : {parseActivation("relu", 0, 0), parseActivation("silu", 0, 0)}) {
      at::Tensor expected = packed->runReference(input, residual, activation, where);
      expectClose(callLayerOp("conv2d", input, residual.clone(), packed, activation, where), expected, at::kFloat);
    }
  }
}

TEST_F(CudaOpsTest, AttentionMatchesAtenForEveryDtypeMaskAndPermutation) {
  for (at::ScalarType type : kTypes) {
    at::Tensor query = at::randn({2, 3, 7, 16}, cuda(type));
    // key_t as BERT makes it: a transposed view.
    at::Tensor keyT = at::randn({2, 3, 9, 16}, cuda(type)).transpose(-1, -2);
    at::Tensor value = at::randn({2, 3, 9, 16}, cuda(type));
    at::Tensor padding = (at::rand({2, 1, 1, 9}, cuda()) < 0.3).to(at::kFloat) * -10000.0;
    for (const c10::optional<at::Tensor>& mask :
         std::vector<c10::optional<at::Tensor>>{c10::nullopt, padding, at::randn({2, 3, 7, 9}, cuda()),
                                                at::randn({7, 9}, cuda(type))}) {
      for (bool permute : {false, true}) {
        SCOPED_TRACE(::testing::Message() << type << " mask " << (mask ? mask->sizes() : at::IntArrayRef{})
                                          << " permute " << permute);
        at::Tensor expected = attentionReference(query.to(at::kFloat), keyT.to(at::kFloat), value.to(at::kFloat),
                                                 floatOrNull(mask), 0.25, permute);
        at::Tensor actual = callAttention(query, keyT, value, mask, 0.25, permute);
        expectClose(actual, expected, type);
        if (permute) {
          EXPECT_TRUE(actual.is_contiguous());
        }
      }
    }
  }
}

TEST_F(CudaOpsTest, AddLayerNormMatchesAtenForEveryDtypeAndShape) {
  struct Case {
    std::vector<int64_t> input, normalized;
  };
  const std::vector<Case> cases = {{{4, 7, 33}, {33}}, {{3, 768}, {768}}, {{2, 5, 6}, {5, 6}}, {{2, 4100}, {4100}}};
  for (at::ScalarType type : kTypes) {
    for (const Case& c : cases) {
      at::Tensor input = at::randn(c.input, cuda(type)) * 3 + 1;
      at::Tensor other = at::randn(c.input, cuda(type));
      at::Tensor weight = at::randn(c.normalized, cuda(type));
      at::Tensor bias = at::randn(c.normalized, cuda(type));
      for (bool affine : {true, false}) {
        SCOPED_TRACE(::testing::Message() << type << " input " << at::IntArrayRef(c.input) << " affine " << affine);
        c10::optional<at::Tensor> w = affine ? c10::optional<at::Tensor>(weight) : c10::nullopt;
        c10::optional<at::Tensor> b = affine ? c10::optional<at::Tensor>(bias) : c10::nullopt;
        at::Tensor expected = addLayerNormReference(input.to(at::kFloat), other.to(at::kFloat), c.normalized,
                                                    floatOrNull(w), floatOrNull(b), 1e-5);
        expectClose(callAddLayerNorm(input, other, c.normalized, w, b, 1e-5), expected, type);
      }
    }
  }
}

TEST_F(CudaOpsTest, UnsupportedOperandsTakeTheAtenPath) {
  // A residual that broadcasts, a non-contiguous input, an input autograd must see.
  at::Tensor weight = at::randn({16, 32}, cuda()) / 6.0;
  auto packed = c10::make_intrusive<LinearPacked>(weight, at::randn({16}, cuda()));
  const Activation gelu = parseActivation("gelu", 0, 0);
  at::Tensor input = at::randn({8, 32}, cuda());
  at::Tensor rowResidual = at::randn({16}, cuda());
  expectClose(callLayerOp("linear", input, rowResidual, packed, gelu, ResidualAdd::BeforeActivation),
              packed->runReference(input, rowResidual, gelu, ResidualAdd::BeforeActivation), at::kFloat);
  at::Tensor transposed = at::randn({32, 8}, cuda()).t();
  expectClose(callLayerOp("linear", transposed, at::Tensor(), packed, gelu, ResidualAdd::None),
              packed->runReference(transposed, at::Tensor(), gelu), at::kFloat);
  at::Tensor leaf = input.clone().requires_grad_(true);
  at::Tensor withGrad = callLayerOp("linear", leaf, at::Tensor(), packed, gelu, ResidualAdd::None);
  EXPECT_TRUE(withGrad.requires_grad());
  at::Tensor other = at::randn({1, 32}, cuda());
  expectClose(callAddLayerNorm(input, other, {32}, c10::nullopt, c10::nullopt, 1e-5),
              addLayerNormReference(input, other, {32}, c10::nullopt, c10::nullopt, 1e-5), at::kFloat);
  at::Tensor empty = at::randn({0, 32}, cuda());
  EXPECT_EQ(callLayerOp("linear", empty, at::Tensor(), packed, gelu, ResidualAdd::None).sizes(),
            (std::vector<int64_t>{0, 16}));
}

TEST_F(CudaOpsTest, CpuKernelsFallBackToAtenOnCudaTensors) {
  // What runs when the companion is absent: the classes' own run(), which must
  // hand CUDA tensors to ATen, never to oneDNN.
  at::Tensor convWeight = at::randn({6, 4, 3, 3}, cuda()) / 6.0;
  ConvPacked conv(convWeight, c10::nullopt, Conv2dParams{{1, 1}, {1, 1}, {1, 1}, 1});
  at::Tensor image = at::randn({1, 4, 5, 7}, cuda());
  EXPECT_FALSE(conv.kernelApplies(image, at::Tensor()));
  const Activation relu = parseActivation("relu", 0, 0);
  expectClose(conv.run(image, at::Tensor(), relu), at::relu(at::conv2d(image, convWeight, {}, 1, 1)), at::kFloat);
  at::Tensor linearWeight = at::randn({5, 4}, cuda());
  LinearPacked linear(linearWeight, c10::nullopt);
  at::Tensor rows = at::randn({3, 4}, cuda());
  EXPECT_FALSE(linear.kernelApplies(rows, at::Tensor()));
  expectClose(linear.run(rows, at::Tensor(), relu), at::relu(at::linear(rows, linearWeight)), at::kFloat);
  EXPECT_FALSE(attentionKernelApplies(image, image.transpose(-1, -2), image, c10::nullopt, false));
}

TEST_F(CudaOpsTest, PackedLayersKeepTheirWeightsOnTheDevice) {
  at::Tensor weight = at::randn({6, 4, 3, 3}, cuda());
  ConvPacked conv(weight, at::randn({6}, cuda()), Conv2dParams{{1, 1}, {1, 1}, {1, 1}, 1});
  EXPECT_TRUE(conv.channelsLastWeight().is_cuda());
  EXPECT_TRUE(conv.channelsLastWeight().is_contiguous(at::MemoryFormat::ChannelsLast));
  ConvPacked::State state = conv.state();
  EXPECT_TRUE(std::get<1>(state).is_cuda());
  ConvPacked restored(state);
  EXPECT_TRUE(restored.weight().is_cuda());
  EXPECT_TRUE(at::equal(restored.weight(), weight));
}

TEST_F(CudaOpsTest, LinearWeightsAreColumnMajorInFloat32OnTheGpu) {
  at::Tensor weight = at::randn({48, 64}, cuda());
  LinearPacked linear(weight, at::randn({48}, cuda()));
  EXPECT_FALSE(linear.weight().is_contiguous());
  EXPECT_TRUE(linear.weight().t().is_contiguous());
  EXPECT_TRUE(at::equal(linear.weight(), weight));
  LinearPacked restored(linear.state());
  EXPECT_TRUE(at::equal(restored.weight(), weight));
  LinearPacked half(weight.to(at::kHalf), c10::nullopt);
  EXPECT_TRUE(half.weight().is_contiguous());
  LinearPacked onCpu(linear.weight().cpu(), c10::nullopt);
  EXPECT_TRUE(onCpu.weight().is_contiguous());
}

TEST_F(CudaOpsTest, LinearKeepsItsTunedAlgorithmAcrossCalls) {
  // The first call of a shape times cuBLASLt's candidates; later calls reuse the choice.
  auto packed = c10::make_intrusive<LinearPacked>(at::randn({768, 3072}, cuda()) / 50.0, at::randn({768}, cuda()));
  at::Tensor input = at::randn({2, 128, 3072}, cuda());
  const Activation gelu = parseActivation("gelu_tanh", 0.0, 0.0);
  at::Tensor expected = packed->runReference(input, at::Tensor(), gelu);
  for (int call = 0; call < 3; ++call) {
    SCOPED_TRACE(::testing::Message() << "call " << call);
    expectClose(callLayerOp("linear", input, at::Tensor(), packed, gelu, ResidualAdd::None), expected, at::kFloat);
  }
}

} // namespace
} // namespace tsopt::runtime
