"""Numerical equivalence of tsopt pipelines on real TorchScript modules.

For every model below and every pipeline given, runs
`tsopt model.pt --passes=PIPELINE -o optimized.pt`, loads both modules in stock
PyTorch and compares their outputs on the same random inputs, over two calls
(some JIT bugs only show on the second call, pytorch/pytorch#33944), with
torch.testing.assert_close's default tolerances for the output dtype.

usage: check_equivalence.py TSOPT WORKDIR [--runtime=LIB] [--models=a,b] PIPELINE [PIPELINE...]
Prints one line per (model, pipeline) with the max abs error; exits 1 on any mismatch.
"""
import os
import subprocess
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from conv_kinds import AudioConv1d, TransposedDecoder, UNet3dBlock
from zoo_common import output_tensors, randomize_batch_norms

torch.manual_seed(0)
torch.set_num_threads(1)


class ConvNet(nn.Module):
    """conv/bn/relu, grouped and dilated conv, dropout, pooling, linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2, bias=False)
        self.bn2 = nn.BatchNorm2d(8, eps=0.1)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.drop(self.bn2(self.conv2(y))) + y
        y = F.adaptive_avg_pool2d(y, 1).flatten(1)
        return self.fc(y)


class Encoder(nn.Module):
    """A transformer encoder layer written out: layer norm, attention, GELU MLP."""

    def __init__(self, hidden=32, heads=4):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, 64), nn.GELU(), nn.Dropout(0.1), nn.Linear(64, hidden))
        self.norm2 = nn.LayerNorm(hidden)

    def forward(self, x, mask):
        b, s, h = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        split = lambda t: t.view(b, s, self.heads, h // self.heads).transpose(1, 2)
        scores = split(q) @ split(k).transpose(-1, -2) / (h // self.heads) ** 0.5 + mask
        context = (F.softmax(scores, dim=-1) @ split(v)).transpose(1, 2).reshape(b, s, h)
        x = self.norm1(x + self.out(context))
        return self.norm2(x + self.mlp(x)), scores


class Scripted(nn.Module):
    """Scripted control flow: a loop, a data-dependent branch, a submodule call, a tuple output."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(6, 6), nn.Tanh(), nn.Dropout(0.5))
        self.scale: float = 0.5

    def forward(self, x: torch.Tensor, steps: int):
        total = torch.zeros_like(x)
        for i in range(steps):
            if bool(x.sum() > 0):
                x = self.inner(x) * self.scale
            else:
                x = x - 1.0
            total = total + x
        return x, total


class ScriptedTranspose(nn.Module):
    """Scripted ConvTranspose2d (output_padding from a helper method) + BN +
    ReLU: the BN's `input.dim() != 4` check reads the convolution's output
    too (upstream test_freezing.py, TestFrozenOptimizations.test_conv_bn_folding
    with ConvTranspose2d)."""

    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1)
        self.bn = nn.BatchNorm2d(6)

    def forward(self, x):
        return torch.relu(self.bn(self.up(x)))


class InPlace(nn.Module):
    """In-place ops on intermediates and on a value read again later."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 10)

    def forward(self, x):
        y = self.fc(x)
        z = y.clone()
        y.relu_()
        y.add_(1.0)
        return y * 2 + z


class DoubleConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 3, padding=1)
        self.bn = nn.BatchNorm1d(6, eps=1e-3)

    def forward(self, x):
        return torch.sigmoid(self.bn(self.conv(x)))


class FoldingTargets(nn.Module):
    """What the folding passes fold: transposed/grouped conv + BN, constant
    per-channel and scalar arithmetic on conv outputs, conv -> mul -> add ->
    BN (the BN folds only after the arithmetic), an int64 per-channel factor,
    linear + BatchNorm1d."""

    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2)
        self.up_bn = nn.BatchNorm2d(6)
        self.conv = nn.Conv2d(6, 6, 3, padding=1, bias=False)
        self.scale = nn.Parameter(torch.rand(6, 1, 1) + 0.5)
        self.shift = nn.Parameter(torch.randn(6, 1, 1))
        self.mix = nn.Conv2d(6, 6, 1)
        self.mix_bn = nn.BatchNorm2d(6)
        self.register_buffer("steps", (torch.arange(6) + 1).view(6, 1, 1))
        self.conv1d = nn.Conv1d(6, 4, 3)
        self.bn1d = nn.BatchNorm1d(4, eps=0.01)
        self.fc = nn.Linear(4 * 7, 5)
        self.fc_bn = nn.BatchNorm1d(5)

    def forward(self, x):
        y = self.up_bn(self.up(x))
        y = (self.conv(y) * self.scale + self.shift - 0.5) / 4.0
        y = self.mix_bn(self.mix(y) * self.scale + 0.25) * self.steps
        y = F.relu(y).mean(dim=3)
        y = self.bn1d(self.conv1d(y))
        return self.fc_bn(self.fc(torch.flatten(y, 1)))


class FusionTargets(nn.Module):
    """What the fusion passes fuse: conv + bn + relu, depthwise conv + relu6,
    a residual add + relu, a residual add after the relu (on a grouped,
    dilated conv), conv + silu / hardswish / sigmoid, three linears sharing an
    input, linear + GELU + residual add, linear + tanh + residual add after
    it, linear + tanh."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(8)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pointwise = nn.Conv2d(8, 8, 1)
        self.grouped = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2)
        self.swish = nn.Conv2d(8, 8, 3, padding=1)
        self.hardswish = nn.Conv2d(8, 8, 1)
        self.gate = nn.Conv2d(8, 8, 1)
        self.q, self.k, self.v = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)
        self.up = nn.Linear(8, 16)
        self.down = nn.Linear(16, 8)
        self.mix = nn.Linear(8, 8)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        y = F.relu(self.stem_bn(self.stem(x)))
        y = F.relu(self.pointwise(F.relu6(self.depthwise(y))) + y)
        y = F.relu(self.grouped(y)) + y
        y = F.hardswish(self.hardswish(F.silu(self.swish(y))))
        y = y * torch.sigmoid(self.gate(y))
        t = y.flatten(2).transpose(1, 2)
        t = self.q(t) * self.k(t) + self.v(t)
        t = self.down(F.gelu(self.up(t))) + t
        t = torch.tanh(self.mix(t)) + t
        return torch.tanh(self.head(t.mean(dim=1)))


class MoreActivations(nn.Module):
    """The activations fused since issue 17, each after a convolution or a
    linear layer: leaky_relu, elu, softplus (beta 2), hardsigmoid, mish,
    abs, exp, log_sigmoid, square (x ** 2), a residual add before a leaky_relu."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(6 if i else 3, 6, 3, padding=1) for i in range(6))
        self.linears = nn.ModuleList(nn.Linear(6, 6) for _ in range(4))

    def forward(self, x):
        c = self.convs
        y = F.leaky_relu(c[0](x), 0.2)
        y = F.elu(c[1](y), alpha=0.5)
        y = F.softplus(c[2](y), beta=2.0)
        y = F.hardsigmoid(c[3](y))
        y = F.mish(c[4](y))
        y = F.leaky_relu(c[5](y) + y, 0.05)
        t = y.mean(dim=(2, 3))
        l = self.linears
        t = torch.abs(l[0](t))
        t = torch.exp(l[1](t) / 4)
        t = F.logsigmoid(l[2](t))
        return l[3](t) ** 2


class LayerFolds(nn.Module):
    """The folds of issue 17: constant arithmetic on linear outputs (/ c,
    - c, * per-feature, in-place + c; c - linear traces as rsub), batch norm before an
    unpadded grouped conv, before a padded conv with a zero shift, and before
    a linear on a 2-D input; a padded conv after a shifting batch norm stays."""

    def __init__(self):
        super().__init__()
        self.pre_bn = nn.BatchNorm2d(4)
        self.grouped = nn.Conv2d(4, 6, 3, groups=2)
        self.zero_shift_bn = nn.BatchNorm2d(6)
        self.padded = nn.Conv2d(6, 6, 3, padding=1)
        self.shift_bn = nn.BatchNorm2d(6)
        self.kept = nn.Conv2d(6, 6, 3, padding=1)
        self.fc_bn = nn.BatchNorm1d(6)
        self.fc = nn.Linear(6, 5)
        self.fc2 = nn.Linear(5, 5)
        self.fc3 = nn.Linear(5, 5)
        self.register_buffer("per_feature", torch.rand(5) + 0.5)

    def forward(self, x):
        y = F.relu(self.grouped(self.pre_bn(x)))
        y = F.relu(self.padded(self.zero_shift_bn(y)))
        y = self.kept(self.shift_bn(y))
        t = self.fc_bn(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))
        t = F.relu(self.fc(t) / 3.0 - 0.25)
        t = self.fc2(t) * self.per_feature
        t.add_(1.5)
        return F.gelu(2.0 - self.fc3(t))


class ResidualSums(nn.Module):
    """The sums of issue 17 fused under -O2: conv(x) - r, in place with alpha,
    r - conv(x), relu(conv(x)) - r, a padded and a sliced residual, two sums
    into one convolution, linear(t) - r and r - linear(t)."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(4, 4, 3, padding=1) for _ in range(7))
        self.fc = nn.Linear(4, 4)
        self.fc2 = nn.Linear(4, 4)

    def forward(self, x):
        c = self.convs
        y = F.relu(c[0](x) - x)
        y = c[1](y).sub_(x, alpha=2)
        y = F.silu(x - c[2](y))
        y = F.relu(c[3](y)) - y
        y = c[4](y) + F.pad(x[:, :, 1:-1, 1:-1], (1, 1, 1, 1))
        y = c[5](y) + torch.cat([x, y], 1)[:, 2:6]
        y = F.relu(c[6](y) + x - y)
        t = y.mean(dim=(2, 3))
        t = F.gelu(self.fc(t) - t)
        return t - self.fc2(t)


def build_models():
    conv = randomize_batch_norms(ConvNet()).eval()
    encoder = Encoder().eval()
    scripted = Scripted().eval()
    inplace = InPlace().eval()
    double = randomize_batch_norms(DoubleConv()).double().eval()
    folding = randomize_batch_norms(FoldingTargets()).eval()
    fusion = randomize_batch_norms(FusionTargets()).eval()
    transpose = randomize_batch_norms(ScriptedTranspose()).eval()
    activations = MoreActivations().eval()
    layer_folds = randomize_batch_norms(LayerFolds()).eval()
    with torch.no_grad():
        layer_folds.zero_shift_bn.running_mean.zero_()
        layer_folds.zero_shift_bn.bias.zero_()
    unet3d = randomize_batch_norms(UNet3dBlock()).eval()
    audio = randomize_batch_norms(AudioConv1d()).eval()
    decoder = randomize_batch_norms(TransposedDecoder()).eval()
    sums = ResidualSums().eval()
    volume = lambda: (torch.randn(2, 3, 6, 8, 8),)
    waveform = lambda: (torch.randn(2, 1, 400),)
    latent = lambda: (torch.randn(2, 8, 5, 5),)
    image = lambda: (torch.randn(2, 3, 16, 16),)
    tokens = lambda: (torch.randn(2, 7, 32), torch.zeros(2, 1, 1, 7).masked_fill(torch.rand(2, 1, 1, 7) > 0.7, -1e4))
    return {
        "convnet": (torch.jit.trace(conv, image()), image),
        "encoder": (torch.jit.trace(encoder, tokens()), tokens),
        "scripted": (torch.jit.script(scripted), lambda: (torch.randn(3, 6), 3)),
        "inplace": (torch.jit.trace(inplace, (torch.randn(4, 10),)), lambda: (torch.randn(4, 10),)),
        "folding": (torch.jit.trace(folding, (torch.randn(2, 4, 5, 5),)), lambda: (torch.randn(2, 4, 5, 5),)),
        "fusion": (torch.jit.trace(fusion, image()), image),
        "activations": (torch.jit.trace(activations, image()), image),
        "layerfolds": (torch.jit.trace(layer_folds, (torch.randn(2, 4, 9, 9),)), lambda: (torch.randn(2, 4, 9, 9),)),
        "transpose": (torch.jit.script(transpose), lambda: (torch.randn(2, 4, 5, 5),)),
        "unet3d": (torch.jit.trace(unet3d, volume()), volume),
        "audio1d": (torch.jit.trace(audio, waveform()), waveform),
        "decoder": (torch.jit.trace(decoder, latent()), latent),
        "sums": (torch.jit.trace(sums, (torch.randn(2, 4, 8, 8),)), lambda: (torch.randn(2, 4, 8, 8),)),
        "double": (torch.jit.trace(double, (torch.randn(2, 4, 9, dtype=torch.float64),)),
                   lambda: (torch.randn(2, 4, 9, dtype=torch.float64),)),
    }


def compare(reference, optimized, make_inputs):
    worst = 0.0
    for _ in range(2):
        inputs = make_inputs()
        expected = output_tensors(reference(*inputs))
        actual = output_tensors(optimized(*inputs))
        if len(expected) != len(actual):
            raise AssertionError(f"{len(expected)} outputs before, {len(actual)} after")
        for e, a in zip(expected, actual):
            torch.testing.assert_close(a, e)
            if e.is_floating_point() and e.numel():
                worst = max(worst, (a - e).abs().max().item())
    return worst


def check_the_checker():
    """The comparison must reject a 0.1% perturbation, or the test cannot fail."""
    module = torch.jit.trace(nn.Linear(8, 8).eval(), (torch.randn(2, 8),))
    try:
        compare(module, lambda x: module(x) * 1.001 + 1e-3, lambda: (torch.randn(2, 8),))
    except AssertionError:
        return
    sys.exit("check_equivalence.py: the comparison accepted a perturbed output")


def main():
    tsopt, workdir, pipelines = sys.argv[1], sys.argv[2], sys.argv[3:]
    only = None
    if pipelines and pipelines[0].startswith("--runtime="):
        # Optimized modules that call tsopt:: ops need the runtime library.
        torch.ops.load_library(pipelines[0][len("--runtime="):])
        pipelines = pipelines[1:]
    if pipelines and pipelines[0].startswith("--models="):
        only = pipelines[0][len("--models="):].split(",")
        pipelines = pipelines[1:]
    check_the_checker()
    os.makedirs(workdir, exist_ok=True)
    failures = 0
    for name, (module, make_inputs) in build_models().items():
        if only and name not in only:
            continue
        original = os.path.join(workdir, name + ".pt")
        torch.jit.save(module, original)
        for pipeline in pipelines:
            optimized = os.path.join(workdir, f"{name}.opt.pt")
            flags = [pipeline] if pipeline.startswith("-O") else [f"--passes={pipeline}"]
            run = subprocess.run([tsopt, original, *flags, "--verify-each", "-o", optimized],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                print(f"FAIL {name} {pipeline}: tsopt exit {run.returncode}: {run.stderr.strip()}")
                failures += 1
                continue
            try:
                worst = compare(torch.jit.load(original), torch.jit.load(optimized), make_inputs)
                print(f"ok   {name} {pipeline}: max abs error {worst:.3g}")
            except Exception as error:  # report every mismatch, then fail
                print(f"FAIL {name} {pipeline}: {str(error).splitlines()[0]}")
                failures += 1
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
