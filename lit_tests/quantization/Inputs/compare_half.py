"""Compares a module optimized for half precision with its float32 original.

usage: compare_half.py RUNTIME_LIBRARY DIR NAME SUFFIX DTYPE [DEVICE]
Runs DIR/NAME.pt (float32, on the CPU) and DIR/NAME.SUFFIX.pt (on DEVICE,
default cpu; its inputs are the same float32/int64 tensors moved there) on
every input tuple of DIR/NAME.inputs.pt, twice, and checks that:
  - every output has the original's dtype (the casts at the boundaries) and shape;
  - integer outputs are equal;
  - floating-point outputs are close: relative L2 error ||a - e|| / ||e|| at
    most 1e-2 for fp16 and 8e-2 for bf16 (11 vs 8 mantissa bits, roundings of
    2^-12 or 2^-9 per layer over ~20 layers; LibTorch 1.13's bf16 CPU
    convolution also accumulates in bf16: 0.053 on ResNet-18), and cosine
    similarity at least 0.999 (fp16) or 0.995 (bf16).
Prints "NAME.SUFFIX: N outputs within DTYPE tolerance (worst ...)" on success.
"""
import sys

import torch

from zoo_common import output_tensors

LIMITS = {"fp16": (1e-2, 0.999), "bf16": (8e-2, 0.995)}


def main():
    library, directory, name, suffix, dtype = sys.argv[1:6]
    device = sys.argv[6] if len(sys.argv) > 6 else "cpu"
    torch.ops.load_library(library)
    max_relative, min_cosine = LIMITS[dtype]
    original = torch.jit.load("%s/%s.pt" % (directory, name))
    optimized = torch.jit.load("%s/%s.%s.pt" % (directory, name, suffix), map_location=device)
    inputs = torch.load("%s/%s.inputs.pt" % (directory, name))
    count = 0
    worst_relative, worst_cosine = 0.0, 1.0
    with torch.no_grad():
        for _ in range(2):
            for args in inputs:
                expected = output_tensors(original(*args))
                actual = output_tensors(optimized(*(arg.to(device) for arg in args)))
                assert len(actual) == len(expected), "%d outputs, expected %d" % (len(actual), len(expected))
                for index, (a, e) in enumerate(zip(actual, expected)):
                    assert a.dtype == e.dtype, "output %d is %s, expected %s" % (index, a.dtype, e.dtype)
                    assert a.shape == e.shape, "output %d has shape %s, expected %s" % (index, a.shape, e.shape)
                    a = a.cpu()
                    if not e.is_floating_point():
                        assert torch.equal(a, e), "integer output %d differs" % index
                        continue
                    a, e = a.double().flatten(), e.double().flatten()
                    relative = ((a - e).norm() / e.norm()).item()
                    cosine = torch.nn.functional.cosine_similarity(a, e, dim=0).item()
                    assert relative <= max_relative and cosine >= min_cosine, (
                        "output %d: relative error %.3g (limit %g), cosine %.6f (limit %g)"
                        % (index, relative, max_relative, cosine, min_cosine))
                    worst_relative, worst_cosine = max(worst_relative, relative), min(worst_cosine, cosine)
                count = len(expected)
    print("%s.%s: %d outputs within %s tolerance (worst relative error %.2g, cosine %.6f)"
          % (name, suffix, count, dtype, worst_relative, worst_cosine))


if __name__ == "__main__":
    main()
