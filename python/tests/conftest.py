"""Fixtures of the Python API's tests: a small conv net, scripted, and its input.

Run by ctest (python_api) with PYTHONPATH at the build's python/ folder and
TSOPT_TEST_PLUGIN* naming the unit tests' plugins.
"""
import pytest
import torch


class SmallConvNet(torch.nn.Module):
    """conv + batch norm + relu, a residual conv + add + relu, then a linear head:
    what -O2 folds and fuses into tsopt:: calls."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.conv = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.head = torch.nn.Linear(8, 5)

    def forward(self, x):
        y = torch.relu(self.bn(self.stem(x)))
        y = torch.relu(self.conv(y) + y)
        return self.head(y.mean((2, 3)))


@pytest.fixture
def eager():
    torch.manual_seed(0)
    model = SmallConvNet().eval()
    # Non-trivial running statistics, so folding the batch norm changes the weights.
    model.bn.running_mean.uniform_(-0.5, 0.5)
    model.bn.running_var.uniform_(0.5, 2.0)
    return model


@pytest.fixture
def scripted(eager):
    return torch.jit.script(eager)


@pytest.fixture
def x():
    return torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
