"""Times tsopt's quantized zoo models against fp32 eager and PyTorch's own int8
paths, in one process, as ratios; reports accuracy against fp32 eager.

Usage: compare_quantized.py MODEL.pt --tsopt LABEL=FILE.pt [--tsopt LABEL=FILE.pt ...]
                            [--model NAME] [--calibration FILE] [--eval-inputs N]
                            [--runtime-lib PATH] [--threads 2] [--rounds 9]
                            [--seconds-per-round S] [--engine onednn] [--json OUT]
                            [--also-relative-to LABEL] [--torchvision-seed SEED]
                            [--clock wall|thread]

MODEL.pt is the zoo archive (NAME defaults to its file name); the first tuple
of MODEL.inputs.pt is timed. With --torchvision-seed SEED, NAME is a
torchvision classifier outside the zoo (resnext50_32x4d, efficientnet_b0,
...) built the zoo's way (examples/models/vision.py's _build) from SEED, and
MODEL.pt is that build's archive. Variants, all batch 1:
  eager-fp32 (B/T)  the zoo's nn.Module in eval mode under no_grad, with B
                    OpenBLAS threads and T torch threads; (1,1) and (1,T) are
                    timed (and (T,T) with --blas-threads-sweep), the faster is
                    "eager best"
  torch-ofi         torch.jit.optimize_for_inference of the archive (vision models)
  torch-int8        PyTorch's int8 path: for BERT, torch.ao.quantization.
                    quantize_dynamic(eager, {nn.Linear}, qint8) + trace + freeze
                    (per-tensor weights); for vision models, FX graph mode
                    (prepare_fx / convert_fx with get_default_qconfig(--engine),
                    calibrated on --calibration) + trace + freeze; for onednn
                    on an x86 CPU without VNNI, with 7-bit activations
                    (fx_qconfig says why), and its 8-bit default timed too as
                    torch-int8-onednn-8bit; --also-fx-engine x86 adds
                    torch-int8-x86 (PyTorch 2.x's default engine)
  LABEL             each --tsopt archive, loaded with torch.jit.load (load
                    libtsopt_runtime with --runtime-lib for -O2 archives);
                    LABEL=FILE@VAR=VALUE loads it with VAR=VALUE in the
                    environment, for the runtime's choices made when a layer is
                    packed (TSOPT_DYNAMIC_GEMM=onednn: the same archive on oneDNN
                    beside tsopt's AMX kernel, in one process)
Speed-ups are printed against eager best and torch-int8, and against one more
variant with --also-relative-to LABEL (e.g. a tsopt -O2 archive).
Every other variant runs with T torch threads and T OpenBLAS threads:
openblas_set_num_threads sets the system OpenMP's thread count, which the
runtime's oneDNN (Debian's, on the system libgomp) runs on too, so one
OpenBLAS thread left tsopt's kernels on one thread at any T (BERT-base, pip
line, T=2: 30.4 ms wall at 1.00 CPU/wall, against 21.1 ms at 1.97 with T
OpenBLAS threads). The quantized engine (--engine, default onednn) is set
before anything quantized is loaded or built: PyTorch packs int8 weights for
the engine in effect then. Timing is interleaved (order rotating per round) so the
machine's noise falls on all variants alike; medians over all calls. --clock
thread times each call by the calling thread's CPU time (time.thread_time),
which a loaded machine's other jobs do not inflate; it counts one thread's
work only, so use it with --threads 1.

Accuracy: cosine similarity (double precision) of the first output (BERT's
last_hidden_state, a classifier's logits) with eager fp32's on the timed
input; with --eval-inputs N (classifiers), the mean and worst cosine and the
top-1 agreement over N random inputs shaped like the timed one (seed 1234, the
distribution the zoo draws inputs from). Run with /usr/bin/python3 and
OPENBLAS_CORETYPE=SkylakeX (see eager_config_sweep.py).
"""
import argparse
import json
import os
import statistics
import time

import torch

import bench_common


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("archive")
    parser.add_argument("--tsopt", action="append", default=[], metavar="LABEL=FILE")
    parser.add_argument("--model")
    parser.add_argument("--calibration", help="input tuples saved with torch.save, for PyTorch's FX calibration")
    parser.add_argument("--eval-inputs", type=int, default=0)
    parser.add_argument("--runtime-lib")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--seconds-per-round", type=float, default=1.0)
    parser.add_argument("--engine", default="onednn")
    parser.add_argument("--blas-threads-sweep", action="store_true",
                        help="also time eager with T OpenBLAS threads (20x slower on a busy machine)")
    parser.add_argument("--also-relative-to", metavar="LABEL", help="another variant to print speed-ups against")
    parser.add_argument("--also-fx-engine", action="append", default=[], metavar="ENGINE",
                        help="also time PyTorch's FX int8 packed for ENGINE (e.g. x86), with its default qconfig")
    parser.add_argument("--torchvision-seed", type=int, metavar="SEED",
                        help="NAME is torchvision's classifier of that name, built the zoo's way from SEED")
    parser.add_argument("--clock", choices=("wall", "thread"), default="wall")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    args.model = args.model or os.path.basename(args.archive)[:-3]
    labels = [spec.split("=", 1)[0] for spec in args.tsopt]
    if args.also_relative_to and args.also_relative_to not in labels:
        parser.error("--also-relative-to %s: no --tsopt variant has that label" % args.also_relative_to)
    return args


def build_eager(args):
    if args.torchvision_seed is None:
        return bench_common.build_eager(args.model, 1)
    import torchvision
    import vision  # examples/models, on the path bench_common sets up
    model = getattr(torchvision.models, args.model)
    builder = vision.trace
    vision.trace = lambda module, inputs: module.eval()
    try:
        eager, _ = vision._build(model, args.torchvision_seed, 1)
    finally:
        vision.trace = builder
    return eager.eval()


def first_output(output):
    return output[0] if isinstance(output, (tuple, list)) else output


def cosine(reference, candidate):
    reference, candidate = reference.double().flatten(), candidate.double().flatten()
    return torch.nn.functional.cosine_similarity(reference, candidate, dim=0).item()


def cpu_has_vnni():
    """Whether int8 products accumulate straight into int32 (VNNI); without it,
    x86 sums them in pairs into int16 (vpmaddubsw), which 8-bit activations
    overflow."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = set(cpuinfo.read().split())
    except OSError:
        return True
    return "avx2" not in flags or bool(flags & {"avx512_vnni", "avx_vnni"})


def fx_qconfig(engine, reduce_range=None):
    """PyTorch's default FX qconfig for `engine`, except that onednn's (8-bit
    activations) gets 7 bits on x86 CPUs without VNNI unless `reduce_range` is
    False: there 8-bit activations can overflow (on an AVX2 EPYC, torchvision's
    ResNet-50 at its default initialization: logits cosine 0.03 with 8 bits,
    0.9995 with 7; the zoo's ResNet-50, with tamer activations, loses nothing).
    x86's and fbgemm's defaults use 7 bits already."""
    from torch.ao.quantization import QConfig, get_default_qconfig
    from torch.ao.quantization.observer import HistogramObserver, default_per_channel_weight_observer
    if reduce_range is None:
        reduce_range = engine == "onednn" and not cpu_has_vnni()
    if engine == "onednn" and reduce_range:
        return QConfig(activation=HistogramObserver.with_args(reduce_range=True),
                       weight=default_per_channel_weight_observer)
    return get_default_qconfig(engine)


def pytorch_int8(model, eager, inputs, calibration, engine="onednn", reduce_range=None):
    if model.startswith("bert"):
        dynamic = torch.ao.quantization.quantize_dynamic(eager, {torch.nn.Linear}, dtype=torch.qint8)
        return torch.jit.freeze(torch.jit.trace(dynamic, inputs).eval())
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    import copy
    qconfig = fx_qconfig(engine, reduce_range)
    prepared = prepare_fx(copy.deepcopy(eager), {"": qconfig}, example_inputs=inputs)
    for call in torch.load(calibration):
        prepared(*call)
    return torch.jit.freeze(torch.jit.trace(convert_fx(prepared), inputs).eval())


def load_with_environment(path, setting):
    """torch.jit.load(path), with VAR=VALUE from `setting` (if any) set while it loads."""
    if not setting:
        return torch.jit.load(path).eval()
    name, _, value = setting.partition("=")
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        return torch.jit.load(path).eval()
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def main(argv=None):
    args = parse_args(argv)
    torch.backends.quantized.engine = args.engine
    if args.runtime_lib:
        torch.ops.load_library(args.runtime_lib)
    inputs = torch.load(args.archive[:-3] + ".inputs.pt")[0]
    eager = build_eager(args)
    clock = time.thread_time if args.clock == "thread" else time.perf_counter
    t = args.threads
    threads = (t, t)  # (OpenBLAS, torch) threads of every variant but eager's
    variants = {}  # label -> (callable, (blas threads, torch threads))
    with torch.no_grad():
        reference = eager(*inputs)
        for pair in sorted({(1, 1), (1, t)} | ({(t, t)} if args.blas_threads_sweep else set())):
            variants["eager-fp32 (%d/%d)" % pair] = (eager, pair)
        if not args.model.startswith("bert"):
            variants["torch-ofi"] = (torch.jit.optimize_for_inference(torch.jit.load(args.archive).eval()), threads)
        variants["torch-int8"] = (pytorch_int8(args.model, eager, inputs, args.calibration, args.engine), threads)
        if not args.model.startswith("bert"):
            for engine in args.also_fx_engine:
                torch.backends.quantized.engine = engine
                variants["torch-int8-" + engine] = (pytorch_int8(args.model, eager, inputs, args.calibration, engine),
                                                    threads)
            if args.engine == "onednn" and not cpu_has_vnni():
                variants["torch-int8-onednn-8bit"] = (
                    pytorch_int8(args.model, eager, inputs, args.calibration, "onednn", reduce_range=False), threads)
            torch.backends.quantized.engine = args.engine
    for spec in args.tsopt:
        label, path = spec.split("=", 1)
        path, _, setting = path.partition("@")
        variants[label] = (load_with_environment(path, setting), threads)

    results = {label: {"times": []} for label in variants}
    with torch.no_grad():
        for label, (module, pair) in variants.items():
            bench_common.set_threads(pair[1], pair[0])
            for _ in range(3):
                output = module(*inputs)
            results[label]["cosine"] = cosine(first_output(reference), first_output(output))
        if args.eval_inputs:
            generator = torch.Generator().manual_seed(1234)
            evaluation = [tuple(torch.randn(x.shape, generator=generator) for x in inputs)
                          for _ in range(args.eval_inputs)]
            expected = [first_output(eager(*call)) for call in evaluation]
            for label, (module, _) in variants.items():
                actual = [first_output(module(*call)) for call in evaluation]
                cosines = [cosine(e, a) for e, a in zip(expected, actual)]
                results[label]["eval_mean_cosine"] = statistics.mean(cosines)
                results[label]["eval_worst_cosine"] = min(cosines)
                results[label]["eval_top1"] = sum(int((e.argmax(-1) == a.argmax(-1)).all())
                                                  for e, a in zip(expected, actual)) / len(expected)
        labels = list(variants)
        for round_index in range(args.rounds):
            order = labels[round_index % len(labels):] + labels[:round_index % len(labels)]
            for label in order:
                module, pair = variants[label]
                bench_common.set_threads(pair[1], pair[0])
                deadline = time.perf_counter() + args.seconds_per_round
                while True:
                    start = clock()
                    module(*inputs)
                    results[label]["times"].append(clock() - start)
                    if time.perf_counter() > deadline:
                        break

    for label in results:
        results[label]["median_ms"] = 1e3 * statistics.median(results[label]["times"])
        results[label]["calls"] = len(results[label]["times"])
    eager_labels = [label for label in results if label.startswith("eager-fp32")]
    best_eager = min(eager_labels, key=lambda label: results[label]["median_ms"])
    baseline = results[best_eager]["median_ms"]
    pytorch = results["torch-int8"]["median_ms"]
    print("BLAS: %s" % bench_common.blas_info())
    print("%s, engine %s, batch 1, %d threads, %s clock; eager best = %s; load average %.1f"
          % (args.model, args.engine, t, args.clock, best_eager, os.getloadavg()[0]))
    other = args.also_relative_to
    header = "%-24s %9s %6s %10s %12s" % ("variant", "median ms", "calls", "x vs eager", "x vs torch-int8")
    header += " %12s" % ("x vs " + other) if other else ""
    header += " %9s" % "cosine"
    print(header + ("  %13s %12s %9s" % ("eval cos mean", "eval cos min", "eval top1") if args.eval_inputs else ""))
    for label, row in results.items():
        line = "%-24s %9.1f %6d %10.2f %12.2f" % (label, row["median_ms"], row["calls"],
                                                  baseline / row["median_ms"], pytorch / row["median_ms"])
        line += " %12.2f" % (results[other]["median_ms"] / row["median_ms"]) if other else ""
        line += " %9.6f" % row["cosine"]
        if args.eval_inputs:
            line += "  %13.6f %12.6f %8.1f%%" % (row["eval_mean_cosine"], row["eval_worst_cosine"], 100 * row["eval_top1"])
        print(line)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({label: {key: value for key, value in row.items() if key != "times"}
                       for label, row in results.items()}, out, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
