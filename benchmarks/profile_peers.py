"""Where the time goes: tsopt -O2's archive under torch.profiler, and ONNX
Runtime on the same model with its own profiler, side by side, per operator.

Usage: .venv/bin/python3 benchmarks/profile_peers.py --model resnet50 [--batch 1] [--threads 1]
           [--work-dir build/peer-results/work] [--runtime-lib build/runtime/libtsopt_runtime.so]
           [--calls 20] [--top 12] [--layer-kinds]

Reads what compare_peers.py left in --work-dir (MODEL_bBATCH.O2.pt, the tsopt
-O2 archive, and MODEL_bBATCH.onnx, the export) and the inputs peer_models.py
makes. Prints, for each, the operators that take the most time per call: total
ms, share, and calls per forward. Times are from one process each after a
warm-up, under the profilers' overhead: read shares, not absolute times.

--layer-kinds adds, for the convolution nets, a table per kind of layer (first
convolution, depthwise, expansion and projection 1x1 with or without residual,
other 1x1 and other KxK layers, reorders), tsopt against ONNX Runtime: tsopt's
from oneDNN's own timing of each primitive (ONEDNN_VERBOSE=1, in a child
process: oneDNN reads it when it loads) with the implementation it picked, ONNX
Runtime's from its profiler's node events, classified by weight shape.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

import torch

import peer_models


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, choices=list(peer_models.MODELS))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work-dir", default=os.path.join("build", "peer-results", "work"))
    parser.add_argument("--runtime-lib", default=os.path.join("build", "runtime", "libtsopt_runtime.so"))
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--layer-kinds", action="store_true",
                        help="add per-layer-kind tables of the convolutions, tsopt (ONEDNN_VERBOSE) and ONNX Runtime")
    parser.add_argument("--verbose-child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def layer_kind(in_channels, out_channels, kernel, groups, residual):
    """The kind of a convolution, by its shape; the classification of --layer-kinds."""
    if in_channels <= 4 and groups == 1:
        return "first conv"
    if groups > 1 and groups == in_channels:
        return "depthwise %dx%d" % (kernel, kernel)
    if kernel == 1:
        if residual:
            return "1x1 + residual"
        return "expansion 1x1" if out_channels > in_channels else "projection 1x1"
    return "%dx%d conv" % (kernel, kernel)


# oneDNN's problem descriptor, e.g. g96mb8_ic96oc96_ih112oh56kh3sh2dh0ph1_iw112ow56kw3sw2dw0pw1.
ONEDNN_CONV = re.compile(r"(?:g(\d+))?mb\d+_ic(\d+)oc(\d+)_(?:id\d+od\d+kd\d+sd\d+dd\d+pd\d+_)?"
                         r"ih\d+oh\d+kh(\d+)")


def tsopt_layer_kinds(args):
    """{kind: (microseconds, calls, {implementation})} over args.calls forwards, from oneDNN's verbose lines."""
    command = [sys.executable, os.path.abspath(__file__), "--verbose-child", "--model", args.model,
               "--batch", str(args.batch), "--threads", str(args.threads), "--work-dir", args.work_dir,
               "--runtime-lib", args.runtime_lib, "--calls", str(args.calls)]
    environment = dict(os.environ, ONEDNN_VERBOSE="1")
    output = subprocess.run(command, env=environment, check=True, capture_output=True, text=True).stdout
    lines = output.splitlines()
    start = lines.index("tsopt-profile: timed calls")
    per_kind = collections.defaultdict(lambda: [0.0, 0, set()])
    for line in lines[start + 1:]:
        fields = line.split(",")
        # oneDNN 2.6 (tsopt's runtime) prints "onednn_verbose,exec,cpu,..."; LibTorch's own oneDNN 3.x
        # (ATen's ops) "onednn_verbose,v1,primitive,exec,cpu,...".
        if not line.startswith("onednn_verbose,exec,cpu,"):
            continue
        primitive, implementation, milliseconds = fields[3], fields[4], float(fields[-1])
        if primitive == "convolution":
            match = ONEDNN_CONV.search(line)
            groups = int(match.group(1) or 1)
            kind = layer_kind(int(match.group(2)), int(match.group(3)), int(match.group(4)), groups,
                              "sum" in line)
        else:
            kind = primitive
        entry = per_kind[kind]
        entry[0] += 1000 * milliseconds
        entry[1] += 1
        entry[2].add(implementation)
    return per_kind


def onnxruntime_layer_kinds(events):
    per_kind = collections.defaultdict(lambda: [0.0, 0, set()])
    for event in events:
        arguments = event["args"]
        shapes = [next(iter(shape.values())) for shape in arguments.get("input_type_shape", [])]
        if arguments["op_name"] in ("Conv", "FusedConv") and len(shapes) >= 2 and len(shapes[1]) == 4:
            weight = shapes[1]
            in_channels = shapes[0][1]
            groups = in_channels // weight[1] if weight[1] else 1
            kind = layer_kind(in_channels, weight[0], weight[2], groups, len(shapes) >= 4)
        else:
            kind = arguments["op_name"]
        entry = per_kind[kind]
        entry[0] += event["dur"]
        entry[1] += 1
        entry[2].add(arguments["op_name"])
    return per_kind


def print_layer_kinds(tsopt, onnxruntime, calls):
    print("\nper layer kind, ms per call (calls per forward): tsopt -O2 (oneDNN's timing) against ONNX Runtime")
    print("  %-16s %9s %6s %9s %6s %7s  %s" % ("kind", "tsopt", "calls", "ORT", "calls", "ratio", "tsopt kernels"))
    totals = [0.0, 0.0]
    for kind in sorted(set(tsopt) | set(onnxruntime), key=lambda k: -max(tsopt.get(k, [0])[0],
                                                                          onnxruntime.get(k, [0])[0])):
        ours = tsopt.get(kind, [0.0, 0, set()])
        theirs = onnxruntime.get(kind, [0.0, 0, set()])
        totals[0] += ours[0]
        totals[1] += theirs[0]
        ratio = "%7.2f" % (theirs[0] / ours[0]) if ours[0] and theirs[0] else "      -"
        print("  %-16s %9.3f %6.1f %9.3f %6.1f %s  %s" % (kind[:16], ours[0] / calls / 1000, ours[1] / calls,
                                                         theirs[0] / calls / 1000, theirs[1] / calls, ratio,
                                                         " ".join(sorted(ours[2]))))
    print("  %-16s %9.3f %6s %9.3f" % ("total", totals[0] / calls / 1000, "", totals[1] / calls / 1000))
    print("  (ratio: ONNX Runtime's time / tsopt's; above 1, tsopt is faster)")


def print_table(title, per_op, calls, top):
    """per_op: {operator: (total microseconds, occurrences)} over `calls` forwards."""
    total = sum(us for us, _ in per_op.values())
    print("\n%s: %.2f ms per call in operators" % (title, total / calls / 1000))
    print("  %-44s %9s %7s %9s" % ("operator", "ms/call", "share", "per call"))
    for name, (us, count) in sorted(per_op.items(), key=lambda item: -item[1][0])[:top]:
        print("  %-44s %9.3f %6.1f%% %9.1f" % (name[:44], us / calls / 1000, 100 * us / total, count / calls))


def profile_tsopt(archive, inputs, calls):
    module = torch.jit.load(archive)
    with torch.inference_mode():
        for _ in range(3):
            module(*inputs)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
            for _ in range(calls):
                module(*inputs)
    return {event.key: (event.self_cpu_time_total, event.count) for event in profiler.key_averages()}


def profile_onnxruntime(path, inputs, threads, calls):
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {node.name: tensor.numpy() for node, tensor in zip(session.get_inputs(), inputs)}
    for _ in range(3):
        session.run(None, feed)
    session.end_profiling()
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    for _ in range(3 + calls):
        session.run(None, feed)
    with open(session.end_profiling()) as trace:
        events = json.load(trace)
    per_op = collections.defaultdict(lambda: [0, 0])
    runs = [event for event in events if event.get("cat") == "Node" and event["name"].endswith("_kernel_time")]
    # The first three runs are the warm-up: skip their share of node events.
    skip = len(runs) * 3 // (3 + calls)
    for event in runs[skip:]:
        entry = per_op[event["args"]["op_name"]]
        entry[0] += event["dur"]
        entry[1] += 1
    return {name: tuple(value) for name, value in per_op.items()}, runs[skip:]


def run_verbose_child(archive, inputs, calls):
    """The archive's calls with oneDNN's verbose output on; a marker line before the timed ones."""
    module = torch.jit.load(archive)
    with torch.inference_mode():
        for _ in range(3):
            module(*inputs)
        sys.stdout.flush()
        print("tsopt-profile: timed calls", flush=True)
        for _ in range(calls):
            module(*inputs)
    sys.stdout.flush()


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.ops.load_library(args.runtime_lib)
    _, inputs = peer_models.build(args.model, args.batch)
    stem = os.path.join(args.work_dir, "%s_b%d" % (args.model, args.batch))
    if args.verbose_child:
        run_verbose_child(stem + ".O2.pt", inputs, args.calls)
        return 0
    print("%s, batch %d, %d thread(s), %d calls" % (args.model, args.batch, args.threads, args.calls))
    print_table("tsopt -O2 (torch.profiler, self time)", profile_tsopt(stem + ".O2.pt", inputs, args.calls),
                args.calls, args.top)
    onnxruntime_ops, onnxruntime_events = profile_onnxruntime(stem + ".onnx", inputs, args.threads, args.calls)
    print_table("ONNX Runtime (its profiler, kernel time)", onnxruntime_ops, args.calls, args.top)
    if args.layer_kinds:
        print_layer_kinds(tsopt_layer_kinds(args), onnxruntime_layer_kinds(onnxruntime_events), args.calls)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
