"""Runs a tsopt-quantized archive in stock PyTorch, as a user would.

Usage: run_quantized.py ORIGINAL.pt QUANTIZED.pt INPUTS.pt MIN_COSINE

No tsopt library is loaded: quantize-dynamic's and quantize-static's outputs
use PyTorch's own quantized ops and packed-weight classes. For every quantized
engine this PyTorch has (the engine in effect at load time packs the weights),
loads the archive, checks that its code calls quantized:: ops, runs it on every input
tuple, and checks the cosine similarity of each output with the original's.
Then saves and reloads it (a second round trip) and checks it again. Prints
one line per engine and "ok"; exits 1 below MIN_COSINE.
"""
import io
import sys

import torch

from zoo_common import worst_cosine


def main(argv):
    if len(argv) != 5:
        raise SystemExit(__doc__)
    original = torch.jit.load(argv[1])
    inputs = torch.load(argv[3])
    floor = float(argv[4])
    failed = False
    engines = [engine for engine in ("onednn", "fbgemm", "qnnpack") if engine in torch.backends.quantized.supported_engines]
    for engine in engines:
        torch.backends.quantized.engine = engine
        quantized = torch.jit.load(argv[2])
        calls = str(quantized.graph).count("quantized::")
        buffer = io.BytesIO()
        torch.jit.save(quantized, buffer)
        buffer.seek(0)
        reloaded = torch.jit.load(buffer)
        with torch.no_grad():
            cosines = (worst_cosine(original, quantized, inputs), worst_cosine(original, reloaded, inputs))
        print("%s: quantized ops: %s, worst cosine %.4f, after another save/load %.4f"
              % (engine, calls, *cosines))
        failed |= min(cosines) < floor or not calls
    print("FAILED" if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
