"""tsopt on the GPU against eager, freeze + optimize_for_inference and
torch.compile, in fp32 and fp16, within a time budget (issue 12).

Usage: python3 benchmarks/gpu_benchmarks.py --tsopt BIN --runtime-lib LIB [--device cuda|cpu] [--quick]
           [--models a,b] [--batches 1,8] [--dtypes fp32,fp16] [--variants eager,ofi,inductor,tsopt]
           [--max-autotune] [--budget-seconds S] [--out docs/benchmarks-gpu.md] [--json FILE]
scripts/run_gpu_benchmarks.sh runs it with the paths of a build folder. `--device cpu --quick` is
the smoke test of the script's logic on a machine without a GPU.

Models (examples/models, the zoo's own code and weights): resnet18, resnet50,
mobilenet_v2 (torchvision, random weights, calibrated batch norms; images
224x224) and bert_base_seq128 (BERT-base: 12 layers, hidden 768, 12 heads, GELU,
post-LN; sequence 128, the last quarter padding). Variants, all on --device:
  eager          the nn.Module; fp16: module.half() and half floating inputs
  ofi            torch.jit.trace on the device, torch.jit.freeze, torch.jit.optimize_for_inference
  inductor       torch.compile(backend="inductor", mode="default", dynamic=False), freezing on;
                 compiled per model, dtype and batch by its first call
  inductor-reduce-overhead
                 the same with mode="reduce-overhead" (CUDA graphs)
  inductor-max-autotune
                 the same with mode="max-autotune" (only with --max-autotune)
  tsopt          torch.jit.trace on the CPU in fp32, torch.jit.save, then
                 `tsopt ARCHIVE <--tsopt-fp32-args | --tsopt-fp16-args> [--device=cuda] -o OUT`,
                 torch.ops.load_library(--runtime-lib), torch.jit.load(OUT, map_location=device).
                 The fp16 archive takes the fp32 inputs and returns fp32: its casts are in the graph.
  tsopt-cuda-graph
                 the same with the capture-cuda-graph pass at the end of the pipeline
                 (--tsopt-cuda-graph-fp32-args, --tsopt-cuda-graph-fp16-args)

Run order: every archive is traced and every tsopt call made first (tsopt calls
in parallel, before anything is timed); then each case (model, batch, dtype),
most important first, is built, checked and timed, and the report is rewritten
after every case, so a run that is killed still leaves one. Within a case the
variants are warmed up, then timed in interleaved rounds (the order rotating),
each call followed by a device synchronization; the latency is the median of
all timed calls. Every variant's output is compared with eager fp32 (TF32 off)
on the same device; beyond the dtype's tolerance the variant is reported as a
mismatch and meets no goal.

The budget: a torch.compile variant is built only while the time left, less
what the remaining cases' other variants are expected to take, allows it, and
each compile is interrupted at its cap (--compile-cap-seconds; max-autotune:
--max-autotune-cap-seconds); cases that no longer fit are not run. The report
lists what was skipped and why.
"""
import argparse
import concurrent.futures
import copy
import datetime
import gc
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

START = time.monotonic()

import torch  # noqa: E402

import bench_common  # noqa: E402  (puts examples/models on sys.path)
import bert as zoo_bert  # noqa: E402
import vision as zoo_vision  # noqa: E402
from zoo_common import output_tensors  # noqa: E402

# TorchScript and its tracer are deprecated in torch 2.x; every call says so.
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)

MODELS = ("resnet18", "bert_base_seq128", "resnet50", "mobilenet_v2")  # priority order: the goals' models first
BERT_SEQUENCE = 128
DTYPES = {"fp32": torch.float32, "fp16": torch.float16}
VARIANTS = ("eager", "ofi", "inductor", "inductor-reduce-overhead", "inductor-max-autotune", "tsopt",
            "tsopt-cuda-graph")
VARIANT_TITLES = {"eager": "eager", "ofi": "freeze+ofi", "inductor": "torch.compile",
                  "inductor-reduce-overhead": "torch.compile reduce-overhead",
                  "inductor-max-autotune": "torch.compile max-autotune", "tsopt": "tsopt",
                  "tsopt-cuda-graph": "tsopt + CUDA graph"}
# variant -> torch.compile mode ("reduce-overhead" and "max-autotune" replay CUDA graphs)
COMPILED = {"inductor": "default", "inductor-reduce-overhead": "reduce-overhead",
            "inductor-max-autotune": "max-autotune"}
TSOPT_VARIANTS = ("tsopt", "tsopt-cuda-graph")
PEERS = ("eager", "ofi", "inductor", "inductor-reduce-overhead", "inductor-max-autotune")
DEFAULT_FP16_ARGS = "--passes=O1,convert-half{dtype=fp16},O2"
DEFAULT_GRAPH_FP32_ARGS = "--passes=O2,capture-cuda-graph"
DEFAULT_GRAPH_FP16_ARGS = "--passes=O1,convert-half{dtype=fp16},O2,capture-cuda-graph"
# Largest error allowed against eager fp32 (TF32 off), relative to the reference output's largest magnitude.
TOLERANCE = {"fp32": 1e-3, "fp32-tf32": 1e-2, "fp16": 5e-2}
# The goals: tsopt's speed-up over eager per model, and over freeze+optimize_for_inference on every case.
GOALS_VS_EAGER = {"bert_base_seq128": 2.25, "resnet18": 1.8}
GOAL_VS_OFI = 1.2
FIRST_CASE_GUESS_S = 8.0  # a case's variants besides torch.compile, before one has been measured
MIN_COMPILE_SLACK_S = 10.0

FULL = dict(models=list(MODELS), batches=[1, 8], dtypes=["fp32", "fp16"], rounds=3, seconds_per_round=0.2,
            warmup=50, min_calls=10, max_calls=200)
QUICK = dict(models=["resnet18", "bert_base_seq128"], batches=[1], dtypes=["fp32", "fp16"], rounds=2,
             seconds_per_round=0.05, warmup=3, min_calls=1, max_calls=20)


class CompileTimeout(Exception):
    pass


@dataclass
class Variant:
    name: str
    run: Optional[Callable[[], object]] = None
    setup_s: Dict[str, float] = field(default_factory=dict)
    error: str = ""
    skipped: str = ""  # why it was not built (budget); not a failure
    note: str = ""


def error_text(exception: BaseException) -> str:
    message = [line for line in str(exception).strip().splitlines() if line.strip()]
    return "%s: %s" % (type(exception).__name__, message[0][:300] if message else "")


def elapsed() -> float:
    return time.monotonic() - START


@contextmanager
def deadline(seconds: float):
    """Raises CompileTimeout in the main thread once `seconds` have passed (also when the code it
    interrupted wrapped it in an exception of its own, as torch.compile does)."""
    expired = []

    def expire(signum, frame):
        expired.append(True)
        raise CompileTimeout("no result after %.0f s" % seconds)
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    except Exception as exception:
        if expired and not isinstance(exception, CompileTimeout):
            raise CompileTimeout("no result after %.0f s" % seconds) from None
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def parse_args(argv):
    summary, _, details = __doc__.partition("\n\n")
    parser = argparse.ArgumentParser(description=summary, epilog=details,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tsopt", default=os.path.join(bench_common.REPO, "build", "ir_tools", "tsopt"),
                        help="the tsopt binary (default: build/ir_tools/tsopt)")
    parser.add_argument("--runtime-lib", default=os.path.join(bench_common.REPO, "build", "runtime",
                                                              "libtsopt_runtime.so"),
                        help="libtsopt_runtime.so (default: build/runtime/libtsopt_runtime.so)")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"), help="default: cuda")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: %s, batch 1, %d rounds, at most %d calls per round, unless given "
                             "otherwise" % (" and ".join(QUICK["models"]), QUICK["rounds"], QUICK["max_calls"]))
    parser.add_argument("--models", help="comma-separated, from %s (default: all, in that order)" % ", ".join(MODELS))
    parser.add_argument("--batches", help="comma-separated (default: 1,8)")
    parser.add_argument("--dtypes", help="comma-separated, from fp32, fp16 (default: both)")
    parser.add_argument("--variants", default="eager,ofi,inductor,inductor-reduce-overhead,tsopt,tsopt-cuda-graph",
                        help="comma-separated, from %s (default: all but max-autotune; eager is always run)"
                             % ", ".join(VARIANTS))
    parser.add_argument("--max-autotune", action="store_true",
                        help="also torch.compile(mode='max-autotune'), capped by --max-autotune-cap-seconds")
    parser.add_argument("--tsopt-fp32-args", default="-O2", help="tsopt options for fp32 (default: -O2)")
    parser.add_argument("--tsopt-fp16-args", default=DEFAULT_FP16_ARGS,
                        help="tsopt options for fp16 (default: %s)" % DEFAULT_FP16_ARGS)
    parser.add_argument("--tsopt-cuda-graph-fp32-args", default=DEFAULT_GRAPH_FP32_ARGS,
                        help="tsopt options of the CUDA-graph variant for fp32 (default: %s)" % DEFAULT_GRAPH_FP32_ARGS)
    parser.add_argument("--tsopt-cuda-graph-fp16-args", default=DEFAULT_GRAPH_FP16_ARGS,
                        help="... for fp16 (default: %s)" % DEFAULT_GRAPH_FP16_ARGS)
    parser.add_argument("--tsopt-device-arg", default=None,
                        help="driver option that puts the module on the device (default: --device=cuda on cuda, "
                             "none on cpu; '' for none)")
    parser.add_argument("--tf32", choices=("off", "on"), default="off",
                        help="TF32 for fp32 matmuls and convolutions, the same for every variant (default: off)")
    parser.add_argument("--rounds", type=int, help="interleaved timing rounds (default: %d)" % FULL["rounds"])
    parser.add_argument("--seconds-per-round", type=float,
                        help="per variant and round (default: %.2f)" % FULL["seconds_per_round"])
    parser.add_argument("--warmup", type=int, help="most warm-up calls (default: %d)" % FULL["warmup"])
    parser.add_argument("--min-calls", type=int, help="fewest calls per round (default: %d)" % FULL["min_calls"])
    parser.add_argument("--max-calls", type=int, help="most calls per round (default: %d)" % FULL["max_calls"])
    parser.add_argument("--budget-seconds", type=float, default=270.0,
                        help="the whole run's time (default: 270); see above")
    parser.add_argument("--compile-cap-seconds", type=float, default=90.0,
                        help="longest torch.compile of one case (default: 90)")
    parser.add_argument("--max-autotune-cap-seconds", type=float, default=120.0,
                        help="longest max-autotune compile of one case (default: 120)")
    parser.add_argument("--tsopt-jobs", type=int, default=min(8, os.cpu_count() or 1),
                        help="tsopt calls run side by side before timing (default: min(8, CPUs))")
    parser.add_argument("--out", default=os.path.join(bench_common.REPO, "docs", "benchmarks-gpu.md"),
                        help="the report (default: docs/benchmarks-gpu.md)")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--work-dir", help="archives and tsopt outputs (default: a temporary folder)")
    parser.add_argument("--command", help="the command line the report shows (default: this script's)")
    args = parser.parse_args(argv)

    defaults = QUICK if args.quick else FULL
    for key, default in defaults.items():
        value = getattr(args, key)
        if value is None:
            setattr(args, key, default)
        elif isinstance(value, str):
            setattr(args, key, [item for item in value.split(",") if item])
    args.batches = [int(batch) for batch in args.batches]
    args.variants = ["eager"] + [name for name in args.variants.split(",") if name and name != "eager"]
    if args.max_autotune and "inductor-max-autotune" not in args.variants:
        args.variants.append("inductor-max-autotune")
    for key, known in (("models", MODELS), ("dtypes", DTYPES), ("variants", VARIANTS)):
        unknown = [item for item in getattr(args, key) if item not in known]
        if unknown:
            parser.error("unknown %s %s; known: %s" % (key, ", ".join(unknown), ", ".join(known)))
    args.variants = [name for name in VARIANTS if name in args.variants]
    args.models = [model for model in MODELS if model in args.models]
    if args.tsopt_device_arg is None:
        args.tsopt_device_arg = "--device=cuda" if args.device == "cuda" else ""
    return args


# --- the machine and its settings -------------------------------------------------------------------------------

def configure(args) -> None:
    """The same backend settings for every variant."""
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = args.tf32 == "on"
    torch.backends.cudnn.allow_tf32 = args.tf32 == "on"
    from torch._inductor import config as inductor_config
    inductor_config.freezing = True


@contextmanager
def tf32_off(args):
    """TF32 off for the reference, then back to --tf32 (set, never read: reading the legacy flags raises
    once anything used the newer fp32_precision API)."""
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = args.tf32 == "on"


def nvidia_driver() -> str:
    try:
        result = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=20)
        if result.returncode == 0 and result.stdout.strip():
            return result.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        with open("/proc/driver/nvidia/version") as version:
            return version.readline().strip()
    except OSError:
        return "?"


def machine(args) -> Dict[str, str]:
    import torchvision
    info = {"torch": torch.__version__, "torchvision": torchvision.__version__, "python": platform.python_version(),
            "cpus": str(os.cpu_count()), "device": args.device}
    try:
        import triton
        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = "(not installed)"
    if args.device == "cuda":
        properties = torch.cuda.get_device_properties(0)
        info.update(gpu=properties.name, compute_capability="%d.%d" % (properties.major, properties.minor),
                    gpu_memory="%.0f GiB" % (properties.total_memory / 2 ** 30), driver=nvidia_driver(),
                    cuda=str(torch.version.cuda), cudnn=str(torch.backends.cudnn.version()))
    else:
        info.update(gpu="none (CPU run: a smoke test of the script, not a GPU measurement)",
                    cpu=platform.processor() or platform.machine())
    info["texpr_fuser"] = str(torch._C._jit_texpr_fuser_enabled())
    return info


def tsopt_version(binary: str) -> str:
    try:
        result = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
        return (result.stdout or result.stderr).strip().splitlines()[0] if result.returncode == 0 else "?"
    except (OSError, subprocess.SubprocessError, IndexError):
        return "?"


# --- models, inputs and the tsopt archives -----------------------------------------------------------------------

def make_inputs(model: str, batch: int) -> Tuple[torch.Tensor, ...]:
    """Drawn as the zoo draws them (examples/models), on the CPU, from a fixed seed."""
    generator = torch.Generator().manual_seed(12)
    if model.startswith("bert"):
        return zoo_bert.example_inputs(batch, BERT_SEQUENCE, BERT_SEQUENCE // 4, generator)
    size = zoo_vision.IMAGE_SIZE
    return (torch.randn(batch, 3, size, size, generator=generator),)


def to_device(inputs, device: str, dtype: torch.dtype):
    return tuple(x.to(device=device, dtype=dtype if x.is_floating_point() else x.dtype) for x in inputs)


def tsopt_options(args, dtype: str, variant: str = "tsopt") -> List[str]:
    prefix = "tsopt_cuda_graph_" if variant == "tsopt-cuda-graph" else "tsopt_"
    options = shlex.split(getattr(args, prefix + ("fp32_args" if dtype == "fp32" else "fp16_args")))
    return options + ([args.tsopt_device_arg] if args.tsopt_device_arg else [])


def run_tsopt(args, archive: str, dtype: str, out: str, variant: str = "tsopt"):
    """(output path, seconds, pipeline) of `tsopt ARCHIVE OPTIONS -o OUT`; raises with tsopt's error line."""
    command = [args.tsopt, archive, *tsopt_options(args, dtype, variant), "--dump-pass-pipeline", "-o", out]
    # The calls run side by side: each gets its share of the CPUs.
    environment = dict(os.environ, OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 1) // max(1, args.tsopt_jobs))))
    start = time.perf_counter()
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    except subprocess.TimeoutExpired:
        raise RuntimeError("tsopt ran longer than 300 s")
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("tsopt: error")] or lines[-1:]
        raise RuntimeError(errors[0] if errors else "tsopt exit code %d" % result.returncode)
    pipeline = next((line[len("# pipeline: "):] for line in result.stderr.splitlines()
                     if line.startswith("# pipeline: ")), "")
    return out, seconds, pipeline


def prepare(args, cases, work_dir: str, tsopt_ready: str):
    """The eager modules (CPU, fp32), the inputs, and for the tsopt variant the traced archives and
    every tsopt output, made in parallel before anything is timed. Returns (modules, inputs, tsopt
    results: (variant, model, batch, dtype) -> (out, seconds, pipeline) or an exception)."""
    tsopt_variants = [name for name in TSOPT_VARIANTS if name in args.variants]
    modules, inputs, archives, outputs = {}, {}, {}, {}
    for model, batch, dtype in cases:
        if model not in modules:
            start = time.perf_counter()
            modules[model] = bench_common.build_eager(model, 1)
            print("built %-17s %.1f s" % (model, time.perf_counter() - start), flush=True)
        if (model, batch) not in inputs:
            inputs[model, batch] = make_inputs(model, batch)
        if not tsopt_variants or tsopt_ready or (model, batch) in archives:
            continue
        path = os.path.join(work_dir, "%s_b%d.pt" % (model, batch))
        try:
            with torch.no_grad():
                traced = torch.jit.trace(modules[model], inputs[model, batch], check_trace=False)
            torch.jit.save(traced, path)
            archives[model, batch] = path
        except Exception as exception:  # noqa: BLE001 - reported in the tsopt cells
            archives[model, batch] = exception
    if not tsopt_variants:
        return modules, inputs, outputs
    jobs = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.tsopt_jobs)) as pool:
        for (model, batch, dtype), variant in [(case, name) for case in cases for name in tsopt_variants]:
            archive = archives.get((model, batch))
            if tsopt_ready:
                outputs[variant, model, batch, dtype] = RuntimeError(tsopt_ready)
            elif isinstance(archive, Exception):
                outputs[variant, model, batch, dtype] = RuntimeError("tracing failed: " + error_text(archive))
            else:
                out = os.path.join(work_dir, "%s_b%d.%s.%s.pt" % (model, batch, dtype, variant))
                jobs[variant, model, batch, dtype] = pool.submit(run_tsopt, args, archive, dtype, out, variant)
        start = time.perf_counter()
        for key, job in jobs.items():
            try:
                outputs[key] = job.result()
            except Exception as exception:  # noqa: BLE001
                outputs[key] = exception
    print("tsopt: %d calls, %d side by side, %.1f s" % (len(jobs), args.tsopt_jobs, time.perf_counter() - start),
          flush=True)
    return modules, inputs, outputs


# --- the variants ------------------------------------------------------------------------------------------------

def attempt(name: str, build: Callable[[], Variant]) -> Variant:
    try:
        return build()
    except CompileTimeout as timeout:
        return Variant(name, error="compile timeout: %s" % timeout)
    except Exception as exception:  # noqa: BLE001 - a failing variant is a result to report
        traceback.print_exc(limit=-2)
        return Variant(name, error=error_text(exception))


def eager_variant(module, device_inputs) -> Variant:
    return Variant("eager", lambda: module(*device_inputs))


def ofi_variant(module, device_inputs) -> Variant:
    start = time.perf_counter()
    with torch.no_grad():
        traced = torch.jit.trace(module, device_inputs, check_trace=False)
        trace_s = time.perf_counter() - start
        optimized = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
    return Variant("ofi", lambda: optimized(*device_inputs),
                   setup_s={"trace": trace_s, "freeze+ofi": time.perf_counter() - start - trace_s})


def compiled_variant(name: str, module, device_inputs, cap_s: float, sync) -> Variant:
    """A deep copy of the module (freezing folds its parameters), compiled by its first call."""
    compiled = torch.compile(copy.deepcopy(module), backend="inductor", mode=COMPILED[name], dynamic=False)
    start = time.perf_counter()
    with deadline(cap_s), torch.inference_mode():
        compiled(*device_inputs)
        sync()
    return Variant(name, lambda: compiled(*device_inputs), setup_s={"compile": time.perf_counter() - start},
                   note="mode=%s, dynamic=False, freezing on" % COMPILED[name])


def tsopt_variant(result, device: str, cpu_inputs, name: str = "tsopt") -> Variant:
    if isinstance(result, Exception):
        raise result
    out, seconds, _ = result
    start = time.perf_counter()
    module = torch.jit.load(out, map_location=device).eval()
    inputs = to_device(cpu_inputs, device, torch.float32)  # fp16 archives cast inside the graph
    return Variant(name, lambda: module(*inputs), setup_s={"tsopt": seconds, "load": time.perf_counter() - start})


# --- timing and checking -----------------------------------------------------------------------------------------

def synchronizer(device: str):
    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


def timed_calls(run, count: int, sync) -> List[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return times


def warm_up(run, most: int, sync) -> List[float]:
    """At least 3 calls (TorchScript's profiling executor optimizes the graph after its first runs), then
    more until `most` calls or 0.3 s; the times of the calls."""
    times: List[float] = []
    while len(times) < min(3, most) or (len(times) < most and sum(times) < 0.3):
        times += timed_calls(run, 1, sync)
    return times


def compare(reference, output) -> Dict[str, object]:
    """Largest absolute error over the output tensors, and the largest relative one (error over the
    reference tensor's largest magnitude); NaN or a shape mismatch counts as infinite."""
    worst_abs, worst_rel = 0.0, 0.0
    expected, actual = output_tensors(reference), output_tensors(output)
    dtypes = sorted(set(str(tensor.dtype).replace("torch.", "") for tensor in actual))
    if len(expected) != len(actual):
        return {"max_abs": float("inf"), "max_rel": float("inf"), "output_dtype": ",".join(dtypes)}
    for want, got in zip(expected, actual):
        if want.shape != got.shape:
            return {"max_abs": float("inf"), "max_rel": float("inf"), "output_dtype": ",".join(dtypes)}
        difference = (want.double() - got.double().to(want.device)).abs().max().item()
        difference = float("inf") if difference != difference else difference
        scale = max(want.double().abs().max().item(), 1e-30)
        worst_abs, worst_rel = max(worst_abs, difference), max(worst_rel, difference / scale)
    return {"max_abs": worst_abs, "max_rel": worst_rel, "output_dtype": ",".join(dtypes)}


def measure(args, variants: List[Variant], reference, tolerance: float, sync) -> Dict[str, dict]:
    """Warm-up, output check and interleaved timing; results by variant name."""
    results, calls, live = {}, {}, []
    with torch.inference_mode():
        for variant in variants:
            if variant.error or variant.skipped:
                continue
            try:
                output = variant.run()
                sync()
                check = compare(reference, output)
                warmup = warm_up(variant.run, args.warmup, sync)
                estimate = statistics.median(warmup[-5:])
                calls[variant.name] = int(min(args.max_calls, max(args.min_calls,
                                                                  args.seconds_per_round / max(estimate, 1e-6))))
            except Exception as exception:  # noqa: BLE001
                traceback.print_exc(limit=-2)
                variant.error = "call failed: " + error_text(exception)
                continue
            check["ok"] = check["max_rel"] <= tolerance
            results[variant.name] = dict(check, times=[], warmup=len(warmup))
            live.append(variant)
        for round_index in range(args.rounds):
            shift = round_index % max(1, len(live))
            for variant in live[shift:] + live[:shift]:
                results[variant.name]["times"] += timed_calls(variant.run, calls[variant.name], sync)
    for name, result in results.items():
        times = result.pop("times")
        result.update(median_ms=1e3 * statistics.median(times), min_ms=1e3 * min(times), samples=len(times))
    return results


# --- the run -----------------------------------------------------------------------------------------------------

def plan(args) -> List[Tuple[str, int, str]]:
    """The cases, most important first: batch 1 before 8, fp32 before fp16, models in MODELS' order."""
    return [(model, batch, dtype) for batch in sorted(args.batches) for dtype in args.dtypes for model in args.models]


class Budget:
    """Decides, from the time left, whether a case or a torch.compile still fits."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.case_costs: List[float] = []  # each case's time without torch.compile

    def case_estimate(self) -> float:
        return statistics.mean(self.case_costs) if self.case_costs else FIRST_CASE_GUESS_S

    def left(self) -> float:
        return self.seconds - elapsed()

    def case_fits(self) -> bool:
        return self.left() >= 0.5 * self.case_estimate()

    def compile_allowance(self, remaining_cases: int) -> float:
        """Seconds a compile may take now: the time left less what this and the remaining cases need."""
        return self.left() - self.case_estimate() * (remaining_cases + 1) - 5.0


def run_case(args, case, modules, inputs, tsopt_outputs, references, budget: Budget, remaining: int):
    model, batch, dtype = case
    device, sync = args.device, synchronizer(args.device)
    case_start = time.perf_counter()
    torch_dtype = DTYPES[dtype]
    cpu_inputs = inputs[model, batch]
    if (model, batch) not in references:
        with tf32_off(args), torch.inference_mode():
            module32 = copy.deepcopy(modules[model]).to(device).eval()
            output = module32(*to_device(cpu_inputs, device, torch.float32))
            references[model, batch] = [tensor.detach().clone() for tensor in output_tensors(output)]
            del module32, output
    reference = references[model, batch]
    module = copy.deepcopy(modules[model]).to(device=device, dtype=torch_dtype).eval()
    device_inputs = to_device(cpu_inputs, device, torch_dtype)

    variants = []
    compile_s = 0.0
    if any(name in COMPILED for name in args.variants):
        # Drops the previous cases' compiled graphs; never between two compiles of one case, whose first
        # compiled module would then recompile when it is next called.
        torch._dynamo.reset()
    for name in args.variants:
        if name == "eager":
            variants.append(eager_variant(module, device_inputs))
        elif name == "ofi":
            variants.append(attempt(name, lambda: ofi_variant(module, device_inputs)))
        elif name in TSOPT_VARIANTS:
            variants.append(attempt(name, lambda: tsopt_variant(tsopt_outputs[(name,) + case], device, cpu_inputs,
                                                                name)))
        elif name in COMPILED:
            cap = args.max_autotune_cap_seconds if name == "inductor-max-autotune" else args.compile_cap_seconds
            allowance = budget.compile_allowance(remaining)
            if allowance < MIN_COMPILE_SLACK_S:
                variants.append(Variant(name, skipped="budget: %.0f s left, needed by the remaining cases" %
                                        max(0.0, budget.left())))
                continue
            start = time.perf_counter()
            variant = attempt(name, lambda: compiled_variant(name, module, device_inputs, min(cap, allowance), sync))
            if variant.error.startswith("compile timeout") and allowance < cap:
                variant.error += " (the budget's share; cap %.0f s)" % cap
            compile_s += time.perf_counter() - start
            variants.append(variant)
    tolerance = TOLERANCE["fp32-tf32" if dtype == "fp32" and args.tf32 == "on" else dtype]
    results = measure(args, variants, reference, tolerance, sync)
    rows = []
    for variant in variants:
        row = dict(model=model, batch=batch, dtype=dtype, variant=variant.name, setup_s=variant.setup_s,
                   note=variant.note, tolerance=tolerance)
        if variant.name in results and not variant.error:
            row.update(results[variant.name])
        elif variant.skipped:
            row["skipped"] = variant.skipped
        else:
            row["error"] = variant.error or "not timed"
        rows.append(row)
    del variants, module
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    budget.case_costs.append(time.perf_counter() - case_start - compile_s)
    return rows


def print_rows(rows: List[dict]) -> None:
    for row in rows:
        head = "%-17s b%-2d %-5s %-22s" % (row["model"], row["batch"], row["dtype"], row["variant"])
        if "median_ms" in row:
            setup = " ".join("%s %.1fs" % item for item in row["setup_s"].items())
            print("%s %9.3f ms  rel err %.1e%s%s" % (head, row["median_ms"], row["max_rel"],
                                                     "" if row["ok"] else " MISMATCH", "  " + setup if setup else ""))
        else:
            print("%s %s" % (head, "skipped: " + row["skipped"] if "skipped" in row else "FAILED: " + row["error"]))
    sys.stdout.flush()


def main(argv) -> int:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_benchmarks.py: error: --device cuda, but torch %s sees no CUDA device (built with CUDA %s); "
              "use --device cpu for the smoke test" % (torch.__version__, torch.version.cuda), file=sys.stderr)
        return 2
    configure(args)
    cases = plan(args)
    temporary = args.work_dir is None
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="tsopt-gpu-bench-")
    os.makedirs(work_dir, exist_ok=True)
    if args.command is None:
        args.command = " ".join(["python3 benchmarks/gpu_benchmarks.py"] + [shlex.quote(arg) for arg in argv])
    tsopt_ready = ""
    if any(name in TSOPT_VARIANTS for name in args.variants):
        if not os.access(args.tsopt, os.X_OK):
            tsopt_ready = "no tsopt executable at %s" % args.tsopt
        else:
            tsopt_ready = bench_common.load_runtime(args.runtime_lib)
    report = Report(args, machine(args), cases, tsopt_ready)
    report.info["tsopt_version"] = (tsopt_version(args.tsopt) if any(name in TSOPT_VARIANTS for name in args.variants)
                                    else "-")
    print("gpu_benchmarks: %s, torch %s; %d cases; budget %.0f s" % (
        report.info.get("gpu"), torch.__version__, len(cases), args.budget_seconds), flush=True)
    if tsopt_ready:
        print("gpu_benchmarks: tsopt unavailable: " + tsopt_ready, flush=True)
    try:
        modules, inputs, tsopt_outputs = prepare(args, cases, work_dir, tsopt_ready)
        report.pipelines = {(variant, dtype): next((value[2] for key, value in tsopt_outputs.items()
                                                    if (key[0], key[3]) == (variant, dtype)
                                                    and not isinstance(value, Exception)), "")
                            for variant in TSOPT_VARIANTS for dtype in args.dtypes}
        report.prepare_s = elapsed()
        report.write()
        budget = Budget(args.budget_seconds)
        references = {}
        for index, case in enumerate(cases):
            if not budget.case_fits():
                report.not_run.append(case)
                continue
            try:
                rows = run_case(args, case, modules, inputs, tsopt_outputs, references, budget,
                                len(cases) - index - 1)
            except Exception as exception:  # noqa: BLE001 - e.g. out of memory: the other cases still run
                traceback.print_exc()
                rows = [dict(model=case[0], batch=case[1], dtype=case[2], variant=name, setup_s={}, note="",
                             error="case failed: " + error_text(exception)) for name in args.variants]
            print_rows(rows)
            report.rows += rows
            report.write()
    finally:
        if temporary:
            shutil.rmtree(work_dir, ignore_errors=True)
    report.finished = True
    report.write()
    print("wrote %s (%.0f s)" % (args.out, elapsed()))
    return 0


# --- the report --------------------------------------------------------------------------------------------------

def format_ms(value: float) -> str:
    return "%.3f" % value if value < 10 else "%.2f" % value if value < 100 else "%.1f" % value


class Report:
    def __init__(self, args, info: Dict[str, str], cases, tsopt_ready: str):
        self.args, self.info, self.cases, self.tsopt_ready = args, info, cases, tsopt_ready
        self.rows: List[dict] = []
        self.not_run: List[Tuple[str, int, str]] = []
        self.pipelines: Dict[str, str] = {}
        self.prepare_s = 0.0
        self.finished = False
        self.started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")

    def row(self, case, variant: str) -> Optional[dict]:
        return next((row for row in self.rows if (row["model"], row["batch"], row["dtype"]) == case
                     and row["variant"] == variant), None)

    def done_cases(self):
        return [case for case in self.cases if self.row(case, "eager") is not None]

    def ratio(self, case, over: str, tsopt_name: str = "tsopt") -> Optional[float]:
        tsopt, other = self.row(case, tsopt_name), self.row(case, over)
        if not tsopt or not other or "median_ms" not in tsopt or "median_ms" not in other:
            return None
        return other["median_ms"] / tsopt["median_ms"]

    def best_tsopt(self, case) -> str:
        """The faster tsopt variant of a case whose output passed the check (else the first measured)."""
        measured = [self.row(case, name) for name in TSOPT_VARIANTS if name in self.args.variants]
        measured = [row for row in measured if row and "median_ms" in row]
        passing = [row for row in measured if row["ok"]] or measured
        return min(passing, key=lambda row: row["median_ms"])["variant"] if passing else "tsopt"

    def cell(self, case, variant: str) -> str:
        row = self.row(case, variant)
        if row is None:
            return "–"
        if "skipped" in row:
            return "skipped (budget)"
        if "error" in row:
            return "**failed**: " + row["error"].replace("|", "\\|")[:120]
        gflop = bench_common.GFLOP_PER_SAMPLE[row["model"]] * row["batch"]
        text = "%s ms · %.3g TFLOP/s" % (format_ms(row["median_ms"]), gflop / row["median_ms"])
        return text if row["ok"] else "**mismatch** (rel. error %.1e) %s" % (row["max_rel"], text)

    def ratio_cell(self, case, over: str, tsopt_name: str = "tsopt") -> str:
        ratio = self.ratio(case, over, tsopt_name)
        if ratio is None:
            return "–"
        tsopt, other = self.row(case, tsopt_name), self.row(case, over)
        flag = "" if tsopt["ok"] and other["ok"] else " (mismatch)"
        return "%.2fx%s" % (ratio, flag)

    def goal_lines(self) -> List[str]:

        def add(goal: str, case, over: str, target: float, tsopt_name: str):
            ratio, tsopt = self.ratio(case, over, tsopt_name), self.row(case, tsopt_name)
            if ratio is None:
                verdict, text = "not measured", "–"
            else:
                ok = tsopt["ok"] and self.row(case, over)["ok"]
                verdict = ("**yes**" if ratio >= target else "no") if ok else "no (output mismatch)"
                text = "%.2fx" % ratio
            lines.append("| %s | %s | %s | %d | %s | %s | %s |" % (
                goal, VARIANT_TITLES[tsopt_name], case[0], case[1], case[2], text, verdict))

        lines = ["| goal | variant | model | batch | dtype | speed-up | met |", "|---|---|---|---:|---|---:|---|"]
        for tsopt_name in [name for name in TSOPT_VARIANTS if name in self.args.variants]:
            for case in self.cases:
                if case[0] in GOALS_VS_EAGER:
                    add(">= %.2fx eager" % GOALS_VS_EAGER[case[0]], case, "eager", GOALS_VS_EAGER[case[0]],
                        tsopt_name)
            if "ofi" in self.args.variants:
                for case in self.cases:
                    add(">= %.1fx freeze+ofi" % GOAL_VS_OFI, case, "ofi", GOAL_VS_OFI, tsopt_name)
        return lines

    def write(self) -> None:
        args, info = self.args, self.info
        variants = args.variants
        done = self.done_cases()
        status = ("complete: %d of %d cases" % (len(done), len(self.cases)) if self.finished else
                  "**partial** (the run was still going or was stopped): %d of %d cases" % (len(done),
                                                                                             len(self.cases)))
        lines = ["# GPU benchmarks", "",
                 "<!-- Generated by benchmarks/gpu_benchmarks.py; rerun scripts/run_gpu_benchmarks.sh, "
                 "do not edit by hand. -->", "",
                 "tsopt against eager PyTorch, `torch.jit.freeze` + `optimize_for_inference` and `torch.compile`, "
                 "on one %s, in fp32 and fp16 (issue 12)." % ("GPU" if args.device == "cuda" else
                                                               "CPU (smoke test, no GPU figures)"),
                 "", "Command: `%s`, started %s; %s; %.0f s in all (budget %.0f s)." % (
                     args.command, self.started, status, elapsed(), args.budget_seconds), ""]
        if args.device != "cuda":
            lines += ["> **Not a GPU measurement.** This report comes from `--device cpu`, the script's smoke test: "
                      "its latencies are CPU latencies with tiny iteration counts and say nothing about tsopt "
                      "on the GPU.", ""]
        lines += ["## Machine", "", "| | |", "|---|---|"]
        for key, title in (("gpu", "GPU"), ("compute_capability", "compute capability"), ("gpu_memory", "memory"),
                           ("driver", "NVIDIA driver"), ("cuda", "CUDA (torch)"), ("cudnn", "cuDNN"),
                           ("torch", "torch"), ("torchvision", "torchvision"), ("triton", "triton"),
                           ("python", "Python"), ("cpus", "CPUs"), ("cpu", "CPU"), ("tsopt_version", "tsopt")):
            if key in info:
                lines.append("| %s | %s |" % (title, info[key]))
        lines += ["", "## Settings", ""]
        lines += self.settings_lines()
        lines += ["", "## Latency", "",
                  "Median latency of one forward call (device-synchronized after every call), and the achieved "
                  "TFLOP/s (the FLOP counts of `examples/models/gflop_per_sample.json` times the batch). "
                  "Speed-ups are those of the faster tsopt variant (whose output passed the check), in the same "
                  "dtype: the other variant's median over tsopt's (> 1: tsopt is faster).", ""]
        header = ["model", "batch", "dtype"] + [VARIANT_TITLES[name] for name in variants]
        has_tsopt = any(name in TSOPT_VARIANTS for name in variants)
        others = [name for name in PEERS if name in variants] if has_tsopt else []
        header += (["faster tsopt"] if has_tsopt else []) + ["vs %s" % VARIANT_TITLES[name] for name in others]
        lines += ["| " + " | ".join(header) + " |", "|---|---:|---|" + "---:|" * (len(header) - 3)]
        for case in done:
            cells = [case[0], str(case[1]), case[2]] + [self.cell(case, name) for name in variants]
            if has_tsopt:
                best = self.best_tsopt(case)
                cells += [VARIANT_TITLES[best]] + [self.ratio_cell(case, name, best) for name in others]
            lines.append("| " + " | ".join(cells) + " |")
        if not done:
            lines.append("| (no case finished yet) |" + " |" * (len(header) - 1))
        if has_tsopt:
            lines += ["", "## Goals (issue 12)", "",
                      "Each tsopt variant against eager and freeze+`optimize_for_inference`, each in the same dtype, "
                      "from the "
                      "medians above; a variant whose output is beyond the tolerance meets no goal.", ""]
            lines += self.goal_lines()
        lines += ["", "## Output check", "",
                  "Largest absolute error / largest error relative to the reference's largest magnitude, over all "
                  "output tensors (BERT: last hidden state and pooled output), against eager fp32 on the device "
                  "with TF32 off. Tolerance (relative): fp32 %.0e (%.0e with `--tf32 on`), fp16 %.0e. The output "
                  "dtype is in brackets." % (TOLERANCE["fp32"], TOLERANCE["fp32-tf32"], TOLERANCE["fp16"]), ""]
        lines += ["| model | batch | dtype | " + " | ".join(VARIANT_TITLES[name] for name in variants) + " |",
                  "|---|---:|---|" + "---|" * len(variants)]
        for case in done:
            cells = []
            for name in variants:
                row = self.row(case, name)
                if row is None or "max_rel" not in row:
                    cells.append("–")
                else:
                    cells.append("%.1e / %.1e [%s]%s" % (row["max_abs"], row["max_rel"], row["output_dtype"],
                                                         "" if row["ok"] else " **mismatch**"))
            lines.append("| %s | %d | %s | %s |" % (case[0], case[1], case[2], " | ".join(cells)))
        lines += ["", "## Setup times", "",
                  "Seconds: torch.compile's first call (the compile), the tsopt call (made before timing, "
                  "%d side by side) and loading its output, tracing and freezing for freeze+ofi." %
                  args.tsopt_jobs, "",
                  "| model | batch | dtype | " + " | ".join(VARIANT_TITLES[name] for name in variants[1:]) + " |",
                  "|---|---:|---|" + "---|" * (len(variants) - 1)]
        for case in done:
            cells = []
            for name in variants[1:]:
                row = self.row(case, name)
                setup = row.get("setup_s") if row else None
                cells.append(", ".join("%s %.1f" % item for item in setup.items()) if setup else "–")
            lines.append("| %s | %d | %s | %s |" % (case[0], case[1], case[2], " | ".join(cells)))
        lines += ["", "## Failures and skips", ""]
        problems = ["- %s b%d %s, %s: %s" % (row["model"], row["batch"], row["dtype"], VARIANT_TITLES[row["variant"]],
                                             ("skipped, " + row["skipped"]) if "skipped" in row else row["error"])
                    for row in self.rows if "skipped" in row or "error" in row]
        problems += ["- %s b%d %s: not run, the budget was spent" % case for case in self.not_run]
        if not self.finished:
            problems += ["- %s b%d %s: not reached yet" % case for case in self.cases
                         if case not in done and case not in self.not_run]
        if self.tsopt_ready:
            problems.append("- tsopt unavailable: " + self.tsopt_ready)
        lines += problems or ["None."]
        text = "\n".join(lines) + "\n"
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        temporary = args.out + ".tmp"
        with open(temporary, "w") as out:
            out.write(text)
        os.replace(temporary, args.out)
        if args.json:
            with open(args.json + ".tmp", "w") as out:
                json.dump({"machine": info, "command": args.command, "finished": self.finished,
                           "not_run": self.not_run, "pipelines": self.pipelines, "rows": self.rows}, out, indent=1)
            os.replace(args.json + ".tmp", args.json)

    def settings_lines(self) -> List[str]:
        args = self.args
        tf32 = ("on (cuBLAS matmuls and cuDNN convolutions in TF32)" if args.tf32 == "on" else
                "off (`torch.backends.cuda.matmul.allow_tf32` and `torch.backends.cudnn.allow_tf32` False: fp32 "
                "is IEEE fp32 in eager, freeze+ofi and torch.compile; tsopt's own kernels are checked by the "
                "output check: TF32 shows as a relative error around 1e-3)")
        lines = [
            "- Every variant runs on the %s under `torch.inference_mode()`, in one process, side by side: per "
            "case each is built, its output checked, warmed up (at least 3 calls, then up to %d or 0.3 s), then "
            "all are timed in %d interleaved rounds of about %.2f s each (%d to %d calls per round), the order "
            "rotating each round. Latency: the median over all timed calls, each call followed by a device "
            "synchronization."
            % (args.device, args.warmup, args.rounds, args.seconds_per_round, args.min_calls, args.max_calls),
            "- `torch.backends.cudnn.benchmark = True` for all; TF32 %s." % tf32,
            "- TorchScript variants (freeze+ofi, tsopt) run under TorchScript's default executor (profiling; "
            "tensor-expression fuser enabled: %s); the warm-up covers its profiling runs." % self.info["texpr_fuser"],
            "- eager: the `nn.Module` in eval mode; fp16: `module.half()` with half floating inputs (BERT's "
            "inputs are token ids and stay int64).",
            "- freeze+ofi: `torch.jit.trace` of that module on the device, `torch.jit.freeze`, "
            "`torch.jit.optimize_for_inference`.",
        ]
        if any(name in COMPILED for name in args.variants):
            lines.append(
                "- torch.compile: `torch.compile(module_copy, backend=\"inductor\", mode=...)`, `dynamic=False`, "
                "`torch._inductor.config.freezing = True`; compiled anew for each model, dtype and batch (the first "
                "call, timed as the compile, cold caches unless an earlier run left them); caps: default mode %.0f "
                "s (reduce-overhead too), max-autotune %.0f s%s." % (args.compile_cap_seconds,
                                                                   args.max_autotune_cap_seconds,
                                             "" if args.max_autotune else " (max-autotune not run: no "
                                             "`--max-autotune`)"))
        if "tsopt-cuda-graph" in args.variants:
            lines.append(
                "- tsopt + CUDA graph: the same, with OPTIONS `%s` for fp32 and `%s` for fp16: the forward replays a "
                "CUDA graph captured on its first calls (inputs copied into static buffers, outputs copied out; "
                "docs/cuda.md)." % (" ".join(tsopt_options(args, "fp32", "tsopt-cuda-graph")),
                                    " ".join(tsopt_options(args, "fp16", "tsopt-cuda-graph"))))
        if "tsopt" in args.variants:
            lines.append(
                "- tsopt: `torch.jit.trace` on the CPU in fp32, `torch.jit.save`, then `tsopt ARCHIVE OPTIONS -o "
                "OUT` with OPTIONS `%s` for fp32 and `%s` for fp16; `torch.ops.load_library(runtime)`, "
                "`torch.jit.load(OUT, map_location=\"%s\")`. **tsopt's fp16 archive takes the fp32 inputs and "
                "returns fp32 outputs**: the casts are inside its graph (and inside its timed latency), where eager "
                "fp16 is handed half inputs and returns half." % (
                    " ".join(tsopt_options(args, "fp32")), " ".join(tsopt_options(args, "fp16")), args.device))
            for (variant, dtype), pipeline in sorted(self.pipelines.items()):
                if pipeline:
                    lines.append("  - %s, the %s pipeline as tsopt spelled it: `%s`" % (VARIANT_TITLES[variant], dtype,
                                                                                      pipeline))
        lines.append(
            "- Budget: %.0f s for the whole run. torch.compile variants are built only while the time left covers "
            "the remaining cases' other variants (each case's cost measured as the run goes); cases run in the "
            "order batch 1 before 8, fp32 before fp16, models %s. Tracing and the tsopt calls took the first "
            "%.0f s." % (args.budget_seconds, ", ".join(args.models), self.prepare_s))
        return lines


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
