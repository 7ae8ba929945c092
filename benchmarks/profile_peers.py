"""Where the time goes: tsopt -O2's archive under torch.profiler, and ONNX
Runtime on the same model with its own profiler, side by side, per operator.

Usage: .venv/bin/python3 benchmarks/profile_peers.py --model resnet50 [--batch 1] [--threads 1]
           [--work-dir build/peer-results/work] [--runtime-lib build/runtime/libtsopt_runtime.so]
           [--calls 20] [--top 12]

Reads what compare_peers.py left in --work-dir (MODEL_bBATCH.O2.pt, the tsopt
-O2 archive, and MODEL_bBATCH.onnx, the export) and the inputs peer_models.py
makes. Prints, for each, the operators that take the most time per call: total
ms, share, and calls per forward. Times are from one process each after a
warm-up, under the profilers' overhead: read shares, not absolute times.
"""
import argparse
import collections
import json
import os
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
    return parser.parse_args(argv)


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
    return {name: tuple(value) for name, value in per_op.items()}


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.ops.load_library(args.runtime_lib)
    _, inputs = peer_models.build(args.model, args.batch)
    stem = os.path.join(args.work_dir, "%s_b%d" % (args.model, args.batch))
    print("%s, batch %d, %d thread(s), %d calls" % (args.model, args.batch, args.threads, args.calls))
    print_table("tsopt -O2 (torch.profiler, self time)", profile_tsopt(stem + ".O2.pt", inputs, args.calls),
                args.calls, args.top)
    print_table("ONNX Runtime (its profiler, kernel time)",
                profile_onnxruntime(stem + ".onnx", inputs, args.threads, args.calls), args.calls, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
