"""Small traced models that exercise every fusion pass, for the model-level
fusion tests: a ResNet and a MobileNetV2 from torchvision (batch norm, relu,
relu6, residual adds, depthwise convolutions), a BERT-style encoder layer
(q/k/v projections, GELU, residual adds, tanh pooler) and a net with each
remaining activation.

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

torch.manual_seed(0)
torch.set_num_threads(1)


def randomize_batch_norms(module):
    for sub in module.modules():
        if isinstance(sub, nn.modules.batchnorm._BatchNorm):
            sub.running_mean.uniform_(-0.2, 0.2)
            sub.running_var.uniform_(0.5, 2.0)
            sub.weight.data.uniform_(0.5, 1.5)
            sub.bias.data.uniform_(-0.2, 0.2)
    return module


class EncoderLayer(nn.Module):
    """BERT's layer as HuggingFace writes it: separate q/k/v projections."""

    def __init__(self, hidden=32, heads=4, intermediate=64):
        super().__init__()
        self.heads = heads
        self.scale = 1.0 / math.sqrt(hidden // heads)
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.attention_output = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden)
        self.intermediate = nn.Linear(hidden, intermediate)
        self.output = nn.Linear(intermediate, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.pooler = nn.Linear(hidden, hidden)

    def split(self, x):
        return x.view(x.size()[:-1] + (self.heads, x.size(-1) // self.heads)).permute(0, 2, 1, 3)

    def forward(self, hidden, mask):
        q, k, v = self.split(self.query(hidden)), self.split(self.key(hidden)), self.split(self.value(hidden))
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale + mask
        context = torch.matmul(F.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).contiguous()
        context = context.view(context.size()[:-2] + (hidden.size(-1),))
        attended = self.norm1(self.attention_output(context) + hidden)
        out = self.norm2(self.output(F.gelu(self.intermediate(attended))) + attended)
        return out, torch.tanh(self.pooler(out[:, 0]))


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
        "resnet": (randomize_batch_norms(torchvision.models.resnet18(num_classes=10)), image),
        "mobilenet": (randomize_batch_norms(torchvision.models.mobilenet_v2(num_classes=10, width_mult=0.5)), image),
        "encoder": (EncoderLayer(), tokens),
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
