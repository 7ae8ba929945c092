"""Writes a traced module whose activations are written out by hand, as
models do, and the inputs to check it with: MODEL.pt and MODEL.inputs.pt (two
input sets).

Usage: make_activation_forms.py MODEL.pt

GELU-tanh as transformers' NewGELUActivation (GPT-2's gelu_new) writes it and
with x * x * x; GELU as 0.5 * x * (1 + erf(x / sqrt(2))) on a linear; SiLU as x * sigmoid(x) on a convolution; hardswish as
x * relu6(x + 3) / 6 on another; one SiLU whose sigmoid is used again.
The tracer records the Python numbers as 0-dim Double tensor constants.
Weights come from a fixed seed.
"""
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

import zoo_common  # examples/models, on %python's PYTHONPATH


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class ActivationForms(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 8)
        self.proj = nn.Linear(8, 6)
        self.head = nn.Linear(6, 6)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 1)

    def forward(self, tokens, image):
        hidden = gelu_new(self.fc(tokens))
        cubed = self.proj(hidden)
        cubed = cubed * 0.5 * (1 + torch.tanh(0.7978845608 * (cubed + 0.044715 * cubed * cubed * cubed)))
        head = self.head(cubed)
        erfed = 0.5 * head * (1.0 + torch.erf(head / math.sqrt(2.0)))
        y = self.conv(image)
        swish = y * torch.sigmoid(y)
        z = self.conv2(swish)
        hard = z * F.relu6(z + 3) / 6
        gate = torch.sigmoid(hard)
        gated = hard * gate
        return erfed, gated, gate


def main():
    torch.manual_seed(0)
    zoo_common.save_traced_fixture(ActivationForms(), lambda: (torch.randn(2, 5, 6) * 3, torch.randn(1, 3, 8, 8) * 3), sys.argv[1])


if __name__ == "__main__":
    main()
