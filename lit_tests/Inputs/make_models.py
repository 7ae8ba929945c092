"""Writes small TorchScript archives for tsopt's model-level lit tests.

Usage: make_models.py MODEL OUTPUT.pt [MODEL OUTPUT.pt ...]

(Several pairs in one call save a Python start-up and a torch import each.)

Every model but traced_blocks is scripted (not traced), so its graphs keep
prim::GetAttr and prim::CallMethod nodes for freezing and inlining to act on.
traced_blocks is traced (on a 1x3x8x8 input): a class per submodule
instance, mostly identical, for the loader to merge (class_merging.h). Weights come from
a fixed seed: the same MODEL always gives the same archive contents.
"""
import sys
from typing import List

import torch
import torch.nn as nn

from zoo_common import randomize_batch_norms


def scale_and_shift(x: torch.Tensor, scale: float) -> torch.Tensor:
    return x * scale + 1.0


class ConvBn(nn.Module):
    """conv -> batch norm -> relu, with the conv and norm as submodules."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class ConvBnDropout(nn.Module):
    """ConvBn followed by dropout, for -O1 (freeze + remove-dropout)."""

    def __init__(self):
        super().__init__()
        self.body = ConvBn()
        self.dropout = nn.Dropout(0.25)

    def forward(self, x):
        return self.dropout(self.body(x))


class WithAttributes(nn.Module):
    """Reads a plain attribute (`version`) and a parameter; has a second method."""

    def __init__(self):
        super().__init__()
        self.version = 3
        self.weight = nn.Parameter(torch.randn(4))

    def forward(self, x):
        return x * self.weight + self.version

    @torch.jit.export
    def scaled(self, x):
        return self.weight * 2.0 + x


class Calls(nn.Module):
    """Calls a submodule's forward and a free script function."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        return scale_and_shift(self.linear(x), 0.5)


class ConvBn4(ConvBn):
    """ConvBn from 4 channels to 4."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)


class NoAttributes(nn.Module):
    """A forward that reads no attribute: freezing has nothing to do."""

    def forward(self, x):
        return torch.relu(x) + 1.0


def build(name):
    if name == "conv_bn":
        return ConvBn().eval()
    if name == "conv_bn_training":
        return ConvBn().train()
    if name == "conv_bn_dropout":
        return ConvBnDropout().eval()
    if name == "attributes":
        return WithAttributes().eval()
    if name == "calls":
        return Calls().eval()
    if name == "no_attributes":
        return NoAttributes().eval()
    if name == "traced_blocks":
        return nn.Sequential(nn.Conv2d(3, 4, 1), *[ConvBn4() for _ in range(4)]).eval()
    raise SystemExit(f"make_models.py: unknown model '{name}'")


def main(argv: List[str]):
    if len(argv) < 3 or len(argv) % 2 != 1:
        raise SystemExit(__doc__)
    for name, path in zip(argv[1::2], argv[2::2]):
        torch.manual_seed(0)
        # Batch norm with non-trivial running statistics, so folding it is visible.
        model = randomize_batch_norms(build(name), mean_range=(-1.0, 1.0), affine=False)
        if name.startswith("traced_"):
            torch.jit.save(torch.jit.trace(model, torch.randn(1, 3, 8, 8)), path)
        else:
            torch.jit.save(torch.jit.script(model), path)


if __name__ == "__main__":
    main(sys.argv)
