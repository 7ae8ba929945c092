"""Runs a fuse-linear-dynamic archive in Python, as a user would.

Usage: run_linear_dynamic.py RUNTIME_LIBRARY ORIGINAL.pt FUSED.pt INPUTS.pt MIN_COSINE

Loads libtsopt_runtime, then the archive (tsopt.LinearDynamicPacked objects
unpickle from their int8 weights), counts its tsopt::linear_dynamic_* calls,
runs it on every input tuple and checks the cosine similarity of each output
with the original's; then saves and reloads it and checks it again. Prints one
line and "ok"; exits 1 below MIN_COSINE.
"""
import io
import sys

import torch

from zoo_common import worst_cosine


def main(argv):
    if len(argv) != 6:
        raise SystemExit(__doc__)
    torch.ops.load_library(argv[1])
    original = torch.jit.load(argv[2])
    fused = torch.jit.load(argv[3])
    inputs = torch.load(argv[4])
    floor = float(argv[5])
    calls = str(fused.graph).count("tsopt::linear_dynamic_")
    buffer = io.BytesIO()
    torch.jit.save(fused, buffer)
    buffer.seek(0)
    reloaded = torch.jit.load(buffer)
    with torch.no_grad():
        cosines = (worst_cosine(original, fused, inputs), worst_cosine(original, reloaded, inputs))
    print("linear_dynamic ops: %d, worst cosine %.4f, after another save/load %.4f" % (calls, *cosines))
    if calls == 0 or min(cosines) < floor:
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
