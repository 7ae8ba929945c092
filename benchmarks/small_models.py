"""tsopt -O2 against PyTorch's built-ins on small models (issue 13, part 2):
models where there is little to fuse and each op is microseconds, so fixed
costs (op dispatch, a fused kernel's primitive lookup, layout conversions)
decide. The goal: -O2 at least 0.97x the faster of torch.jit.freeze and
optimize_for_inference on every one. Also the convolution kinds of issue 17
(unet3d_block, audio1d_stack, transposed_decoder: examples/models/conv_kinds.py),
where no pattern may get slower, and the residual sums beyond layer + r
(conv_sub, conv_rsub, conv_two_sums, linear_sub: fused as the `.scaled`
overloads), against the same passes with the sums left to ATen
(`--pipeline unfused=...`).

Usage:
    .venv/bin/python3 benchmarks/small_models.py [--tsopt build-pip/ir_tools/tsopt]
        [--runtime-lib build-pip/runtime/libtsopt_runtime.so] [--threads 1,2]
        [--rounds 5] [--seconds-per-round 0.2] [--clock wall|thread]
        [--pipeline NAME=PIPELINE ...] [--json FILE]

Every variant of a model is timed in the same run, in interleaved rounds;
medians are reported with the ratio of -O2 to the best built-in. Each
--pipeline adds a variant tsopt-NAME optimized with that tsopt pipeline.
`--clock thread` times each call in the calling thread's CPU time
(time.thread_time): on a loaded machine other jobs' preemption does not count,
but neither does the work of other threads, so use it with --threads 1. Eager is the
module as built, in inference mode (its best configuration for these sizes:
channels_last does not pay on 16x16 images).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import bench_common
from conv_kinds import AudioConv1d, TransposedDecoder, UNet3dBlock

REPO = bench_common.REPO


class TinyCnn(nn.Module):
    """Two conv + BN + ReLU blocks and a linear head on 16x16 images."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.b1 = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.b2 = nn.BatchNorm2d(16)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.b1(self.c1(x)))
        x = F.relu(self.b2(self.c2(x)))
        return self.head(x.mean((2, 3)))


class TinyMlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(32, 64), nn.Linear(64, 64), nn.Linear(64, 10)

    def forward(self, x):
        return self.l3(F.gelu(self.l2(F.relu(self.l1(x)))))


def tiny_encoder():
    layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128, dropout=0.0, batch_first=True)
    return nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)


def counted_gflop(build, make_inputs):
    """GFLOP per call as torch.utils.flop_counter counts them (convolutions and matmuls)."""
    def count():
        from torch.utils.flop_counter import FlopCounterMode
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            build().eval()(*make_inputs())
        return counter.get_total_flops() / 1e9
    return count


# The residual sums of issue 17 beyond layer + r.
class ConvSub(nn.Module):
    """relu(conv(x) - r)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(64, 64, 3, padding=1)

    def forward(self, x, r):
        return F.relu(self.conv(x) - r)


class ConvRsub(ConvSub):
    """r - conv(x): negated weights, the residual at scale 1."""

    def forward(self, x, r):
        return r - self.conv(x)


class ConvTwoSums(ConvSub):
    """relu(conv(x) + r - r2): a second sum into the conv's output."""

    def forward(self, x, r, r2):
        return F.relu(self.conv(x) + r - r2)


class LinearSub(nn.Module):
    """relu(linear(x) - r)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(256, 256)

    def forward(self, x, r):
        return F.relu(self.linear(x) - r)


def feature_maps(count):
    return lambda: tuple(torch.randn(1, 64, 28, 28) for _ in range(count))


CONV_SUM_GFLOP = 2 * 64 * 64 * 9 * 28 * 28 / 1e9


# The convolution kinds of issue 17, at sizes where the convolutions dominate.
def volume():
    return (torch.randn(1, 8, 16, 32, 32),)


def waveform():
    return (torch.randn(1, 1, 16000),)


def latent():
    return (torch.randn(1, 64, 16, 16),)


def unet3d():
    return UNet3dBlock(width=24, in_channels=8)


def audio1d():
    return AudioConv1d(width=64)


def decoder():
    return TransposedDecoder(width=64)


# name: (builder, inputs, GFLOP per call, or a function that counts them)
MODELS = {
    "encoder_d64_seq16": (tiny_encoder, lambda: (torch.randn(1, 16, 64),), 2 * (16 * 64 * 64 * 4 + 16 * 64 * 128 * 2 + 2 * 16 * 16 * 64) * 2 / 1e9),
    "mlp_b1": (TinyMlp, lambda: (torch.randn(1, 32),), 2 * (32 * 64 + 64 * 64 + 64 * 10) / 1e9),
    "mlp_b16": (TinyMlp, lambda: (torch.randn(16, 32),), 16 * 2 * (32 * 64 + 64 * 64 + 64 * 10) / 1e9),
    "cnn_16x16": (TinyCnn, lambda: (torch.randn(1, 3, 16, 16),), 2 * (16 * 16 * 8 * 27 + 8 * 8 * 16 * 72 + 160) / 1e9),
    "unet3d_block": (unet3d, volume, counted_gflop(unet3d, volume)),
    "audio1d_stack": (audio1d, waveform, counted_gflop(audio1d, waveform)),
    "transposed_decoder": (decoder, latent, counted_gflop(decoder, latent)),
    "conv_sub": (ConvSub, feature_maps(2), CONV_SUM_GFLOP),
    "conv_rsub": (ConvRsub, feature_maps(2), CONV_SUM_GFLOP),
    "conv_two_sums": (ConvTwoSums, feature_maps(3), CONV_SUM_GFLOP),
    "linear_sub": (LinearSub, lambda: (torch.randn(32, 256), torch.randn(32, 256)), 2 * 32 * 256 * 256 / 1e9),
}


def randomized(module):
    torch.manual_seed(0)
    for child in module.modules():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            child.running_mean.uniform_(-0.5, 0.5)
            child.running_var.uniform_(0.5, 2)
    return module.eval()


def variants(name, work_dir, args):
    build, make_inputs, _ = MODELS[name]
    torch.manual_seed(1)
    module = randomized(build())
    inputs = make_inputs()
    # One trace for every variant (grad mode on: the graph of regular ops, not
    # the encoder layer's inference fast path); the encoder's trace differs
    # from run to run in type names only, so the tracer's own check is off.
    def trace():
        return torch.jit.trace(module, inputs, check_trace=False).eval()

    archive = os.path.join(work_dir, name + ".pt")
    trace().save(archive)
    frozen = torch.jit.freeze(trace())
    ofi = torch.jit.optimize_for_inference(torch.jit.freeze(trace()))
    result = {"eager": lambda: module(*inputs), "freeze": lambda: frozen(*inputs), "ofi": lambda: ofi(*inputs)}
    pipelines = [(f"O{level}", [f"-O{level}"]) for level in (1, 2)]
    pipelines += [(variant, [f"--passes={pipeline}"]) for variant, pipeline in args.pipeline]
    for variant, flags in pipelines:
        out = os.path.join(work_dir, f"{name}.{variant}.pt")
        subprocess.run([args.tsopt, archive, *flags, "-o", out], check=True, capture_output=True)
        optimized = torch.jit.load(out).eval()
        result[f"tsopt-{variant}"] = (lambda m: lambda: m(*inputs))(optimized)
    return result, module(*inputs)


def measure(functions, args):
    clock = time.thread_time if args.clock == "thread" else time.perf_counter
    with torch.inference_mode():
        warmup = getattr(args, "warmup", 20)
        calls = {key: bench_common.calls_per_round(f, args.seconds_per_round, warmup) for key, f in functions.items()}
        times = {key: [] for key in functions}
        keys = list(functions)
        for round_index in range(args.rounds):
            shift = round_index % len(keys)
            for key in keys[shift:] + keys[:shift]:
                times[key] += bench_common.time_calls(functions[key], calls[key], clock)
    return {key: statistics.median(values) for key, values in times.items()}


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tsopt", default=os.path.join(REPO, "build-pip", "ir_tools", "tsopt"))
    parser.add_argument("--runtime-lib", default=os.path.join(REPO, "build-pip", "runtime", "libtsopt_runtime.so"))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds-per-round", type=float, default=0.2)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--pipeline", action="append", default=[], type=lambda text: tuple(text.split("=", 1)),
                        metavar="NAME=PIPELINE", help="also time the model optimized with this tsopt pipeline")
    parser.add_argument("--clock", choices=("wall", "thread"), default="wall",
                        help="wall time, or the calling thread's CPU time (with --threads 1 only)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    if args.clock == "thread" and args.threads != "1":
        parser.error("--clock thread counts the calling thread only: use --threads 1")
    torch.ops.load_library(args.runtime_lib)
    rows = []
    with tempfile.TemporaryDirectory() as work_dir:
        for name in args.models.split(","):
            functions, _ = variants(name, work_dir, args)
            gflop = MODELS[name][2]() if callable(MODELS[name][2]) else MODELS[name][2]
            for threads in (int(t) for t in args.threads.split(",")):
                bench_common.set_threads(threads)
                medians = measure(functions, args)
                best_builtin = min(medians["freeze"], medians["ofi"])
                row = {"model": name, "threads": threads, "median_us": {k: v * 1e6 for k, v in medians.items()},
                       "O2_vs_best_builtin": best_builtin / medians["tsopt-O2"],
                       "gflops_O2": gflop / medians["tsopt-O2"]}
                rows.append(row)
                cells = "  ".join(f"{k} {v * 1e6:8.1f}" for k, v in medians.items())
                print(f"{name:18s} t{threads}  {cells} us   -O2 vs best built-in {row['O2_vs_best_builtin']:.2f}x"
                      f"  ({row['gflops_O2']:.1f} GFLOP/s)", flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"torch": torch.__version__, "rows": rows}, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
