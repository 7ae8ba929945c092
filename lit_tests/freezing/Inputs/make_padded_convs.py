"""Writes a traced module whose convolutions read explicitly padded inputs, and
the inputs to check it with: MODEL.pt and MODEL.inputs.pt (two input sets).

Usage: make_padded_convs.py MODEL.pt

Pads fold-pad-conv folds (symmetric zero pads before conv1d/2d/3d, F.pad and
torch.constant_pad_nd, one that pads only the width, one a dilated grouped
convolution reads) and pads it must keep (TensorFlow's stride-2 "SAME" pad,
which is one-sided; a reflect pad; a pad by 1.0; a pad whose result is also
returned, which stays for that use while its convolution reads the unpadded
input). Weights come from a fixed seed.
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

import zoo_common  # examples/models, on %python's PYTHONPATH


class PaddedConvs(nn.Module):
    def __init__(self):
        super().__init__()
        self.same = nn.Conv2d(4, 8, 3)
        self.width = nn.Conv2d(8, 8, (1, 3), padding=(1, 0))
        self.dilated = nn.Conv2d(8, 8, 3, dilation=2, groups=4)
        self.strided = nn.Conv2d(8, 8, 3, stride=2)
        self.reflected = nn.Conv2d(8, 8, 3)
        self.ones = nn.Conv2d(8, 8, 3)
        self.line = nn.Conv1d(4, 4, 5)
        self.volume = nn.Conv3d(4, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x, sequence):
        y = torch.relu(self.bn(self.same(F.pad(x, [1, 1, 1, 1]))))
        y = self.width(F.pad(y, [1, 1]))
        kept = torch.constant_pad_nd(y, [2, 2, 2, 2], 0.0)
        y = torch.relu(self.dilated(kept))
        y = self.strided(F.pad(y, [0, 1, 0, 1]))  # TensorFlow "SAME", stride 2: one-sided
        y = self.reflected(F.pad(y, [1, 1, 1, 1], mode="reflect"))
        y = self.ones(F.pad(y, [1, 1, 1, 1], value=1.0))
        line = self.line(F.pad(sequence, [2, 2]))
        volume = self.volume(F.pad(x.unsqueeze(2), [1, 1, 1, 1, 0, 0]))
        return y, line, volume, kept


def main():
    torch.manual_seed(0)
    zoo_common.save_traced_fixture(PaddedConvs(), lambda: (torch.randn(2, 4, 12, 12), torch.randn(2, 4, 9)),
                                   sys.argv[1])


if __name__ == "__main__":
    main()
