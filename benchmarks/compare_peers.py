"""Times tsopt against its peers, in one process with the PyTorch 2.x line: the
peer comparison of issue 10, part 2.

Usage: .venv/bin/python3 benchmarks/compare_peers.py [--quick] [--models a,b] [--batches 1,8]
           [--threads 1,2] [--rounds N] [--seconds-per-round S] [--json OUT]
           [--tsopt PATH] [--runtime-lib PATH] [--inductor-modes M,M] [--int8-batches 1]
           [--calibration-inputs N] [--quantized-engine onednn] [--skip V,V] [--work-dir DIR]

The whole comparison (the tsopt binary and runtime library built first):
    scripts/install_bench_peers.sh
    .venv/bin/python3 benchmarks/compare_peers.py --json peers.json
    .venv-ipex/bin/python3 benchmarks/compare_ipex.py --json ipex.json
    .venv/bin/python3 benchmarks/make_peer_report.py --peers peers.json --ipex ipex.json --out docs/peers.md
--quick is the smoke test of both scripts. Nothing is downloaded at run time.

Models: peer_models.py. Per model, batch size and thread count, these
variants are built, warmed up and timed in interleaved rounds (peer_common.py
says how, and what the ratios and the JSON file are):
  eager, eager-cl   the nn.Module, the best eager configuration (the config
                    block printed and written says what it is)
  torch-ofi         torch.jit.trace + torch.jit.freeze + torch.jit.optimize_for_inference
  inductor, inductor-max-autotune
                    torch.compile(backend="inductor", mode="default" and
                    "max-autotune-no-cudagraphs") with torch._inductor.config.freezing
                    = True; each mode is timed, the faster is the best peer; the
                    compile time (the first call) is reported apart
  onnxruntime       torch.onnx.export (the dynamo exporter; the TorchScript
                    exporter where it fails: the row's note says which) and an
                    InferenceSession on the CPU execution provider with
                    ORT_ENABLE_ALL, intra_op_num_threads = threads,
                    inter_op_num_threads = 1, intra-op spinning on (its
                    default) unless OMP_WAIT_POLICY=PASSIVE puts torch's
                    threads to sleep too (peer_models.ENVIRONMENT says why); export and session times reported
  tsopt-O1, tsopt-O2
                    the traced archive (torch.jit.trace + torch.jit.save) through
                    `tsopt -O1` / `-O2`; -O2 archives need --runtime-lib, which is
                    first tried in a child process (a library built for another
                    LibTorch aborts the process that loads it). Without a tsopt
                    binary these columns are skipped, with a note.
int8 rows, for --int8-batches (default 1) of the models with an int8 mode, all
against fp32 eager (cosine) and each other (vs best peer):
  tsopt-int8        BERT: `tsopt --passes=<--tsopt-dynamic-int8>`; conv nets:
                    `tsopt --passes=<--tsopt-static-int8> --calibration-data=FILE`
                    (the pipelines of docs/quantization.md)
  torch-int8        compare_quantized.pytorch_int8, the flow docs/quantization.md
                    measures: BERT quantize_dynamic(nn.Linear, qint8) + trace +
                    freeze; conv nets FX prepare_fx/convert_fx with the onednn
                    qconfig + trace + freeze
  onnxruntime-int8  onnxruntime.quantization: quant_pre_process, then BERT
                    quantize_dynamic (QInt8 weights, per tensor), conv nets
                    quantize_static (QDQ, uint8 activations, int8 per-channel
                    weights, MinMax calibration)
The conv nets' calibration data: --calibration-inputs tuples drawn like the
timed input from seed 99 (peer_models.calibration_inputs), the same for all
three. The quantized engine (--quantized-engine) is set before anything
quantized is built or loaded. IPEX is timed in its own process by
compare_ipex.py; make_peer_report.py merges the two files.
"""
import copy
import os
import shutil
import subprocess
import sys
import tempfile

import peer_models  # First: it sets the environment before torch loads.

import torch  # noqa: E402,I100
import torch._inductor.config  # noqa: E402

import bench_common  # noqa: E402
import compare_quantized  # noqa: E402
import peer_common  # noqa: E402
from peer_common import Variant, attempt, stopwatch  # noqa: E402

DEFAULT_TSOPT = os.path.join(bench_common.REPO, "build", "ir_tools", "tsopt")
DEFAULT_RUNTIME_LIB = os.path.join(bench_common.REPO, "build", "runtime", "libtsopt_runtime.so")
# tsopt's best int8 pipelines, on its own kernels (docs/quantization.md): the dynamic int8 linear fused with its
# bias, GELU and residual, and the attention's matmuls in bf16; static int8 convolutions fused with their
# activation and residual sum, and the squeeze-excitation block kept in uint8.
TSOPT_DYNAMIC_INT8 = ("O1,sink-views,fuse-concat-linear,fuse-linear-dynamic,fuse-add-layer-norm,fuse-attention,"
                      "convert-attention-bf16,dce")
TSOPT_STATIC_INT8 = ("insert-observers{activation-observer=histogram},calibrate,quantize-static{engine=onednn},"
                     "quantize-squeeze-excitation,fuse-quantized-conv-act,fuse-quantized-gate,dce")


def parse_args(argv):
    parser = peer_common.parser(__doc__)
    parser.add_argument("--tsopt", default=DEFAULT_TSOPT, help="tsopt binary (default: build/ir_tools/tsopt)")
    parser.add_argument("--runtime-lib", default=DEFAULT_RUNTIME_LIB,
                        help="libtsopt_runtime for -O2 archives (default: build/runtime/libtsopt_runtime.so)")
    parser.add_argument("--inductor-modes", default=",".join(peer_common.INDUCTOR_VARIANTS),
                        help="torch.compile modes to time, from: %s (default: both)" % ", ".join(
                            peer_common.INDUCTOR_VARIANTS))
    parser.add_argument("--int8-batches", default="1", help="batch sizes that get int8 rows (default: 1)")
    parser.add_argument("--calibration-inputs", type=int, default=32,
                        help="static int8 calibration inputs (default: 32)")
    parser.add_argument("--quantized-engine", default="onednn",
                        help="torch.backends.quantized.engine (default: onednn, as docs/quantization.md advises)")
    parser.add_argument("--tsopt-dynamic-int8", default=TSOPT_DYNAMIC_INT8, help="tsopt's int8 pipeline for BERT")
    parser.add_argument("--tsopt-static-int8", default=TSOPT_STATIC_INT8, help="tsopt's int8 pipeline for conv nets")
    parser.add_argument("--skip", default="", help="comma-separated variants to leave out")
    parser.add_argument("--work-dir",
                        help="keep traced, exported and optimized files here (default: a temporary folder)")
    args = peer_common.parse(parser, argv)
    args.inductor_modes = [mode for mode in args.inductor_modes.split(",") if mode]
    unknown = [mode for mode in args.inductor_modes if mode not in peer_common.INDUCTOR_VARIANTS]
    if unknown:
        parser.error("unknown --inductor-modes %s" % ", ".join(unknown))
    args.int8_batches = [int(batch) for batch in args.int8_batches.split(",") if batch]
    args.skip = set(name for name in args.skip.split(",") if name)
    return args


def cached(cache: dict, key: str, make):
    """make()'s result, computed once per model and batch size; a failure is kept
    and raised again, so every thread count reports it without retrying."""
    if key not in cache:
        try:
            cache[key] = (True, make())
        except Exception as exception:  # noqa: BLE001
            cache[key] = (False, exception)
    succeeded, value = cache[key]
    if not succeeded:
        raise value
    return value


def file_stem(case) -> str:
    return os.path.join(case.args.work_dir, "%s_b%d" % (case.model, case.batch))


def traced(case, cache):
    """(torch.jit.trace of the eager module, seconds)."""
    def trace():
        with torch.no_grad():
            return stopwatch(lambda: torch.jit.trace(case.module, case.inputs, check_trace=False))
    return cached(cache, "traced", trace)


def torch_ofi(case, cache) -> Variant:
    module, trace_seconds = traced(case, cache)
    with torch.no_grad():
        optimized, seconds = stopwatch(lambda: torch.jit.optimize_for_inference(torch.jit.freeze(module.eval())))
    return Variant("torch-ofi", lambda: optimized(*case.inputs),
                   setup_s={"trace": trace_seconds, "freeze+ofi": seconds})


def inductor(case, mode: str) -> Variant:
    """A deep copy of the module (freezing folds its parameters), compiled by
    its first call; the thread count is baked in at compile time."""
    compiled = torch.compile(copy.deepcopy(case.module), backend="inductor", mode=mode)
    with torch.inference_mode():
        _, seconds = stopwatch(lambda: compiled(*case.inputs))
    return Variant(peer_common.INDUCTOR_VARIANTS[mode], lambda: compiled(*case.inputs), setup_s={"compile": seconds},
                   note="mode=%s, freezing on" % mode)


def onnx_export(case, cache):
    """(path, seconds, exporter): the dynamo exporter, else the TorchScript one."""
    def export():
        path = file_stem(case) + ".onnx"
        failures = []
        for exporter, dynamo in (("dynamo", True), ("torchscript", False)):
            try:
                with torch.no_grad():
                    _, seconds = stopwatch(lambda: torch.onnx.export(case.module, case.inputs, path, dynamo=dynamo,
                                                                     external_data=False))
                return path, seconds, exporter + (" (dynamo failed: %s)" % failures[0] if failures else "")
            except Exception as exception:  # noqa: BLE001
                failures.append(peer_common.error_text(exception))
        raise RuntimeError("torch.onnx.export failed: dynamo: %s; torchscript: %s" % tuple(failures))
    return cached(cache, "onnx", export)


def onnxruntime_spinning() -> str:
    """ONNX Runtime's thread pool follows the OpenMP idle policy that torch's variants run under."""
    return "0" if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE" else "1"


def onnxruntime_session(case, path: str):
    """(one-call function, seconds to create the session)."""
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = case.threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", onnxruntime_spinning())
    session, seconds = stopwatch(lambda: onnxruntime.InferenceSession(path, options,
                                                                       providers=["CPUExecutionProvider"]))
    names = [node.name for node in session.get_inputs()]
    if len(names) != len(case.inputs):
        raise RuntimeError("the ONNX model takes %d inputs (%s), the module %d" % (
            len(names), ", ".join(names), len(case.inputs)))
    feed = {name: tensor.numpy() for name, tensor in zip(names, case.inputs)}
    return (lambda: session.run(None, feed)), seconds


def onnxruntime_fp32(case, cache) -> Variant:
    path, export_seconds, exporter = onnx_export(case, cache)
    run, session_seconds = onnxruntime_session(case, path)
    return Variant("onnxruntime", run, setup_s={"export": export_seconds, "session": session_seconds},
                   note="exporter: " + exporter)


def calibration_file(case, cache) -> str:
    """The calibration inputs, saved as tsopt and compare_quantized read them: a tuple of input tuples."""
    def save():
        path = file_stem(case) + ".calibration.pt"
        torch.save(tuple(peer_models.calibration_inputs(case.model, case.batch, case.args.calibration_inputs)), path)
        return path
    return cached(cache, "calibration", save)


def onnxruntime_int8(case, cache) -> Variant:
    """quant_pre_process, then quantize_dynamic (BERT) or quantize_static (conv nets), once per model and batch."""
    from onnxruntime import quantization
    from onnxruntime.quantization.shape_inference import quant_pre_process
    fp32_path, export_seconds, exporter = onnx_export(case, cache)
    mode = peer_models.MODELS[case.model].int8

    prepared, quantized = file_stem(case) + ".pre.onnx", file_stem(case) + ".int8.onnx"

    def quantize():
        quant_pre_process(fp32_path, prepared)
        if mode == "dynamic":
            quantization.quantize_dynamic(prepared, quantized, weight_type=quantization.QuantType.QInt8)
            return
        import onnx
        names = [node.name for node in onnx.load(prepared, load_external_data=False).graph.input]
        feeds = iter([{name: tensor.numpy() for name, tensor in zip(names, inputs)}
                      for inputs in torch.load(calibration_file(case, cache))])

        class Reader(quantization.CalibrationDataReader):
            def get_next(self):
                return next(feeds, None)

        quantization.quantize_static(prepared, quantized, Reader(), quant_format=quantization.QuantFormat.QDQ,
                                     per_channel=True, activation_type=quantization.QuantType.QUInt8,
                                     weight_type=quantization.QuantType.QInt8,
                                     calibrate_method=quantization.CalibrationMethod.MinMax)

    _, quantize_seconds = cached(cache, "onnx-int8", lambda: stopwatch(quantize))
    run, session_seconds = onnxruntime_session(case, quantized)
    return Variant("onnxruntime-int8", run, "int8",
                   setup_s={"export": export_seconds, "quantize": quantize_seconds, "session": session_seconds},
                   note="quantize_%s, exporter: %s" % (mode, exporter))


def torch_int8(case, cache) -> Variant:
    """Built anew for each thread count, as every other variant: reused from the 1-thread case, PyTorch's int8
    MobileNetV2 ran ~1.9x slower at 2 threads than tsopt's freshly loaded one in two runs; built anew, level."""
    calibration = calibration_file(case, cache) if peer_models.MODELS[case.model].int8 == "static" else None
    with torch.no_grad():
        module, seconds = stopwatch(lambda: compare_quantized.pytorch_int8(case.model, case.module, case.inputs,
                                                                           calibration))
    return Variant("torch-int8", lambda: module(*case.inputs), "int8", setup_s={"quantize": seconds})


class Tsopt:
    """The tsopt binary and runtime library, and the pipelines each level ran."""

    def __init__(self, args):
        self.binary = args.tsopt
        self.available = os.access(self.binary, os.X_OK)
        self.note = "" if self.available else "tsopt columns skipped: no executable at %s" % self.binary
        self.runtime_error = bench_common.load_runtime(args.runtime_lib) if self.available else ""
        self.pipelines = {}

    def config(self) -> dict:
        return {"binary": self.binary, "available": self.available, "note": self.note,
                "runtime_error": self.runtime_error, "pipelines": self.pipelines}

    def archive(self, case, cache) -> str:
        def save():
            path = file_stem(case) + ".pt"
            torch.jit.save(traced(case, cache)[0], path)
            return path
        return cached(cache, "archive", save)

    def optimize(self, case, cache, label: str, options) -> Variant:
        """`tsopt ARCHIVE OPTIONS -o OUT`, once per model and batch; the result loaded."""
        def run_tsopt():
            out = "%s.%s.pt" % (file_stem(case), label)
            command = [self.binary, self.archive(case, cache), *options, "--dump-pass-pipeline", "-o", out]
            result, seconds = stopwatch(lambda: subprocess.run(command, capture_output=True, text=True))
            if result.returncode != 0:
                lines = result.stderr.splitlines()
                errors = [line for line in lines if line.startswith("tsopt: error")] or lines[-1:]
                raise RuntimeError(errors[0] if errors else "exit code %d" % result.returncode)
            self.pipelines[label] = next((line[len("# pipeline: "):] for line in result.stderr.splitlines()
                                          if line.startswith("# pipeline: ")), " ".join(options))
            return out, seconds
        out, seconds = cached(cache, label, run_tsopt)
        module = torch.jit.load(out).eval()
        return Variant("tsopt-" + label, lambda: module(*case.inputs), setup_s={"tsopt": seconds})

    def level(self, case, cache, level: int) -> Variant:
        if level >= 2 and self.runtime_error:
            raise RuntimeError("-O%d archives need the runtime library: %s" % (level, self.runtime_error))
        return self.optimize(case, cache, "O%d" % level, ["-O%d" % level])

    def int8(self, case, cache) -> Variant:
        if peer_models.MODELS[case.model].int8 == "dynamic":
            options = ["--passes=" + case.args.tsopt_dynamic_int8]
        else:
            options = ["--passes=" + case.args.tsopt_static_int8,
                       "--calibration-data=" + calibration_file(case, cache)]
        variant = self.optimize(case, cache, "int8", options)
        variant.precision = "int8"
        return variant


def variant_builders(case, cache, tsopt: Tsopt):
    """(name, precision, build) for every variant besides eager's."""
    builders = [("torch-ofi", "fp32", lambda: torch_ofi(case, cache))]
    builders += [(peer_common.INDUCTOR_VARIANTS[mode], "fp32", lambda mode=mode: inductor(case, mode))
                 for mode in case.args.inductor_modes]
    builders.append(("onnxruntime", "fp32", lambda: onnxruntime_fp32(case, cache)))
    if tsopt.available:
        builders += [("tsopt-O%d" % level, "fp32", lambda level=level: tsopt.level(case, cache, level))
                     for level in (1, 2)]
    if peer_models.MODELS[case.model].int8 and case.batch in case.args.int8_batches:
        if tsopt.available:
            builders.append(("tsopt-int8", "int8", lambda: tsopt.int8(case, cache)))
        builders += [("torch-int8", "int8", lambda: torch_int8(case, cache)),
                     ("onnxruntime-int8", "int8", lambda: onnxruntime_int8(case, cache))]
    return builders


def main(argv) -> int:
    args = parse_args(argv)
    torch.backends.quantized.engine = args.quantized_engine
    torch._inductor.config.freezing = True
    tsopt = Tsopt(args)
    import onnxruntime
    import transformers
    configuration = peer_common.config(
        args, script="compare_peers.py", onnxruntime=onnxruntime.__version__, transformers=transformers.__version__,
        inductor_modes=args.inductor_modes, skipped=sorted(args.skip), int8_batches=args.int8_batches,
        calibration_inputs=args.calibration_inputs, onnxruntime_allow_spinning=onnxruntime_spinning(),
        tsopt=tsopt.config())
    print("compare_peers: torch %s, onnxruntime %s, transformers %s; CPU %s (%s)" % (
        torch.__version__, onnxruntime.__version__, transformers.__version__, configuration["cpu"]["model"],
        configuration["cpu"]["isa"]))
    print("eager: " + configuration["eager_configuration"])
    for note in (tsopt.note, tsopt.runtime_error and "tsopt-O2 unavailable: " + tsopt.runtime_error):
        if note:
            print("compare_peers: " + note)
    temporary = args.work_dir is None
    args.work_dir = args.work_dir or tempfile.mkdtemp(prefix="tsopt-peers-")
    os.makedirs(args.work_dir, exist_ok=True)

    def build_variants(case, cache):
        torch._dynamo.reset()  # Drops the previous case's compiled graphs: each code object keeps only a few.
        return [attempt(name, build, precision) for name, precision, build in variant_builders(case, cache, tsopt)
                if name not in args.skip]

    try:
        results = peer_common.run(args, build_variants)
    finally:
        if temporary:
            shutil.rmtree(args.work_dir, ignore_errors=True)
    peer_common.write_json(args.json, configuration, results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
