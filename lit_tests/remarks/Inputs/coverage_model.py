"""Writes the models of coverage.test: DIR/net.pt (scripted, eval mode) and
DIR/example.pt (one input tuple, for --example-inputs), and DIR/blocks.pt with
DIR/blocks_example.pt (layers inside a loop and an if).

conv + batch norm + relu, and conv + batch norm + residual add + relu, fuse
into tsopt kernels; a 1x1 conv without an activation and a matmul stay on
ATen. Usage: coverage_model.py DIR
"""
import sys

import torch
import torch.nn as nn

from zoo_common import randomize_batch_norms


class CoverageNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(8)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        z = torch.relu(self.bn2(self.conv2(y)) + y)
        h = self.head(z).flatten(2)
        return torch.matmul(h, h.transpose(1, 2))


class BlocksNet(nn.Module):
    """A linear layer run three times in a loop, and a matmul in the taken
    branch of an if: FLOPs count per run, and not for the branch not taken."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(256, 256)
        self.other = nn.Linear(256, 256)

    def forward(self, x):
        for _ in range(3):
            x = torch.relu(self.fc(x))
        if x.size(0) > 1:
            return torch.matmul(x, x.t())
        return self.other(x)


def main(directory):
    torch.manual_seed(0)
    model = CoverageNet().eval()
    randomize_batch_norms(model)
    torch.jit.script(model).save(f"{directory}/net.pt")
    # A tuple of input tuples: LibTorch 1.13 cannot read a one-element list.
    torch.save(((torch.randn(2, 3, 16, 16),),), f"{directory}/example.pt")
    torch.jit.script(BlocksNet().eval()).save(f"{directory}/blocks.pt")
    torch.save(((torch.randn(8, 256),),), f"{directory}/blocks_example.pt")


if __name__ == "__main__":
    main(sys.argv[1])
