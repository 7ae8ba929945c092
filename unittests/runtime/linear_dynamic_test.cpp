// tsopt.LinearDynamicPacked against ATen: the quantization parameters and the
// uint8 rounding against ATen's own, the fused kernel against the same
// arithmetic in ATen ops (runReference) and against float32 at::linear.
#include "runtime/linear_dynamic.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

namespace tsopt::runtime {
namespace {

double cosine(const at::Tensor& a, const at::Tensor& b) {
  return at::cosine_similarity(a.to(at::kDouble).flatten(), b.to(at::kDouble).flatten(), 0).item<double>();
}

TEST(LinearDynamicTest, QuantParamsMatchAten) {
  at::manual_seed(0);
  for (bool reduceRange : {true, false}) {
    for (const at::Tensor& x : {at::randn({64}), at::rand({64}) + 0.5, -at::rand({64}), at::zeros({8})}) {
      auto [scale, zeroPoint] = at::_choose_qparams_per_tensor(x, reduceRange);
      DynamicQuantParams params = dynamicQuantParams(x.min().item<float>(), x.max().item<float>(), reduceRange);
      EXPECT_FLOAT_EQ(params.scale, static_cast<float>(scale));
      EXPECT_EQ(params.zeroPoint, zeroPoint);
    }
  }
}

// Every count around the vector widths (16 floats, 4 x 16 per step), the extremes anywhere in the array.
TEST(LinearDynamicTest, MinMaxMatchesAten) {
  at::manual_seed(5);
  for (int64_t count : {1, 7, 15, 16, 17, 63, 64, 65, 127, 1000 + 7}) {
    at::Tensor x = at::randn({count});
    for (int64_t position : {int64_t{0}, count / 2, count - 1}) {
      at::Tensor y = x.clone();
      y[position] = 100.f;
      y[count - 1 - position] = -100.f;
      const auto [min, max] = minMaxOf(y.data_ptr<float>(), count);
      EXPECT_EQ(min, y.min().item<float>()) << count << " " << position;
      EXPECT_EQ(max, y.max().item<float>()) << count << " " << position;
    }
  }
  const auto [emptyMin, emptyMax] = minMaxOf(nullptr, 0);
  EXPECT_GT(emptyMin, emptyMax);
}

// The passes over an activation run in chunks of 32768 floats on ATen's
// threads: across chunk boundaries, with one thread and two, the extremes in
// any chunk, min and max are exact and the bytes the same as one serial pass.
TEST(LinearDynamicTest, ChunkedPassesMatchOneSerialPass) {
  at::manual_seed(6);
  const int threads = at::get_num_threads();
  const int64_t count = 3 * 32768 + 1000 + 5;
  at::Tensor x = at::randn({count});
  DynamicQuantParams params = dynamicQuantParams(-4.f, 4.f, false);
  at::Tensor oneThread = at::empty({count}, at::kByte);
  at::set_num_threads(1);
  quantizeToUint8(x.data_ptr<float>(), count, params, 255, oneThread.data_ptr<uint8_t>());
  for (int64_t position : {int64_t{5}, int64_t{32767}, int64_t{32768}, int64_t{2 * 32768 + 3}, count - 1}) {
    at::Tensor y = x.clone();
    y[position] = 50.f;
    y[(position + 40000) % count] = -50.f;
    for (int n : {1, 2}) {
      at::set_num_threads(n);
      const auto [min, max] = minMaxOf(y.data_ptr<float>(), count);
      EXPECT_EQ(min, -50.f) << position << " threads " << n;
      EXPECT_EQ(max, 50.f) << position << " threads " << n;
    }
  }
  at::set_num_threads(2);
  at::Tensor twoThreads = at::empty({count}, at::kByte);
  quantizeToUint8(x.data_ptr<float>(), count, params, 255, twoThreads.data_ptr<uint8_t>());
  at::set_num_threads(threads);
  EXPECT_TRUE(at::equal(oneThread, twoThreads));
  at::Tensor expected = at::quantize_per_tensor(x, params.scale, params.zeroPoint, at::kQUInt8).int_repr();
  EXPECT_LE((oneThread.to(at::kInt) - expected.to(at::kInt)).abs().max().item<int>(), 1);
}

// Exact, except where x * (1 / scale) and ATen's rounding differ at a tie: at most one level, rarely.
TEST(LinearDynamicTest, Uint8RoundingMatchesQuantizePerTensor) {
  at::manual_seed(1);
  at::Tensor x = at::randn({1000 + 7}) * 3;
  for (bool reduceRange : {true, false}) {
    DynamicQuantParams params = dynamicQuantParams(x.min().item<float>(), x.max().item<float>(), reduceRange);
    at::Tensor expected = at::quantize_per_tensor(x, params.scale, params.zeroPoint, at::kQUInt8).int_repr();
    at::Tensor actual = at::empty({x.numel()}, at::kByte);
    quantizeToUint8(x.data_ptr<float>(), x.numel(), params, reduceRange ? 127 : 255, actual.data_ptr<uint8_t>());
    at::Tensor difference = (actual.to(at::kInt) - expected.to(at::kInt)).abs();
    EXPECT_LE(difference.max().item<int>(), 1);
    EXPECT_LE(difference.sum().item<int>(), 2);
  }
}

struct Shape {
  int64_t rows, in, out;
};

// Kernel and reference do the same integer arithmetic; they differ by float
// rounding in the accumulation and the folded bias: 1e-4 relative, 2e-4 absolute.
TEST(LinearDynamicTest, KernelMatchesAtenReference) {
  at::manual_seed(2);
  const std::vector<Activation> activations = {{ActivationKind::None}, {ActivationKind::Relu}, {ActivationKind::Gelu},
                                               {ActivationKind::GeluTanh}, {ActivationKind::Clamp, -0.5, 0.5}};
  for (const Shape& shape : std::vector<Shape>{{1, 64, 48}, {5, 96, 130}, {128, 768, 256}, {33, 300, 64}}) {
    at::Tensor weight = at::randn({shape.out, shape.in}) * 0.1;
    for (bool withBias : {true, false}) {
      c10::optional<at::Tensor> bias = withBias ? c10::optional<at::Tensor>(at::randn({shape.out})) : c10::nullopt;
      LinearDynamicPacked packed(weight, bias, /*reduceRange=*/true);
      at::Tensor input = at::randn({1, shape.rows, shape.in}) + 0.3;
      ASSERT_TRUE(packed.kernelApplies(input, at::Tensor()));
      at::Tensor residual = at::randn({1, shape.rows, shape.out});
      for (const Activation& activation : activations) {
        at::Tensor expected = packed.runReference(input, at::Tensor(), activation);
        at::Tensor actual = packed.run(input, at::Tensor(), activation);
        EXPECT_TRUE(at::allclose(actual, expected, 1e-4, 2e-4)) << (actual - expected).abs().max().item<double>();
        for (ResidualAdd where : {ResidualAdd::BeforeActivation, ResidualAdd::AfterActivation}) {
          expected = packed.runReference(input, residual, activation, where);
          actual = packed.run(input, residual.clone(), activation, where);
          EXPECT_TRUE(at::allclose(actual, expected, 1e-4, 2e-4)) << (actual - expected).abs().max().item<double>();
        }
      }
      EXPECT_GT(cosine(packed.run(input, at::Tensor(), {}), at::linear(input, weight, bias)), 0.999);
    }
  }
}

// Where the CPU has AMX-INT8 a layer runs tsopt's AMX kernel unless
// TSOPT_DYNAMIC_GEMM=onednn was set when it was packed; both give the same
// integer sums, so the results differ by the epilogue's float rounding only.
TEST(LinearDynamicTest, AmxAndOneDnnKernelsAgree) {
  at::manual_seed(4);
  setenv("TSOPT_DYNAMIC_GEMM", "onednn", 1);
  at::Tensor weight = at::randn({130, 300}) * 0.1;
  at::Tensor bias = at::randn({130});
  LinearDynamicPacked onednn(weight, bias, /*reduceRange=*/false);
  unsetenv("TSOPT_DYNAMIC_GEMM");
  LinearDynamicPacked other(weight, bias, /*reduceRange=*/false);
  EXPECT_FALSE(onednn.runsOnAmx());
  if (!other.runsOnAmx()) {
    GTEST_SKIP() << "no AMX-INT8 here: both layers run oneDNN";
  }
  at::Tensor input = at::randn({2, 33, 300});
  at::Tensor residual = at::randn({2, 33, 130});
  for (const Activation& activation : {Activation{ActivationKind::None}, Activation{ActivationKind::Gelu}}) {
    for (ResidualAdd where : {ResidualAdd::None, ResidualAdd::BeforeActivation, ResidualAdd::AfterActivation}) {
      at::Tensor withResidual = where == ResidualAdd::None ? at::Tensor() : residual;
      at::Tensor expected = onednn.run(input, withResidual.defined() ? withResidual.clone() : at::Tensor(),
                                       activation, where);
      at::Tensor actual = other.run(input, withResidual.defined() ? withResidual.clone() : at::Tensor(),
                                    activation, where);
      EXPECT_TRUE(at::allclose(actual, expected, 1e-5, 1e-5)) << (actual - expected).abs().max().item<double>();
    }
  }
}

TEST(LinearDynamicTest, EightBitActivationsStayCloseToFloat) {
  at::manual_seed(3);
  at::Tensor weight = at::randn({256, 512}) * 0.05;
  at::Tensor input = at::randn({64, 512});
  LinearDynamicPacked packed(weight, c10::nullopt, /*reduceRange=*/false);
  EXPECT_GT(cosine(packed.run(input, at::Tensor(), {}), at::linear(input, weight)), 0.9995);
}

TEST(LinearDynamicTest, StateRoundTripGivesTheSameResults) {
  at::manual_seed(4);
  LinearDynamicPacked packed(at::randn({40, 70}), at::randn({40}), true);
  LinearDynamicPacked restored(packed.state());
  at::Tensor input = at::randn({9, 70});
  EXPECT_TRUE(at::equal(packed.run(input, at::Tensor(), {}), restored.run(input, at::Tensor(), {})));
  EXPECT_EQ(restored.weightInt8().scalar_type(), at::kChar);
}

// An input scale m (smooth-quant's): the layer quantizes x * m, computed inside its min/max and quantization
// passes. The kernel matches its reference, and both match the same layer without m run on x * m computed
// beforehand: the same arithmetic, so equal up to float rounding.
TEST(LinearDynamicTest, InputScaleQuantizesTheScaledInput) {
  at::manual_seed(6);
  // 96 features: whole vectors only; 70: the AVX2 and AVX-512 loops' scalar tails too.
  for (int64_t features : {96, 70}) {
    at::Tensor weight = at::randn({48, features}) * 0.1;
    at::Tensor bias = at::randn({48});
    at::Tensor scale = at::rand({features}) * 4 + 0.05;
    LinearDynamicPacked scaled(weight, bias, /*reduceRange=*/true, scale);
    LinearDynamicPacked plain(weight, bias, /*reduceRange=*/true);
    ASSERT_TRUE(scaled.inputScale().has_value());
    // 800 rows: more than one chunk of the passes over the input (32768 floats).
    for (const at::Tensor& input :
         {at::randn({2, 7, features}), at::randn({96, features}) + 0.5, at::randn({800, features})}) {
      ASSERT_TRUE(scaled.kernelApplies(input, at::Tensor()));
      at::Tensor expected = plain.run(input * scale, at::Tensor(), {});
      at::Tensor actual = scaled.run(input, at::Tensor(), {});
      EXPECT_TRUE(at::allclose(actual, expected, 1e-4, 2e-4)) << (actual - expected).abs().max().item<double>();
      at::Tensor reference = scaled.runReference(input, at::Tensor(), {});
      EXPECT_TRUE(at::allclose(actual, reference, 1e-4, 2e-4)) << (actual - reference).abs().max().item<double>();
      // A test that can fail: without the scale the result is another one.
      EXPECT_FALSE(at::allclose(plain.run(input, at::Tensor(), {}), actual, 1e-2, 1e-2));
    }
    // Chunked over threads, the same bytes with one thread and with two.
    const int threads = at::get_num_threads();
    at::Tensor tall = at::randn({800, features});
    at::set_num_threads(1);
    at::Tensor oneThread = scaled.run(tall, at::Tensor(), {});
    at::set_num_threads(2);
    at::Tensor twoThreads = scaled.run(tall, at::Tensor(), {});
    at::set_num_threads(threads);
    EXPECT_TRUE(at::allclose(oneThread, twoThreads, 1e-5, 1e-5));
    // The input itself is left as it was.
    at::Tensor input = at::randn({3, features});
    at::Tensor before = input.clone();
    scaled.run(input, at::Tensor(), {});
    EXPECT_TRUE(at::equal(input, before));
    EXPECT_THROW(LinearDynamicPacked(weight, bias, true, at::rand({features - 1})), c10::Error);
    EXPECT_THROW(LinearDynamicPacked(weight, bias, true, at::rand({features}, at::kDouble)), c10::Error);
  }
}

// Pickled states: version 2 (with the input scale) round-trips; version 1 (five fields, archives written before
// input scales) still loads; anything else fails with one clear error.
TEST(LinearDynamicTest, StateFromReadsBothVersions) {
  at::manual_seed(7);
  LinearDynamicPacked packed(at::randn({16, 32}), at::randn({16}), true, at::rand({32}) + 0.5);
  c10::IValue pickled = c10::ivalue::Tuple::create({std::get<0>(packed.state()), std::get<1>(packed.state()),
                                                    std::get<2>(packed.state()), std::get<3>(packed.state()),
                                                    std::get<4>(packed.state()), std::get<5>(packed.state())});
  LinearDynamicPacked restored(LinearDynamicPacked::stateFrom(pickled));
  at::Tensor input = at::randn({5, 32});
  EXPECT_TRUE(at::equal(packed.run(input, at::Tensor(), {}), restored.run(input, at::Tensor(), {})));
  c10::IValue first = c10::ivalue::Tuple::create({int64_t{1}, packed.weightInt8(), packed.weightScales(),
                                                  c10::IValue(at::randn({16})), c10::IValue(true)});
  LinearDynamicPacked old(LinearDynamicPacked::stateFrom(first));
  EXPECT_FALSE(old.inputScale().has_value());
  c10::IValue future = c10::ivalue::Tuple::create({int64_t{3}, packed.weightInt8()});
  EXPECT_THROW(LinearDynamicPacked::stateFrom(future), c10::Error);
  EXPECT_THROW(LinearDynamicPacked::stateFrom(c10::IValue(int64_t{2})), c10::Error);
}

TEST(LinearDynamicTest, AutogradAndOtherDtypesTakeTheReference) {
  LinearDynamicPacked packed(at::randn({8, 16}), c10::nullopt, true);
  at::Tensor input = at::randn({4, 16}).requires_grad_();
  EXPECT_FALSE(packed.kernelApplies(input, at::Tensor()));
  EXPECT_TRUE(packed.run(input, at::Tensor(), {}).requires_grad());
  EXPECT_FALSE(packed.kernelApplies(at::randn({4, 16}, at::kDouble), at::Tensor()));
  EXPECT_FALSE(packed.kernelApplies(at::randn({4, 16}), at::randn({1, 8})));  // broadcasting residual
  EXPECT_THROW(LinearDynamicPacked(at::randn({8, 16}, at::kDouble), c10::nullopt, true), c10::Error);
}

} // namespace
} // namespace tsopt::runtime
