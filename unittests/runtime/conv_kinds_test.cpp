// tsopt.ConvPacked on 1-D, 3-D and transposed convolutions, against ATen's
// own ops (at::conv1d/conv3d/conv_transpose*d, then the activation and the add).
#include "runtime/packed_layers.h"
#include "unittests/runtime/activation_cases.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace tsopt::runtime {
namespace {

struct KindCase {
  const char* name;
  int64_t rank;
  bool transposed;
  int64_t inChannels, outChannels, kernel, stride, padding, dilation, groups, outputPadding, size;
  /// False where oneDNN 2.6 has only a gemm-based kernel on AVX2 (few channels
  /// a group; every 1-D and 3-D transposed layer tried), so run() takes ATen's
  /// path there; with AVX-512 it has direct kernels for all of these.
  bool onednn = true;
};

/// Whether run() uses oneDNN for the case on this CPU.
bool runsOnOneDnn(const KindCase& c) {
  __builtin_cpu_init();
  return c.onednn || __builtin_cpu_supports("avx512f");
}

const std::vector<KindCase> kCases = {
    {"conv1d", 1, false, 4, 8, 3, 1, 1, 1, 1, 0, 17},
    {"conv1d strided dilated grouped", 1, false, 6, 9, 5, 2, 3, 2, 3, 0, 23},
    {"conv3d", 3, false, 3, 8, 3, 1, 1, 1, 1, 0, 7},
    {"conv3d strided grouped", 3, false, 8, 8, 3, 2, 0, 1, 4, 0, 9, false},  // 2 channels a group
    {"conv3d dilated", 3, false, 4, 6, 2, 1, 2, 2, 1, 0, 6},
    {"conv_transpose1d few channels", 1, true, 8, 4, 4, 2, 1, 1, 1, 0, 11, false},
    {"conv_transpose1d", 1, true, 16, 16, 3, 2, 1, 1, 1, 1, 11, false},
    {"conv_transpose2d", 2, true, 8, 6, 3, 2, 1, 1, 1, 1, 7},
    {"conv_transpose2d grouped dilated", 2, true, 6, 9, 3, 1, 2, 2, 3, 1, 8},
    {"conv_transpose2d kernel = stride", 2, true, 16, 8, 2, 2, 0, 1, 1, 0, 6},
    {"conv_transpose3d grouped few channels", 3, true, 6, 4, 3, 2, 1, 1, 2, 1, 5, false},
    {"conv_transpose3d", 3, true, 16, 8, 3, 2, 1, 1, 1, 1, 5, false},
};

std::vector<int64_t> repeated(int64_t value, int64_t rank) { return std::vector<int64_t>(rank, value); }

at::Tensor weightFor(const KindCase& c) {
  std::vector<int64_t> sizes = c.transposed ? std::vector<int64_t>{c.inChannels, c.outChannels / c.groups}
                                            : std::vector<int64_t>{c.outChannels, c.inChannels / c.groups};
  for (int64_t dim = 0; dim < c.rank; ++dim) {
    sizes.push_back(c.kernel);
  }
  return at::randn(sizes);
}

Conv2dParams paramsFor(const KindCase& c) {
  return {repeated(c.stride, c.rank),  repeated(c.padding, c.rank), repeated(c.dilation, c.rank), c.groups,
          repeated(c.outputPadding, c.rank), c.transposed};
}

/// ATen's own op for the case, without the runtime's code.
at::Tensor atenConv(const KindCase& c, const at::Tensor& input, const at::Tensor& weight,
                    const c10::optional<at::Tensor>& bias) {
  const Conv2dParams p = paramsFor(c);
  if (c.transposed) {
    if (c.rank == 1) {
      return at::conv_transpose1d(input, weight, bias, p.stride, p.padding, p.outputPadding, p.groups, p.dilation);
    }
    if (c.rank == 2) {
      return at::conv_transpose2d(input, weight, bias, p.stride, p.padding, p.outputPadding, p.groups, p.dilation);
    }
    return at::conv_transpose3d(input, weight, bias, p.stride, p.padding, p.outputPadding, p.groups, p.dilation);
  }
  if (c.rank == 1) {
    return at::conv1d(input, weight, bias, p.stride, p.padding, p.dilation, p.groups);
  }
  return at::conv3d(input, weight, bias, p.stride, p.padding, p.dilation, p.groups);
}

/// ATen's ops for each activation (the runtime's reference epilogue).
at::Tensor atenActivation(const at::Tensor& x, const Activation& activation) { return applyActivation(x, activation); }

const std::vector<Activation>& kActivations = testing::everyActivation();

/// float32: the kernel and ATen sum in different orders.
void expectCloseFloat(const at::Tensor& actual, const at::Tensor& expected) {
  ASSERT_EQ(actual.sizes(), expected.sizes());
  EXPECT_TRUE(at::allclose(actual, expected, 1e-4, 1e-3)) << (actual - expected).abs().max().item<double>();
}

/// The layer with every activation, alone and with the residual before and after it, against ATen's `convolved`.
void expectEveryEpilogueMatches(ConvPacked& packed, const at::Tensor& input, const at::Tensor& convolved,
                                const at::Tensor& residual) {
  for (const Activation& activation : kActivations) {
    SCOPED_TRACE(testing::describe(activation));
    expectCloseFloat(packed.run(input, at::Tensor(), activation), atenActivation(convolved, activation));
    expectCloseFloat(packed.run(input, residual, activation, ResidualAdd::BeforeActivation),
                     atenActivation(convolved + residual, activation));
    expectCloseFloat(packed.run(input, residual, activation, ResidualAdd::AfterActivation),
                     atenActivation(convolved, activation) + residual);
  }
}

at::Tensor inputFor(const KindCase& c, int64_t batch, bool strided) {
  std::vector<int64_t> sizes{batch, c.inChannels};
  for (int64_t dim = 0; dim < c.rank; ++dim) {
    sizes.push_back(c.size);
  }
  if (!strided) {
    return at::randn(sizes);
  }
  sizes.back() *= 2;  // every other element of the last dimension: not contiguous in any format
  return at::randn(sizes).slice(-1, 0, c.size * 2, 2);
}

/// Sets TSOPT_CONV_KINDS for one scope (read when a layer is packed).
class ConvKindsSetting {
public:
  explicit ConvKindsSetting(const char* value) { setenv("TSOPT_CONV_KINDS", value, 1); }
  ~ConvKindsSetting() { unsetenv("TSOPT_CONV_KINDS"); }
};

TEST(ConvKindsTest, KernelMatchesAtenForEveryKind) {
  ConvKindsSetting everyKindOnOneDnn("onednn");
  at::manual_seed(0);
  for (const KindCase& c : kCases) {
    SCOPED_TRACE(c.name);
    at::Tensor weight = weightFor(c);
    for (bool withBias : {true, false}) {
      c10::optional<at::Tensor> bias = withBias ? c10::optional<at::Tensor>(at::randn({c.outChannels})) : c10::nullopt;
      ConvPacked packed(weight, bias, paramsFor(c));
      for (int64_t batch : {1, 3}) {
        for (bool strided : {false, true}) {
          at::Tensor input = inputFor(c, batch, strided);
          ASSERT_TRUE(packed.kernelApplies(input, at::Tensor()));
          EXPECT_EQ(packed.algorithmFor(input), !runsOnOneDnn(c) ? "aten" : c.transposed ? "deconvolution" : "direct");
          at::Tensor convolved = atenConv(c, input, weight, bias);
          at::Tensor residual = at::randn_like(convolved);
          expectEveryEpilogueMatches(packed, input, convolved, residual);
        }
      }
    }
  }
}

/// Whether the case's transposed layer takes the sub-pixel form (subPixelTaps).
bool subPixelCase(const KindCase& c) { return !subPixelTaps(weightFor(c).sizes(), paramsFor(c)).empty(); }

// By default transposed and 1-D layers run ATen's convolution (slower on
// oneDNN 2.6: conv_packed.cpp, docs/fusion.md), or a transposed layer the
// sub-pixel form; plain 2-D and 3-D run oneDNN.
TEST(ConvKindsTest, TransposedAndOneDimensionalLayersRunAtenByDefault) {
  at::manual_seed(2);
  for (const KindCase& c : kCases) {
    SCOPED_TRACE(c.name);
    at::Tensor weight = weightFor(c);
    ConvPacked packed(weight, c10::nullopt, paramsFor(c));
    at::Tensor input = inputFor(c, 1, false);
    const bool atenFaster = c.transposed || c.rank == 1;
    EXPECT_EQ(packed.algorithmFor(input), subPixelCase(c)                   ? "sub-pixel"
                                          : atenFaster || !runsOnOneDnn(c) ? "aten"
                                                                           : "direct");
    expectCloseFloat(packed.run(input, at::Tensor(), Activation{ActivationKind::Relu}),
                     at::relu(atenConv(c, input, weight, c10::nullopt)));
  }
}

struct SubPixelCase {
  const char* name;
  std::vector<int64_t> kernel, stride, padding, outputPadding;
  int64_t inChannels, outChannels, groups, size;
};

const std::vector<SubPixelCase> kSubPixelCases = {
    {"2-D kernel = stride", {2, 2}, {2, 2}, {0, 0}, {0, 0}, 8, 6, 1, 5},
    {"2-D kernel 3, stride 2, output padding", {3, 3}, {2, 2}, {1, 1}, {1, 1}, 16, 12, 1, 6},
    {"2-D kernel 4, stride 2, grouped", {4, 4}, {2, 2}, {1, 1}, {0, 0}, 12, 8, 2, 7},
    {"2-D stride 2 by 1, uneven padding", {3, 4}, {2, 1}, {2, 1}, {1, 0}, 6, 9, 3, 5},
    {"2-D kernel 5, stride 3", {5, 5}, {3, 3}, {2, 1}, {2, 0}, 4, 4, 1, 4},
    {"3-D kernel = stride", {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {0, 0, 0}, 8, 16, 1, 4},
    {"3-D kernel 4, stride 2, grouped", {4, 4, 4}, {2, 2, 2}, {1, 1, 1}, {0, 0, 0}, 8, 4, 2, 4},
};

Conv2dParams subPixelParams(const SubPixelCase& c) {
  return {c.stride, c.padding, std::vector<int64_t>(c.stride.size(), 1), c.groups, c.outputPadding, true};
}

at::Tensor atenTransposed(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                          const Conv2dParams& p) {
  return weight.dim() == 4
             ? at::conv_transpose2d(input, weight, bias, p.stride, p.padding, p.outputPadding, p.groups, p.dilation)
             : at::conv_transpose3d(input, weight, bias, p.stride, p.padding, p.outputPadding, p.groups, p.dilation);
}

// The sub-pixel form against ATen's transposed convolution, float32: batch 1
// and 2, contiguous, channels-last and strided inputs, every activation, the
// residual before and after it, subtracted, and two sums. Tolerance 1e-4
// relative + 1e-3 absolute (the kernels sum in another order).
TEST(ConvKindsTest, SubPixelFormMatchesAten) {
  at::manual_seed(3);
  for (const SubPixelCase& c : kSubPixelCases) {
    SCOPED_TRACE(c.name);
    const Conv2dParams params = subPixelParams(c);
    std::vector<int64_t> weightSizes{c.inChannels, c.outChannels / c.groups};
    weightSizes.insert(weightSizes.end(), c.kernel.begin(), c.kernel.end());
    at::Tensor weight = at::randn(weightSizes);
    at::Tensor bias = at::randn({c.outChannels});
    ConvPacked packed(weight, bias, params);
    ASSERT_TRUE(packed.runsSubPixel());
    for (int64_t batch : {1, 2}) {
      std::vector<int64_t> inputSizes{batch, c.inChannels};
      inputSizes.insert(inputSizes.end(), c.kernel.size(), c.size);
      at::Tensor contiguous = at::randn(inputSizes);
      at::Tensor channelsLast = contiguous.contiguous(c.kernel.size() == 2 ? at::MemoryFormat::ChannelsLast
                                                                           : at::MemoryFormat::ChannelsLast3d);
      std::vector<int64_t> wider = inputSizes;
      wider.back() *= 2;
      at::Tensor strided = at::randn(wider).slice(-1, 0, wider.back(), 2);
      for (const at::Tensor& input : {contiguous, channelsLast, strided}) {
        EXPECT_EQ(packed.algorithmFor(input), "sub-pixel");
        at::Tensor convolved = atenTransposed(input, weight, bias, params);
        at::Tensor residual = at::randn_like(convolved);
        at::Tensor second = at::randn_like(convolved);
        at::Tensor result = packed.run(input, at::Tensor(), Activation{});
        expectCloseFloat(result, convolved);
        EXPECT_EQ(result.suggest_memory_format(), input.suggest_memory_format());
        expectEveryEpilogueMatches(packed, input, convolved, residual);
        expectCloseFloat(packed.run(input, residual, Activation{ActivationKind::Relu}, ResidualAdd::BeforeActivation,
                                    -1.0, second, -1.0),
                         at::relu(convolved - residual - second));
      }
    }
  }
}

// Where the form does not apply or would not pay, the layer keeps ATen's
// convolution: 1-D, dilation, stride 1, too many zero taps (3-D kernel 3,
// stride 2: (4/3)^3 = 2.4 times the products), an output past the computed
// grid (kernel 4, stride 2, no padding, output padding 1), TSOPT_CONV_KINDS=onednn.
TEST(ConvKindsTest, SubPixelFormOnlyWhereItPays) {
  const auto taps = [](std::vector<int64_t> weight, std::vector<int64_t> stride, std::vector<int64_t> padding,
                       std::vector<int64_t> dilation, std::vector<int64_t> outputPadding) {
    return subPixelTaps(weight, {stride, padding, dilation, 1, outputPadding, true});
  };
  EXPECT_EQ(taps({4, 4, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}), std::vector<int64_t>({2, 2}));
  EXPECT_EQ(taps({4, 4, 2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {1, 1, 1}, {0, 0, 0}), std::vector<int64_t>({1, 1, 1}));
  EXPECT_TRUE(taps({4, 4, 3}, {2}, {1}, {1}, {1}).empty());
  EXPECT_TRUE(taps({4, 4, 3, 3}, {2, 2}, {1, 1}, {2, 1}, {1, 0}).empty());
  EXPECT_TRUE(taps({4, 4, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {0, 0}).empty());
  EXPECT_TRUE(taps({4, 4, 3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}).empty());
  EXPECT_TRUE(taps({4, 4, 4, 4}, {2, 2}, {0, 0}, {1, 1}, {1, 1}).empty());
  EXPECT_TRUE(subPixelTaps({4, 4, 3, 3}, {{2, 2}, {1, 1}, {1, 1}, 1, {1, 1}, false}).empty());
  at::Tensor weight = at::randn({4, 4, 3, 3});
  const Conv2dParams params{{2, 2}, {1, 1}, {1, 1}, 1, {1, 1}, true};
  EXPECT_TRUE(ConvPacked(weight, c10::nullopt, params).runsSubPixel());
  ConvKindsSetting everyKindOnOneDnn("onednn");
  EXPECT_FALSE(ConvPacked(weight, c10::nullopt, params).runsSubPixel());
}

// bfloat16 never takes the sub-pixel form: ATen's own computation.
TEST(ConvKindsTest, SubPixelLayerInBFloat16TakesTheAtenPath) {
  at::manual_seed(4);
  const SubPixelCase& c = kSubPixelCases[1];
  const Conv2dParams params = subPixelParams(c);
  at::Tensor weight = at::randn({c.inChannels, c.outChannels, 3, 3}).to(at::kBFloat16);
  ConvPacked packed(weight, c10::nullopt, params);
  EXPECT_FALSE(packed.runsSubPixel());
  at::Tensor input = at::randn({1, c.inChannels, c.size, c.size}).to(at::kBFloat16);
  EXPECT_EQ(packed.algorithmFor(input), "aten");
  at::Tensor expected;
  try {
    expected = at::relu(atenTransposed(input, weight, c10::nullopt, params));
  } catch (const c10::Error& error) {
    GTEST_SKIP() << "ATen has no bfloat16 conv_transpose2d here: " << error.what_without_backtrace();
  }
  EXPECT_TRUE(at::equal(packed.run(input, at::Tensor(), Activation{ActivationKind::Relu}), expected));
}

TEST(ConvKindsTest, ResultHasTheInputsMemoryFormat) {
  ConvPacked conv3d(at::randn({4, 3, 3, 3, 3}), c10::nullopt, {{1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1});
  at::Tensor input = at::randn({1, 3, 5, 5, 5});
  EXPECT_TRUE(conv3d.run(input, at::Tensor(), Activation{}).is_contiguous());
  at::Tensor channelsLast = input.contiguous(at::MemoryFormat::ChannelsLast3d);
  EXPECT_TRUE(conv3d.run(channelsLast, at::Tensor(), Activation{}).is_contiguous(at::MemoryFormat::ChannelsLast3d));
  ConvPacked conv1d(at::randn({4, 3, 3}), c10::nullopt, {{1}, {1}, {1}, 1});
  EXPECT_TRUE(conv1d.run(at::randn({2, 3, 9}), at::Tensor(), Activation{}).is_contiguous());
}

// bfloat16 on the CPU runs ATen's ops behind the fused name: oneDNN 2.6 has
// only its reference bf16 convolution without AVX-512 (this machine: AVX2),
// and the fusion passes fuse float32 only on the CPU. The result must be
// ATen's bf16 computation's, to within 1% of its largest value (bf16 keeps 8
// significant bits: 0.4% per rounding). Where ATen has no bf16 kernel
// (conv_transpose2d in LibTorch 1.13) the case is skipped, saying so, and the
// fused op must fail as ATen does.
TEST(ConvKindsTest, BFloat16TakesTheAtenPathForEveryActivation) {
  at::manual_seed(1);
  for (const KindCase& c : kCases) {
    SCOPED_TRACE(c.name);
    at::Tensor weight = weightFor(c).to(at::kBFloat16);
    at::Tensor bias = at::randn({c.outChannels}).to(at::kBFloat16);
    ConvPacked packed(weight, bias, paramsFor(c));
    at::Tensor input = inputFor(c, 2, false).to(at::kBFloat16);
    ASSERT_FALSE(packed.kernelApplies(input, at::Tensor()));
    at::Tensor convolved;
    try {
      convolved = atenConv(c, input, weight, bias);
    } catch (const c10::Error& error) {
      std::cout << "[  SKIPPED ] bfloat16 " << c.name << ": ATen has no bfloat16 kernel here: "
                << error.what_without_backtrace() << "\n";
      EXPECT_THROW(packed.run(input, at::Tensor(), Activation{ActivationKind::Silu}), c10::Error);
      continue;
    }
    at::Tensor residual = at::randn_like(convolved);
    for (const Activation& activation : kActivations) {
      SCOPED_TRACE(testing::describe(activation));
      // Against ATen's bfloat16 ops (exp of a bfloat16 sum near 30 is off by 10% from float32's: the
      // reference must round where the op does).
      at::Tensor expected;
      try {
        expected = atenActivation(convolved + residual, activation).to(at::kFloat);
      } catch (const c10::Error& error) {  // LibTorch 1.13 has no bfloat16 mish on the CPU: the op fails as ATen does
        std::cout << "[  SKIPPED ] bfloat16 " << c.name << ", " << testing::describe(activation)
                  << ": ATen has no bfloat16 kernel here: " << error.what_without_backtrace() << "\n";
        EXPECT_THROW(packed.run(input, residual, activation, ResidualAdd::BeforeActivation), c10::Error);
        continue;
      }
      at::Tensor fused = packed.run(input, residual, activation, ResidualAdd::BeforeActivation);
      ASSERT_EQ(fused.scalar_type(), at::kBFloat16);
      const double scale = std::max(1.0, expected.abs().max().item<double>());
      EXPECT_LE((fused.to(at::kFloat) - expected).abs().max().item<double>(), 0.01 * scale);
    }
  }
}

TEST(ConvKindsTest, StateRoundTripsAndVersionOneStillLoads) {
  at::manual_seed(2);
  const KindCase& c = kCases[7];  // conv_transpose2d with output padding
  ConvPacked packed(weightFor(c), at::randn({c.outChannels}), paramsFor(c));
  ConvPacked restored(ConvPacked::stateFrom(c10::ivalue::from(packed.state())));
  at::Tensor input = inputFor(c, 2, false);
  expectCloseFloat(restored.run(input, at::Tensor(), Activation{}), packed.run(input, at::Tensor(), Activation{}));
  EXPECT_TRUE(restored.params().transposed);
  EXPECT_EQ(restored.params().outputPadding, std::vector<int64_t>({1, 1}));

  at::Tensor weight = at::randn({4, 3, 3, 3});
  c10::IValue versionOne = c10::ivalue::Tuple::create(
      {c10::IValue(int64_t{1}), c10::IValue(weight), c10::IValue(), c10::IValue(std::vector<int64_t>{1, 1}),
       c10::IValue(std::vector<int64_t>{1, 1}), c10::IValue(std::vector<int64_t>{1, 1}), c10::IValue(int64_t{1})});
  ConvPacked old(ConvPacked::stateFrom(versionOne));
  EXPECT_FALSE(old.params().transposed);
  at::Tensor image = at::randn({1, 3, 6, 6});
  expectCloseFloat(old.run(image, at::Tensor(), Activation{}), at::conv2d(image, weight, {}, 1, 1));

  c10::IValue unknown = c10::ivalue::Tuple::create({c10::IValue(int64_t{7}), c10::IValue(weight)});
  EXPECT_THROW(ConvPacked::stateFrom(unknown), c10::Error);
  EXPECT_THROW(ConvPacked::stateFrom(c10::IValue(weight)), c10::Error);
}

TEST(ConvKindsTest, RejectsParametersThatDoNotFitTheKind) {
  // three values for a 1-D convolution
  EXPECT_THROW(ConvPacked(at::randn({4, 3, 3}), c10::nullopt, {{1, 1, 1}, {0, 0, 0}, {1, 1, 1}, 1}), c10::Error);
  // a 6-D weight
  EXPECT_THROW(ConvPacked(at::randn({4, 3, 1, 1, 1, 1}), c10::nullopt, {{1, 1, 1, 1}, {0, 0, 0, 0}, {1, 1, 1, 1}, 1}),
               c10::Error);
  // output padding not smaller than stride or dilation, and output padding on a plain convolution
  EXPECT_THROW(ConvPacked(at::randn({4, 3, 3, 3}), c10::nullopt, {{2, 2}, {0, 0}, {1, 1}, 1, {2, 2}, true}),
               c10::Error);
  EXPECT_THROW(ConvPacked(at::randn({4, 3, 3, 3}), c10::nullopt, {{2, 2}, {0, 0}, {1, 1}, 1, {1, 1}, false}),
               c10::Error);
  // a transposed bias counts weight.size(1) * groups output channels
  EXPECT_THROW(ConvPacked(at::randn({4, 3, 3, 3}), at::randn({4}), {{1, 1}, {0, 0}, {1, 1}, 1, {0, 0}, true}),
               c10::Error);
  EXPECT_NO_THROW(ConvPacked(at::randn({4, 3, 3, 3}), at::randn({6}), {{1, 1}, {0, 0}, {1, 1}, 2, {0, 0}, true}));
}

} // namespace
} // namespace tsopt::runtime
