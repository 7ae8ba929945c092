"""Times true PyTorch eager against PyTorch's TorchScript optimizers and the
tsopt-optimized archives, in one process, as ratios.

Usage: compare_eager.py [--zoo DIR] [--optimized-dir DIR] [--models a,b]
                        [--batches 1,8] [--threads N] [--rounds N]
                        [--seconds-per-round S] [--runtime-lib PATH] [--json OUT]

Per model and batch size the variants are
  eager         the nn.Module, built by the zoo's code from the same seed (no_grad, eval)
  torchscript   the traced archive as saved
  torch-freeze  torch.jit.freeze(archive)
  torch-ofi     torch.jit.optimize_for_inference(archive)
  tsopt-O<n>    OPTIMIZED_DIR/<archive>.o<n>.pt (written by `tsopt -O<n>`), every level found
Each variant is warmed up, then all are timed in interleaved rounds (the order
rotates each round) so that the machine's noise falls on all of them alike.
Every timed round's last output is compared with eager's (worst cosine
similarity and largest absolute error). Reports median, min and max per call,
and ratios: eager's median over the variant's (speed-up vs eager), and the
faster of torch-freeze and torch-ofi over the variant's (vs PyTorch's best
built-in optimizer).

The rest of the configuration comes from the environment (OPENBLAS_CORETYPE,
OMP_WAIT_POLICY; OpenBLAS runs on --threads too, see bench_common.set_threads);
eager_config_sweep.py chooses it. Run with /usr/bin/python3.
"""
import argparse
import gc
import glob
import json
import os
import re
import sys
import time

import torch

import bench_common

BUILT_INS = ("torch-freeze", "torch-ofi")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--zoo", help="zoo folder (default: $TSOPT_ZOO, else build/zoo)")
    parser.add_argument("--optimized-dir", help="folder of NAME.o<n>.pt (default: the zoo folder)")
    parser.add_argument("--models", default=",".join(bench_common.BENCHMARK_MODELS))
    parser.add_argument("--batches", default="1")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds-per-round", type=float, default=0.5, help="per variant")
    parser.add_argument("--warmup", type=int, default=3, help="calls before timing (JIT profiling runs)")
    parser.add_argument("--runtime-lib", help="tsopt runtime library of custom ops (torch.ops.load_library)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    args.zoo = bench_common.zoo_dir(args.zoo)
    args.optimized_dir = args.optimized_dir or args.zoo
    args.models = [model for model in args.models.split(",") if model]
    args.batches = [int(batch) for batch in args.batches.split(",") if batch]
    return args


def tsopt_archives(optimized_dir: str, stem: str):
    """(variant name, path) for every OPTIMIZED_DIR/STEM.o<n>.pt, by level."""
    found = []
    for path in glob.glob(os.path.join(glob.escape(optimized_dir), glob.escape(stem) + ".o*.pt")):
        match = re.fullmatch(re.escape(stem) + r"\.o(\d)\.pt", os.path.basename(path))
        if match:
            found.append((int(match.group(1)), path))
    return [("tsopt-O%d" % level, path) for level, path in sorted(found)]


def build_variants(args, model: str, batch: int):
    stem = bench_common.zoo_file_stem(model, batch)
    archive_path = os.path.join(args.zoo, stem + ".pt")
    variants = {"eager": bench_common.build_eager(model, batch)}
    archive = torch.jit.load(archive_path).eval()
    variants["torchscript"] = archive
    variants["torch-freeze"] = torch.jit.freeze(torch.jit.load(archive_path).eval())
    variants["torch-ofi"] = torch.jit.optimize_for_inference(torch.jit.load(archive_path).eval())
    for name, path in tsopt_archives(args.optimized_dir, stem):
        variants[name] = torch.jit.load(path).eval()
    return variants


def measure(args, model: str, batch: int):
    stem = bench_common.zoo_file_stem(model, batch)
    inputs_path = os.path.join(args.zoo, stem + ".inputs.pt")
    if not os.path.isfile(inputs_path):
        print("compare_eager: skipping %s: no %s (make_zoo.py --batch %d)" % (stem, inputs_path, batch),
              file=sys.stderr)
        return []
    inputs = torch.load(inputs_path)[0]
    variants = build_variants(args, model, batch)
    names = list(variants)
    with torch.no_grad():
        reference = variants["eager"](*inputs)
        calls = {name: bench_common.calls_per_round(lambda m=variants[name]: m(*inputs), args.seconds_per_round,
                                                     args.warmup)
                 for name in names}
        times = {name: [] for name in names}
        agreement = {name: {"cosine": 1.0, "max_abs_error": 0.0} for name in names}
        for round_index in range(args.rounds):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                module = variants[name]
                times[name] += bench_common.time_calls(lambda: module(*inputs), calls[name] - 1)
                start = time.perf_counter()
                output = module(*inputs)
                times[name].append(time.perf_counter() - start)
                check = bench_common.agreement(reference, output)
                agreement[name]["cosine"] = min(agreement[name]["cosine"], check["cosine"])
                agreement[name]["max_abs_error"] = max(agreement[name]["max_abs_error"], check["max_abs_error"])
    del variants
    gc.collect()

    stats = {name: bench_common.summary(samples) for name, samples in times.items()}
    eager = stats["eager"]["median"]
    best_built_in = min(stats[name]["median"] for name in BUILT_INS)
    gflop = bench_common.GFLOP_PER_SAMPLE[model] * batch
    rows = []
    for name in names:
        median = stats[name]["median"]
        rows.append(dict(model=model, batch=batch, variant=name, **stats[name], **agreement[name],
                         speedup_vs_eager=eager / median, speedup_vs_best_built_in=best_built_in / median,
                         gflops=gflop / median))
    return rows


def main(argv):
    args = parse_args(argv)
    if args.runtime_lib:
        torch.ops.load_library(args.runtime_lib)
    bench_common.set_threads(args.threads)
    load_at_start = os.getloadavg()[0]
    config = {"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": bench_common.blas_info(),
              "rounds": args.rounds, "seconds_per_round": args.seconds_per_round,
              "runtime_lib": args.runtime_lib or "(none)"}
    print("compare_eager: torch %s, %d threads, %s (%s)" % (config["torch"], config["threads"],
                                                          config["blas"]["name"], config["blas"].get("core", "")))
    results = []
    for model in args.models:
        for batch in args.batches:
            rows = measure(args, model, batch)
            for row in rows:
                print("%-18s b%-2d %-13s median %9.2f ms  min %9.2f  max %9.2f  x%5.2f vs eager  x%5.2f vs best "
                      "built-in  cos %.6f  max|err| %.2e" % (
                          row["model"], row["batch"], row["variant"], 1e3 * row["median"], 1e3 * row["min"],
                          1e3 * row["max"], row["speedup_vs_eager"], row["speedup_vs_best_built_in"], row["cosine"],
                          row["max_abs_error"]))
            sys.stdout.flush()
            results += rows
    config["load_average"] = [load_at_start, os.getloadavg()[0]]
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"config": config, "results": results}, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
