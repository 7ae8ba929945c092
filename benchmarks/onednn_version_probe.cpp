// onednn_version_probe: what a newer oneDNN would buy the runtime's kernels, measured on plain oneDNN (no torch).
//
// The same layers, formats and epilogues as the runtime's kernels, timed on whichever oneDNN this file is compiled
// against: oneDNN 2.6 (libdnnl-dev, the runtime's today) or 3.x (e.g. PyPI's onednn-cpu-gomp 2023.2.0 = 3.2.0).
//   - ResNet-50 b1 224x224, every convolution (53, 24 distinct shapes), int8 as runtime/qconv_packed.cpp builds
//     them: u8 nhwc source, s8 weights in the layout oneDNN picks (format_tag::any), f32 bias, per-output-channel
//     scales, [sum,] ReLU and the requantizing linear post-op, u8 nhwc destination; the residual layers
//     (each bottleneck's last 1x1) add the sum post-op, the downsample layers have no activation.
//   - The same convolutions in fp32 (f32 nhwc, bias, [sum,] ReLU).
//   - BERT-base seq 128 b1 int8 matmuls as runtime/linear_dynamic.cpp builds them: u8 (128 x K) by s8 (K x N)
//     to f32 with bias, 4 x (768 x 768), 768 x 3072 and 3072 x 768 per layer, 12 layers. On 2.6 the weights'
//     scales are fixed at creation and the input's scale is a binary multiply post-op (the runtime's way to get
//     the brgemm kernel); on 3.x both are run-time scale arguments, as 3.x's API has them.
// Each distinct layer: 10 warm-up calls, then >= 60 timed calls (hot caches); the per-forward figure is the sum
// of medians weighted by how often the layer occurs. A second figure runs whole forwards (every layer in model
// order, each occurrence with its own weights, so the weights come cold from L3 as in a model), median of 50.
// Times: thread CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID) and wall time, both per call.
//
// Build and run, from the repository root (g++ 12, Debian bookworm):
//   g++ -O2 -std=c++17 benchmarks/onednn_version_probe.cpp -o /tmp/probe26 -ldnnl            # libdnnl-dev 2.6
//   W=<unpacked onednn-cpu-gomp / onednn-devel-cpu-gomp 2023.2.0 wheels>
//   g++ -O2 -std=c++17 -I$W/include benchmarks/onednn_version_probe.cpp -o /tmp/probe32
//       -L$W/lib -l:libdnnl.so.3 -Wl,-rpath,$W/lib                            # (one line) oneDNN 3.2.0
//   OMP_NUM_THREADS=1 /tmp/probe26; OMP_NUM_THREADS=1 /tmp/probe32   # then 2 threads; interleave the versions
// Arguments, both optional: the number of timed calls per layer (default 60); --fold-requantize: the int8
// convolutions requantize by a scale instead of the runtime's linear post-op (3.x: a destination scale argument;
// 2.6: the linear post-op dropped, as if 1/output scale were folded into the output scales, which ReLU allows).
// Results (Intel Xeon, AVX-512/VNNI/AMX, 2 cores): docs/torch-lines.md, "A newer oneDNN for the runtime".

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Type = memory::data_type;

dnnl::engine& engine() {
  static dnnl::engine cpu(dnnl::engine::kind::cpu, 0);
  return cpu;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

double nowNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

/// Thread CPU and wall medians of one call, in microseconds.
struct Timing {
  double cpuUs = 0;
  double wallUs = 0;

  void add(const Timing& call, int count) {
    cpuUs += count * call.cpuUs;
    wallUs += count * call.wallUs;
  }
};

void printTotal(const char* label, const Timing& t) {
  std::printf("%-34s %5s %10.1f %10.1f\n", label, "", t.cpuUs, t.wallUs);
}

template <typename Call>
Timing timeCalls(int calls, Call&& call) {
  for (int i = 0; i < 10; ++i) call();
  std::vector<double> cpu, wall;
  for (int i = 0; i < calls; ++i) {
    const double c0 = nowNs(CLOCK_THREAD_CPUTIME_ID), w0 = nowNs(CLOCK_MONOTONIC);
    call();
    cpu.push_back((nowNs(CLOCK_THREAD_CPUTIME_ID) - c0) / 1e3);
    wall.push_back((nowNs(CLOCK_MONOTONIC) - w0) / 1e3);
  }
  return {median(cpu), median(wall)};
}

Type dataType(const memory::desc& desc) {
#if DNNL_VERSION_MAJOR >= 3
  return desc.get_data_type();
#else
  return desc.data_type();
#endif
}

/// A memory object filled with small random values of its data type.
memory randomMemory(const memory::desc& desc, std::mt19937& rng) {
  memory m(desc, engine());
  const size_t bytes = desc.get_size();
  auto* data = static_cast<unsigned char*>(m.get_data_handle());
  if (dataType(desc) == Type::f32) {
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    auto* f = reinterpret_cast<float*>(data);
    for (size_t i = 0; i < bytes / sizeof(float); ++i) f[i] = dist(rng);
  } else {
    std::uniform_int_distribution<int> dist(dataType(desc) == Type::s8 ? -64 : 0, 63);
    for (size_t i = 0; i < bytes; ++i) data[i] = static_cast<unsigned char>(dist(rng));
  }
  return m;
}

#if DNNL_VERSION_MAJOR >= 3
/// A float32 vector as a 1-D memory object: 3.x's run-time scales.
memory vectorMemory(const std::vector<float>& values) {
  memory m({{static_cast<memory::dim>(values.size())}, Type::f32, Tag::a}, engine());
  std::copy(values.begin(), values.end(), static_cast<float*>(m.get_data_handle()));
  return m;
}
#endif

/// A primitive ready to run: its arguments except the weights, which vary per occurrence in whole forwards.
struct Prepared {
  dnnl::primitive primitive;
  std::unordered_map<int, memory> args;
  memory::desc weightsDesc;
  memory::desc plainWeightsDesc;
  std::string impl;

  /// Records the primitive and its implementation, and gives it random activations, bias and its scratchpad.
  template <typename PrimitiveDesc>
  void bind(const PrimitiveDesc& pd, const memory::desc& plainWeights, std::mt19937& rng) {
    primitive = dnnl::primitive(pd);
    weightsDesc = pd.weights_desc();
    plainWeightsDesc = plainWeights;
    impl = pd.impl_info_str();
    args[DNNL_ARG_SRC] = randomMemory(pd.src_desc(), rng);
    args[DNNL_ARG_DST] = randomMemory(pd.dst_desc(), rng);
    args[DNNL_ARG_BIAS] = randomMemory(pd.bias_desc(), rng);
    args[DNNL_ARG_SCRATCHPAD] = memory(pd.scratchpad_desc(), engine());
  }

  memory packWeights(std::mt19937& rng) const {
    memory plain = randomMemory(plainWeightsDesc, rng);
    memory packed(weightsDesc, engine());
    dnnl::reorder(plain, packed).execute(stream(), plain, packed);
    stream().wait();
    return packed;
  }

  void run(const memory& weights) {
    args[DNNL_ARG_WEIGHTS] = weights;
    primitive.execute(stream(), args);
    stream().wait();
  }
};

// ---------------------------------------------------------------------------------------------------------------
// ResNet-50 convolutions

enum class Epilogue { Relu, SumRelu, None };

struct ConvShape {
  const char* name;
  int64_t in, out, kernel, stride, size;  ///< size: input height = width
  Epilogue epilogue;
  int count;  ///< occurrences in one forward
};

// torchvision's ResNet-50 (v1.5: the stride in the 3x3), b1 224x224, in model order of first occurrence.
const std::vector<ConvShape> kResNet50 = {
    {"stem 7x7 3->64 s2", 3, 64, 7, 2, 224, Epilogue::Relu, 1},
    {"l1 1x1 64->64", 64, 64, 1, 1, 56, Epilogue::Relu, 1},
    {"l1 3x3 64", 64, 64, 3, 1, 56, Epilogue::Relu, 3},
    {"l1 1x1 64->256 +sum", 64, 256, 1, 1, 56, Epilogue::SumRelu, 3},
    {"l1 down 1x1 64->256", 64, 256, 1, 1, 56, Epilogue::None, 1},
    {"l1 1x1 256->64", 256, 64, 1, 1, 56, Epilogue::Relu, 2},
    {"l2 1x1 256->128", 256, 128, 1, 1, 56, Epilogue::Relu, 1},
    {"l2 3x3 128 s2", 128, 128, 3, 2, 56, Epilogue::Relu, 1},
    {"l2 1x1 128->512 +sum", 128, 512, 1, 1, 28, Epilogue::SumRelu, 4},
    {"l2 down 1x1 256->512 s2", 256, 512, 1, 2, 56, Epilogue::None, 1},
    {"l2 1x1 512->128", 512, 128, 1, 1, 28, Epilogue::Relu, 3},
    {"l2 3x3 128", 128, 128, 3, 1, 28, Epilogue::Relu, 3},
    {"l3 1x1 512->256", 512, 256, 1, 1, 28, Epilogue::Relu, 1},
    {"l3 3x3 256 s2", 256, 256, 3, 2, 28, Epilogue::Relu, 1},
    {"l3 1x1 256->1024 +sum", 256, 1024, 1, 1, 14, Epilogue::SumRelu, 6},
    {"l3 down 1x1 512->1024 s2", 512, 1024, 1, 2, 28, Epilogue::None, 1},
    {"l3 1x1 1024->256", 1024, 256, 1, 1, 14, Epilogue::Relu, 5},
    {"l3 3x3 256", 256, 256, 3, 1, 14, Epilogue::Relu, 5},
    {"l4 1x1 1024->512", 1024, 512, 1, 1, 14, Epilogue::Relu, 1},
    {"l4 3x3 512 s2", 512, 512, 3, 2, 14, Epilogue::Relu, 1},
    {"l4 1x1 512->2048 +sum", 512, 2048, 1, 1, 7, Epilogue::SumRelu, 3},
    {"l4 down 1x1 1024->2048 s2", 1024, 2048, 1, 2, 14, Epilogue::None, 1},
    {"l4 1x1 2048->512", 2048, 512, 1, 1, 7, Epilogue::Relu, 2},
    {"l4 3x3 512", 512, 512, 3, 1, 7, Epilogue::Relu, 2},
};

void appendEltwise(dnnl::post_ops& ops, dnnl::algorithm algorithm, float alpha, float beta) {
#if DNNL_VERSION_MAJOR >= 3
  ops.append_eltwise(algorithm, alpha, beta);
#else
  ops.append_eltwise(1.f, algorithm, alpha, beta);
#endif
}

Prepared prepareConv(const ConvShape& shape, bool int8, bool foldRequantize, std::mt19937& rng) {
  const int64_t pad = shape.kernel / 2;
  const int64_t outSize = (shape.size + 2 * pad - shape.kernel) / shape.stride + 1;
  const Type act = int8 ? Type::u8 : Type::f32;
  const Type wei = int8 ? Type::s8 : Type::f32;
  memory::desc src({1, shape.in, shape.size, shape.size}, act, Tag::nhwc);
  memory::desc dst({1, shape.out, outSize, outSize}, act, Tag::nhwc);
  memory::dims weightDims{shape.out, shape.in, shape.kernel, shape.kernel};
  memory::desc anyWeights(weightDims, wei, Tag::any);
  memory::desc bias({shape.out}, Type::f32, Tag::a);
  memory::dims strides{shape.stride, shape.stride}, dilation{0, 0}, padding{pad, pad};

  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::post_ops ops;
  if (shape.epilogue == Epilogue::SumRelu) ops.append_sum(int8 ? 0.5f : 1.f);
  if (shape.epilogue != Epilogue::None) appendEltwise(ops, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  if (int8 && !foldRequantize) appendEltwise(ops, dnnl::algorithm::eltwise_linear, 1.f / 0.05f, 0.f);
  attr.set_post_ops(ops);
  std::vector<float> channelScales(shape.out);
  for (auto& s : channelScales) s = std::uniform_real_distribution<float>(1e-4f, 4e-4f)(rng);
#if DNNL_VERSION_MAJOR >= 3
  if (int8) attr.set_scales_mask(DNNL_ARG_WEIGHTS, 1 << 0);
  if (int8 && foldRequantize) attr.set_scales_mask(DNNL_ARG_DST, 0);
  dnnl::convolution_forward::primitive_desc pd(engine(), dnnl::prop_kind::forward_inference,
                                               dnnl::algorithm::convolution_direct, src, anyWeights, bias, dst,
                                               strides, dilation, padding, padding, attr);
#else
  if (int8) attr.set_output_scales(1 << 1, channelScales);
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src,
                                       anyWeights, bias, dst, strides, dilation, padding, padding);
  dnnl::convolution_forward::primitive_desc pd(desc, attr, engine());
#endif
  Prepared p;
  p.bind(pd, memory::desc(weightDims, wei, Tag::ohwi), rng);
#if DNNL_VERSION_MAJOR >= 3
  if (int8) p.args[DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS] = vectorMemory(channelScales);
  if (int8 && foldRequantize) p.args[DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST] = vectorMemory({0.05f});
#endif
  return p;
}

// ---------------------------------------------------------------------------------------------------------------
// BERT-base int8 matmuls

struct MatmulShape {
  const char* name;
  int64_t rows, in, out;
  int count;  ///< occurrences in one forward
};

const std::vector<MatmulShape> kBertBase = {
    {"128x768 * 768x768 (q, k, v, out)", 128, 768, 768, 48},
    {"128x768 * 768x3072 (ffn up)", 128, 768, 3072, 12},
    {"128x3072 * 3072x768 (ffn down)", 128, 3072, 768, 12},
};

Prepared prepareMatmul(const MatmulShape& shape, std::mt19937& rng) {
  memory::desc src({shape.rows, shape.in}, Type::u8, Tag::ab);
  memory::desc dst({shape.rows, shape.out}, Type::f32, Tag::ab);
  memory::dims weightDims{shape.in, shape.out};
  memory::desc anyWeights(weightDims, Type::s8, Tag::any);
  memory::desc bias({1, shape.out}, Type::f32, Tag::ab);
  std::vector<float> columnScales(shape.out);
  for (auto& s : columnScales) s = std::uniform_real_distribution<float>(1e-3f, 4e-3f)(rng);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  Prepared p;
#if DNNL_VERSION_MAJOR >= 3
  attr.set_scales_mask(DNNL_ARG_SRC, 0);
  attr.set_scales_mask(DNNL_ARG_WEIGHTS, 1 << 1);
  dnnl::matmul::primitive_desc pd(engine(), src, anyWeights, bias, dst, attr);
  p.args[DNNL_ARG_ATTR_SCALES | DNNL_ARG_SRC] = vectorMemory({0.02f});
  p.args[DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS] = vectorMemory(columnScales);
#else
  memory::desc scalar({1, 1}, Type::f32, Tag::ab);
  dnnl::post_ops ops;
  ops.append_binary(dnnl::algorithm::binary_mul, scalar);
  attr.set_post_ops(ops);
  attr.set_output_scales(1 << 1, columnScales);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, anyWeights, bias, dst), attr, engine());
  memory sourceScale(scalar, engine());
  *static_cast<float*>(sourceScale.get_data_handle()) = 0.02f;
  p.args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = sourceScale;
#endif
  p.bind(pd, memory::desc(weightDims, Type::s8, Tag::ba), rng);
  return p;
}

// ---------------------------------------------------------------------------------------------------------------

/// Times each distinct layer alone (hot), then whole forwards (every occurrence with its own weights), and prints
/// per-layer medians, the weighted per-forward sum and the whole-forward median, in microseconds.
template <typename Shape>
void runModel(const char* title, const std::vector<Shape>& shapes, std::vector<Prepared> layers, int calls,
              std::mt19937& rng, bool (*selected)(const Shape&) = nullptr) {
  std::printf("\n== %s\n%-34s %5s %10s %10s  %s\n", title, "layer", "count", "cpu_us", "wall_us", "implementation");
  Timing perForward, selectedSum;
  std::vector<std::vector<memory>> weights(shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    for (int k = 0; k < shapes[i].count; ++k) weights[i].push_back(layers[i].packWeights(rng));
    Timing t = timeCalls(calls, [&] { layers[i].run(weights[i][0]); });
    std::printf("%-34s %5d %10.1f %10.1f  %s\n", shapes[i].name, shapes[i].count, t.cpuUs, t.wallUs,
                layers[i].impl.c_str());
    perForward.add(t, shapes[i].count);
    if (selected && selected(shapes[i])) selectedSum.add(t, shapes[i].count);
  }
  printTotal("per forward (sum of layer medians)", perForward);
  if (selected) printTotal("  of which 1x1 layers", selectedSum);
  Timing whole = timeCalls(50, [&] {
    for (size_t i = 0; i < shapes.size(); ++i)
      for (const memory& w : weights[i]) layers[i].run(w);
  });
  printTotal("whole forward (median of 50)", whole);
}

bool isPointwise(const ConvShape& shape) { return shape.kernel == 1; }

} // namespace

int main(int argc, char** argv) {
  int calls = 60;
  bool foldRequantize = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--fold-requantize") {
      foldRequantize = true;
    } else if ((calls = std::atoi(argv[i])) < 1) {
      std::fprintf(stderr, "onednn_version_probe: expected a positive number of calls or --fold-requantize, got '%s'\n",
                   argv[i]);
      return 1;
    }
  }
  const dnnl_version_t* v = dnnl_version();
  const char* threads = std::getenv("OMP_NUM_THREADS");
  std::printf("oneDNN %d.%d.%d, OMP_NUM_THREADS=%s, %d timed calls per layer after 10 warm-up calls%s\n", v->major,
              v->minor, v->patch, threads ? threads : "(unset)", calls,
              foldRequantize ? ", int8 requantized by a scale" : "");
  std::mt19937 rng(42);
  try {
    for (bool int8 : {true, false}) {
      std::vector<Prepared> layers;
      for (const ConvShape& shape : kResNet50) layers.push_back(prepareConv(shape, int8, foldRequantize, rng));
      runModel(int8 ? "ResNet-50 b1 int8 convolutions" : "ResNet-50 b1 fp32 convolutions", kResNet50,
               std::move(layers), calls, rng, isPointwise);
    }
    std::vector<Prepared> matmuls;
    for (const MatmulShape& shape : kBertBase) matmuls.push_back(prepareMatmul(shape, rng));
    runModel("BERT-base seq 128 b1 int8 matmuls", kBertBase, std::move(matmuls), calls, rng);
  } catch (const dnnl::error& e) {
    std::fprintf(stderr, "onednn_version_probe: oneDNN error: %s\n", e.what());
    return 1;
  }
  return 0;
}
