"""Fixtures for freeze's hidden tensor attributes (freeze-hidden-tensors.test).

  stack.pt    a traced stack of residual conv -> batch norm -> relu blocks whose
              first and last convolutions share one weight tensor (tied), plus
              stack.inputs.pt for --check-equivalence
  counter.pt  a scripted module that adds to a buffer in place: freeze must
              leave its attributes to torch::jit::freeze_module
  linear.pt, conv.pt
              a traced nn.Linear and nn.Conv2d as the whole model: the graph's
              first node reads a tensor attribute (the bias), plus their
              .inputs.pt
  convt.pt    a scripted nn.ConvTranspose2d, whose forward has a default
              argument (output_size=None), plus convt.inputs.pt without it
"""
import sys

import torch
from torch import nn

from zoo_common import save_traced_fixture


class Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x))) + x


class Counter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((4,), 2.0))
        self.register_buffer("count", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.count.add_(1.0)
        return x * self.scale + self.count


def main(stack_path: str, counter_path: str, linear_path: str, conv_path: str, convt_path: str) -> None:
    torch.manual_seed(0)
    blocks = [Block(4) for _ in range(24)]
    blocks[-1].conv.weight = blocks[0].conv.weight
    stack = nn.Sequential(*blocks)
    for module in stack.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
    save_traced_fixture(stack, lambda: (torch.randn(2, 4, 6, 6),), stack_path)
    torch.jit.script(Counter().eval()).save(counter_path)
    save_traced_fixture(nn.Linear(8, 4), lambda: (torch.randn(3, 8),), linear_path)
    save_traced_fixture(nn.Conv2d(3, 4, 3, padding=1), lambda: (torch.randn(1, 3, 8, 8),), conv_path)
    torch.jit.script(nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1).eval()).save(convt_path)
    torch.save([(torch.randn(1, 4, 5, 5),), (torch.randn(2, 4, 3, 3),)], convt_path[:-len(".pt")] + ".inputs.pt")


if __name__ == "__main__":
    main(*sys.argv[1:])
