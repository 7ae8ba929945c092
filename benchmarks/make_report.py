"""Writes docs/benchmarks.md and its chart from one run's results.

Usage: make_report.py --compare COMPARE.json --gbench A.json [B.json ...]
                      [--sweep SWEEP.json] [--mode NAME] [--command TEXT]
                      --out docs/benchmarks.md --chart docs/images/benchmarks.png

COMPARE.json comes from compare_eager.py, each A.json from bench_models
--benchmark_format=json (one process per model and batch), SWEEP.json from
eager_config_sweep.py. Absolute times are for the record; the claims are the
ratios, each measured side by side in one process.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import bench_common  # noqa: E402

VARIANT_ORDER = ["eager", "unoptimized", "torchscript", "torch-freeze", "torch-ofi"]
BUILT_INS = ("torch-freeze", "torch-ofi")


def variant_key(name: str):
    return (VARIANT_ORDER.index(name), "") if name in VARIANT_ORDER else (len(VARIANT_ORDER), name)


def model_key(model: str):
    return bench_common.BENCHMARK_MODELS.index(model) if model in bench_common.BENCHMARK_MODELS else 99


def repo_relative(path: str) -> str:
    inside = os.path.isabs(path) and os.path.commonpath([path, bench_common.REPO]) == bench_common.REPO
    return os.path.relpath(path, bench_common.REPO) if inside else path


def run(command):
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "(unknown)"


def package_version(package: str) -> str:
    return run(["dpkg-query", "-W", "-f=${Version}", package])


def machine_lines():
    lscpu = run(["lscpu"])
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    model = fields.get("Model name", "?").strip()
    cpus = fields.get("CPU(s)", "?").strip()
    threads_per_core = fields.get("Thread(s) per core", "?").strip()
    flags = fields.get("Flags", "")
    isa = ", ".join(flag for flag in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16") if flag in flags.split())
    memory = "?"
    if os.path.exists("/proc/meminfo"):
        with open("/proc/meminfo") as meminfo:
            kilobytes = int(meminfo.readline().split()[1])
            memory = "%.0f GiB" % (kilobytes / 2 ** 20)
    return [
        "CPU: %s, %s CPUs (%s thread(s) per core), %s; memory %s" % (model, cpus, threads_per_core, isa, memory),
        "OS: %s, kernel %s" % (run(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]), platform.release()),
    ]


def load_gbench(paths):
    """(model, batch, threads) -> variant -> [real time per repetition, ms], plus counters, contexts."""
    forward = defaultdict(lambda: defaultdict(list))
    gflops = defaultdict(lambda: defaultdict(list))
    errors = {}
    optimize = defaultdict(lambda: defaultdict(list))
    contexts = []
    for path in paths:
        with open(path) as handle:
            data = json.load(handle)
        contexts.append(data.get("context", {}))
        for entry in data.get("benchmarks", []):
            if entry.get("run_type") == "aggregate" or entry.get("error_occurred"):
                continue
            scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[entry.get("time_unit", "ns")]
            parts = entry["run_name"].split("/")
            if parts[0] == "BM_Forward":
                model, batch, threads, variant = parts[1], parts[2].split(":")[1], parts[3].split(":")[1], parts[4]
                key = (model, int(batch), int(threads))
                forward[key][variant].append(entry["real_time"] * scale)
                gflops[key][variant].append(entry.get("gflops", 0.0))
                errors[key + (variant,)] = entry.get("max_abs_err", 0.0)
            elif parts[0] == "BM_Optimize":
                optimize[parts[1]][parts[2]].append(entry["real_time"] * scale)
    return forward, gflops, errors, optimize, contexts


def ratio_text(value: float) -> str:
    return "%.2f×" % value


def compare_table(compare):
    lines = ["| model | batch | variant | median ms | min ms | max ms | × vs eager | × vs best built-in | GFLOP/s "
             "| cosine | max abs err |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rows = sorted(compare["results"], key=lambda r: (model_key(r["model"]), r["batch"], variant_key(r["variant"])))
    for row in rows:
        bold = "**" if row["variant"].startswith("tsopt") else ""
        lines.append("| %s | %d | %s%s%s | %.2f | %.2f | %.2f | %s | %s | %.1f | %.6f | %.1e |" % (
            row["model"], row["batch"], bold, row["variant"], bold, 1e3 * row["median"], 1e3 * row["min"],
            1e3 * row["max"], ratio_text(row["speedup_vs_eager"]), ratio_text(row["speedup_vs_best_built_in"]),
            row["gflops"], row["cosine"], row["max_abs_error"]))
    return lines


def gbench_table(forward, gflops, errors):
    lines = ["| model | batch | threads | variant | median ms | min ms | max ms | × vs unoptimized "
             "| × vs best built-in | GFLOP/s | max abs err |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for key in sorted(forward, key=lambda k: (model_key(k[0]), k[1], k[2])):
        medians = {variant: statistics.median(times) for variant, times in forward[key].items()}
        built_in = [medians[v] for v in BUILT_INS if v in medians]
        best_built_in = min(built_in) if built_in else None
        for variant in sorted(medians, key=variant_key):
            times = forward[key][variant]
            median = medians[variant]
            versus_unoptimized = ratio_text(medians["unoptimized"] / median) if "unoptimized" in medians else "–"
            versus_built_in = ratio_text(best_built_in / median) if best_built_in else "–"
            bold = "**" if variant.startswith("tsopt") else ""
            lines.append("| %s | %d | %d | %s%s%s | %.2f | %.2f | %.2f | %s | %s | %.1f | %.1e |" % (
                key[0], key[1], key[2], bold, variant, bold, median, min(times), max(times), versus_unoptimized,
                versus_built_in, statistics.median(gflops[key][variant]), errors.get(key + (variant,), 0.0)))
    return lines


def optimize_table(optimize):
    lines = ["| model | optimizer | median ms | min ms | max ms |", "|---|---|---:|---:|---:|"]
    for model in sorted(optimize, key=model_key):
        for variant in sorted(optimize[model], key=variant_key):
            times = optimize[model][variant]
            lines.append("| %s | %s | %.1f | %.1f | %.1f |" % (model, variant, statistics.median(times), min(times),
                                                              max(times)))
    return lines


def claims(compare, forward):
    """Per model and batch, each tsopt level against torch.jit.freeze, eager and
    PyTorch's best built-in (Python run), and against freeze in the C++ run."""
    python = defaultdict(dict)
    for row in compare["results"]:
        python[(row["model"], row["batch"])][row["variant"]] = row["median"]
    levels = sorted({variant for medians in python.values() for variant in medians if variant.startswith("tsopt")})
    cpp = {key: {variant: statistics.median(times) for variant, times in by_variant.items()}
           for key, by_variant in forward.items()}
    thread_counts = sorted({key[2] for key in cpp})
    header = ["model", "batch"]
    for level in levels:
        header += ["%s vs freeze" % level, "%s vs eager" % level, "%s vs best built-in" % level,
                   "%s vs freeze, C++ (%s threads)" % (level, " / ".join(map(str, thread_counts)))]
    lines = ["| %s |" % " | ".join(header), "|---|---:|%s" % ("---:|" * (len(header) - 2))]
    for model, batch in sorted(python, key=lambda case: (model_key(case[0]), case[1])):
        medians = python[(model, batch)]
        best = min(medians[v] for v in BUILT_INS)
        cells = [model, str(batch)]
        for level in levels:
            if level not in medians:
                cells += ["–"] * 4
                continue
            cpp_ratios = []
            for threads in thread_counts:
                timings = cpp.get((model, batch, threads), {})
                cpp_ratios.append(ratio_text(timings["torch-freeze"] / timings[level])
                                  if level in timings and "torch-freeze" in timings else "–")
            cells += [ratio_text(medians["torch-freeze"] / medians[level]),
                      ratio_text(medians["eager"] / medians[level]), ratio_text(best / medians[level]),
                      " / ".join(cpp_ratios)]
        lines.append("| %s |" % " | ".join(cells))
    return lines


def sweep_lines(sweep):
    table = sweep["medians_s"]
    models = sorted(next(iter(table.values())), key=model_key)
    lines = ["| environment | threads | %s | geomean vs best |" % " | ".join("%s ms" % m for m in models),
             "|---|---:|%s---:|" % ("---:|" * len(models))]
    best = {m: min(table[config][m] for config in table) for m in models}
    for config in sweep["ranked"]:
        environment, threads = config.split(",")
        variables = " ".join("%s=%s" % item for item in sweep["environments"][environment].items())
        score = statistics.geometric_mean([table[config][m] / best[m] for m in models])
        lines.append("| %s | %s | %s | %.2f |" % (variables, threads, " | ".join(
            "%.1f" % (1e3 * table[config][m]) for m in models), score))
    return lines


SHORT_NAMES = {"resnet18": "ResNet-18", "resnet50": "ResNet-50", "mobilenet_v2": "MobileNetV2",
               "bert_base_seq14": "BERT-14", "bert_base_seq128": "BERT-128"}


def variant_color(variant: str):
    names = VARIANT_ORDER + ["tsopt-O%d" % level for level in range(1, 4)]
    return plt.get_cmap("tab10")(names.index(variant) % 10 if variant in names else 9)


def chart(compare, forward, path):
    cases = sorted({(r["model"], r["batch"]) for r in compare["results"]}, key=lambda c: (c[1], model_key(c[0])))
    variants = sorted({r["variant"] for r in compare["results"] if r["variant"] != "eager"}, key=variant_key)
    speedups = {(r["model"], r["batch"], r["variant"]): r["speedup_vs_eager"] for r in compare["results"]}
    figure, axes = plt.subplots(1, 2 if forward else 1, figsize=(14 if forward else 8, 5.6), squeeze=False)
    width = 0.8 / max(1, len(variants))
    axis = axes[0][0]
    for index, variant in enumerate(variants):
        positions = [case_index + (index - (len(variants) - 1) / 2) * width for case_index in range(len(cases))]
        axis.bar(positions, [speedups.get((m, b, variant), 0) for m, b in cases], width, label=variant,
                 color=variant_color(variant))
    axis.axhline(1.0, color="black", linewidth=0.8)
    axis.set_xticks(range(len(cases)))
    axis.set_xticklabels(["%s\nb%d" % (SHORT_NAMES.get(m, m), b) for m, b in cases], fontsize=7)
    axis.set_ylabel("speed-up vs PyTorch eager (median; higher is better)")
    axis.set_title("Python, one process, interleaved rounds")
    axis.legend(fontsize=8)
    if forward:
        axis = axes[0][1]
        keys = sorted(forward, key=lambda k: (k[1], k[2], model_key(k[0])))
        cpp_variants = sorted({v for k in keys for v in forward[k] if v != "unoptimized"}, key=variant_key)
        width = 0.8 / max(1, len(cpp_variants))
        for index, variant in enumerate(cpp_variants):
            positions = [key_index + (index - (len(cpp_variants) - 1) / 2) * width for key_index in range(len(keys))]
            values = []
            for key in keys:
                times = forward[key]
                values.append(statistics.median(times["unoptimized"]) / statistics.median(times[variant])
                              if variant in times and "unoptimized" in times else 0)
            axis.bar(positions, values, width, label=variant, color=variant_color(variant))
        axis.axhline(1.0, color="black", linewidth=0.8)
        axis.set_xticks(range(len(keys)))
        axis.set_xticklabels(["%s b%d t%d" % (SHORT_NAMES.get(k[0], k[0]), k[1], k[2]) for k in keys],
                             fontsize=7, rotation=90)
        axis.set_ylabel("speed-up vs unoptimized TorchScript")
        axis.set_title("C++ (LibTorch), Google Benchmark")
        axis.legend(fontsize=8)
    figure.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--compare", required=True)
    parser.add_argument("--gbench", nargs="*", default=[])
    parser.add_argument("--sweep")
    parser.add_argument("--mode", default="full")
    parser.add_argument("--command", default="scripts/run_benchmarks.sh")
    parser.add_argument("--out", required=True)
    parser.add_argument("--chart", required=True)
    args = parser.parse_args(argv)

    with open(args.compare) as handle:
        compare = json.load(handle)
    forward, gflops, errors, optimize, contexts = load_gbench(args.gbench)
    sweep = None
    if args.sweep and os.path.exists(args.sweep):
        with open(args.sweep) as handle:
            sweep = json.load(handle)
    chart(compare, forward, args.chart)

    config = compare["config"]
    blas = config["blas"]
    context = contexts[0] if contexts else {}
    load = [value for c in contexts for value in c.get("load_avg", [])[:1]] + config.get("load_average", [])
    out = ["# Benchmarks", "",
           "Generated by `%s` (%s mode) on %s. Absolute times are for the record only: this machine is shared and "
           "noisy (2× between processes, ~40%% within one). The claims are the ratios, each measured side by side "
           "in one process; differences under ~15%% mean nothing." % (
               args.command, args.mode, datetime.datetime.now().strftime("%Y-%m-%d %H:%M")), "",
           "![speed-ups](%s)" % os.path.relpath(args.chart, os.path.dirname(os.path.abspath(args.out))), "",
           "## Setup", ""]
    out += ["- " + line for line in machine_lines()]
    commit = run(["git", "-C", bench_common.REPO, "log", "-1", "--format=%h %s"])
    out += ["- Source: commit %s" % commit]
    results_dir = os.path.dirname(os.path.abspath(args.compare))
    previous = None
    for level in range(1, 4):
        pipeline_file = os.path.join(results_dir, "pipeline-O%d.txt" % level)
        if os.path.exists(pipeline_file):
            with open(pipeline_file) as handle:
                pipeline = handle.read().strip().replace("# pipeline: ", "")
            out += ["- `-O%d`: %s" % (level, "same as -O%d" % (level - 1) if pipeline == previous else
                                      "`%s`" % pipeline)]
            previous = pipeline
    out += [
        "- PyTorch (Python) %s; LibTorch %s (Debian libtorch1.13 %s); torchvision via python3-torchvision %s" % (
            config["torch"], context.get("torch", "?"), package_version("libtorch1.13"),
            package_version("python3-torchvision")),
        "- Google Benchmark %s; oneDNN as bundled in LibTorch (`torch.__config__.show()`)" % package_version(
            "libbenchmark-dev"),
        "- BLAS: %s → %s (%s), package libopenblas0-openmp %s" % (
            "libblas.so.3", blas["library"], blas.get("config", blas["name"]), package_version("libopenblas0-openmp")),
        "- **Eager configuration (every baseline):** OPENBLAS_CORETYPE=%s, OMP_WAIT_POLICY=%s, %d torch "
        "threads in the Python run (OpenBLAS, an OpenMP build, runs on torch's OpenMP threads); OpenBLAS reports "
        "core %s" % (blas.get("OPENBLAS_CORETYPE") or "unset (OpenBLAS's own choice)", blas.get("OMP_WAIT_POLICY"),
                     config["threads"], blas.get("core", "?")),
        "- Python run: %d interleaved rounds of ≥%.1f s per variant; tsopt runtime library: %s" % (
            config["rounds"], config["seconds_per_round"], repo_relative(config["runtime_lib"])),
        "- Load average (1 min) seen by the runs: %s (the machine has 2 CPUs; others build on it)" % (
            "%.1f–%.1f" % (min(load), max(load)) if load else "not recorded"),
        "- C++ run: one process per model and batch, Google Benchmark repetitions with random interleaving; "
        "contexts: %s" % ", ".join("%s=%s" % (k, context[k]) for k in (
            "blas", "OPENBLAS_CORETYPE", "OMP_WAIT_POLICY") if k in context),
        ""]
    if sweep:
        out += ["### Why this eager configuration", "",
                "`benchmarks/eager_config_sweep.py`: eager, batch 1, medians over %d processes per environment, "
                "%d interleaved rounds each; rows best first by the geometric mean over the models of the time "
                "relative to the best configuration for that model. Load average during the sweep: %s." % (
                    sweep["processes_per_environment"], sweep["rounds"],
                    "–".join("%.0f" % value for value in sweep.get("load_average", []))), ""]
        out += sweep_lines(sweep) + [""]
        if sweep.get("note"):
            out += [sweep["note"], ""]
    out += ["## Ratios (the claims)", "",
            "Speed-up = the reference's median time over tsopt's (higher is better), each pair measured side by side "
            "in one process. Python columns: `compare_eager.py`; C++ columns: `bench_models` at each thread count.", ""]
    out += claims(compare, forward) + [""]
    out += ["## Python: eager vs TorchScript variants (one process)", "",
            "`benchmarks/compare_eager.py`. × = the reference's median time over the variant's (higher is better); "
            "best built-in = the faster of torch.jit.freeze and torch.jit.optimize_for_inference. Cosine and max abs "
            "error compare each variant's outputs with eager's while timing.", ""]
    out += compare_table(compare) + [""]
    if forward:
        out += ["## C++: Google Benchmark (`benchmarks/bench_models.cpp`)", "",
                "Median, min and max over repetitions (each repetition is the mean of its iterations); where the "
                "min–max ranges of two variants overlap, their ratio is not a result. "
                "torch-freeze = freeze_module + OptimizeFrozenGraph (what torch.jit.freeze runs); max abs err is "
                "against the unoptimized module.", ""]
        out += gbench_table(forward, gflops, errors) + [""]
    if optimize:
        out += ["### Optimizer run time (BM_Optimize)", "",
                "Time to optimize a fresh clone of the archive (the clone is outside the timed region).", ""]
        out += optimize_table(optimize) + [""]
    with open(args.out, "w") as handle:
        handle.write("\n".join(out))
    print("make_report: wrote %s and %s" % (args.out, args.chart))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
