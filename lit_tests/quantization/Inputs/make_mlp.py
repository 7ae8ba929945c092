"""Writes a small MLP with one layer that int8 hurts, for the mixed-precision
lit tests.

Usage: make_mlp.py OUTPUT.pt

Three linear layers (64 -> 128 -> 128 -> 32, relu between). One output
channel of fc1 is scaled by 50, so fc2 reads an activation with one outlier
channel: per-tensor int8 activations then lose most of the other channels'
precision in fc2, and fc2 is by far the most sensitive layer. Scripted and
frozen later by the pipeline (freeze), in eval mode. Also writes
OUTPUT.calib.pt, a tuple of 8 input tuples (batch 16).
"""
import sys

import torch
import torch.nn as nn


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 128)
        self.fc3 = nn.Linear(128, 32)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def main():
    output = sys.argv[1]
    torch.manual_seed(0)
    model = MLP().eval()
    with torch.no_grad():
        model.fc1.weight[0] *= 50
        model.fc1.bias[0] = 5
    torch.jit.script(model).save(output)
    torch.save(tuple((torch.randn(16, 64),) for _ in range(8)), output[:-3] + ".calib.pt")


if __name__ == "__main__":
    main()
