// runtime/amx_gemm.h against exact integer arithmetic: tile tails in every
// dimension, rows and columns past the operands holding garbage, a residual
// read from the output buffer, and a product split between panel ranges as
// threads split it. Skipped where the CPU or the kernel offers no AMX-INT8.
#include "runtime/amx_gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace tsopt::runtime {
namespace {

struct Problem {
  int64_t rows, in, out;
};

class AmxGemmTest : public ::testing::TestWithParam<Problem> {
protected:
  void SetUp() override {
    if (!amxInt8Available()) {
      GTEST_SKIP() << "no AMX-INT8 here (CPU or kernel)";
    }
  }
};

// acc * scale + offset (+ residual), each term exact in double: the kernel's
// int32 sums are exact, so the only difference is float rounding of the epilogue.
TEST_P(AmxGemmTest, MatchesIntegerArithmetic) {
  const Problem p = GetParam();
  std::mt19937 rng(static_cast<unsigned>(p.rows * 131 + p.in * 7 + p.out));
  std::vector<int8_t> weight(static_cast<size_t>(p.out * p.in));
  for (int8_t& w : weight) {
    w = static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
  }
  const AmxInt8Weights packed(weight.data(), p.out, p.in);
  // Garbage everywhere past the operand: the extra rows, the 64 bytes after them.
  const int64_t stride = p.in + 3;  // Rows need not be packed tightly.
  std::vector<uint8_t> input(static_cast<size_t>(inputRowsNeeded(p.rows) * stride + AmxInt8Weights::kBlockDepth));
  for (uint8_t& x : input) {
    x = static_cast<uint8_t>(rng() % 256);
  }
  std::vector<float> scale(static_cast<size_t>(p.out)), offset(static_cast<size_t>(p.out));
  for (int64_t n = 0; n < p.out; ++n) {
    scale[n] = 1e-4f * static_cast<float>(n % 17 + 1);
    offset[n] = static_cast<float>(n % 5) - 2.f;
  }
  std::vector<float> residual(static_cast<size_t>(p.rows * p.out));
  for (float& r : residual) {
    r = static_cast<float>(rng() % 1000) / 100.f;
  }
  struct Epilogue {
    bool residual;
    AmxActivation activation;
    bool residualAfterActivation;
  };
  for (const Epilogue e : {Epilogue{false, AmxActivation::None, false}, Epilogue{true, AmxActivation::None, false},
                           Epilogue{false, AmxActivation::Gelu, false}, Epilogue{true, AmxActivation::Gelu, false},
                           Epilogue{true, AmxActivation::Gelu, true}}) {
    // With a residual the output buffer is the residual, as linear_dynamic passes it.
    std::vector<float> output = e.residual ? residual : std::vector<float>(residual.size(), NAN);
    AmxLinearArgs args;
    args.input = input.data();
    args.inputStride = stride;
    args.rows = p.rows;
    args.scale = scale.data();
    args.offset = offset.data();
    args.residual = e.residual ? output.data() : nullptr;
    args.output = output.data();
    args.outputStride = p.out;
    args.activation = e.activation;
    args.residualAfterActivation = e.residualAfterActivation;
    const int64_t split = packed.panels() / 2;
    amxLinearU8S8(packed, args, 0, split);
    amxLinearU8S8(packed, args, split, packed.panels());
    auto gelu = [&](double x) {
      return e.activation == AmxActivation::Gelu ? x * 0.5 * (1 + std::erf(x / std::sqrt(2.0))) : x;
    };
    double worst = 0;
    for (int64_t m = 0; m < p.rows; ++m) {
      for (int64_t n = 0; n < p.out; ++n) {
        int64_t acc = 0;
        for (int64_t k = 0; k < p.in; ++k) {
          acc += int64_t{input[m * stride + k]} * weight[n * p.in + k];
        }
        const double y = static_cast<double>(acc) * scale[n] + offset[n];
        const double r = e.residual ? residual[m * p.out + n] : 0.0;
        const double expected = e.residualAfterActivation ? gelu(y) + r : gelu(y + r);
        const double error = std::abs(expected - output[m * p.out + n]) / (1.0 + std::abs(expected));
        worst = std::max(worst, error);
      }
    }
    // Float32 rounding of the epilogue, plus the GELU's erf approximation (1.5e-7 absolute).
    EXPECT_LT(worst, 1e-6) << "rows " << p.rows << " in " << p.in << " out " << p.out << " residual " << e.residual
                           << " gelu " << (e.activation == AmxActivation::Gelu) << " after "
                           << e.residualAfterActivation;
  }
}

// The epilogue's GELU against erf in double over [-12, 12] and the special
// values, one vector of the output at a time (a 1 x 1 product by weight 1).
TEST(AmxGeluTest, MatchesErfDefinition) {
  if (!amxInt8Available()) {
    GTEST_SKIP() << "no AMX-INT8 here (CPU or kernel)";
  }
  const int8_t one = 1;
  const AmxInt8Weights packed(&one, 1, 1);
  std::vector<float> xs;
  for (int i = -12000; i <= 12000; ++i) {
    xs.push_back(static_cast<float>(i) / 1000.f);
  }
  // Around the clamp at |x| = 9 sqrt 2 = 12.73 (erfc taken as 0 past it), far past it, and special values.
  xs.insert(xs.end(), {-12.7f, -12.74f, -12.8f, -13.f, 13.f, -20.f, 20.f, -100.f, 100.f, 1e-30f, -1e-30f, 0.f, -0.f,
                       50.f, -50.f, 1e30f, -1e30f, INFINITY, -INFINITY, NAN});
  std::vector<uint8_t> input(inputRowsNeeded(static_cast<int64_t>(xs.size())) + AmxInt8Weights::kBlockDepth, 0);
  const float unit = 1.f;
  for (float x : xs) {
    float out = 0.f;
    AmxLinearArgs args;
    args.input = input.data();  // acc = 0: y = offset = x.
    args.inputStride = 1;
    args.rows = 1;
    args.scale = &unit;
    args.offset = &x;
    args.output = &out;
    args.outputStride = 1;
    args.activation = AmxActivation::Gelu;
    amxLinearU8S8(packed, args, 0, packed.panels());
    const double expected = static_cast<double>(x) * 0.5 * (1 + std::erf(static_cast<double>(x) / std::sqrt(2.0)));
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(out)) << x;
    } else if (std::isinf(expected)) {
      EXPECT_EQ(out, expected) << x;
    } else {
      EXPECT_LE(std::abs(out - expected), 1e-6 * (1 + std::abs(expected))) << x;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AmxGemmTest,
                         ::testing::Values(Problem{1, 5, 1}, Problem{15, 64, 32}, Problem{16, 100, 31},
                                           Problem{17, 128, 33}, Problem{33, 300, 130}, Problem{48, 64, 64},
                                           Problem{128, 768, 96}, Problem{7, 3072, 40}));

} // namespace
} // namespace tsopt::runtime
