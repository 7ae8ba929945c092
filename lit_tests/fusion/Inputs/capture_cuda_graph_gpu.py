"""capture-cuda-graph on a GPU, end to end, for lit (capture-cuda-graph-cuda.test,
REQUIRES: cuda) and for machines without lit (scripts/gpu_check.sh).

usage: capture_cuda_graph_gpu.py RUNTIME_LIBRARY TSOPT OUTDIR
(examples/models on PYTHONPATH, for capture_models.py's zoo_common.)

  - tsopt --device=cuda --passes='O2,capture-cuda-graph' --check-equivalence on
    the conv net of capture_models.py: the captured module matches the original
    on the GPU (tsopt's tolerances);
  - in stock PyTorch with the runtime library alone (its CUDA kernels load on
    the first CUDA call): results equal the original's within 1e-5 of the
    largest output (float32, TF32 off) for batches 1, 2, 1, 2 (two captured
    graphs), a result survives the next call, grad mode without tensors that
    require grad captures too, and a call inside someone else's
    torch.cuda.graph capture joins that capture;
  - a method that calls .item() (its capture fails) runs uncaptured, warns
    once, and leaves the process healthy: empty_cache, random numbers and a
    new capture work.
Prints one line per check, the time per call of the conv net at batch 1
uncaptured and captured (no check), and "capture-cuda-graph-gpu: ok" when all
pass; exits 1 at the first failure.
"""
import os
import subprocess
import sys
import time
import warnings

import torch

from capture_models import Conv

DEVICE = "cuda"
RELATIVE_TOLERANCE = 1e-5


def fail(message):
    print("FAILED:", message)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print(message)


def close(actual, expected, what):
    error = (actual - expected).abs().max().item()
    scale = expected.abs().max().item()
    check(error <= RELATIVE_TOLERANCE * scale, f"{what}: within 1e-5 of the largest output")


def cache_of(module):
    constants = [node.output().toIValue() for node in module.forward.graph.findAllNodes("prim::Constant")
                 if node.output().type().kind() == "ClassType"]
    return constants[0]


class ItemBody(torch.nn.Module):
    """What the pass refuses, called through the op directly: a capture fails."""

    def __init__(self):
        super().__init__()
        self.cache = torch.classes.tsopt.CudaGraphCache(4)

    def forward(self, x):
        return torch.ops.tsopt.cuda_graph_run(self.cache, self, "body", [x])[0]

    @torch.jit.export
    def body(self, x):
        return x * x.sum().item()


def milliseconds_per_call(function, x, calls=500):
    with torch.no_grad():
        for _ in range(20):
            function(x)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(calls):
            function(x)
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / calls * 1e3


def main():
    runtime, tsopt, out = sys.argv[1:]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    original_path, captured_path = os.path.join(out, "conv.pt"), os.path.join(out, "conv.captured.pt")
    torch.jit.save(torch.jit.script(Conv().eval()), original_path)
    torch.save([(torch.randn(1, 3, 8, 8),), (torch.randn(2, 3, 8, 8),)], os.path.join(out, "conv.inputs.pt"))
    run = subprocess.run([tsopt, original_path, "--device=cuda", "--passes=O2,capture-cuda-graph",
                          "--check-equivalence", "-o", captured_path], capture_output=True, text=True)
    check(run.returncode == 0 and "MISMATCH" not in run.stderr, "tsopt --device=cuda: equivalent")

    torch.ops.load_library(runtime)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    original = torch.jit.load(original_path, map_location=DEVICE)
    captured = torch.jit.load(captured_path, map_location=DEVICE)
    with torch.no_grad():
        for batch in (1, 2, 1, 2):
            x = torch.randn(batch, 3, 8, 8, device=DEVICE)
            close(captured(x), original(x), f"batch {batch}")
        check(cache_of(captured).captured_graphs() == 2, "two input shapes, two captured graphs")
        first = captured(torch.randn(1, 3, 8, 8, device=DEVICE))
        kept = first.clone()
        captured(torch.randn(1, 3, 8, 8, device=DEVICE))
        check(torch.equal(first, kept), "a result survives the next call")
    x = torch.randn(3, 3, 8, 8, device=DEVICE)
    close(captured(x), original(x), "grad mode on, no tensor requires grad")
    check(cache_of(captured).captured_graphs() == 3, "grad mode on: a graph of its own")

    static_input = torch.randn(1, 3, 8, 8, device=DEVICE)
    outer = torch.cuda.CUDAGraph()
    with torch.no_grad():
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                captured(static_input)
        torch.cuda.current_stream().wait_stream(side)
        with torch.cuda.graph(outer):
            static_output = captured(static_input)
        static_input.copy_(torch.randn_like(static_input))
        outer.replay()
        torch.cuda.synchronize()
        close(static_output, original(static_input), "inside torch.cuda.graph: joins the capture")

    body = torch.jit.script(ItemBody())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.no_grad():
            for _ in range(2):
                x = torch.randn(5, device=DEVICE)
                close(body(x), x * x.sum().item(), "a capture that fails: runs uncaptured")
    check(body.cache.captured_graphs() == 0, "a capture that fails: no graph")
    messages = [str(warning.message) for warning in caught if "cuda_graph_run" in str(warning.message)]
    check(len(messages) == 1 and "capture failed" in messages[0], "a capture that fails: one warning")
    torch.cuda.empty_cache()
    torch.randn(16, device=DEVICE).sum().item()
    torch.cuda.synchronize()
    print("after a failed capture: empty_cache and random numbers work")
    again = torch.jit.load(captured_path, map_location=DEVICE)
    with torch.no_grad():
        x = torch.randn(1, 3, 8, 8, device=DEVICE)
        close(again(x), original(x), "after a failed capture: a new capture")
    check(cache_of(again).captured_graphs() == 1, "after a failed capture: one graph")
    x = torch.randn(1, 3, 8, 8, device=DEVICE)
    print("conv net, batch 1: %.4f ms per call uncaptured, %.4f ms captured"
          % (milliseconds_per_call(again.forward_uncaptured, x), milliseconds_per_call(again, x)))
    print("capture-cuda-graph-gpu: ok")


if __name__ == "__main__":
    main()
