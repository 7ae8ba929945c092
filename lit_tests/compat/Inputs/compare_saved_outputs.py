"""Checks optimized archives against outputs another PyTorch release saved.

usage: compare_saved_outputs.py RUNTIME_LIBRARY DIR SUFFIX NAME [NAME...]
Loads the tsopt runtime library, then for each NAME loads DIR/NAME.SUFFIX.pt
with this interpreter's torch and compares what it returns on
DIR/NAME.inputs.pt with DIR/NAME.outputs.pt (save_outputs.py), with
torch.testing.assert_close at rtol = atol = 1e-4: the optimized graph folds
batch norms and fuses layers, which reorders float32 rounding.
"""
import sys

import torch

from zoo_common import output_tensors


def main():
    library, directory, suffix, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    torch.ops.load_library(library)
    torch.set_num_threads(1)
    for name in names:
        module = torch.jit.load(f"{directory}/{name}.{suffix}.pt")
        inputs = torch.load(f"{directory}/{name}.inputs.pt")
        expected = torch.load(f"{directory}/{name}.outputs.pt")
        worst = 0.0
        with torch.no_grad():
            for args, reference in zip(inputs, expected, strict=True):
                for want, got in zip(output_tensors(reference), output_tensors(module(*args)), strict=True):
                    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
                    worst = max(worst, (got - want).abs().max().item())
        fused = sum(node.kind().startswith("tsopt::") for node in module.graph.nodes())
        print(f"{name}.{suffix}: torch {torch.__version__.split('+')[0]} matches the saved outputs "
              f"({fused} tsopt ops, max abs error {worst:.2g})")


if __name__ == "__main__":
    main()
