"""Writes tsopt's model zoo: TorchScript archives plus example inputs.

Usage: make_zoo.py OUTDIR [--models NAME[,NAME...]] [--batch N] [--list]

For each model NAME it writes OUTDIR/NAME.pt (torch.jit.save, eval mode) and
OUTDIR/NAME.inputs.pt (torch.save of a list of input tuples: call the module
as module(*inputs[i])). With --batch N other than 1, names get a _batchN
suffix. Weights come from a fixed seed per model, so a model is the same
whether written alone or with the rest. A model whose two files exist and are
newer than every zoo script is skipped; files are renamed into place only
once complete, so an interrupted run never leaves a model that looks cached.

Run with the interpreter of a LibTorch line (.venv/bin/python3 for 2.x, /usr/bin/python3 for 1.13).
"""
import argparse
import json
import os
import shutil
import sys
import time
from typing import Dict

import torch

ZOO_SOURCES = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ZOO_SOURCES)

import bert  # noqa: E402
import control_flow  # noqa: E402
import vision  # noqa: E402
import zoo_common  # noqa: E402

MODELS = {
    "resnet18": vision.resnet18,
    "resnet50": vision.resnet50,
    "mobilenet_v2": vision.mobilenet_v2,
    "bert_base_seq14": bert.bert_base_seq14,
    "bert_base_seq128": bert.bert_base_seq128,
    "scripted_control_flow": control_flow.scripted_control_flow,
}


def gflop_per_sample() -> Dict[str, float]:
    """Work of one forward pass per sample, in GFLOP, of the models the
    benchmarks time, in benchmark order: gflop_per_sample.json, which says how
    it was counted (bench_models.cpp has the same table, built in by CMake)."""
    with open(os.path.join(ZOO_SOURCES, "gflop_per_sample.json")) as table:
        return {row["model"]: row["gflop_per_sample"] for row in json.load(table)["models"]}


def file_name(model: str, batch: int) -> str:
    return model if batch == 1 else "%s_batch%d" % (model, batch)


def newest_script_time() -> float:
    """The zoo is stale once any script that shapes a model changes."""
    scripts = [__file__, zoo_common.__file__, vision.__file__, bert.__file__, control_flow.__file__]
    return max(os.path.getmtime(path) for path in scripts)


def is_cached(paths, scripts_time: float) -> bool:
    return all(os.path.isfile(path) and os.path.getmtime(path) > scripts_time for path in paths)


class ZooError(Exception):
    pass


def check_free_space(module: torch.jit.ScriptModule, inputs, folder: str, name: str) -> None:
    """LibTorch's archive writer aborts the process (an enforce failure in a
    destructor, "unexpected pos") when a write comes up short, as on a full
    disk; say so in one line before writing instead."""
    tensors = list(module.state_dict().values())
    for call in inputs:
        tensors.extend(value for value in call if isinstance(value, torch.Tensor))
    needed = sum(tensor.numel() * tensor.element_size() for tensor in tensors) + (16 << 20)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise ZooError("%s: %d MiB free, writing %s needs about %d MiB" % (folder, free >> 20, name, needed >> 20))


def write_model(model: str, batch: int, module_path: str, inputs_path: str) -> None:
    module, inputs = MODELS[model](batch)
    check_free_space(module, inputs, os.path.dirname(os.path.abspath(module_path)), os.path.basename(module_path))
    temporary = [path + ".tmp" for path in (module_path, inputs_path)]
    try:
        torch.jit.save(module, temporary[0])
        torch.save(inputs, temporary[1])
    except BaseException:
        for path in temporary:
            if os.path.exists(path):
                os.remove(path)
        raise
    os.replace(temporary[1], inputs_path)
    os.replace(temporary[0], module_path)


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Write tsopt's model zoo.")
    parser.add_argument("outdir", nargs="?", help="folder for NAME.pt and NAME.inputs.pt")
    parser.add_argument("--models", default=",".join(MODELS),
                        help="comma-separated models to write (default: all)")
    parser.add_argument("--batch", type=int, default=1, help="batch size of the example inputs (default: 1)")
    parser.add_argument("--list", action="store_true", help="print the model names and exit")
    args = parser.parse_args(argv)
    if args.list:
        return args
    if args.outdir is None:
        parser.error("OUTDIR is required")
    if args.batch < 1:
        parser.error("--batch must be at least 1")
    args.models = [name for name in args.models.split(",") if name]
    unknown = [name for name in args.models if name not in MODELS]
    if unknown:
        parser.error("unknown model(s) %s; known: %s" % (", ".join(unknown), ", ".join(MODELS)))
    return args


def main(argv) -> int:
    args = parse_args(argv)
    if args.list:
        print("\n".join(MODELS))
        return 0
    os.makedirs(args.outdir, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    scripts_time = newest_script_time()
    for model in args.models:
        name = file_name(model, args.batch)
        module_path = os.path.join(args.outdir, name + ".pt")
        inputs_path = os.path.join(args.outdir, name + ".inputs.pt")
        if is_cached((module_path, inputs_path), scripts_time):
            print("cached  %s" % name)
            continue
        start = time.time()
        try:
            write_model(model, args.batch, module_path, inputs_path)
        except ZooError as error:
            print("make_zoo.py: error: %s" % error, file=sys.stderr)
            return 1
        print("wrote   %s (%.1f MB, %.1fs)" % (name, os.path.getsize(module_path) / 1e6, time.time() - start))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
