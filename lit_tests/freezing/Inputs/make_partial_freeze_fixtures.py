"""Modules torch::jit::freeze_module refuses whole (freeze-partial.test):

swapped.pt  an interface attribute assigned in forward (1.13: "failed to freeze
            interface attribute"; 2.x: "SetAttr on an interface type")
keyed.pt    a ModuleDict indexed by a string argument (prim::ModuleContainerIndex)
indexed.pt  a ModuleList indexed by an int argument (the same)

Each has a conv + batch norm that a partial freeze can fold, and an inputs file
calling both branches: the refusals torch/csrc/jit/passes/freeze_module.cpp
raises for them, which PyTorch's own freezing tests expect.
"""
import sys
import torch
import torch.nn as nn
from torch import Tensor


@torch.jit.interface
class Block(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        pass


class Scale(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = nn.Parameter(torch.full((4, 1, 1), factor))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.factor


class Swapped(nn.Module):
    impl: Block

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.impl = Scale(2.0)
        self.other = Scale(3.0)

    def forward(self, x: Tensor, swap: bool) -> Tensor:
        if swap:
            self.impl = self.other
        return self.impl(torch.relu(self.bn(self.conv(x))))


class Keyed(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.heads = nn.ModuleDict({"a": Scale(2.0), "b": Scale(3.0)})

    def forward(self, x: Tensor, key: str) -> Tensor:
        head: Block = self.heads[key]
        return head.forward(torch.relu(self.bn(self.conv(x))))


class Indexed(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.heads = nn.ModuleList([Scale(2.0), Scale(3.0)])

    def forward(self, x: Tensor, index: int) -> Tensor:
        head: Block = self.heads[index]
        return head.forward(torch.relu(self.bn(self.conv(x))))


directory = sys.argv[1]
for name, cls, arg in (("swapped", Swapped, (False, True)), ("keyed", Keyed, ("a", "b")), ("indexed", Indexed, (0, 1))):
    m = cls().eval()
    m.bn.running_mean.uniform_(-1, 1)
    s = torch.jit.script(m)
    s.save(f"{directory}/{name}.pt")
    x = torch.randn(2, 3, 8, 8)
    torch.save(((x, arg[0]), (x, arg[1])), f"{directory}/{name}.inputs.pt")
