"""Writes OUTDIR/aspp.pt and OUTDIR/aspp.inputs.pt: convolutions whose taps
read padding (lit_tests/fusion/conv-padded-taps.test). DeepLabV3's ASPP on a
map smaller than its rates (3x3 at dilation 12, 24 and 36 on 28x28 and 14x14:
rate 36 keeps only its centre tap there, rates 12 and 24 read mostly padding),
a 3x3 layer on the 1x1 pooled map, and a dilated depthwise layer. Inputs of
two sizes, so that each size gets its own cropping."""
import os
import sys

import torch
import torch.nn as nn


class Aspp(nn.Module):
    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, 8, 3, padding=rate, dilation=rate), nn.BatchNorm2d(8), nn.ReLU())
            for rate in (12, 24, 36))
        self.depthwise = nn.Conv2d(channels, channels, 5, padding=8, dilation=4, groups=channels)
        self.project = nn.Conv2d(24 + channels, 8, 1)
        self.pooled = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, 8, 3, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor):
        features = torch.cat([branch(x) for branch in self.branches] + [torch.relu(self.depthwise(x))], dim=1)
        return self.project(features), self.pooled(x)


def main() -> None:
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(0)
    module = Aspp().eval()
    for child in module.modules():
        if isinstance(child, nn.BatchNorm2d):
            child.running_mean.uniform_(-0.5, 0.5)
            child.running_var.uniform_(0.5, 2)
    inputs = [(torch.randn(1, 16, 28, 28),), (torch.randn(1, 16, 14, 14),), (torch.randn(2, 16, 28, 28),)]
    with torch.no_grad():
        traced = torch.jit.trace(module, inputs[0], check_inputs=inputs)
    torch.jit.save(traced, os.path.join(outdir, "aspp.pt"))
    torch.save(inputs, os.path.join(outdir, "aspp.inputs.pt"))


if __name__ == "__main__":
    main()
