//===- cuda_graph_run.cpp - tsopt::cuda_graph_run on CUDA tensors ----------===//
///
/// The CUDA kernel of tsopt::cuda_graph_run (runtime/cuda_graph_cache.h): the
/// method runs from a CUDA graph captured once per input signature, so a call
/// costs one graph launch instead of a launch per kernel.
///
/// Signature: the module object (copies of a module share its cache), per
/// input its sizes, strides, dtype and device, plus grad mode, inference mode,
/// CUDA autocast (and its dtype) and the TF32 switches, which decide the
/// kernels a capture records. The signatures of a destroyed copy are dropped.
///
/// A new signature, while fewer than max_graphs signatures were tried: the
/// inputs are copied into static buffers of the same sizes and strides; on a
/// stream of its own the cache calls the method three times on those buffers
/// (the profiling executor optimizes the method after its profiling runs,
/// cuBLAS and cuDNN set up their handles and workspaces), then captures one
/// call with at::cuda::CUDAGraph (capture mode thread-local: other threads'
/// CUDA calls are not disturbed) and keeps the static outputs.
/// A known signature: the inputs are copied into the static buffers, the graph
/// replays on the current stream, and the call returns clones of the static
/// outputs, so the next replay never overwrites what a caller holds.
///
/// Runs the method uncaptured instead, with a warning once per signature,
/// where the capture fails (a host synchronization such as .item(), any other
/// error), the outputs are not CUDA tensors on the inputs' device, or they
/// require grad under grad mode (the module's parameters do); such a signature
/// counts toward max_graphs, and once max_graphs signatures were tried every
/// new one runs uncaptured (one warning). Runs it uncaptured without a warning
/// where the inputs are not all CUDA tensors on one device, one requires grad
/// under grad mode, or the current stream is itself being captured (the
/// method's kernels then join that capture).
///
/// A captured graph keeps its memory pool (the activations of one call) and
/// its static buffers until the module is destroyed.
///
//===----------------------------------------------------------------------===//
#include "runtime/cuda_graph_cache.h"

#include <ATen/Context.h>
#include <ATen/autocast_mode.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#if __has_include(<ATen/core/CachingHostAllocator.h>)
#include <ATen/core/CachingHostAllocator.h>
#endif

namespace tsopt::runtime::cuda {
namespace {

/// Uncaptured calls that optimize the method before its capture: the
/// profiling executor profiles one call and optimizes on the next.
constexpr int kWarmUpCalls = 3;

/// Ends the pinned-host allocator's routing of allocations to a graph's pool,
/// where the allocator has graph pools (PyTorch 2.10 and later).
template <typename Allocator, typename Pool>
auto endHostPoolRouting(Allocator allocator, const Pool& pool, int)
    -> decltype(allocator->end_allocate_to_pool(pool), void()) {
  try {
    allocator->end_allocate_to_pool(pool);
  } catch (const std::exception&) {
    // Not routed: nothing to end.
  }
}
template <typename Allocator, typename Pool> void endHostPoolRouting(Allocator, const Pool&, long) {}

template <typename Pool> void endHostPoolRouting(const Pool& pool) {
#ifdef REGISTER_HOST_ALLOCATOR  // Defined with at::getHostAllocator (PyTorch 2.8 and later).
  endHostPoolRouting(at::getHostAllocator(at::kCUDA), pool, 0);
#endif
}

/// at::cuda::CUDAGraph, able to give up a capture that an error interrupted.
/// What capture_end() and reset() clean up after such an error differs between
/// PyTorch 2.x releases; abandon() completes whatever the release at hand
/// leaves, detecting it from the headers rather than from version numbers:
///  - the stream's capture: capture_end() ends it first in every release;
///  - the caching allocators' routing of allocations to the graph's pool:
///    releases whose reset() tracks it (capturing_to_pool_) end it and free
///    the pool themselves; earlier ones throw from capture_end() before
///    ending it (until pytorch#180395), which would break a later emptyCache(),
///    and keep the pool of a failed capture;
///  - the CUDA generator's capture mode: releases whose generator states have
///    capture_epilogue() without a capture id (before 2.13) stay in it, and
///    every later random op outside a capture would fail.
class GraphCapture final : public at::cuda::CUDAGraph {
public:
  /// Call on the capture stream, after capture_begin(), the capture or
  /// capture_end() threw. Never throws.
  void abandon() noexcept {
    if (capturing()) {
      try {
        capture_end();
      } catch (const std::exception&) {
        // Expected: the capture was invalidated.
      }
    }
    if (capturing()) {
      cudaGraph_t partial = nullptr;
      if (cudaStreamEndCapture(capture_stream_.stream(), &partial) == cudaSuccess && partial != nullptr) {
        cudaGraphDestroy(partial);
      }
    }
    if (!resetEndsPoolRouting(*this, 0)) {
      endPoolRouting();
    }
    endGeneratorCaptures(*this, 0);
    (void)cudaGetLastError();  // The capture's error is not the next kernel's.
  }

private:
  bool capturing() const noexcept {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    return cudaStreamIsCapturing(capture_stream_.stream(), &status) == cudaSuccess &&
           status != cudaStreamCaptureStatusNone;
  }

  void endPoolRouting() noexcept {
    try {
      c10::cuda::CUDACachingAllocator::endAllocateToPool(capture_dev_, mempool_id_);
    } catch (const std::exception&) {
      return;  // Not routed, or capture_end() ended it: the pool may stay (memory lost, nothing wrong).
    }
    endHostPoolRouting(mempool_id_);
    try {
      c10::cuda::CUDACachingAllocator::releasePool(capture_dev_, mempool_id_);
    } catch (const std::exception&) {
      // The pool stays allocated: memory lost, nothing wrong.
    }
  }

  template <typename Graph>
  static auto resetEndsPoolRouting(Graph& graph, int) -> decltype(graph.capturing_to_pool_, bool()) {
    return true;
  }
  template <typename Graph> static bool resetEndsPoolRouting(Graph&, long) { return false; }

  template <typename Graph>
  static auto endGeneratorCaptures(Graph& graph, int) -> decltype(graph.captured_generator_states_.begin(), void()) {
    for (auto& entry : graph.captured_generator_states_) {
      endGeneratorCapture(*entry.first, 0);
    }
  }
  template <typename Graph> static void endGeneratorCaptures(Graph&, long) {}

  template <typename State>
  static auto endGeneratorCapture(State& state, int) -> decltype(state.capture_epilogue(), void()) {
    try {
      state.capture_epilogue();
    } catch (const std::exception&) {
      // Not capturing: nothing to end.
    }
  }
  // Per-capture generator states (2.13 and later): reset() removes this capture's.
  template <typename State> static void endGeneratorCapture(State&, long) {}
};

/// A CUDA event for ordering streams; created on its first record.
class StreamEvent {
public:
  StreamEvent() = default;
  StreamEvent(const StreamEvent&) = delete;
  StreamEvent& operator=(const StreamEvent&) = delete;
  ~StreamEvent() {
    if (event_ != nullptr) {
      cudaEventDestroy(event_);
    }
  }

  void record(const c10::cuda::CUDAStream& stream) {
    if (event_ == nullptr) {
      C10_CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming));
    }
    C10_CUDA_CHECK(cudaEventRecord(event_, stream.stream()));
  }
  /// Work queued on `stream` from now on waits for the last record().
  void block(const c10::cuda::CUDAStream& stream) const {
    if (event_ != nullptr) {
      C10_CUDA_CHECK(cudaStreamWaitEvent(stream.stream(), event_, 0));
    }
  }
  void synchronize() const noexcept {
    if (event_ != nullptr) {
      cudaEventSynchronize(event_);
    }
  }

private:
  cudaEvent_t event_ = nullptr;
};

/// `waiter` runs what is queued on it from now on after what is queued on `first`.
void orderAfter(const c10::cuda::CUDAStream& first, const c10::cuda::CUDAStream& waiter) {
  StreamEvent event;
  event.record(first);
  event.block(waiter);
}

/// A stream of the cache's own. Each graph is captured on one: its kernels
/// keep the cuBLAS workspace of that stream, which another graph replayed at
/// the same time, or the destruction of another graph, must not share.
class OwnedStream {
public:
  explicit OwnedStream(c10::DeviceIndex device) : device_(device) {
    C10_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }
  OwnedStream(const OwnedStream&) = delete;
  OwnedStream& operator=(const OwnedStream&) = delete;
  ~OwnedStream() { cudaStreamDestroy(stream_); }

  c10::cuda::CUDAStream get() const { return c10::cuda::getStreamFromExternal(stream_, device_); }

private:
  c10::DeviceIndex device_;
  cudaStream_t stream_ = nullptr;
};

/// One input signature's graph, its stream, static inputs and outputs.
struct CapturedGraph {
  explicit CapturedGraph(c10::DeviceIndex device) : stream(device) {}

  OwnedStream stream;  ///< Destroyed last, after the graph.
  std::unique_ptr<GraphCapture> graph;
  std::vector<at::Tensor> staticInputs;
  std::vector<at::Tensor> staticOutputs;  ///< In the graph's pool: freed before it.
  /// Recorded after each replay's output clones: a replay on another stream
  /// waits for it before it overwrites the static buffers.
  StreamEvent lastUse;
};

using Signature = std::vector<int64_t>;

/// The module object comes first: copies of a module (deepcopy) share its
/// type, its methods and so its cache, but each has weights of its own.
Signature signatureOf(const c10::ivalue::Object& module, const std::vector<at::Tensor>& inputs) {
  const at::Context& context = at::globalContext();
  Signature signature{reinterpret_cast<intptr_t>(&module),
                      at::GradMode::is_enabled(),
                      c10::InferenceMode::is_enabled(),
                      at::autocast::is_autocast_enabled(at::kCUDA),
                      static_cast<int64_t>(at::autocast::get_autocast_dtype(at::kCUDA)),
                      context.allowTF32CuBLAS(),
                      context.allowTF32CuDNN()};
  for (const at::Tensor& input : inputs) {
    signature.push_back(static_cast<int64_t>(input.scalar_type()));
    signature.push_back(input.get_device());
    signature.push_back(input.dim());
    signature.insert(signature.end(), input.sizes().begin(), input.sizes().end());
    signature.insert(signature.end(), input.strides().begin(), input.strides().end());
  }
  return signature;
}

std::string describe(const std::vector<at::Tensor>& inputs) {
  std::ostringstream text;
  text << "(";
  for (size_t index = 0; index < inputs.size(); ++index) {
    text << (index > 0 ? ", " : "") << inputs[index].scalar_type() << inputs[index].sizes();
  }
  text << ")";
  return text.str();
}

/// The line of an error that says what went wrong: the TorchScript
/// interpreter's wrapper puts it last ("RuntimeError: CUDA error: ..."), after
/// a traceback; CUDA errors add hints after it.
std::string summaryOf(const std::exception& error) {
  const auto* c10Error = dynamic_cast<const c10::Error*>(&error);
  std::istringstream lines(c10Error != nullptr ? c10Error->what_without_backtrace() : error.what());
  std::string line, first, named;
  while (std::getline(lines, line)) {
    if (first.empty()) {
      first = line;
    }
    size_t colon = line.find("Error: ");
    if (colon != std::string::npos && line.find(' ') > colon) {
      named = line;
    }
  }
  return named.empty() ? first : named;
}

class CudaCaptureState final : public CaptureState {
public:
  ~CudaCaptureState() override {
    for (const auto& entry : signatures_) {
      waitForReplays(entry.second);
    }
  }

  int64_t capturedGraphs() const override {
    return std::count_if(signatures_.begin(), signatures_.end(),
                         [](const auto& entry) { return entry.second.graph != nullptr; });
  }

  /// The graph of `signature`, capturing one if max_graphs allows; nullptr
  /// when the method runs uncaptured for it.
  CapturedGraph* graphFor(const Signature& signature, const c10::IValue& module, c10::string_view method,
                          const std::vector<at::Tensor>& inputs, int64_t maxGraphs) {
    forgetDestroyedModules();
    auto found = signatures_.find(signature);
    if (found != signatures_.end()) {
      return found->second.graph.get();
    }
    if (static_cast<int64_t>(signatures_.size()) >= maxGraphs) {
      if (!warnedFull_ && maxGraphs > 0) {
        TORCH_WARN("tsopt::cuda_graph_run: '", method, "' was tried on max_graphs (", maxGraphs,
                   ") input signatures; other signatures, such as ", describe(inputs), ", run uncaptured");
      }
      warnedFull_ = true;
      return nullptr;
    }
    std::string whyNot;
    std::unique_ptr<CapturedGraph> captured = capture(module, method, inputs, whyNot);
    if (!captured) {
      TORCH_WARN("tsopt::cuda_graph_run: '", method, "' runs uncaptured for inputs ", describe(inputs), ": ",
                 whyNot);
    }
    SignatureEntry& entry = signatures_[signature];
    entry.module = c10::weak_intrusive_ptr<c10::ivalue::Object>(module.toObject());
    entry.graph = std::move(captured);
    return entry.graph.get();
  }

private:
  struct SignatureEntry {
    /// Whose signature it is: once that module is destroyed, another object
    /// may come at its address.
    c10::weak_intrusive_ptr<c10::ivalue::Object> module{c10::intrusive_ptr<c10::ivalue::Object>()};
    std::unique_ptr<CapturedGraph> graph;  ///< Null: the method runs uncaptured.
  };

  /// A replay may still run: the graph's memory and static buffers must outlive it.
  static void waitForReplays(const SignatureEntry& entry) {
    if (entry.graph) {
      entry.graph->lastUse.synchronize();
    }
  }

  /// Drops the signatures of module objects (copies) that were destroyed.
  void forgetDestroyedModules() {
    for (auto entry = signatures_.begin(); entry != signatures_.end();) {
      if (entry->second.module.expired()) {
        waitForReplays(entry->second);
        entry = signatures_.erase(entry);
      } else {
        ++entry;
      }
    }
  }

  std::unique_ptr<CapturedGraph> capture(const c10::IValue& module, c10::string_view method,
                                         const std::vector<at::Tensor>& inputs, std::string& whyNot) {
    const c10::cuda::CUDAStream current = c10::cuda::getCurrentCUDAStream();
    auto captured = std::make_unique<CapturedGraph>(current.device_index());
    for (const at::Tensor& input : inputs) {
      at::Tensor buffer = input.is_non_overlapping_and_dense()
                              ? at::empty_strided(input.sizes(), input.strides(), input.options())
                              : at::empty(input.sizes(), input.options());
      captured->staticInputs.push_back(buffer.copy_(input));
    }
    // The stream's work (the static buffers' copies) comes first; and the
    // current stream's later work (a replay, a use of freed warm-up or
    // static-input memory) waits for the capture stream's.
    const c10::cuda::CUDAStream stream = captured->stream.get();
    orderAfter(current, stream);
    struct OrderBack {
      const c10::cuda::CUDAStream &stream, &current;
      ~OrderBack() {
        try {
          orderAfter(stream, current);
        } catch (const std::exception& error) {
          TORCH_WARN("tsopt::cuda_graph_run: cannot order the streams: ", error.what());
        }
      }
    } orderBack{stream, current};
    c10::cuda::CUDAStreamGuard streamGuard(stream);

    std::vector<at::Tensor> outputs;
    for (int call = 0; call < kWarmUpCalls; ++call) {
      outputs = callMethod(module, method, captured->staticInputs);
    }
    for (const at::Tensor& output : outputs) {
      if (!output.is_cuda() || output.device() != current.device()) {
        whyNot = "an output is not on " + current.device().str();
        return nullptr;
      }
      if (at::GradMode::is_enabled() && output.requires_grad()) {
        whyNot = "an output requires grad (call it under torch.no_grad(), or freeze the module)";
        return nullptr;
      }
    }
    outputs.clear();

    auto graph = std::make_unique<GraphCapture>();
    try {
      graph->capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
      captured->staticOutputs = callMethod(module, method, captured->staticInputs);
      graph->capture_end();
    } catch (const std::exception& error) {
      graph->abandon();
      captured->staticOutputs.clear();
      whyNot = "its capture failed: " + summaryOf(error);
      return nullptr;
    }
    captured->graph = std::move(graph);
    return captured;
  }

  std::map<Signature, SignatureEntry> signatures_;
  bool warnedFull_ = false;
};

std::vector<at::Tensor> replay(CapturedGraph& captured, const std::vector<at::Tensor>& inputs) {
  const c10::cuda::CUDAStream stream = c10::cuda::getCurrentCUDAStream();
  captured.lastUse.block(stream);
  for (size_t index = 0; index < inputs.size(); ++index) {
    captured.staticInputs[index].copy_(inputs[index]);
  }
  captured.graph->replay();
  // One clone per static output; outputs that were one tensor stay one.
  std::unordered_map<const c10::TensorImpl*, at::Tensor> clones;
  std::vector<at::Tensor> outputs;
  for (const at::Tensor& output : captured.staticOutputs) {
    auto [clone, inserted] = clones.try_emplace(output.unsafeGetTensorImpl());
    if (inserted) {
      clone->second = output.clone();
    }
    outputs.push_back(clone->second);
  }
  captured.lastUse.record(stream);
  return outputs;
}

bool needsAutograd(const at::Tensor& tensor) { return at::GradMode::is_enabled() && tensor.requires_grad(); }

/// Whether the call can use a graph at all: a module object, CUDA inputs on
/// one device, no autograd, and no capture already under way on the current stream.
bool capturable(const c10::IValue& module, const std::vector<at::Tensor>& inputs) {
  if (!module.isObject() || inputs.empty()) {
    return false;
  }
  const at::Device device = inputs.front().device();
  for (const at::Tensor& input : inputs) {
    if (!input.is_cuda() || input.device() != device || input.layout() != at::kStrided || needsAutograd(input)) {
      return false;
    }
  }
  c10::cuda::CUDAGuard deviceGuard(device);
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  C10_CUDA_CHECK(cudaStreamIsCapturing(c10::cuda::getCurrentCUDAStream().stream(), &status));
  return status == cudaStreamCaptureStatusNone;
}

std::vector<at::Tensor> cudaGraphRunCuda(const c10::intrusive_ptr<CudaGraphCache>& cache, const c10::IValue& module,
                                         c10::string_view method, std::vector<at::Tensor> inputs) {
  if (capturable(module, inputs)) {
    c10::cuda::CUDAGuard deviceGuard(inputs.front().device());
    const Signature signature = signatureOf(module.toObjectRef(), inputs);
    std::lock_guard<std::mutex> lock(cache->mutex());
    std::unique_ptr<CaptureState>& state = cache->captureState();
    if (!state) {
      state = std::make_unique<CudaCaptureState>();
    }
    CapturedGraph* graph = static_cast<CudaCaptureState&>(*state).graphFor(signature, module, method, inputs,
                                                                            cache->maxGraphs());
    if (graph != nullptr) {
      return replay(*graph, inputs);
    }
  }
  return callMethod(module, method, inputs);
}

} // namespace
} // namespace tsopt::runtime::cuda

TORCH_LIBRARY_IMPL(tsopt, CUDA, m) { m.impl("cuda_graph_run", tsopt::runtime::cuda::cudaGraphRunCuda); }
