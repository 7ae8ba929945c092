#!/usr/bin/env python3
"""The quick start's demo model: a small scripted conv net, and an output check.

Usage: make_demo_model.py OUT.pt
       make_demo_model.py --compare ORIGINAL.pt OPTIMIZED.pt

The first form writes a TorchScript archive of DemoNet in eval mode: two
conv -> batch norm -> relu blocks, dropout, pooling and a linear classifier,
weights from a fixed seed. It is scripted, not traced, so its graph keeps the
submodule calls, attribute reads and dropout that `tsopt -O1` folds away.
The second form runs both archives on the same seeded input and fails unless
their outputs match.
"""
import sys
import warnings

import torch
import torch.nn as nn

from zoo_common import randomize_batch_norms

# torch.jit is deprecated since PyTorch 2.11 and says so on every call; this
# script is about TorchScript, on purpose.
warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit.*deprecated")

INPUT_SHAPE = (2, 3, 32, 32)


class ConvBnRelu(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class DemoNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = ConvBnRelu(3, 8)
        self.block2 = ConvBnRelu(8, 16)
        self.dropout = nn.Dropout(0.25)
        self.classifier = nn.Linear(16, 10)

    def forward(self, x):
        x = self.block2(self.block1(x))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.classifier(self.dropout(x))


def write(path):
    torch.manual_seed(0)
    # Non-trivial batch-norm statistics, so folding them is visible in the numbers.
    model = randomize_batch_norms(DemoNet(), var_range=(0.5, 1.5), affine=False)
    torch.jit.save(torch.jit.script(model.eval()), path)
    print("wrote %s (DemoNet, input %s)" % (path, "x".join(map(str, INPUT_SHAPE))))


def compare(original_path, optimized_path):
    torch.manual_seed(1)
    x = torch.randn(*INPUT_SHAPE)
    original, optimized = torch.jit.load(original_path), torch.jit.load(optimized_path)
    with torch.no_grad():
        expected, actual = original(x), optimized(x)
    difference = (expected - actual).abs().max().item()
    if not torch.allclose(expected, actual, rtol=1e-4, atol=1e-5):
        print("FAIL: %s and %s differ (max abs difference %g)" % (original_path, optimized_path, difference))
        return 1
    print("OK: %s loads and matches %s (max abs difference %g)" % (optimized_path, original_path, difference))
    before, after = node_kinds(original), node_kinds(optimized)
    changed = sorted(kind for kind in set(before) | set(after) if before.get(kind, 0) != after.get(kind, 0))
    print("forward, with calls inlined: " +
          ", ".join("%s %d -> %d" % (kind, before.get(kind, 0), after.get(kind, 0)) for kind in changed))
    return 0


def node_kinds(module):
    """Node kind -> count in forward's graph with all calls inlined."""
    graph = module.graph.copy()
    torch._C._jit_pass_inline(graph)
    counts = {}
    for node in graph.nodes():
        counts[node.kind()] = counts.get(node.kind(), 0) + 1
    return counts


def main(argv):
    if len(argv) == 2 and not argv[1].startswith("-"):
        write(argv[1])
        return 0
    if len(argv) == 4 and argv[1] == "--compare":
        return compare(argv[2], argv[3])
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
