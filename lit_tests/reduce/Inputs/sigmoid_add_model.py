"""Writes DIR/net.pt for archive.test: a traced conv net (eval mode, batch
norm, a residual add feeding a sigmoid, a linear head) on which the test
plugin's test-crash-sigmoid-of-add throws. Usage: sigmoid_add_model.py DIR
"""
import sys

import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv1(x)))
        w = torch.sigmoid(self.conv2(y) + y)
        return self.head(w.mean((2, 3)))


def main(directory):
    torch.manual_seed(0)
    model = Net().eval()
    torch.jit.trace(model, torch.randn(1, 3, 8, 8)).save(f"{directory}/net.pt")


if __name__ == "__main__":
    main(sys.argv[1])
