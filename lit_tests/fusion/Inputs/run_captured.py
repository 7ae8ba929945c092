"""Runs a module rewritten by capture-cuda-graph in stock PyTorch, with
nothing but the runtime library loaded, against the original.

usage: run_captured.py RUNTIME_LIBRARY ORIGINAL.pt CAPTURED.pt INPUTS.pt
Checks that CAPTURED's forward calls tsopt::cuda_graph_run and that the body
is kept as forward_uncaptured; compares forward's outputs with ORIGINAL's on
every input tuple of INPUTS (torch.testing.assert_close, two calls each);
then saves CAPTURED, loads it again (torch.jit.load) and compares again.
Prints one line per stage.
"""
import io
import sys

import torch


def outputs(result):
    return result if isinstance(result, tuple) else (result,)


def compare(original, captured, inputs):
    for _ in range(2):
        for args in inputs:
            for expected, actual in zip(outputs(original(*args)), outputs(captured(*args)), strict=True):
                torch.testing.assert_close(actual, expected)


def main():
    library, original_path, captured_path, inputs_path = sys.argv[1:]
    torch.ops.load_library(library)
    original = torch.jit.load(original_path)
    captured = torch.jit.load(captured_path)
    inputs = torch.load(inputs_path)
    kinds = [node.kind() for node in captured.forward.graph.nodes()]
    print("forward calls:", ", ".join(kind for kind in kinds if kind.startswith("tsopt::")))
    print("forward_uncaptured kept:", hasattr(captured, "forward_uncaptured"))
    compare(original, captured, inputs)
    print("same outputs")
    buffer = io.BytesIO()
    torch.jit.save(captured, buffer)
    buffer.seek(0)
    compare(original, torch.jit.load(buffer), inputs)
    print("same outputs after a save and a load")


if __name__ == "__main__":
    main()
