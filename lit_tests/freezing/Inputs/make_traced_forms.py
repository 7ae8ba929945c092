"""Writes a traced module full of the forms canonicalize-traced rewrites, and
the inputs to check it with: MODEL.pt and MODEL.inputs.pt (two input sets).

Usage: make_traced_forms.py MODEL.pt

The tracer records aten::_convolution for every nn.Conv*d; the hand-written
linear layers (`x @ W.t() + b`, torch.addmm, an in-place bias add, a 1-D input)
are what older PyTorch releases recorded for F.linear, which freezing turns
into matmul/addmm on a constant W^T. Weights come from a fixed seed.
"""
import sys

import torch
import torch.nn as nn

import zoo_common  # examples/models, on %python's PYTHONPATH


class TracedForms(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1d = nn.Conv1d(4, 6, 3, padding=1)
        self.conv2d = nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2)
        self.conv3d = nn.Conv3d(4, 2, (1, 3, 3), padding=(0, 1, 1), bias=False)
        self.up1d = nn.ConvTranspose1d(6, 4, 3, stride=2, output_padding=1)
        self.up2d = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1, groups=2)
        self.weight = nn.Parameter(torch.randn(5, 6))
        self.bias = nn.Parameter(torch.randn(5))
        self.dropout = nn.Dropout(0.3)

    def forward(self, x, sequence):
        image = self.up2d(self.conv2d(x))
        volume = self.conv3d(x.unsqueeze(2)).squeeze(2)
        line = self.up1d(self.conv1d(sequence)).contiguous().detach()
        features = self.conv1d(sequence).transpose(1, 2)
        batched = features @ self.weight.t() + self.bias
        flat = torch.addmm(self.bias, features[:, 0], self.weight.t())
        in_place = (features[:, 1] @ self.weight.t()).add_(self.bias)
        single = features[0, 0] @ self.weight.t()
        b, c, h, w = image.shape
        image = self.dropout(image.view(b, c, h * w).to(torch.float32))
        return image, volume, line, batched, flat, in_place, single


def main():
    torch.manual_seed(0)
    zoo_common.save_traced_fixture(TracedForms(), lambda: (torch.randn(2, 4, 8, 8), torch.randn(2, 4, 7)), sys.argv[1])


if __name__ == "__main__":
    main()
