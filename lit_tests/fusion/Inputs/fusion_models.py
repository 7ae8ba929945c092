"""Small traced models that exercise every fusion pass, for the model-level
fusion tests: a ResNet and a MobileNetV2 from torchvision (batch norm, relu,
relu6, residual adds, depthwise convolutions), one layer of the zoo's BERT
encoder (q/k/v projections, GELU, residual adds, tanh pooler; examples/models/
bert.py) and a net with each remaining activation.

usage: fusion_models.py OUTDIR
Writes OUTDIR/NAME.pt and OUTDIR/NAME.inputs.pt (a list of input tuples, the
sidecar tsopt --check-equivalence reads) for each model.
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from bert import BertConfig, BertEncoderWithPooler
from zoo_common import randomize_batch_norms

torch.manual_seed(0)
torch.set_num_threads(1)

# The batch-norm running means of the torchvision models (zoo_common's default is wider).
BN_MEAN_RANGE = (-0.2, 0.2)


class CausalSelfAttention(nn.Module):
    """GPT's attention: one q/k/v projection, a causal mask filled with -inf."""

    def __init__(self, hidden=32, heads=4, context=16):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.register_buffer("causal", torch.tril(torch.ones(context, context)).view(1, 1, context, context))

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (y.view(b, t, self.heads, c // self.heads).transpose(1, 2) for y in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        scores = scores.masked_fill(self.causal[:, :, :t, :t] == 0, float("-inf"))
        y = (F.softmax(scores, dim=-1) @ v).transpose(1, 2).contiguous().view(b, t, c)
        return x + self.proj(y)


class Activations(nn.Module):
    """One convolution per remaining activation, and a linear with tanh-GELU."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(8, 8, 3, padding=1) for _ in range(5))
        self.first = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.fc = nn.Linear(8, 6)

    def forward(self, x):
        y = F.hardtanh(self.first(x), -0.5, 0.5)
        y = F.silu(self.convs[0](y))
        y = F.hardswish(self.convs[1](y))
        y = torch.sigmoid(self.convs[2](y))
        y = torch.tanh(self.convs[3](y))
        y = torch.clamp(self.convs[4](y), min=0.1)
        return F.gelu(self.fc(y.mean(dim=(2, 3))), approximate="tanh")


def models():
    image = lambda: (torch.randn(2, 3, 64, 64),)
    tokens = lambda: (torch.randn(2, 12, 32), torch.zeros(2, 1, 1, 12).masked_fill(torch.rand(2, 1, 1, 12) > 0.7, -1e4))
    return {
        "resnet": (randomize_batch_norms(torchvision.models.resnet18(num_classes=10), BN_MEAN_RANGE), image),
        "mobilenet": (randomize_batch_norms(torchvision.models.mobilenet_v2(num_classes=10, width_mult=0.5),
                                            BN_MEAN_RANGE), image),
        "encoder": (BertEncoderWithPooler(BertConfig(hidden=32, layers=1, heads=4, intermediate=64)), tokens),
        "activations": (Activations(), lambda: (torch.randn(2, 3, 16, 16),)),
        "gpt": (CausalSelfAttention(), lambda: (torch.randn(2, 12, 32),)),
        "squeezenet": (torchvision.models.squeezenet1_1(num_classes=10), image),
    }


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for name, (module, make_inputs) in models().items():
        inputs = [make_inputs(), make_inputs()]
        with torch.no_grad():
            traced = torch.jit.trace(module.eval(), inputs[0], check_inputs=inputs)
        torch.jit.save(traced, os.path.join(outdir, name + ".pt"))
        torch.save(inputs, os.path.join(outdir, name + ".inputs.pt"))


if __name__ == "__main__":
    main()
