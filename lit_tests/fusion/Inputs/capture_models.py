"""Small scripted models for capture-cuda-graph's lit test: one the pass
captures (a conv net, with the input tuples --check-equivalence reads), one
returning a tuple, and one per refusal.

usage: capture_models.py OUTDIR
Writes OUTDIR/NAME.pt for each model below, and OUTDIR/conv.inputs.pt and
OUTDIR/pair.inputs.pt (lists of input tuples).
"""
import os
import sys
from typing import List

import torch
import torch.nn as nn

from zoo_common import randomize_batch_norms

torch.manual_seed(0)


class Conv(nn.Module):
    """conv, batch norm, relu, a global average and a classifier: what -O2 fuses."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        return self.fc(y.mean([2, 3]))


class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 4)

    def forward(self, x, y):
        z = self.fc(x)
        return torch.relu(z), z + y


class IntArgument(nn.Module):
    def forward(self, x, repeats: int):
        return x * repeats


class ListResult(nn.Module):
    def forward(self, x) -> List[torch.Tensor]:
        return [x + 1, x * 2]


class WritesInput(nn.Module):
    def forward(self, x):
        x.clamp_(min=0.0)
        return x * 2


class ReadsItem(nn.Module):
    """The scale is read on the host: a capture would keep the first call's."""

    def forward(self, x):
        return x / x.abs().max().item()


MODELS = {
    "conv": Conv,
    "pair": Pair,
    "int_argument": IntArgument,
    "list_result": ListResult,
    "writes_input": WritesInput,
    "reads_item": ReadsItem,
}


def main():
    out = sys.argv[1]
    for name, make in MODELS.items():
        model = make().eval()
        randomize_batch_norms(model)
        torch.jit.save(torch.jit.script(model), os.path.join(out, name + ".pt"))
    torch.save([(torch.randn(1, 3, 8, 8),), (torch.randn(2, 3, 8, 8),)], os.path.join(out, "conv.inputs.pt"))
    torch.save([(torch.randn(3, 6), torch.randn(3, 4)), (torch.randn(1, 6), torch.randn(1, 4))],
               os.path.join(out, "pair.inputs.pt"))


if __name__ == "__main__":
    main()
