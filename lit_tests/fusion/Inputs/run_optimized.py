"""Runs tsopt-optimized modules in stock PyTorch with nothing but the runtime
library loaded, and compares them with the originals.

usage: run_optimized.py RUNTIME_LIBRARY DIR NAME [NAME...]
For each NAME: loads DIR/NAME.pt and DIR/NAME.o2.pt (torch.jit.load), checks
the optimized graph calls tsopt:: ops, compares outputs on DIR/NAME.inputs.pt
with torch.testing.assert_close over two calls, then saves and reloads the
optimized module (the packed weights pickle) and compares again.
"""
import io
import sys

import torch

from zoo_common import output_tensors


def compare(reference, optimized, inputs):
    worst = 0.0
    with torch.no_grad():
        for _ in range(2):
            for args in inputs:
                for expected, actual in zip(output_tensors(reference(*args)), output_tensors(optimized(*args))):
                    torch.testing.assert_close(actual, expected)
                    worst = max(worst, (actual - expected).abs().max().item())
    return worst


def main():
    library, directory, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    torch.ops.load_library(library)
    torch.set_num_threads(1)
    for name in names:
        original = torch.jit.load(f"{directory}/{name}.pt")
        optimized = torch.jit.load(f"{directory}/{name}.o2.pt")
        inputs = torch.load(f"{directory}/{name}.inputs.pt")
        kinds = [node.kind() for node in optimized.graph.nodes()]
        fused = sorted(set(kind for kind in kinds if kind.startswith("tsopt::")))
        worst = compare(original, optimized, inputs)
        buffer = io.BytesIO()
        torch.jit.save(optimized, buffer)
        buffer.seek(0)
        reloaded = torch.jit.load(buffer)
        worst = max(worst, compare(original, reloaded, inputs))
        print(f"{name}: {sum(k.startswith('tsopt::') for k in kinds)} fused ops ({', '.join(fused)}); "
              f"outputs match after save and reload (max abs error {worst:.2g})")


if __name__ == "__main__":
    main()
