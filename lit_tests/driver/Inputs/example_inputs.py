"""Fixtures and checks for example-inputs.test.

make DIR: a traced model whose folds need ranks (a [1, C, 1, 1] scale on a
convolution, a linear + BatchNorm1d after a mean) and example input files,
good and bad; a scripted model whose last two arguments have defaults, with
examples that leave them out and that give one too many.
run OPTIMIZED REFERENCE DIR: the optimized archive matches the reference on the
example's kind of input and raises tsopt's error for another rank or dtype.
"""
import sys
from typing import Optional

import torch
import torch.nn as nn


class RankDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.scale = nn.Parameter(torch.rand(1, 4, 1, 1) + 0.5)
        self.fc = nn.Linear(4, 5)
        self.bn = nn.BatchNorm1d(5)

    def forward(self, x):
        y = self.conv(x) * self.scale
        return self.bn(self.fc(y.mean((2, 3))))


class WithDefaults(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x, residual: Optional[torch.Tensor] = None, scale: float = 2.0):
        y = self.fc(x)
        if residual is not None:
            y = y + residual
        return y * scale


def make(directory):
    torch.manual_seed(0)
    model = RankDependent().eval()
    model.bn.running_mean.uniform_(-1, 1)
    model.bn.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 3, 8, 8)
    torch.jit.trace(model, (x,)).save(f"{directory}/model.pt")
    torch.save([(x,), (torch.randn(5, 3, 6, 7),)], f"{directory}/example.pt")
    torch.save(((x, torch.randn(1)),), f"{directory}/two-args.pt")
    torch.save(((3,),), f"{directory}/int-arg.pt")
    torch.jit.script(WithDefaults().eval()).save(f"{directory}/defaults.pt")
    torch.save([(torch.randn(2, 4),), (torch.randn(3, 4),)], f"{directory}/defaults-example.pt")
    torch.save(((torch.randn(2, 4), torch.randn(2, 4), 1.0, 7),), f"{directory}/defaults-too-many.pt")


def run(optimized_path, reference_path):
    optimized = torch.jit.load(optimized_path)
    reference = torch.jit.load(reference_path)
    # Sizes other than the example's are fine: only rank, dtype and device are fixed.
    x = torch.randn(3, 3, 5, 9)
    torch.testing.assert_close(optimized(x), reference(x))
    print("same result on another batch and image size")
    for bad in (torch.randn(3, 5, 9), torch.randn(1, 3, 5, 9, dtype=torch.float64)):
        try:
            optimized(bad)
        except Exception as error:  # torch.jit.Error
            print("refused:", str(error).strip().splitlines()[-1])
        else:
            print("FAIL: accepted", tuple(bad.shape), bad.dtype)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        run(sys.argv[2], sys.argv[3])
