"""Where a GPU forward's time goes: freeze + optimize_for_inference and tsopt
archives under torch.profiler, side by side, per CUDA kernel.

Usage: python3 benchmarks/profile_gpu.py --tsopt BIN --runtime-lib LIB --model resnet50 [--batch 8]
           [--dtype fp32] [--tsopt-args NAME=ARGS ...] [--calls 20] [--top 12] [--work-dir DIR]

Models, inputs and the tsopt call are gpu_benchmarks.py's. For each variant it
prints one line: the wall time of a synchronized call (median of --calls, no
profiler), the GPU's busy time per call (the sum of the kernels' and copies'
durations under the profiler), the kernels launched per call, and their ratio;
then the kernels that take the most GPU time. busy/wall near 1 means the GPU
is the bottleneck (make the kernels faster); well below 1, the host is
(launches, per-call work on the CPU: fewer, larger kernels, or a CUDA graph).
--tsopt-args adds tsopt variants with other options (default: O2 = the
benchmark's options for the dtype); e.g. --tsopt-args 'no-layout=--passes=...'.
"""
import argparse
import collections
import os
import statistics
import sys
import tempfile
import time

import torch

import gpu_benchmarks as gb  # noqa: E402  (also puts examples/models on sys.path)
import bench_common  # noqa: E402


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tsopt", required=True)
    parser.add_argument("--runtime-lib", required=True)
    parser.add_argument("--model", required=True, choices=gb.MODELS)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--dtype", default="fp32", choices=list(gb.DTYPES))
    parser.add_argument("--tsopt-args", action="append", default=[], metavar="NAME=ARGS",
                        help="a tsopt variant: its name and its options (repeatable)")
    parser.add_argument("--no-ofi", action="store_true", help="leave out freeze + optimize_for_inference")
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--work-dir", help="archives (default: a temporary folder)")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                        help="default: cuda; cpu is the script's smoke test (no kernels to list)")
    return parser.parse_args(argv)


def wall_ms(run, calls, sync):
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        run()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def profile(name, run, calls, top, sync):
    for _ in range(5):  # warm-up: the profiling executor's runs, cuDNN's benchmark, lazy loads
        run()
    sync()
    wall = wall_ms(run, calls, sync)
    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as profiler:
        for _ in range(calls):
            run()
        sync()
    kernels = collections.defaultdict(lambda: [0.0, 0])
    for event in profiler.events():
        if getattr(event, "device_type", None) == torch.autograd.DeviceType.CUDA:
            entry = kernels[event.name]
            entry[0] += event.device_time if hasattr(event, "device_time") else event.cuda_time
            entry[1] += 1
    busy_us = sum(us for us, _ in kernels.values()) / calls
    launches = sum(count for _, count in kernels.values()) / calls
    print("%-14s wall %8.3f ms | GPU busy %8.3f ms (%3.0f%%) | %5.0f kernels/call" %
          (name, wall, busy_us / 1e3, 100 * busy_us / 1e3 / wall, launches))
    for kernel, (us, count) in sorted(kernels.items(), key=lambda item: -item[1][0])[:top]:
        print("    %7.3f ms %5.1f%% %4.0fx  %s" % (us / calls / 1e3, 100 * us / calls / max(busy_us, 1e-9),
                                                  count / calls, kernel[:110]))
    return wall


def main(argv):
    args = parse_args(argv)
    gb.configure(argparse.Namespace(tf32="off"))
    torch.ops.load_library(args.runtime_lib)
    work = args.work_dir or tempfile.mkdtemp(prefix="tsopt-profile-")
    os.makedirs(work, exist_ok=True)
    module = bench_common.build_eager(args.model, 1)
    cpu_inputs = gb.make_inputs(args.model, args.batch)
    dtype = gb.DTYPES[args.dtype]
    archive = os.path.join(work, "%s_b%d.pt" % (args.model, args.batch))
    with torch.no_grad():
        torch.jit.save(torch.jit.trace(module, cpu_inputs, check_trace=False), archive)
    variants = []
    device_module = (module.half() if args.dtype == "fp16" else module).to(args.device).eval()
    device_inputs = gb.to_device(cpu_inputs, args.device, dtype)
    if not args.no_ofi:
        variants.append(("freeze+ofi", gb.ofi_variant(device_module, device_inputs).run))
    tsopt_variants = [("O2", None)] + [tuple(item.split("=", 1)) for item in args.tsopt_args]
    for name, options in tsopt_variants:
        tool_args = argparse.Namespace(tsopt=args.tsopt, tsopt_jobs=1, tsopt_device_arg="--device=" + args.device,
                                       tsopt_fp32_args=options or "-O2",
                                       tsopt_fp16_args=options or gb.DEFAULT_FP16_ARGS)
        out = os.path.join(work, "%s_b%d.%s.%s.pt" % (args.model, args.batch, args.dtype, name))
        try:
            result = gb.run_tsopt(tool_args, archive, args.dtype, out)
        except RuntimeError as error:
            print("%-14s tsopt failed: %s" % (name, error))
            continue
        variants.append(("tsopt " + name, gb.tsopt_variant(result, args.device, cpu_inputs).run))
    where = torch.cuda.get_device_name() if args.device == "cuda" else "the CPU"
    print("%s batch %d %s on %s" % (args.model, args.batch, args.dtype, where))
    sync = gb.synchronizer(args.device)
    with torch.inference_mode():
        for name, run in variants:
            profile(name, run, args.calls, args.top, sync)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
