"""Checks that two TorchScript archives compute the same thing.

Usage: compare_outputs.py ORIGINAL.pt OPTIMIZED.pt INPUT_SHAPE [METHOD]

Loads both archives, calls METHOD (default forward) on the same random
input twice (a second call catches state a first call leaves behind) and
compares with torch.testing.assert_close. INPUT_SHAPE is comma-separated,
e.g. 1,3,8,8. Prints "same outputs" on success.
"""
import sys

import torch


def main(argv):
    if len(argv) not in (4, 5):
        raise SystemExit(__doc__)
    original = torch.jit.load(argv[1])
    optimized = torch.jit.load(argv[2])
    shape = [int(size) for size in argv[3].split(",")]
    method = argv[4] if len(argv) == 5 else "forward"
    torch.manual_seed(1)
    for _ in range(2):
        x = torch.randn(shape)
        expected = getattr(original, method)(x)
        actual = getattr(optimized, method)(x)
        torch.testing.assert_close(actual, expected)
    print("same outputs")


if __name__ == "__main__":
    main(sys.argv)
