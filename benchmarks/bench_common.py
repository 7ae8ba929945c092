"""Shared pieces of the Python benchmarks: the zoo's eager modules, the BLAS in
use, interleaved timing and output agreement.

Run with the interpreter of a LibTorch line (.venv/bin/python3 for 2.x, /usr/bin/python3 for 1.13).
"""
import ctypes
import ctypes.util
import gc
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Sequence

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZOO_SOURCES = os.path.join(REPO, "examples", "models")
sys.path.insert(0, ZOO_SOURCES)

import make_zoo  # noqa: E402
from zoo_common import output_tensors  # noqa: E402

# Work per forward pass and sample, in GFLOP (examples/models/gflop_per_sample.json).
GFLOP_PER_SAMPLE = make_zoo.gflop_per_sample()
BENCHMARK_MODELS = list(GFLOP_PER_SAMPLE)


def zoo_dir(flag: str = None) -> str:
    """--zoo, else $TSOPT_ZOO, else build/zoo in the source tree."""
    return flag or os.environ.get("TSOPT_ZOO") or os.path.join(REPO, "build", "zoo")


def zoo_file_stem(model: str, batch: int) -> str:
    return make_zoo.file_name(model, batch)


def build_eager(model: str, batch: int) -> torch.nn.Module:
    """The zoo's nn.Module for `model`, built by the zoo's own code from the same
    seed, so its weights are those of the archive; eval mode.

    The zoo builders end by tracing; the module-level `trace` they call is
    swapped for one that returns the module untraced.
    """
    builder_modules = [sys.modules[name] for name in ("vision", "bert", "control_flow") if name in sys.modules]
    saved = {module: getattr(module, "trace", None) for module in builder_modules}

    def keep_eager(module, inputs):
        return module.eval()

    for module in builder_modules:
        if hasattr(module, "trace"):
            module.trace = keep_eager
    try:
        eager, _ = make_zoo.MODELS[model](batch)
    finally:
        for module, original in saved.items():
            if original is not None:
                module.trace = original
    return eager.eval()


def _blas_library():
    try:
        return ctypes.CDLL("libblas.so.3")
    except OSError:
        return None


def blas_info() -> Dict[str, str]:
    """What libblas.so.3 resolves to, and OpenBLAS's own configuration when it is OpenBLAS."""
    info = {"library": os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")}
    library = _blas_library()
    if library is not None and hasattr(library, "openblas_get_config"):
        library.openblas_get_config.restype = ctypes.c_char_p
        library.openblas_get_corename.restype = ctypes.c_char_p
        info["name"] = "OpenBLAS"
        info["config"] = library.openblas_get_config().decode()
        info["core"] = library.openblas_get_corename().decode()
        info["threads"] = str(library.openblas_get_num_threads())  # Follows torch's after a BLAS call.
    else:
        info["name"] = "reference BLAS (or unknown)"
    for variable in ("OPENBLAS_CORETYPE", "OMP_WAIT_POLICY", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        info[variable] = os.environ.get(variable, "(unset)")
    return info


def set_threads(torch_threads: int, blas_threads: int = None) -> None:
    """Sets torch's intra-op threads, and OpenBLAS's when `blas_threads` is given.

    Debian's OpenBLAS is its OpenMP build: it ignores OPENBLAS_NUM_THREADS and
    runs on as many threads as OpenMP allows, which torch.set_num_threads sets.
    openblas_set_num_threads sets OpenMP's count in turn, so a `blas_threads`
    other than `torch_threads` leaves both at `blas_threads`: one number sets both.
    """
    torch.set_num_threads(torch_threads)
    if blas_threads is not None:
        library = _blas_library()
        if library is not None and hasattr(library, "openblas_set_num_threads"):
            library.openblas_set_num_threads(blas_threads)


def agreement(expected, actual) -> Dict[str, float]:
    """Worst cosine similarity and largest absolute error over the output leaves."""
    cosine, max_abs = 1.0, 0.0
    for reference, candidate in zip(output_tensors(expected), output_tensors(actual)):
        reference, candidate = reference.double().flatten(), candidate.double().flatten()
        max_abs = max(max_abs, (reference - candidate).abs().max().item())
        cosine = min(cosine, torch.nn.functional.cosine_similarity(reference, candidate, dim=0).item())
    return {"cosine": cosine, "max_abs_error": max_abs}


def time_calls(function: Callable[[], object], count: int,
               clock: Callable[[], float] = time.perf_counter) -> List[float]:
    """Time of `count` calls by `clock` (wall time unless told), in seconds each.
    Python's cyclic garbage collector is off while they run, as timeit turns it
    off: a collection would otherwise land inside some variant's calls (a
    process that imported transformers holds millions of objects to walk)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        times = []
        for _ in range(count):
            start = clock()
            function()
            times.append(clock() - start)
        return times
    finally:
        if enabled:
            gc.enable()


def calls_per_round(function: Callable[[], object], target_seconds: float, warmup: int) -> int:
    """Warms `function` up (JIT profiling runs included) and returns how many
    calls make about `target_seconds`."""
    for _ in range(warmup):
        function()
    sample = statistics.median(time_calls(function, 2))
    return max(1, int(target_seconds / max(sample, 1e-6)))


def summary(times: Sequence[float]) -> Dict[str, float]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "samples": len(times)}


def load_runtime(path: str) -> str:
    """Loads tsopt's runtime library once a child process survived loading it (one built for another
    LibTorch aborts the process); why it cannot be loaded, or ''."""
    if not os.path.isfile(path):
        return "no runtime library at %s" % path
    probe = subprocess.run([sys.executable, "-c", "import sys, torch; torch.ops.load_library(sys.argv[1])", path],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        lines = [line for line in probe.stderr.splitlines() if line.strip() and "Warning" not in line]
        return "loading %s fails (exit code %d): %s" % (path, probe.returncode, lines[-1] if lines else "")
    torch.ops.load_library(path)
    return ""
