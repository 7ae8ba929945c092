// tsopt's runtime calls libdnnl-dev's oneDNN 2.x, opened privately
// (runtime/onednn_library.cpp); LibTorch calls its own: the same shared library
// on Debian's LibTorch 1.13, a static copy of oneDNN 3.x in the wheel's
// LibTorch 2.x. Both must run in one process, interleaved, each on its own
// code. The kernels here are the ones the two copies once confused: jit gemm
// (tsopt's attention matmuls), softmax, convolution, inner product, and ATen's
// oneDNN convolution, linear and bfloat16 matmul.
#include "runtime/attention.h"
#include "runtime/onednn_library.h"
#include "runtime/packed_layers.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <oneapi/dnnl/dnnl_version.h>

#include <dlfcn.h>

#include <string>

namespace tsopt::runtime {
namespace {

void expectClose(const at::Tensor& actual, const at::Tensor& expected, double tolerance) {
  ASSERT_EQ(actual.sizes(), expected.sizes());
  EXPECT_TRUE(at::allclose(actual, expected, tolerance, tolerance)) << (actual - expected).abs().max().item<double>();
}

TEST(OneDnnCoexistenceTest, RuntimeCallsTheOneDnnItWasCompiledAgainst) {
  const OneDnnLibrary& library = oneDnnLibrary();
  EXPECT_NE(library.path.find("libdnnl.so." + std::to_string(DNNL_VERSION_MAJOR)), std::string::npos) << library.path;
  EXPECT_EQ(library.major, DNNL_VERSION_MAJOR);
  EXPECT_EQ(library.minor, DNNL_VERSION_MINOR);
  // Either no oneDNN entry point is visible to the process (the wheel's LibTorch
  // hides its copy) or it is the very library the runtime opened (Debian's
  // LibTorch links it too).
  void* global = dlsym(RTLD_DEFAULT, "dnnl_primitive_execute");
  if (global != nullptr) {
    Dl_info info{};
    ASSERT_NE(dladdr(global, &info), 0);
    EXPECT_EQ(std::string(info.dli_fname), library.path);
  }
}

TEST(OneDnnCoexistenceTest, FusedKernelsAndAtenOneDnnKernelsInterleave) {
  ASSERT_TRUE(at::hasMKLDNN());
  at::manual_seed(0);
  const at::Tensor weight = at::randn({16, 8, 3, 3});
  const at::Tensor bias = at::randn({16});
  ConvPacked conv(weight, bias, {{1, 1}, {1, 1}, {1, 1}, 1});
  LinearPacked linear(at::randn({32, 16 * 12 * 12}), at::randn({32}));
  for (int round = 0; round < 3; ++round) {
    const at::Tensor input = at::randn({2, 8, 12, 12});
    // Double precision takes ATen's own kernels, outside both oneDNNs.
    const at::Tensor expected =
        at::relu(at::conv2d(input.to(at::kDouble), weight.to(at::kDouble), bias.to(at::kDouble), 1, 1))
            .to(at::kFloat);
    expectClose(at::relu(at::mkldnn_convolution(input, weight, bias, {1, 1}, {1, 1}, {1, 1}, 1)), expected, 1e-4);
    const at::Tensor convolved = conv.run(input, at::Tensor(), {ActivationKind::Relu});
    expectClose(convolved, expected, 1e-4);

    const at::Tensor rows = convolved.flatten(1);
    expectClose(linear.run(rows, at::Tensor(), {ActivationKind::None}),
                linear.runReference(rows, at::Tensor(), {ActivationKind::None}), 1e-3);
    const at::Tensor projection = at::randn({4, rows.size(1)});
    expectClose(at::mkldnn_linear(rows.to_mkldnn(), projection.to_mkldnn(), {}).to_dense(),
                at::mm(rows.to(at::kDouble), projection.to(at::kDouble).t()).to(at::kFloat), 1e-3);

    // Attention: two jit-gemm matmuls and a softmax in the runtime's oneDNN.
    const at::Tensor query = at::randn({2, 4, 12, 8}), keyT = at::randn({2, 4, 8, 12}), value = at::randn({2, 4, 12, 8});
    expectClose(attention(query, keyT, value, c10::nullopt, 0.35, false),
                attentionReference(query, keyT, value, c10::nullopt, 0.35, false), 1e-4);
    // A bfloat16 matmul, which ATen runs on its oneDNN where the CPU has bf16.
    const at::Tensor left = at::randn({64, 64}), right = at::randn({64, 64});
    expectClose(at::matmul(left.to(at::kBFloat16), right.to(at::kBFloat16)).to(at::kFloat), at::matmul(left, right),
                0.5);
  }
}

} // namespace
} // namespace tsopt::runtime
