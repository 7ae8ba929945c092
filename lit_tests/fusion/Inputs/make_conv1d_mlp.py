"""Writes a traced GPT-2 style MLP block and the inputs to check it with:
MODEL.pt and MODEL.inputs.pt (two input sets).

Usage: make_conv1d_mlp.py MODEL.pt

transformers' GPT-2 writes its projections as Conv1D: addmm(bias, x.view(-1, n),
W) and a view back to 3-D; its MLP's activation is gelu_new, GELU-tanh by hand;
the block adds the residual to the projection's 3-D view. Weights come from a
fixed seed.
"""
import math
import sys

import torch
import torch.nn as nn

import zoo_common  # examples/models, on %python's PYTHONPATH


class Conv1D(nn.Module):
    def __init__(self, nf, nx):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(nx, nf) / math.sqrt(nx))
        self.bias = nn.Parameter(torch.randn(nf) / 10)

    def forward(self, x):
        size_out = x.size()[:-1] + (self.weight.size(-1),)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Block(nn.Module):
    def __init__(self, width=16):
        super().__init__()
        self.ln = nn.LayerNorm(width)
        self.c_fc = Conv1D(4 * width, width)
        self.c_proj = Conv1D(width, 4 * width)

    def forward(self, hidden):
        return hidden + self.c_proj(gelu_new(self.c_fc(self.ln(hidden))))


def main():
    torch.manual_seed(0)
    zoo_common.save_traced_fixture(Block(), lambda: (torch.randn(2, 5, 16),), sys.argv[1])


if __name__ == "__main__":
    main()
