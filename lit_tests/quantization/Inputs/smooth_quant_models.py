"""Writes the small models of smooth-quant.test into OUTDIR, each with its
calibration inputs (NAME.inputs.pt, a tuple of input tuples, torch.save):

  shared.pt   q, k and v linears reading one tensor (one group, one mul), and
              an output linear reading another (a second group); feature 5 of
              the input is 30x the others, as in a transformer's layer norm
  inplace.pt  a linear whose input is written in place after it (left alone)
  double.pt   a float64 linear (left alone)
  small.pt    an 8 x 8 linear, under the default min-size (left alone)
  shifting.pt a linear whose calibration calls each have their outlier in
              another feature: smoothing fit to some calls does not carry
              over to the others, so alpha=auto smooths nothing
"""
import os
import sys

import torch
from torch import nn


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Linear(64, 64)
        self.k = nn.Linear(64, 64)
        self.v = nn.Linear(64, 64)
        self.out = nn.Linear(64, 96)

    def forward(self, x):
        h = self.q(x) + torch.tanh(self.k(x)) + self.v(x)
        return self.out(torch.relu(h))


class InPlace(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 96)

    def forward(self, x):
        h = x * 1.5
        y = self.fc(h)
        h.add_(1.0)
        return y, h


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return self.fc(x)


def inputs(features, dtype=torch.float32, shifting=False):
    sets = []
    for call in range(4 if shifting else 3):
        x = torch.randn(4, 10, features, dtype=dtype)
        x[..., 5 + 13 * call if shifting else 5] *= 30.0
        sets.append((x,))
    return tuple(sets)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    models = {
        "shared": (Shared(), inputs(64)),
        "inplace": (InPlace(), inputs(64)),
        "double": (nn.Sequential(nn.Linear(64, 96)).double(), inputs(64, torch.float64)),
        "small": (Small(), inputs(8)),
    }
    models["shifting"] = (nn.Sequential(nn.Linear(64, 96)), inputs(64, shifting=True))
    for name, (model, sets) in models.items():
        torch.jit.script(model.eval()).save(os.path.join(out, name + ".pt"))
        torch.save(sets, os.path.join(out, name + ".inputs.pt"))


if __name__ == "__main__":
    main()
