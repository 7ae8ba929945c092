"""Times tsopt::linear_dynamic_* against PyTorch's quantized::linear_dynamic
(plus its separate GELU / residual add) on BERT-base's layer shapes, in one
process with interleaved rounds; prints medians, ranges and cosines to fp32.

Usage: compare_linear_dynamic.py RUNTIME_LIBRARY [--threads 1] [--rows 128]
                                 [--rounds 9] [--calls 30] [--engine onednn]
                                 [--clock wall|thread]

Both sides get the same weights, quantized per output channel (symmetric,
scale max|w| / 127.5), and 7-bit activations (reduce_range) as on CPUs
without VNNI. Run with the interpreter of the LibTorch the runtime was built
against. --clock thread times by the calling thread's CPU time
(time.thread_time), which other jobs on a loaded machine do not inflate; it
counts one thread's work only, so use it with --threads 1.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

# (in features, out features, activation, residual add): q/k/v merged, attention output, intermediate, output.
SHAPES = [(768, 2304, "none", False), (768, 768, "none", True), (768, 3072, "gelu", False), (3072, 768, "none", True)]


def pytorch_packed(weight, bias):
    scales = (weight.abs().amax(1) / 127.5).clamp_min(torch.finfo(torch.float32).eps)
    quantized = torch.quantize_per_channel(weight, scales.double(), torch.zeros(weight.shape[0], dtype=torch.long),
                                           0, torch.qint8)
    return torch.ops.quantized.linear_prepack(quantized, bias)


def cosine(a, b):
    return F.cosine_similarity(a.double().flatten(), b.double().flatten(), 0).item()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runtime_library")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--engine", default="onednn")
    parser.add_argument("--clock", choices=("wall", "thread"), default="wall")
    args = parser.parse_args(argv)
    clock = time.thread_time if args.clock == "thread" else time.perf_counter
    torch.ops.load_library(args.runtime_library)
    torch.backends.quantized.engine = args.engine
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print("rows %d, %d threads, engine %s, %s clock" % (args.rows, args.threads, args.engine, args.clock))
    for inputs, outputs, activation, add in SHAPES:
        x = torch.randn(1, args.rows, inputs)
        weight, bias = torch.randn(outputs, inputs) * 0.05, torch.randn(outputs) * 0.1
        residual = torch.randn(1, args.rows, outputs)
        pytorch, tsopt = pytorch_packed(weight, bias), torch.ops.tsopt.linear_dynamic_prepack(weight, bias, True)

        def run_pytorch():
            y = torch.ops.quantized.linear_dynamic(x, pytorch, True)
            y = F.gelu(y) if activation == "gelu" else y
            return y + residual if add else y

        def run_tsopt():
            if add:
                return torch.ops.tsopt.linear_dynamic_add_act(x, residual.clone(), tsopt, activation, 0., 0.)
            return torch.ops.tsopt.linear_dynamic_act(x, tsopt, activation, 0., 0.)

        expected = F.linear(x, weight, bias)
        expected = F.gelu(expected) if activation == "gelu" else expected
        expected = expected + residual if add else expected
        variants = {"pytorch": run_pytorch, "tsopt": run_tsopt}
        times = {name: [] for name in variants}
        for round_index in range(args.rounds):
            for name in (list(variants) if round_index % 2 == 0 else list(variants)[::-1]):
                for _ in range(3):
                    variants[name]()
                start = clock()
                for _ in range(args.calls):
                    variants[name]()
                times[name].append((clock() - start) / args.calls * 1e3)
        medians = {name: statistics.median(values) for name, values in times.items()}
        print("%4d x %4d %-4s %-9s pytorch %.3f ms [%.3f-%.3f]  tsopt %.3f ms [%.3f-%.3f]  x %.2f  cosine %.6f / %.6f"
              % (inputs, outputs, activation, "+residual" if add else "", medians["pytorch"], min(times["pytorch"]),
                 max(times["pytorch"]), medians["tsopt"], min(times["tsopt"]), max(times["tsopt"]),
                 medians["pytorch"] / medians["tsopt"], cosine(run_pytorch(), expected), cosine(run_tsopt(), expected)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
