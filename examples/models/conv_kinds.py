"""Models built on the convolution kinds beyond 2-D (issue 17): a 3-D UNet
block, a 1-D audio conv stack and a transposed-conv decoder. `width` scales
the channels: lit_tests/equivalence (conv-kinds.test) uses the small defaults,
benchmarks/compare_conv_kinds.py wider ones."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class UNet3dBlock(nn.Module):
    """Two conv3d + batch norm + relu, a 1x1x1 skip added before the second
    relu, then a transposed conv3d up-sampling with silu."""

    def __init__(self, width=6, in_channels=3):
        super().__init__()
        self.conv1 = nn.Conv3d(in_channels, width, 3, padding=1)
        self.bn1 = nn.BatchNorm3d(width)
        self.conv2 = nn.Conv3d(width, width, 3, padding=1, groups=2)
        self.bn2 = nn.BatchNorm3d(width)
        self.skip = nn.Conv3d(in_channels, width, 1)
        self.up = nn.ConvTranspose3d(width, width * 2 // 3, 2, stride=2)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)) + self.skip(x))
        return F.silu(self.up(y))


class AudioConv1d(nn.Module):
    """Strided, dilated grouped, a residual, swish written as x * sigmoid(x),
    and leaky_relu."""

    def __init__(self, width=8):
        super().__init__()
        self.front = nn.Conv1d(1, width, 9, stride=2, padding=4)
        self.bn = nn.BatchNorm1d(width)
        self.dilated = nn.Conv1d(width, width, 3, padding=2, dilation=2, groups=4)
        self.mix = nn.Conv1d(width, width, 1)
        self.down = nn.Conv1d(width, width * 3 // 2, 3, stride=2)

    def forward(self, x):
        y = F.gelu(self.bn(self.front(x)))
        y = self.dilated(y) + y
        z = self.mix(y)
        y = z * torch.sigmoid(z)
        return F.leaky_relu(self.down(y), 0.1)


class TransposedDecoder(nn.Module):
    """Output padding with batch norm and relu, a grouped kernel-4 stride-2
    layer with hardswish and a skip, a sigmoid head."""

    def __init__(self, width=8):
        super().__init__()
        self.up1 = nn.ConvTranspose2d(width, width * 3 // 4, 3, stride=2, padding=1, output_padding=1)
        self.bn = nn.BatchNorm2d(width * 3 // 4)
        self.up2 = nn.ConvTranspose2d(width * 3 // 4, width // 2, 4, stride=2, padding=1, groups=2)
        self.skip = nn.Upsample(scale_factor=2.0)
        self.reduce = nn.Conv2d(width * 3 // 4, width // 2, 1)
        self.head = nn.ConvTranspose2d(width // 2, 3, 3, padding=1)

    def forward(self, x):
        y = F.relu(self.bn(self.up1(x)))
        y = F.hardswish(self.up2(y)) + self.reduce(self.skip(y))
        return torch.sigmoid(self.head(y))
