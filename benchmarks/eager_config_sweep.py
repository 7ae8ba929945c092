"""Finds PyTorch eager's best BLAS and thread configuration on this machine.

Usage: eager_config_sweep.py [--zoo DIR] [--models a,b] [--processes N] [--json OUT]

Debian's LibTorch calls the system libblas.so.3 (OpenBLAS once
scripts/install_deps.sh has run). These settings decide eager's speed:
OPENBLAS_CORETYPE (OpenBLAS 0.3.21 does not know Zen 5 and falls back to
Haswell kernels), the thread count, and how idle OpenMP threads wait
(OMP_WAIT_POLICY; spinning threads fare badly on a shared machine). Debian's
OpenBLAS is its OpenMP build, so it shares torch's OpenMP thread count: one
number sets both (see bench_common.set_threads). The core type and wait policy
are fixed when the libraries load, so each such environment runs in its own
worker processes (alternated, N of each); the thread count changes at run time,
so each worker times every count in interleaved rounds. Prints one median per
configuration and model, ranked by the geometric mean over the models of the
time relative to the best configuration for that model.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys

import torch

import bench_common

ENVIRONMENTS = {
    "Haswell": {"OPENBLAS_CORETYPE": "Haswell"},
    "SkylakeX": {"OPENBLAS_CORETYPE": "SkylakeX"},
    "SkylakeX+passive": {"OPENBLAS_CORETYPE": "SkylakeX", "OMP_WAIT_POLICY": "PASSIVE"},
}


def _has_avx512() -> bool:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return any(line.startswith("flags") and " avx512f" in line for line in cpuinfo)
    except OSError:
        return False


# SkylakeX's kernels are AVX-512: elsewhere they die of SIGILL, and OpenBLAS's
# own choice stands in for them (OMP_WAIT_POLICY still swept).
if not _has_avx512():
    ENVIRONMENTS = {"OpenBLAS default": {}, "OpenBLAS default+passive": {"OMP_WAIT_POLICY": "PASSIVE"}}
THREAD_COUNTS = [1, 2]
ROUNDS = 3
SECONDS_PER_ROUND = 0.6


def worker(models, zoo):
    results = {}
    for model in models:
        eager = bench_common.build_eager(model, 1)
        inputs = torch.load(os.path.join(bench_common.zoo_dir(zoo), model + ".inputs.pt"))[0]
        with torch.no_grad():
            call = lambda: eager(*inputs)  # noqa: E731
            counts = {}
            for threads in THREAD_COUNTS:
                bench_common.set_threads(threads)
                counts[threads] = bench_common.calls_per_round(call, SECONDS_PER_ROUND, 2)
            times = {threads: [] for threads in THREAD_COUNTS}
            for _ in range(ROUNDS):
                for threads in THREAD_COUNTS:
                    bench_common.set_threads(threads)
                    times[threads] += bench_common.time_calls(call, counts[threads])
        results[model] = {str(threads): statistics.median(samples) for threads, samples in times.items()}
        del eager
    return results


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="bert_base_seq14,bert_base_seq128,resnet18,mobilenet_v2")
    parser.add_argument("--processes", type=int, default=2, help="worker processes per environment")
    parser.add_argument("--zoo", help="zoo folder (default: $TSOPT_ZOO, else build/zoo)")
    parser.add_argument("--json", help="write the medians here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    models = args.models.split(",")
    if args.worker:
        json.dump(worker(models, args.zoo), sys.stdout)
        return 0

    medians = {}  # "environment,threads" -> model -> [median per process]
    for _ in range(args.processes):
        for environment, variables in ENVIRONMENTS.items():
            env = {name: value for name, value in os.environ.items() if name != "OMP_WAIT_POLICY"}
            env.update(variables)
            command = [sys.executable, os.path.abspath(__file__), "--worker", "--models", args.models]
            if args.zoo:
                command += ["--zoo", args.zoo]
            output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
            for model, by_threads in json.loads(output).items():
                for threads, median in by_threads.items():
                    medians.setdefault("%s,%s" % (environment, threads), {}).setdefault(model, []).append(median)

    table = {config: {model: statistics.median(values) for model, values in by_model.items()}
             for config, by_model in medians.items()}
    best_per_model = {model: min(table[config][model] for config in table) for model in models}

    def score(config):
        return math.exp(statistics.mean(math.log(table[config][m] / best_per_model[m]) for m in models))

    ranked = sorted(table, key=score)
    print("%-24s %s  %s" % ("environment,threads", "  ".join("%16s" % m for m in models), "geomean vs best"))
    for config in ranked:
        print("%-24s %s  %.2f" % (config, "  ".join("%13.1f ms" % (1e3 * table[config][m]) for m in models),
                                  score(config)))
    environment, threads = ranked[0].split(",")
    print("best: %s, %s thread(s)" % (" ".join("%s=%s" % item for item in ENVIRONMENTS[environment].items()),
                                      threads))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"medians_s": table, "ranked": ranked, "environments": ENVIRONMENTS,
                       "blas": bench_common.blas_info(), "processes_per_environment": args.processes,
                       "rounds": ROUNDS, "seconds_per_round": SECONDS_PER_ROUND,
                       "load_average": os.getloadavg()}, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
