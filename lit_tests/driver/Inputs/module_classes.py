"""Fixtures and checks for module-classes.test.

make DIR: traced.pt, a traced network whose blocks repeat (tracing gives
every instance a class of its own): six identical residual blocks, one that
differs only in a constant of its convolution (a dilation), and five pairs
whose classes print the same text but hold blocks of two different classes
(the last instance of a chain differs in its local names: the tracer names
its result after the caller's variable);
scripted.pt, the same network scripted (one class per module type already);
traced.inputs.pt, inputs for --check-equivalence.
check RUNTIME DIR: which modules of the archives tsopt wrote share a class, and
whether each computes what its original computes on random inputs: bit for bit
where no pass changed the arithmetic (dce), else within 1e-4 relative.
"""
import os
import sys

import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, channels: int, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x))) + x


class Pair(nn.Module):
    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.inner = Block(channels, dilation)
        self.scale = nn.Parameter(torch.rand(1) + 0.5)

    def forward(self, x):
        return self.inner(x) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.Sequential(*[Block(8) for _ in range(6)])
        self.wide = Block(8, dilation=2)
        self.pairs = nn.ModuleList([Pair(8, 1), Pair(8, 2), Pair(8, 1), Pair(8, 2), Pair(8, 1)])
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = self.wide(self.blocks(self.stem(x)))
        for pair in self.pairs:
            x = pair(x)
        return self.head(x.mean((2, 3)))


def make(directory: str) -> None:
    torch.manual_seed(0)
    net = Net()
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    net.eval()
    example = torch.randn(1, 3, 12, 12)
    torch.jit.trace(net, example).save(os.path.join(directory, "traced.pt"))
    torch.jit.script(net).save(os.path.join(directory, "scripted.pt"))
    torch.save([(example,), (torch.randn(2, 3, 12, 12),)], os.path.join(directory, "traced.inputs.pt"))


def class_of(module, path: str) -> str:
    for name in path.split("."):
        module = getattr(module, name)
    return module._c._type().qualified_name()


PATHS = ["blocks.%d" % i for i in range(6)] + ["wide"] + ["pairs.%d" % i for i in range(5)]


def check(runtime: str, directory: str) -> None:
    torch.ops.load_library(runtime)
    merged = torch.jit.load(os.path.join(directory, "traced.freeze.out.pt"))
    classes = {path: class_of(merged, path) for path in PATHS}
    middle = {classes["blocks.%d" % i] for i in range(2, 5)}
    print("traced.freeze.out.pt: blocks 2-4 share a class:", len(middle) == 1)
    print("traced.freeze.out.pt: pairs 0 and 2 share a class, 1 and 3 another:",
          classes["pairs.0"] == classes["pairs.2"] and classes["pairs.1"] == classes["pairs.3"] and
          classes["pairs.0"] != classes["pairs.1"])
    print("traced.freeze.out.pt: wide has a class of its own:", classes["wide"] not in middle)
    for name in ["traced.kept.out.pt", "traced.dce.out.pt"]:
        kept = torch.jit.load(os.path.join(directory, name))
        print("%s: classes as saved:" % name, len({class_of(kept, path) for path in PATHS}) == len(PATHS))

    torch.manual_seed(1)
    inputs = [torch.randn(2, 3, 12, 12), torch.randn(1, 3, 12, 12)]
    for output, original, exact in [("traced.freeze.out.pt", "traced.pt", True),
                                    ("traced.dce.out.pt", "traced.pt", True),
                                    ("traced.kept.out.pt", "traced.pt", True),
                                    ("traced.O2.out.pt", "traced.pt", False),
                                    ("scripted.O2.out.pt", "scripted.pt", False)]:
        reference = torch.jit.load(os.path.join(directory, original))
        optimized = torch.jit.load(os.path.join(directory, output))
        same = True
        for x in inputs:
            expected, got = reference(x), optimized(x)
            same &= torch.equal(expected, got) if exact else torch.allclose(got, expected, rtol=1e-4, atol=1e-4)
        print("%s: same outputs (%s): %s" % (output, "bit for bit" if exact else "1e-4", same))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        check(sys.argv[2], sys.argv[3])
