"""What compare_peers.py and compare_ipex.py share: their command line, the run
over models x batches x threads, interleaved timing, cosine against eager, the
speed-up ratios, the printed lines and the JSON file.

Usage (a library):
    parser = peer_common.parser(__doc__); ...; args = peer_common.parse(parser, argv)
    results = peer_common.run(args, build_variants)   # build_variants(case, cache) -> [Variant]
    peer_common.write_json(args.json, peer_common.config(args, ...), results)

For each model and batch size the eager module and the timed inputs are built
once (peer_models.build); for each thread count every variant is built, warmed
up, then all are timed in interleaved rounds, the order rotating each round
(as compare_eager.py), so that the machine's noise falls on all alike; Python's
garbage collector is off while calls are timed (bench_common.time_calls). The last
output of every round is compared with eager's: cosine similarity of the first
output tensor, flattened, in double precision (BERT and GPT-2: the last hidden
state; classifiers: the logits); the worst round is reported.

Ratios, each from medians measured side by side in one process:
  speedup_vs_eager  the eager baseline's median over the variant's; the
                    baseline is the faster of the eager variants (eager and,
                    for conv nets, eager-cl)
  vs_best_peer      the variant's speed-up over the best peer's (> 1: faster
                    than every peer); fp32 variants against FP32_PEERS, int8
                    variants against INT8_PEERS, among those measured

The JSON file: {"config": {...}, "results": [row, ...]}; a row has model,
batch, threads, variant, precision, median_ms/min_ms/max_ms (per call),
samples (calls timed), speedup_vs_eager, baseline (the eager variant it is
relative to), vs_best_peer, best_peer, cosine, setup_s ({step: seconds}:
compile, export, ...), note; a variant that could not be built or run has
error instead of the timings.
"""
import argparse
import copy
import gc
import json
import os
import platform
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy
import torch

import bench_common
import peer_models

EAGER_VARIANTS = ("eager", "eager-cl")
INDUCTOR_VARIANTS = {"default": "inductor", "max-autotune-no-cudagraphs": "inductor-max-autotune"}  # mode -> name
FP32_PEERS = ("torch-ofi", *INDUCTOR_VARIANTS.values(), "onnxruntime", "ipex")
INT8_PEERS = ("torch-int8", "onnxruntime-int8")
PEERS = {"fp32": FP32_PEERS, "int8": INT8_PEERS}

# TorchScript, its tracer and torch.ao.quantization are deprecated in torch 2.x; every call says so.
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)

FULL = dict(models=list(peer_models.MODELS), batches=[1, 8], threads=[1, 2], rounds=7, seconds_per_round=0.5)
QUICK = dict(models=["resnet50", "bert_base_seq14"], batches=[1], threads=[1], rounds=3, seconds_per_round=0.2)


@dataclass
class Variant:
    """One way of running a model: `run` makes one forward call on the timed inputs."""
    name: str
    run: Optional[Callable[[], object]] = None
    precision: str = "fp32"
    setup_s: Dict[str, float] = field(default_factory=dict)
    note: str = ""
    error: str = ""


@dataclass
class Case:
    """One model, batch size and thread count, with the eager module and its inputs."""
    model: str
    batch: int
    threads: int
    module: torch.nn.Module
    inputs: tuple
    args: argparse.Namespace


def error_text(exception: BaseException) -> str:
    """The exception as one line: its type and the first line of its message."""
    message = str(exception).strip().splitlines()
    return "%s: %s" % (type(exception).__name__, message[0] if message else "")


def attempt(name: str, build: Callable[[], Variant], precision: str = "fp32") -> Variant:
    """build(), or a Variant that records why it failed; the run goes on."""
    try:
        return build()
    except Exception as exception:  # noqa: BLE001 - any failure of a peer is a result to report
        traceback.print_exc(limit=-3)
        return Variant(name, precision=precision, error=error_text(exception))


def stopwatch(function: Callable[[], object]):
    """(function(), seconds it took)."""
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def parser(doc: str) -> argparse.ArgumentParser:
    """The options both scripts take; callers add their own."""
    summary, _, details = doc.partition("\n\n")
    result = argparse.ArgumentParser(description=summary, epilog=details,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    result.add_argument("--models", help="comma-separated, from: %s (default: all)" % ", ".join(peer_models.MODELS))
    result.add_argument("--batches", help="comma-separated batch sizes (default: 1,8)")
    result.add_argument("--threads", help="comma-separated torch/ONNX Runtime intra-op thread counts (default: 1,2)")
    result.add_argument("--rounds", type=int, help="interleaved rounds (default: %d)" % FULL["rounds"])
    result.add_argument("--seconds-per-round", type=float,
                        help="per variant and round (default: %.1f)" % FULL["seconds_per_round"])
    result.add_argument("--warmup", type=int, default=3, help="calls before timing (default: 3)")
    result.add_argument("--quick", action="store_true",
                        help="smoke test: %s, batch 1, 1 thread, %d rounds of %.1f s, unless given otherwise" % (
                            " and ".join(QUICK["models"]), QUICK["rounds"], QUICK["seconds_per_round"]))
    result.add_argument("--attention", choices=peer_models.ATTENTION_IMPLEMENTATIONS, default="sdpa",
                        help="transformers' attention implementation (default: sdpa, transformers' own default)")
    result.add_argument("--json", help="write the results here")
    return result


def parse(argument_parser: argparse.ArgumentParser, argv) -> argparse.Namespace:
    args = argument_parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    as_list = {"models": lambda text: [m for m in text.split(",") if m],
               "batches": lambda text: [int(b) for b in text.split(",") if b],
               "threads": lambda text: [int(t) for t in text.split(",") if t]}
    for key, default in defaults.items():
        value = getattr(args, key)
        setattr(args, key, default if value is None else as_list[key](value) if key in as_list else value)
    unknown = [model for model in args.models if model not in peer_models.MODELS]
    if unknown:
        argument_parser.error("unknown model(s) %s; known: %s" % (", ".join(unknown), ", ".join(peer_models.MODELS)))
    return args


def first_output(output) -> torch.Tensor:
    """The first tensor of an output (a tensor, a tuple or list, a numpy array from ONNX Runtime)."""
    if isinstance(output, (tuple, list)):
        return first_output(output[0])
    if isinstance(output, numpy.ndarray):
        return torch.from_numpy(output)
    return output


def cosine(reference: torch.Tensor, candidate: torch.Tensor) -> float:
    reference, candidate = reference.double().flatten(), candidate.double().flatten()
    return torch.nn.functional.cosine_similarity(reference, candidate, dim=0).item()


def eager_variants(case: Case) -> List[Variant]:
    """eager (the module as built), and for conv nets eager-cl (module and input in channels_last)."""
    variants = [Variant("eager", lambda: case.module(*case.inputs))]
    if peer_models.MODELS[case.model].conv_net:
        def channels_last() -> Variant:
            module = copy.deepcopy(case.module).to(memory_format=torch.channels_last)
            inputs = tuple(x.contiguous(memory_format=torch.channels_last) for x in case.inputs)
            return Variant("eager-cl", lambda: module(*inputs), note="module and input in channels_last")
        variants.append(attempt("eager-cl", channels_last))
    return variants


def measure(case: Case, variants: List[Variant], reference: torch.Tensor):
    """Warms every variant up, then times all in interleaved rounds: seconds per
    call and worst cosine against `reference`, by name. A variant whose calls
    fail gets its error set and is left out."""
    args = case.args
    calls, times, cosines = {}, {}, {}
    with torch.inference_mode():
        for variant in variants:
            if variant.error:
                continue
            try:
                calls[variant.name] = bench_common.calls_per_round(variant.run, args.seconds_per_round, args.warmup)
            except Exception as exception:  # noqa: BLE001
                variant.error = "first calls failed: " + error_text(exception)
        live = [variant for variant in variants if variant.name in calls and not variant.error]
        if not live:
            return times, cosines
        for variant in live:
            times[variant.name], cosines[variant.name] = [], 1.0
        for round_index in range(args.rounds):
            shift = round_index % len(live)
            for variant in live[shift:] + live[:shift]:
                times[variant.name] += bench_common.time_calls(variant.run, calls[variant.name] - 1)
                output, seconds = stopwatch(variant.run)
                times[variant.name].append(seconds)
                cosines[variant.name] = min(cosines[variant.name], cosine(reference, first_output(output)))
    return times, cosines


def add_ratios(rows: List[dict]) -> None:
    """Sets vs_best_peer and best_peer on every timed row, per model, batch and
    thread count, from speedup_vs_eager (so rows timed in another process,
    IPEX's, take part through their own speed-up over eager)."""
    groups = {}
    for row in rows:
        groups.setdefault((row["model"], row["batch"], row["threads"]), []).append(row)
    for group in groups.values():
        for row in group:
            if "speedup_vs_eager" not in row:
                continue
            peers = [peer for peer in group
                     if peer["variant"] in PEERS[row["precision"]] and "speedup_vs_eager" in peer]
            best = max(peers, key=lambda peer: peer["speedup_vs_eager"]) if peers else None
            row["best_peer"] = best["variant"] if best else None
            row["vs_best_peer"] = row["speedup_vs_eager"] / best["speedup_vs_eager"] if best else None


def make_rows(case: Case, variants: List[Variant], times, cosines) -> List[dict]:
    stats = {name: bench_common.summary(samples) for name, samples in times.items()}
    eager = [name for name in EAGER_VARIANTS if name in stats]
    baseline = min(eager, key=lambda name: stats[name]["median"]) if eager else None
    rows = []
    for variant in variants:
        row = dict(model=case.model, batch=case.batch, threads=case.threads, variant=variant.name,
                   precision=variant.precision, setup_s=variant.setup_s, note=variant.note)
        if variant.name in stats and not variant.error:
            row.update({key + "_ms": 1e3 * stats[variant.name][key] for key in ("median", "min", "max")},
                       samples=stats[variant.name]["samples"], cosine=cosines[variant.name])
            if baseline:
                speedup = stats[baseline]["median"] / stats[variant.name]["median"]
                row.update(baseline=baseline, speedup_vs_eager=speedup)
        else:
            row["error"] = variant.error or "not timed"
        rows.append(row)
    add_ratios(rows)
    return rows


def print_row(row: dict) -> None:
    head = "%-17s b%-2d t%d %-22s" % (row["model"], row["batch"], row["threads"], row["variant"])
    setup = " ".join("%s %.1fs" % item for item in row["setup_s"].items())
    if "error" in row:
        print("%s FAILED: %s" % (head, row["error"]))
        return

    def ratio(key: str) -> str:
        return "x%5.2f" % row[key] if row.get(key) is not None else "   – "

    print("%s median %8.2f ms  min %8.2f  max %8.2f  %s vs eager  %s vs best peer  cos %.6f%s" % (
        head, row["median_ms"], row["min_ms"], row["max_ms"], ratio("speedup_vs_eager"),
        ratio("vs_best_peer"), row["cosine"], "  setup: " + setup if setup else ""))


def run(args, build_variants: Callable[[Case, dict], List[Variant]]) -> List[dict]:
    """Every model x batch x thread count; build_variants(case, cache) gives the
    variants besides eager's. `cache` lives for one model and batch size: what
    does not depend on the thread count (exported files, traced archives) is
    kept there."""
    results = []
    for model in args.models:
        for batch in args.batches:
            module, inputs = peer_models.build(model, batch, args.attention)
            with torch.inference_mode():
                reference = first_output(module(*inputs)).clone()
            cache = {}
            for threads in args.threads:
                torch.set_num_threads(threads)
                case = Case(model, batch, threads, module, inputs, args)
                variants = eager_variants(case) + build_variants(case, cache)
                times, cosines = measure(case, variants, reference)
                rows = make_rows(case, variants, times, cosines)
                for row in rows:
                    print_row(row)
                sys.stdout.flush()
                results += rows
                del variants
                gc.collect()
            del module, cache, case
            gc.collect()
    return results


def cpu_description() -> Dict[str, str]:
    fields = {}
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
            if not line.strip():
                break
    flags = fields.get("flags", "").split()
    isa = [flag for flag in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8") if flag in flags]
    return {"vendor": fields.get("vendor_id", "?"), "model": fields.get("model name", "?"),
            "cpus": str(os.cpu_count()), "isa": " ".join(isa)}


def config(args, **extra) -> dict:
    """The configuration every results file records, plus `extra`."""
    build = torch.__config__.show()
    blas = next((item.split("=", 1)[1] for item in build.replace(",", " ").split() if item.startswith("BLAS_INFO=")),
                "?")
    eager = ("nn.Module in eval mode, called under torch.inference_mode(), torch.set_num_threads(threads), "
             "OMP_WAIT_POLICY=%s; fp32 convolutions on oneDNN (torch.backends.mkldnn.enabled=%s), linear and matmul "
             "on the BLAS (%s); conv nets are also timed with module and input in channels_last (eager-cl), and the "
             "faster of eager and eager-cl is the baseline" % (os.environ.get("OMP_WAIT_POLICY", "(unset)"),
                                                                torch.backends.mkldnn.enabled, blas))
    result = {"torch": torch.__version__, "python": platform.python_version(), "cpu": cpu_description(),
              "blas": blas, "mkldnn_enabled": torch.backends.mkldnn.enabled, "quantized_engine":
              torch.backends.quantized.engine, "interop_threads": torch.get_num_interop_threads(),
              "eager_configuration": eager, "attention": args.attention, "models":
              {model: peer_models.MODELS[model].description for model in args.models},
              "batches": args.batches, "threads": args.threads, "rounds": args.rounds,
              "seconds_per_round": args.seconds_per_round, "warmup": args.warmup, "quick": args.quick,
              "environment": {variable: os.environ.get(variable, "(unset)") for variable in (
                  "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_AFFINITY", "MKL_NUM_THREADS", "LD_PRELOAD")},
              "load_average_start": os.getloadavg()[0]}
    result.update(extra)
    return result


def write_json(path: Optional[str], configuration: dict, results: List[dict]) -> None:
    configuration["load_average_end"] = os.getloadavg()[0]
    if path:
        with open(path, "w") as out:
            json.dump({"config": configuration, "results": results}, out, indent=1)
        print("wrote %s" % path)
