"""Writes the small TorchScript archives tsdump's lit tests look at.

Usage: make_dump_models.py MODEL OUTPUT.pt

  nested     scripted: a submodule tree (conv + batch norm inside a block),
             a parameter and a buffer at the root, plain attributes, a
             second method, and a forward with an if and a loop
  traced     nested's block, traced: its graph calls submodule methods
  frozen     nested, frozen (torch.jit.freeze): attributes and calls folded
  deep_only  a module whose only method is `deep`, not forward

Weights come from a fixed seed, so every run writes the same values.
"""
import sys
from typing import Dict, List

import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.weight = nn.Parameter(torch.randn(4))
        self.register_buffer("steps_seen", torch.zeros(2, dtype=torch.int64))
        self.version = 3
        self.scale = 0.5
        self.label = 'say "hi"\tnow'
        self.table: Dict[str, int] = {"a": 1}
        self.sizes: List[int] = [1, 2, 3]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        if bool(y.sum() > 0):
            y = y * self.scale
        for _ in range(self.version):
            y = y + 1
        return y

    @torch.jit.export
    def scaled(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


class DeepOnly(nn.Module):
    @torch.jit.export
    def deep(self, x: torch.Tensor) -> torch.Tensor:
        return x.neg()


def build(name: str) -> torch.jit.ScriptModule:
    torch.manual_seed(0)
    if name == "nested":
        return torch.jit.script(Nested().eval())
    if name == "traced":
        return torch.jit.trace(Block().eval(), torch.randn(1, 3, 8, 8))
    if name == "frozen":
        return torch.jit.freeze(torch.jit.script(Nested().eval()))
    if name == "deep_only":
        return torch.jit.script(DeepOnly())
    raise SystemExit("unknown model '%s'" % name)


def main() -> int:
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    build(sys.argv[1]).save(sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
