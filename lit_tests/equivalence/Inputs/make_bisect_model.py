"""Writes a small traced module and its inputs for the --bisect tests.

Two relus: one of a sigmoid (never negative, so relu -> abs there is harmless)
and one of values of both signs (relu -> abs there is a miscompile), and a
dropout, so remove-dropout has a rewrite to count.

usage: make_bisect_model.py OUT.pt   (also writes OUT.inputs.pt)
"""
import sys

import torch
import torch.nn as nn

torch.manual_seed(0)


class TwoRelus(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 8)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        never_negative = torch.relu(torch.sigmoid(self.fc1(x)))
        mixed_signs = torch.relu(self.fc2(x) - 0.5)
        return self.drop(never_negative) + mixed_signs


out = sys.argv[1]
module = torch.jit.trace(TwoRelus().eval(), torch.randn(2, 8))
module.save(out)
# A tuple, not a list: LibTorch 1.13 cannot unpickle one-element lists.
torch.save(((torch.randn(4, 8),), (torch.randn(3, 8),)), out[: -len(".pt")] + ".inputs.pt")
