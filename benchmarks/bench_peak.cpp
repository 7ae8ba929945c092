//===- bench_peak.cpp - This CPU's arithmetic ceilings, measured --------===//
///
/// The rate at which one core issues the instructions tsopt's kernels are made
/// of, so that a latency can be put beside the fraction of the machine it uses
/// (docs/quantization.md, "What this CPU can do"). Each benchmark runs ten
/// independent accumulator chains of one instruction, enough to hide its
/// latency on current x86 cores, and reports operations per second (a
/// multiply-add counts two):
///   fp32-fma-ymm     vfmadd231ps on 256 bits   (AVX2 + FMA)
///   fp32-fma-zmm     vfmadd231ps on 512 bits   (AVX-512F)
///   int8-vnni-zmm    vpdpbusd on 512 bits      (AVX-512 VNNI: u8 x s8 -> s32)
///   int8-avx2-ymm    vpmaddubsw + vpmaddwd     (AVX2's u8 x s8 path, without VNNI)
///   bf16-dot-zmm     vdpbf16ps on 512 bits     (AVX-512 BF16)
///   int8-amx         tdpbusd on 16 x 64-byte tiles (AMX-INT8: u8 x s8 -> s32)
///   bf16-amx         tdpbf16ps on 16 x 64-byte tiles (AMX-BF16)
///   mem-read         AVX-512 loads streaming a 256 MiB buffer per thread
///                    (bytes per second: what feeds weights that miss the caches)
/// The AMX benchmarks run six accumulator tiles against two operand tiles, the
/// operands never reloaded, after asking Linux for the AMX register state
/// (arch_prctl ARCH_REQ_XCOMP_PERM, kernel 5.16 or later).
/// A benchmark the CPU cannot run is skipped with a message. `threads:2` runs
/// one copy per thread: the sum is the two cores' ceiling when the cores are
/// real ones (two hyperthreads of one core share its units).
///
///   bench_peak --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
///
/// These are issue rates of registers-only loops, not reachable by a kernel
/// that loads its operands; they bound what a model can run at.
///
//===----------------------------------------------------------------------===//
#include "runtime/amx_gemm.h"

#include <benchmark/benchmark.h>

#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace {

constexpr int64_t kIterations = 1 << 20;  ///< Loop trips per timed call: ten instructions each.

/// Ten accumulators c0..c9 of type T, zero.
#define TSOPT_TEN_ACCUMULATORS(T, zero) T c0 = zero, c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0
/// One loop trip: each accumulator c becomes STEP(c); the barrier keeps them in
/// registers (constraint REG) and the loop from being folded away.
#define TSOPT_TEN_STEPS(STEP, REG)                                                                                  \
  c0 = STEP(c0), c1 = STEP(c1), c2 = STEP(c2), c3 = STEP(c3), c4 = STEP(c4), c5 = STEP(c5), c6 = STEP(c6),        \
  c7 = STEP(c7), c8 = STEP(c8), c9 = STEP(c9);                                                                      \
  __asm__ volatile("" : "+" REG(c0), "+" REG(c1), "+" REG(c2), "+" REG(c3), "+" REG(c4), "+" REG(c5), "+" REG(c6), \
                   "+" REG(c7), "+" REG(c8), "+" REG(c9))

__attribute__((target("avx2,fma"))) float fmaYmm(int64_t trips) {
  const __m256 a = _mm256_set1_ps(1.f), b = _mm256_set1_ps(0.999999f);
  TSOPT_TEN_ACCUMULATORS(__m256, _mm256_setzero_ps());
#define TSOPT_STEP(c) _mm256_fmadd_ps(a, b, c)
  for (int64_t i = 0; i < trips; ++i) {
    TSOPT_TEN_STEPS(TSOPT_STEP, "x");
  }
#undef TSOPT_STEP
  return _mm256_cvtss_f32(_mm256_add_ps(_mm256_add_ps(c0, c9), c5));
}

__attribute__((target("avx512f"))) float fmaZmm(int64_t trips) {
  const __m512 a = _mm512_set1_ps(1.f), b = _mm512_set1_ps(0.999999f);
  TSOPT_TEN_ACCUMULATORS(__m512, _mm512_setzero_ps());
#define TSOPT_STEP(c) _mm512_fmadd_ps(a, b, c)
  for (int64_t i = 0; i < trips; ++i) {
    TSOPT_TEN_STEPS(TSOPT_STEP, "v");
  }
#undef TSOPT_STEP
  return _mm512_cvtss_f32(_mm512_add_ps(_mm512_add_ps(c0, c9), c5));
}

__attribute__((target("avx512f,avx512vnni"))) int32_t vnniZmm(int64_t trips) {
  const __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(2);
  TSOPT_TEN_ACCUMULATORS(__m512i, _mm512_setzero_si512());
#define TSOPT_STEP(c) _mm512_dpbusd_epi32(c, a, b)
  for (int64_t i = 0; i < trips; ++i) {
    TSOPT_TEN_STEPS(TSOPT_STEP, "v");
  }
#undef TSOPT_STEP
  return _mm512_cvtsi512_si32(_mm512_add_epi32(_mm512_add_epi32(c0, c9), c5));
}

/// AVX2's int8 product: u8 x s8 pairs summed to s16 (vpmaddubsw), then pairs of
/// those to s32 (vpmaddwd) and added: 32 multiply-adds in three instructions.
/// Each chain has its own u8 operand, which the barrier marks as changed every
/// trip, so that no product is computed once and reused.
__attribute__((target("avx2"))) int32_t avx2Int8Ymm(int64_t trips) {
  const __m256i b = _mm256_set1_epi8(2), ones = _mm256_set1_epi16(1);
  __m256i a0 = _mm256_set1_epi8(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0;
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0;
  for (int64_t i = 0; i < trips; ++i) {
    c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(_mm256_maddubs_epi16(a0, b), ones));
    c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(_mm256_maddubs_epi16(a1, b), ones));
    c2 = _mm256_add_epi32(c2, _mm256_madd_epi16(_mm256_maddubs_epi16(a2, b), ones));
    c3 = _mm256_add_epi32(c3, _mm256_madd_epi16(_mm256_maddubs_epi16(a3, b), ones));
    c4 = _mm256_add_epi32(c4, _mm256_madd_epi16(_mm256_maddubs_epi16(a4, b), ones));
    __asm__ volatile("" : "+x"(c0), "+x"(c1), "+x"(c2), "+x"(c3), "+x"(c4), "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3),
                     "+x"(a4));
  }
  const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, _mm256_add_epi32(c3, c4)));
  return _mm256_extract_epi32(sum, 0);
}

__attribute__((target("avx512f,avx512bf16"))) float bf16Zmm(int64_t trips) {
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3f80);  // 1.0 in bf16
  TSOPT_TEN_ACCUMULATORS(__m512, _mm512_setzero_ps());
#define TSOPT_STEP(c) _mm512_dpbf16_ps(c, a, b)
  for (int64_t i = 0; i < trips; ++i) {
    TSOPT_TEN_STEPS(TSOPT_STEP, "v");
  }
#undef TSOPT_STEP
  return _mm512_cvtss_f32(_mm512_add_ps(_mm512_add_ps(c0, c9), c5));
}

#undef TSOPT_TEN_STEPS
#undef TSOPT_TEN_ACCUMULATORS

/// ldtilecfg reads it (runtime/amx_gemm.h says why it is static).
const tsopt::runtime::AmxTileConfig kTileConfig;

/// Whether CPUID.(7, 0):EDX has `bits` (24 AMX-TILE, 25 AMX-INT8, 22 AMX-BF16);
/// clang 14's __builtin_cpu_supports does not know the AMX features.
bool cpuHasAmx(unsigned bits) {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (edx & bits) == bits;
}

/// Whether Linux lets this process use the AMX tile data (asked once; the grant is per process).
bool amxPermitted() {
  static const bool permitted = [] {
    constexpr long kArchReqXcompPerm = 0x1023;  // <asm/prctl.h>
    constexpr long kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return permitted;
}

/// Tiles 0-5 accumulate the product of tiles 6 and 7, `trips` times each; the
/// instruction is the macro DP (_tile_dpbusd, _tile_dpbf16ps). Tile state is per
/// thread: each call configures and releases it.
#define TSOPT_AMX_LOOP(DP)                                                                      \
  _tile_loadconfig(&kTileConfig);                                                               \
  _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);                                   \
  _tile_zero(4); _tile_zero(5); _tile_zero(6); _tile_zero(7);                                   \
  for (int64_t i = 0; i < trips; ++i) {                                                         \
    DP(0, 6, 7); DP(1, 6, 7); DP(2, 6, 7); DP(3, 6, 7); DP(4, 6, 7); DP(5, 6, 7);               \
  }                                                                                             \
  alignas(64) int32_t out[16 * 16];                                                             \
  _tile_stored(0, out, 64);                                                                     \
  _tile_release();                                                                              \
  return out[0]

/// 16 x 16 int32 results, each a sum over 64 u8 x s8 products: 16384 multiply-adds a tile.
__attribute__((target("amx-tile,amx-int8"))) int32_t amxInt8(int64_t trips) { TSOPT_AMX_LOOP(_tile_dpbusd); }

/// 16 x 16 float results, each a sum over 32 bf16 x bf16 products: 8192 multiply-adds a tile.
__attribute__((target("amx-tile,amx-bf16"))) int32_t amxBf16(int64_t trips) { TSOPT_AMX_LOOP(_tile_dpbf16ps); }

#undef TSOPT_AMX_LOOP

constexpr int64_t kStreamBytes = int64_t(256) << 20;  ///< Per thread: far past any last-level cache share.

/// Reads `bytes` of `data` with 512-bit loads, four lines a step, xor-folded so that no load is dead.
__attribute__((target("avx512f"))) int64_t streamRead(const char* data, int64_t bytes) {
  __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
  for (int64_t offset = 0; offset < bytes; offset += 256) {
    a = _mm512_xor_si512(a, _mm512_load_si512(data + offset));
    b = _mm512_xor_si512(b, _mm512_load_si512(data + offset + 64));
    c = _mm512_xor_si512(c, _mm512_load_si512(data + offset + 128));
    d = _mm512_xor_si512(d, _mm512_load_si512(data + offset + 192));
  }
  alignas(64) int64_t lanes[8];
  _mm512_store_si512(lanes, _mm512_xor_si512(_mm512_xor_si512(a, b), _mm512_xor_si512(c, d)));
  return lanes[0];
}

/// A per-iteration amount as the rate of all threads together. Google Benchmark
/// sums a counter over the threads and then multiplies it by the iterations of
/// all threads: without kAvgThreads a 2-thread rate came out twice the true one
/// (the figures before 2026-12-08, docs/quantization.md).
const benchmark::Counter::Flags kTotalRate = benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kAvgThreads;

/// Times `kernel`, `opsPerTrip` operations a loop trip, when the CPU has `features`.
template <typename Kernel>
void runPeak(benchmark::State& state, bool supported, const char* features, Kernel kernel, double opsPerTrip) {
  if (!supported) {
    state.SkipWithError((std::string("this CPU lacks ") + features).c_str());
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(kernel(kIterations));
  }
  state.counters["ops/s"] = benchmark::Counter(opsPerTrip * static_cast<double>(kIterations), kTotalRate,
                                               benchmark::Counter::kIs1000);
}

/// __builtin_cpu_supports takes only a string literal.
#define TSOPT_CPU_HAS(feature) (__builtin_cpu_init(), __builtin_cpu_supports(feature))

void BM_Fp32FmaYmm(benchmark::State& state) {
  runPeak(state, TSOPT_CPU_HAS("avx2") && TSOPT_CPU_HAS("fma"), "AVX2 and FMA", fmaYmm, 10 * 8 * 2);
}
void BM_Fp32FmaZmm(benchmark::State& state) { runPeak(state, TSOPT_CPU_HAS("avx512f"), "AVX-512F", fmaZmm, 10 * 16 * 2); }
void BM_Int8VnniZmm(benchmark::State& state) {
  runPeak(state, TSOPT_CPU_HAS("avx512f") && TSOPT_CPU_HAS("avx512vnni"), "AVX-512 VNNI", vnniZmm, 10 * 64 * 2);
}
void BM_Int8Avx2Ymm(benchmark::State& state) { runPeak(state, TSOPT_CPU_HAS("avx2"), "AVX2", avx2Int8Ymm, 5 * 32 * 2); }
void BM_Bf16DotZmm(benchmark::State& state) {
  runPeak(state, TSOPT_CPU_HAS("avx512f") && TSOPT_CPU_HAS("avx512bf16"), "AVX-512 BF16", bf16Zmm, 10 * 32 * 2);
}

void BM_Int8Amx(benchmark::State& state) {
  runPeak(state, cpuHasAmx((1u << 24) | (1u << 25)) && amxPermitted(), "AMX-INT8 (or Linux refused its state)", amxInt8,
          6 * 16 * 16 * 64 * 2);
}
void BM_Bf16Amx(benchmark::State& state) {
  runPeak(state, cpuHasAmx((1u << 24) | (1u << 22)) && amxPermitted(), "AMX-BF16 (or Linux refused its state)", amxBf16,
          6 * 16 * 16 * 32 * 2);
}

void BM_MemRead(benchmark::State& state) {
  if (!TSOPT_CPU_HAS("avx512f")) {
    state.SkipWithError("this CPU lacks AVX-512F");
    return;
  }
  std::unique_ptr<char, decltype(&std::free)> buffer(static_cast<char*>(std::aligned_alloc(64, kStreamBytes)),
                                                      &std::free);
  std::memset(buffer.get(), 1, kStreamBytes);  // Fault the pages in before timing.
  for (auto _ : state) {
    benchmark::DoNotOptimize(streamRead(buffer.get(), kStreamBytes));
  }
  state.counters["bytes/s"] = benchmark::Counter(static_cast<double>(kStreamBytes), kTotalRate,
                                                 benchmark::Counter::kIs1024);
}

#undef TSOPT_CPU_HAS

} // namespace

BENCHMARK(BM_Fp32FmaYmm)->Name("peak/fp32-fma-ymm")->UseRealTime()->Threads(1)->Threads(2);
BENCHMARK(BM_Fp32FmaZmm)->Name("peak/fp32-fma-zmm")->UseRealTime()->Threads(1)->Threads(2);
BENCHMARK(BM_Int8VnniZmm)->Name("peak/int8-vnni-zmm")->UseRealTime()->Threads(1)->Threads(2);
BENCHMARK(BM_Int8Avx2Ymm)->Name("peak/int8-avx2-ymm")->UseRealTime()->Threads(1)->Threads(2);
BENCHMARK(BM_Bf16DotZmm)->Name("peak/bf16-dot-zmm")->UseRealTime()->Threads(1)->Threads(2);
BENCHMARK(BM_Int8Amx)->Name("peak/int8-amx")->UseRealTime()->Threads(1)->Threads(2);
BENCHMARK(BM_Bf16Amx)->Name("peak/bf16-amx")->UseRealTime()->Threads(1)->Threads(2);
BENCHMARK(BM_MemRead)->Name("peak/mem-read")->UseRealTime()->Threads(1)->Threads(2);

BENCHMARK_MAIN();
