"""Writes a small ResNet-like convolutional network for the static
quantization lit tests.

Usage: make_convnet.py OUTPUT.pt

conv-bn-relu stem, a residual block (conv-bn-relu, conv-bn, add, relu), max
pooling, global average pooling and a linear classifier with 10 classes,
traced in eval mode. Batch norms get calibrated statistics and a random
affine, so folding them matters. Also writes OUTPUT.inputs.pt (a tuple of 4
input tuples, batch 2, for --check-equivalence) and OUTPUT.calib.pt (16 more,
for --calibration-data); all from one distribution.
"""
import sys

import torch
import torch.nn as nn

from zoo_common import randomize_norm_affine


class Block(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + x)


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.block = Block(16)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool(self.relu(self.bn(self.conv(x))))
        x = self.block(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def main():
    output = sys.argv[1]
    torch.manual_seed(0)
    model = ConvNet()
    batches = [(torch.randn(2, 3, 16, 16),) for _ in range(20)]
    model.train()
    with torch.no_grad():
        for batch in batches[:4]:
            model(*batch)
    randomize_norm_affine(model)
    model.eval()
    with torch.no_grad():
        traced = torch.jit.trace(model, batches[0])
    traced.save(output)
    torch.save(tuple(batches[:4]), output[:-3] + ".inputs.pt")
    torch.save(tuple(batches[4:]), output[:-3] + ".calib.pt")


if __name__ == "__main__":
    main()
