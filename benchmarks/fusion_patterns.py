"""The fusion pattern zoo (issue 17): how much of what a user writes around a
convolution or linear layer -O2 fuses.

Small eager modules in the style of Intel Extension for PyTorch's JIT fusion
tests (tests/cpu/test_jit.py): conv1d/2d/3d, conv_transpose2d/3d and linear,
each with the activations tsopt fuses (module, functional and in-place forms,
with parameters), residual adds (either side, in place, alpha, broadcast),
sub, scalar and per-channel arithmetic, batch norm after and before, swish,
GELU and hardswish written by hand, views between the layer and its
activation, bias/groups/dilation/stride variants, and negative patterns that
must not fuse. Each pattern declares what it expects:

  fused   every convolution/linear ends in a tsopt kernel and no activation,
          sum or arithmetic of the pattern is left on ATen;
  keep    an op of the pattern must stay on ATen (fusing it would be wrong or
          is not exact); the pattern names the op and why;
  either  fused or not, only the outputs count: the archive records no
          shapes or dtypes, so the pass cannot tell, and the fused op runs
          ATen's computation for such inputs (a residual that broadcasts or
          is not float32).

All patterns are traced as submodules of one module (one tsopt process, not
one per pattern), optimized with
`tsopt zoo.pt -O2 --report=coverage-json --report-file=... -o zoo_O2.pt`, and
each pattern's outputs are compared with eager (tolerance below). A pattern's
ops in the optimized graph are those its outputs depend on (every pattern has
inputs of its own). Results:

  fused        as above;
  half-fused   every layer in a tsopt kernel, but an activation/sum/arithmetic
               op of the pattern left on ATen;
  unfused      a layer left on ATen.

Each pattern not fused is optimized again alone, and the coverage report of
that run gives the reasons (the missed remarks about the ops left on ATen).

Usage:
    .venv/bin/python3 benchmarks/fusion_patterns.py [--tsopt build/ir_tools/tsopt]
        [--runtime build/runtime/libtsopt_runtime.so] [--pipeline -O2] [--only REGEX]
        [--json FILE] [--check] [--max-unfused-share 0.05] [--work DIR]
    (Debian's LibTorch 1.13: /usr/bin/python3, the build-debian/ paths by default.)

--check exits 1 when a `keep` pattern's op got fused, an output differs from
eager, or the share of `fused` patterns left half-fused or unfused exceeds
--max-unfused-share.
"""
import argparse
import json
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Float32 outputs against eager: oneDNN's summation order and its eltwise
# approximations (gelu, mish, softplus) differ from ATen's by rounding.
RTOL, ATOL = 1e-4, 1e-5

LAYER_KINDS = {"aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::conv_transpose1d", "aten::conv_transpose2d",
               "aten::conv_transpose3d", "aten::_convolution", "aten::convolution", "aten::linear", "aten::addmm",
               "aten::matmul", "aten::mm"}
# Ops that move or describe data, or guard inputs, rather than compute on a
# layer's result: left on ATen they do not make a pattern half-fused.
NEUTRAL_KINDS = {"aten::view", "aten::reshape", "aten::flatten", "aten::contiguous", "aten::size", "aten::dim",
                 "aten::numel", "aten::eq", "aten::__and__", "aten::__not__", "aten::ne", "aten::len",
                 "aten::__getitem__", "aten::Int", "aten::ScalarImplicit", "aten::to", "aten::format",
                 "aten::pad", "aten::constant_pad_nd", "aten::reflection_pad2d", "aten::_pad_circular",
                 "aten::slice", "aten::select", "aten::unsqueeze", "aten::squeeze", "aten::permute",
                 "aten::transpose", "aten::chunk", "aten::split", "aten::cat"}


class Pattern(NamedTuple):
    name: str
    family: str
    module: nn.Module
    inputs: Tuple[torch.Tensor, ...]
    keep: Optional[str] = None  # the op kind that must stay on ATen
    why: str = ""               # why it must stay (or, with either, why either is right)
    either: bool = False        # fused or kept, only the outputs count
    deterministic: bool = True  # False: outputs are compared under the same seed


class Chain(nn.Module):
    """A layer and what follows it: `tail(self, layer(x), *others)`."""

    def __init__(self, layer: nn.Module, tail: Callable, **submodules: nn.Module):
        super().__init__()
        self.layer = layer
        self.tail = tail
        for name, module in submodules.items():
            setattr(self, name, module)

    def forward(self, x, *others):
        return self.tail(self, self.layer(x), *others)


# ---------------------------------------------------------------------------
# Layers: a factory and an input shape each.

def _layers() -> Dict[str, Tuple[Callable[..., nn.Module], Tuple[int, ...]]]:
    return {
        "conv1d": (lambda **kw: nn.Conv1d(4, 8, 3, padding=1, **kw), (2, 4, 16)),
        "conv2d": (lambda **kw: nn.Conv2d(4, 8, 3, padding=1, **kw), (2, 4, 10, 10)),
        "conv3d": (lambda **kw: nn.Conv3d(4, 8, 3, padding=1, **kw), (1, 4, 5, 6, 6)),
        "convT2d": (lambda **kw: nn.ConvTranspose2d(4, 8, 3, stride=2, padding=1, output_padding=1, **kw),
                    (2, 4, 6, 6)),
        "convT3d": (lambda **kw: nn.ConvTranspose3d(4, 8, 3, stride=2, padding=1, output_padding=1, **kw),
                    (1, 4, 3, 4, 4)),
        "linear": (lambda **kw: nn.Linear(16, 8, **kw), (3, 5, 16)),
    }


LAYERS = _layers()


def _output_shape(layer_name: str) -> Tuple[int, ...]:
    factory, shape = LAYERS[layer_name]
    with torch.no_grad():
        return tuple(factory()(torch.zeros(shape)).shape)


def _per_channel(layer_name: str) -> torch.Tensor:
    """One factor per output channel, shaped to broadcast over the layer's output."""
    rank = len(_output_shape(layer_name))
    shape = (8,) if layer_name == "linear" else (8,) + (1,) * (rank - 2)
    return torch.rand(shape) + 0.5


# Activations: (name, module form, functional form, in-place form or None).
ACTIVATIONS: List[Tuple[str, Callable[[], nn.Module], Callable, Optional[Callable]]] = [
    ("relu", nn.ReLU, F.relu, lambda y: y.relu_()),
    ("relu6", nn.ReLU6, F.relu6, lambda y: F.relu6(y, inplace=True)),
    ("hardtanh", lambda: nn.Hardtanh(-0.5, 0.7), lambda y: F.hardtanh(y, -0.5, 0.7),
     lambda y: F.hardtanh_(y, -0.5, 0.7)),
    ("clamp", None, lambda y: torch.clamp(y, -0.3, 0.4), lambda y: y.clamp_(min=-0.3, max=0.4)),
    ("clamp_min", None, lambda y: torch.clamp(y, min=0.1), lambda y: y.clamp_min_(0.1)),
    ("silu", nn.SiLU, F.silu, lambda y: F.silu(y, inplace=True)),
    ("hardswish", nn.Hardswish, F.hardswish, lambda y: F.hardswish(y, inplace=True)),
    ("hardsigmoid", nn.Hardsigmoid, F.hardsigmoid, lambda y: F.hardsigmoid(y, inplace=True)),
    ("gelu", nn.GELU, F.gelu, None),
    ("gelu_tanh", lambda: nn.GELU(approximate="tanh"), lambda y: F.gelu(y, approximate="tanh"), None),
    ("sigmoid", nn.Sigmoid, torch.sigmoid, lambda y: y.sigmoid_()),
    ("tanh", nn.Tanh, torch.tanh, lambda y: y.tanh_()),
    ("leaky_relu", lambda: nn.LeakyReLU(0.2), lambda y: F.leaky_relu(y, 0.2), lambda y: F.leaky_relu_(y, 0.2)),
    ("elu", lambda: nn.ELU(1.3), lambda y: F.elu(y, 1.3), lambda y: F.elu_(y, 1.3)),
    ("softplus", lambda: nn.Softplus(2.0, 20.0), lambda y: F.softplus(y, 2.0, 20.0), None),
    ("mish", nn.Mish, F.mish, lambda y: F.mish(y, inplace=True)),
    ("abs", None, torch.abs, lambda y: y.abs_()),
    ("exp", None, torch.exp, lambda y: y.exp_()),
    ("square", None, torch.square, lambda y: y.square_()),
    ("pow2", None, lambda y: torch.pow(y, 2), lambda y: y.pow_(2)),
    ("log_sigmoid", nn.LogSigmoid, F.logsigmoid, None),
]


def _input(shape: Sequence[int]) -> torch.Tensor:
    return torch.randn(*shape)


def _chain(name: str, family: str, layer_name: str, tail: Callable, others: Sequence[torch.Tensor] = (),
           layer_kw: Optional[dict] = None, submodules: Optional[dict] = None, **pattern_kw) -> Pattern:
    factory, shape = LAYERS[layer_name]
    module = Chain(factory(**(layer_kw or {})), tail, **(submodules or {}))
    return Pattern(name, family, module.eval(), (_input(shape),) + tuple(others), **pattern_kw)


def activation_patterns() -> List[Pattern]:
    patterns = []
    # conv2d: every activation in every form it has; linear: the functional
    # forms and three in-place ones.
    for layer_name in ("conv2d", "linear"):
        for act, module_form, functional, inplace in ACTIVATIONS:
            if module_form is not None and layer_name == "conv2d":
                patterns.append(_chain(f"{layer_name}+{act}(module)", "activation", layer_name,
                                       lambda m, y: m.act(y), submodules={"act": module_form()}))
            else:
                patterns.append(_chain(f"{layer_name}+{act}", "activation", layer_name,
                                       lambda m, y, f=functional: f(y)))
            if inplace is not None and (layer_name == "conv2d" or act in ("relu", "hardtanh", "silu")):
                patterns.append(_chain(f"{layer_name}+{act}_", "activation", layer_name,
                                       lambda m, y, f=inplace: f(y)))
    # The other convolution kinds: the common activations, functional form.
    common = ("relu", "silu", "hardswish", "gelu", "sigmoid", "leaky_relu")
    for layer_name in ("conv1d", "conv3d", "convT2d", "convT3d"):
        for act, _, functional, _ in ACTIVATIONS:
            if act in common:
                patterns.append(_chain(f"{layer_name}+{act}", "activation", layer_name,
                                       lambda m, y, f=functional: f(y)))
    return patterns


def sum_patterns() -> List[Pattern]:
    patterns = []
    for layer_name in LAYERS:
        out = _output_shape(layer_name)
        family = "sum"
        patterns += [
            _chain(f"{layer_name}+add+relu", family, layer_name, lambda m, y, r: F.relu(y + r), [_input(out)]),
            _chain(f"{layer_name}+add_+relu_", family, layer_name, lambda m, y, r: y.add_(r).relu_(), [_input(out)]),
            _chain(f"{layer_name}+relu+add", family, layer_name, lambda m, y, r: F.relu(y) + r, [_input(out)]),
        ]
        if layer_name in ("conv2d", "linear"):
            patterns += [
                _chain(f"{layer_name}+add", family, layer_name, lambda m, y, r: y + r, [_input(out)]),
                _chain(f"{layer_name}+add(other first)+relu", family, layer_name,
                       lambda m, y, r: torch.relu(r + y), [_input(out)]),
                _chain(f"{layer_name}+add(alpha=1.5)+relu", family, layer_name,
                       lambda m, y, r: F.relu(torch.add(y, r, alpha=1.5)), [_input(out)]),
                _chain(f"{layer_name}+add(broadcast other)+relu", family, layer_name,
                       lambda m, y, r: F.relu(y + r), [_input((1,) + out[1:])]),
                _chain(f"{layer_name}+sub+relu", family, layer_name, lambda m, y, r: F.relu(y - r), [_input(out)]),
                _chain(f"{layer_name}+add+silu", family, layer_name, lambda m, y, r: F.silu(y + r), [_input(out)]),
                _chain(f"{layer_name}+add+add", family, layer_name, lambda m, y, r, s: (y + r) + s,
                       [_input(out), _input(out)]),
            ]
    conv_out = _output_shape("conv2d")
    padded = tuple(conv_out[:2]) + (conv_out[2] - 2, conv_out[3] - 2)
    patterns += [
        _chain("conv2d+add(padded other)+relu", "sum", "conv2d", lambda m, y, r: F.relu(y + F.pad(r, (1, 1, 1, 1))),
               [_input(padded)]),
        _chain("conv2d+add(sliced other)+relu", "sum", "conv2d",
               lambda m, y, r: F.relu(y + r[:, :, 1:-1, 1:-1]), [_input(conv_out[:2] + (12, 12))]),
    ]
    return patterns


def arithmetic_patterns() -> List[Pattern]:
    patterns = []
    for layer_name in ("conv2d", "conv1d", "linear"):
        channel = _per_channel(layer_name)
        patterns += [
            _chain(f"{layer_name}*2+relu", "arithmetic", layer_name, lambda m, y: F.relu(y * 2.0)),
            _chain(f"{layer_name}/3+relu", "arithmetic", layer_name, lambda m, y: F.relu(y / 3.0)),
            _chain(f"{layer_name}-0.5+relu", "arithmetic", layer_name, lambda m, y: F.relu(y - 0.5)),
            _chain(f"{layer_name}*channel+channel+relu", "arithmetic", layer_name,
                   lambda m, y, c=channel: F.relu(y * c + c)),
        ]
    patterns += [
        _chain("2*conv2d+gelu", "arithmetic", "conv2d", lambda m, y: F.gelu(2.0 * y)),
        _chain("1-linear+tanh", "arithmetic", "linear", lambda m, y: torch.tanh(1.0 - y)),
        _chain("conv2d.mul_(0.5)+relu_", "arithmetic", "conv2d", lambda m, y: y.mul_(0.5).relu_()),
    ]
    return patterns


def norm_patterns() -> List[Pattern]:
    def randomized(bn):
        with torch.no_grad():
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0, 0.1)
        return bn

    patterns = [
        _chain("conv2d+bn+relu", "batch norm", "conv2d", lambda m, y: F.relu(m.bn(y)),
               submodules={"bn": randomized(nn.BatchNorm2d(8))}),
        _chain("conv2d(no bias)+bn+relu", "batch norm", "conv2d", lambda m, y: F.relu(m.bn(y)),
               layer_kw={"bias": False}, submodules={"bn": randomized(nn.BatchNorm2d(8))}),
        _chain("conv1d+bn+silu", "batch norm", "conv1d", lambda m, y: F.silu(m.bn(y)),
               submodules={"bn": randomized(nn.BatchNorm1d(8))}),
        _chain("conv3d+bn+relu", "batch norm", "conv3d", lambda m, y: F.relu(m.bn(y)),
               submodules={"bn": randomized(nn.BatchNorm3d(8))}),
        _chain("convT2d+bn+leaky_relu", "batch norm", "convT2d", lambda m, y: F.leaky_relu(m.bn(y), 0.1),
               submodules={"bn": randomized(nn.BatchNorm2d(8))}),
        _chain("linear+flatten+bn1d+relu", "batch norm", "linear", lambda m, y: F.relu(m.bn(y.flatten(0, 1))),
               submodules={"bn": randomized(nn.BatchNorm1d(8))}),
    ]
    after_linear = nn.Sequential(nn.Linear(16, 8), randomized(nn.BatchNorm1d(8)), nn.ReLU())
    patterns.append(Pattern("linear+bn1d+relu", "batch norm", after_linear.eval(), (_input((6, 16)),)))
    before = nn.Sequential(randomized(nn.BatchNorm2d(4)), nn.Conv2d(4, 8, 3), nn.ReLU())
    patterns.append(Pattern("bn+conv2d(unpadded)+relu", "batch norm", before.eval(), (_input((2, 4, 10, 10)),)))
    before_linear = nn.Sequential(randomized(nn.BatchNorm1d(16)), nn.Linear(16, 8), nn.ReLU())
    patterns.append(Pattern("bn1d+linear+relu", "batch norm", before_linear.eval(), (_input((6, 16)),)))
    return patterns


def written_out_patterns() -> List[Pattern]:
    def gelu_tanh(y):
        return 0.5 * y * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (y + 0.044715 * torch.pow(y, 3.0))))

    def gelu_erf(y):
        return 0.5 * y * (1.0 + torch.erf(y / math.sqrt(2.0)))

    patterns = []
    for layer_name in ("conv2d", "linear"):
        family = "written out"
        patterns += [
            _chain(f"{layer_name}+x*sigmoid(x)", family, layer_name, lambda m, y: y * torch.sigmoid(y)),
            _chain(f"{layer_name}+sigmoid(x)*x", family, layer_name, lambda m, y: y.sigmoid() * y),
            _chain(f"{layer_name}+gelu_tanh(by hand)", family, layer_name, lambda m, y: gelu_tanh(y)),
            _chain(f"{layer_name}+x*relu6(x+3)/6", family, layer_name, lambda m, y: y * F.relu6(y + 3.0) / 6.0),
        ]
    patterns += [
        _chain("conv1d+x*sigmoid(x)", "written out", "conv1d", lambda m, y: y * torch.sigmoid(y)),
        _chain("conv2d+x*hardtanh(x+3,0,6)/6", "written out", "conv2d",
               lambda m, y: y * F.hardtanh(y + 3.0, 0.0, 6.0) / 6.0),
        _chain("conv2d+x*hardsigmoid(x)", "written out", "conv2d", lambda m, y: y * F.hardsigmoid(y)),
        _chain("conv2d+x.mul_(sigmoid(x))", "written out", "conv2d", lambda m, y: y.mul_(torch.sigmoid(y))),
        _chain("linear+gelu_erf(by hand)", "written out", "linear", lambda m, y: gelu_erf(y)),
        _chain("conv2d+gelu_erf(by hand)", "written out", "conv2d", lambda m, y: gelu_erf(y)),
        _chain("conv2d+clamp(x,0,6)(relu6)", "written out", "conv2d", lambda m, y: torch.clamp(y, 0.0, 6.0)),
    ]
    return patterns


def view_patterns() -> List[Pattern]:
    return [
        _chain("linear+view+relu", "view", "linear", lambda m, y: F.relu(y.view(3, 5, 2, 4))),
        _chain("linear+reshape+gelu", "view", "linear", lambda m, y: F.gelu(y.reshape(15, 8))),
        _chain("conv2d+reshape+relu", "view", "conv2d", lambda m, y: F.relu(y.reshape(2, 8, 100))),
        _chain("conv2d+flatten+silu", "view", "conv2d", lambda m, y: F.silu(y.flatten(1))),
        _chain("conv1d+view+tanh", "view", "conv1d", lambda m, y: torch.tanh(y.view(2, 128))),
        _chain("linear+view+x*sigmoid(x)", "view", "linear",
               lambda m, y: y.view(15, 8) * torch.sigmoid(y.view(15, 8))),
    ]


def layer_variant_patterns() -> List[Pattern]:
    conv = lambda **kw: Chain(nn.Conv2d(**kw), lambda m, y: F.relu(m.tail_act(y)), tail_act=nn.Identity())
    variants = [
        ("conv2d(no bias)+relu", dict(in_channels=4, out_channels=8, kernel_size=3, padding=1, bias=False)),
        ("conv2d(groups=2)+relu", dict(in_channels=4, out_channels=8, kernel_size=3, padding=1, groups=2)),
        ("conv2d(depthwise)+relu", dict(in_channels=4, out_channels=4, kernel_size=3, padding=1, groups=4)),
        ("conv2d(dilation=2)+relu", dict(in_channels=4, out_channels=8, kernel_size=3, padding=2, dilation=2)),
        ("conv2d(stride=2)+relu", dict(in_channels=4, out_channels=8, kernel_size=3, stride=2, padding=1)),
        ("conv2d(1x1)+relu", dict(in_channels=4, out_channels=8, kernel_size=1)),
        ("conv2d(5x3, padding=(2,1))+relu", dict(in_channels=4, out_channels=8, kernel_size=(5, 3),
                                                 padding=(2, 1))),
        ("conv2d(padding=same)+relu", dict(in_channels=4, out_channels=8, kernel_size=3, padding="same")),
        ("conv2d(padding=valid)+relu", dict(in_channels=4, out_channels=8, kernel_size=3, padding="valid")),
        ("conv2d(padding_mode=reflect)+relu", dict(in_channels=4, out_channels=8, kernel_size=3, padding=1,
                                                   padding_mode="reflect")),
    ]
    patterns = [Pattern(name, "layer variant", conv(**kw).eval(), (_input((2, 4, 10, 10)),)) for name, kw in variants]

    def convT(**kw):
        return Chain(nn.ConvTranspose2d(**kw), lambda m, y: F.relu(y))

    patterns += [
        Pattern("convT2d(groups=2, dilation=2)+relu", "layer variant",
                convT(in_channels=4, out_channels=8, kernel_size=3, groups=2, dilation=2).eval(),
                (_input((2, 4, 6, 6)),)),
        Pattern("conv1d(stride=2, dilation=2)+relu", "layer variant",
                Chain(nn.Conv1d(4, 8, 5, stride=2, dilation=2, padding=4), lambda m, y: F.relu(y)).eval(),
                (_input((2, 4, 16)),)),
        _chain("linear(no bias)+relu", "layer variant", "linear", lambda m, y: F.relu(y), layer_kw={"bias": False}),
        Pattern("linear(2-D input)+gelu", "layer variant", Chain(nn.Linear(16, 8), lambda m, y: F.gelu(y)).eval(),
                (_input((6, 16)),)),
        Pattern("linear(1-D input)+relu", "layer variant", Chain(nn.Linear(16, 8), lambda m, y: F.relu(y)).eval(),
                (_input((16,)),)),
        Pattern("F.conv2d+relu", "layer variant", FunctionalConv().eval(), (_input((2, 4, 10, 10)),)),
        Pattern("F.linear+relu", "layer variant", FunctionalLinear().eval(), (_input((3, 16)),)),
        Pattern("conv2d+relu+conv2d+relu", "layer variant",
                nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                              nn.ReLU()).eval(), (_input((2, 4, 10, 10)),)),
        Pattern("linear+relu+linear+gelu", "layer variant",
                nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8), nn.GELU()).eval(),
                (_input((4, 16)),)),
        Pattern("conv2d+relu+dropout(eval)", "layer variant",
                nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.Dropout(0.5), nn.ReLU()).eval(),
                (_input((2, 4, 10, 10)),)),
    ]
    return patterns


class FunctionalConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 4, 3, 3) * 0.2)
        self.bias = nn.Parameter(torch.randn(8))

    def forward(self, x):
        return F.relu(F.conv2d(x, self.weight, self.bias, padding=1))


class FunctionalLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 16) * 0.2)

    def forward(self, x):
        return F.relu(F.linear(x, self.weight))


class WeightInput(nn.Module):
    def forward(self, x, w):
        return F.relu(F.conv2d(x, w, padding=1))


class TrainingDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)

    def forward(self, x):
        return F.relu(F.dropout(self.conv(x), 0.5, training=True))


RUNTIME_CHECKED = ("no shapes or dtypes in the archive: the fused op checks the residual at run time and "
                   "runs ATen's add for this one")


def negative_patterns() -> List[Pattern]:
    conv_out = _output_shape("conv2d")
    linear_out = _output_shape("linear")
    neg = "negative"
    return [
        _chain("conv2d+relu, conv output used twice", neg, "conv2d", lambda m, y: (F.relu(y), y * 2.0),
               keep="aten::relu", why="the conv's output has a second user: fusing would lose it"),
        _chain("linear+gelu, linear output also returned", neg, "linear", lambda m, y: (F.gelu(y), y),
               keep="aten::gelu", why="the linear's output is a graph output"),
        _chain("linear+view+relu, view returned", neg, "linear", lambda m, y: (F.relu(y.view(15, 8)), y.view(15, 8)),
               keep="aten::relu", why="the view the activation reads is a graph output"),
        _chain("conv2d+add(int other)+relu", neg, "conv2d", lambda m, y, r: F.relu(y + r),
               [torch.randint(-3, 3, conv_out)], either=True, why=RUNTIME_CHECKED),
        _chain("conv2d+add(shape-changing broadcast)", neg, "conv2d", lambda m, y, r: y + r,
               [_input((3,) + conv_out)], either=True, why=RUNTIME_CHECKED),
        _chain("linear+add(shape-changing broadcast)+relu", neg, "linear", lambda m, y, r: F.relu(y + r),
               [_input((2,) + linear_out)], either=True, why=RUNTIME_CHECKED),
        Pattern("conv2d+dropout(training)+relu", neg, TrainingDropout().eval(), (_input((2, 4, 10, 10)),),
                keep="aten::dropout", why="dropout in training mode draws random numbers", deterministic=False),
        Pattern("F.conv2d(weight an input)+relu", neg, WeightInput().eval(),
                (_input((2, 4, 10, 10)), _input((8, 4, 3, 3))), keep="aten::conv2d",
                why="the weight is not a constant"),
        _chain("conv2d+mul(tensor input)+relu", neg, "conv2d", lambda m, y, r: F.relu(y * r), [_input(conv_out)],
               keep="aten::mul", why="multiplying by a non-constant tensor is no post-op"),
        _chain("conv2d+x*sigmoid(other)", neg, "conv2d", lambda m, y, r: y * torch.sigmoid(r), [_input(conv_out)],
               keep="aten::sigmoid", why="the sigmoid reads another tensor: not swish"),
        _chain("conv2d+pow(x,3)", neg, "conv2d", lambda m, y: torch.pow(y, 3), keep="aten::pow",
               why="oneDNN has no cube post-op"),
        _chain("conv2d+softplus(threshold=5)", neg, "conv2d", lambda m, y: F.softplus(y, 1.0, 5.0),
               keep="aten::softplus", why="oneDNN's soft_relu has no threshold: not exact below 16"),
        _chain("conv2d+clamp(tensor bounds)", neg, "conv2d",
               lambda m, y, lo: torch.max(torch.min(y, lo + 1.0), lo), [_input(conv_out)],
               keep="aten::min", why="bounds that are tensors are no eltwise post-op"),
        Pattern("conv2d(double)+relu", neg, Chain(nn.Conv2d(4, 8, 3), lambda m, y: F.relu(y)).double().eval(),
                (_input((2, 4, 10, 10)).double(),), keep="aten::relu", why="float64 layers stay on ATen"),
        Pattern("conv2d+bn(training)+relu", neg,
                Chain(nn.Conv2d(4, 8, 3), lambda m, y: F.relu(m.bn(y)), bn=nn.BatchNorm2d(8).train()),
                (_input((2, 4, 10, 10)),), keep="aten::batch_norm", why="batch norm in training mode"),
        _chain("conv2d+relu, relu output also viewed in place", neg, "conv2d",
               lambda m, y: F.relu(y).view(-1).add_(1.0), keep="aten::add_",
               why="an in-place add on a view of the result"),
    ]


def all_patterns() -> List[Pattern]:
    torch.manual_seed(0)
    patterns = (activation_patterns() + sum_patterns() + arithmetic_patterns() + norm_patterns() +
                written_out_patterns() + view_patterns() + layer_variant_patterns() + negative_patterns())
    names = [p.name for p in patterns]
    duplicates = {n for n in names if names.count(n) > 1}
    assert not duplicates, duplicates
    return patterns


# ---------------------------------------------------------------------------
# Running the zoo

class Zoo(nn.Module):
    """Every pattern as a submodule, each on inputs of its own; the outputs flattened into one tuple."""

    def __init__(self, patterns: Sequence[Pattern]):
        super().__init__()
        self.patterns = nn.ModuleList([p.module for p in patterns])
        self.arity = [len(p.inputs) for p in patterns]

    def forward(self, *inputs):
        outputs = []
        position = 0
        for module, arity in zip(self.patterns, self.arity):
            result = module(*inputs[position:position + arity])
            position += arity
            outputs += list(result) if isinstance(result, tuple) else [result]
        return tuple(outputs)


def _clone(tensors):
    return tuple(t.clone() for t in tensors)


def _run(module, inputs, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        result = module(*_clone(inputs))
    return list(result) if isinstance(result, tuple) else [result]


def _output_counts(patterns: Sequence[Pattern]) -> List[int]:
    return [len(_run(p.module, p.inputs)) for p in patterns]


def _trace(module, inputs):
    with torch.no_grad():
        return torch.jit.trace(module, _clone(inputs), check_trace=False)


def _save(module, inputs, path: str, example_inputs: bool) -> None:
    """Traces and saves `module`; with example_inputs, its inputs too, as PATH.inputs.pt."""
    _trace(module, inputs).save(path)
    if example_inputs:
        torch.save((_clone(inputs),), path[:-len(".pt")] + ".inputs.pt")


def _tsopt(args: argparse.Namespace, model: str, out: str, report: str) -> None:
    command = ([args.tsopt, model] + shlex.split(args.pipeline) +
               ["--report=coverage-json", "--report-file=" + report, "-o", out])
    if args.example_inputs:
        command.append("--example-inputs=" + model[:-len(".pt")] + ".inputs.pt")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(command), done.returncode, done.stderr.strip()[-2000:]))


def _slice_kinds(graph, outputs) -> List[str]:
    """Kinds of the nodes the given graph values depend on (not past graph inputs)."""
    seen, kinds, stack = set(), [], [o.node() for o in outputs]
    while stack:
        node = stack.pop()
        if id(node) in seen or node.kind() == "prim::Param":
            continue
        seen.add(id(node))
        kinds.append(node.kind())
        for value in node.inputs():
            stack.append(value.node())
        for block in node.blocks():
            for inner in block.nodes():
                stack.append(inner)
    return kinds


def _graph_outputs(graph) -> list:
    (returned,) = list(graph.outputs())
    producer = returned.node()
    if producer.kind() == "prim::TupleConstruct":
        return list(producer.inputs())
    return [returned]


def _classify(kinds: List[str]) -> Tuple[str, List[str]]:
    compute = [k for k in kinds if k.startswith("aten::") and k not in NEUTRAL_KINDS]
    left = sorted(set(compute))
    if any(k in LAYER_KINDS for k in compute):
        return "unfused", left
    if not any(k.startswith("tsopt::") for k in kinds):
        return "unfused", left
    return ("half-fused" if compute else "fused"), left


def _reasons(args, pattern: Pattern, work: str, index: int) -> List[str]:
    """Optimizes the pattern alone and reads the coverage report's reasons for what stayed on ATen."""
    model, out, report = (os.path.join(work, "alone%d%s" % (index, suffix)) for suffix in (".pt", "_opt.pt", ".json"))
    _save(pattern.module, pattern.inputs, model, args.example_inputs)
    try:
        _tsopt(args, model, out, report)
    except RuntimeError as error:
        return [str(error)]
    with open(report) as f:
        coverage = json.load(f)
    reasons = []
    for op in coverage["ops"]:
        if op["aten"] and op["kind"] not in NEUTRAL_KINDS:
            why = "; ".join(r["reason"] for r in op.get("reasons", [])) or "(no pass said why)"
            reasons.append("%s: %s" % (op["kind"], why))
    return reasons


def _matches(expected, actual) -> Tuple[bool, float]:
    worst = 0.0
    ok = len(expected) == len(actual)
    for e, a in zip(expected, actual):
        if e.dtype != a.dtype or e.shape != a.shape:
            return False, math.inf
        if e.numel():
            worst = max(worst, (e.double() - a.double()).abs().max().item())
        ok = ok and torch.allclose(e.double(), a.double(), rtol=RTOL, atol=ATOL)
    return ok, worst


def run_zoo(args: argparse.Namespace, patterns: Sequence[Pattern], work: str) -> List[dict]:
    counts = _output_counts(patterns)
    inputs = tuple(t for p in patterns for t in p.inputs)
    zoo = Zoo(patterns)
    zoo.training = False  # Not .eval(): each pattern stays in its own mode (a batch norm in training mode).
    model, out, report = (os.path.join(work, name) for name in ("zoo.pt", "zoo_opt.pt", "zoo_coverage.json"))
    _save(zoo, inputs, model, args.example_inputs)
    _tsopt(args, model, out, report)
    optimized = torch.jit.load(out)
    outputs = _graph_outputs(optimized.graph)
    assert len(outputs) == sum(counts), (len(outputs), sum(counts))
    optimized_results = _run(optimized, inputs)

    results, first = [], 0
    for index, (pattern, count) in enumerate(zip(patterns, counts)):
        kinds = _slice_kinds(optimized.graph, outputs[first:first + count])
        expected = _run(pattern.module, pattern.inputs)
        if pattern.deterministic:
            ok, worst = _matches(expected, optimized_results[first:first + count])
        else:
            ok, worst = True, math.nan
        first += count
        result, left = _classify(kinds)
        expect = "keep" if pattern.keep else "either" if pattern.either else "fused"
        entry = {"name": pattern.name, "family": pattern.family, "expect": expect,
                 "result": result, "left_on_aten": left, "kernels": sorted({k for k in kinds if k.startswith("tsopt::")}),
                 "outputs_match": ok, "max_abs_error": worst}
        if pattern.keep or pattern.either:
            entry["keep"], entry["why"] = pattern.keep, pattern.why
            entry["kept"] = pattern.either or pattern.keep in kinds
        if expect == "fused" and result != "fused":
            entry["reasons"] = _reasons(args, pattern, work, index)
        results.append(entry)
    return results


def summarize(results: List[dict]) -> dict:
    fusable = [r for r in results if r["expect"] == "fused"]
    left = [r for r in fusable if r["result"] != "fused"]
    families = {}
    for r in results:
        row = families.setdefault(r["family"], {"patterns": 0, "fused": 0, "half-fused": 0, "unfused": 0, "keep": 0,
                                                "either": 0})
        row["patterns"] += 1
        row[r["result"] if r["expect"] == "fused" else r["expect"]] += 1
    return {
        "patterns": len(results),
        "fusable": len(fusable),
        "left_unfused": len(left),
        "unfused_share": len(left) / len(fusable) if fusable else 0.0,
        "keep_violations": [r["name"] for r in results if r["expect"] == "keep" and not r["kept"]],
        "mismatches": [r["name"] for r in results if not r["outputs_match"]],
        "families": families,
    }


def print_report(results: List[dict], summary: dict, seconds: float) -> None:
    print("%-48s %-6s %-10s %-9s %s" % ("pattern", "expect", "result", "max err", "left on ATen / reasons"))
    for r in results:
        err = "-" if math.isnan(r["max_abs_error"]) else "%.1e" % r["max_abs_error"]
        flag = "" if r["outputs_match"] else "  MISMATCH"
        if r["expect"] == "keep":
            flag += "  (kept %s: %s)" % (r["keep"], r["why"]) if r["kept"] else "  KEEP VIOLATED: %s fused" % r["keep"]
        elif r["expect"] == "either":
            flag += "  (either: %s)" % r["why"]
        print("%-48s %-6s %-10s %-9s %s%s" % (r["name"], r["expect"], r["result"], err,
                                             ", ".join(r["left_on_aten"]) or "-", flag))
        for reason in r.get("reasons", []) if r["expect"] == "fused" else []:
            print("%-48s   why: %s" % ("", reason))
    print()
    print("%-14s %8s %6s %10s %8s %5s %6s" % ("family", "patterns", "fused", "half-fused", "unfused", "keep",
                                               "either"))
    for family, row in summary["families"].items():
        print("%-14s %8d %6d %10d %8d %5d %6d" % (family, row["patterns"], row["fused"], row["half-fused"],
                                                row["unfused"], row["keep"], row["either"]))
    print()
    keeps = sum(row["keep"] for row in summary["families"].values())
    print("%d patterns, %d fusable: %d left half-fused or unfused (%.1f%%); %d keep patterns, %d violated; "
          "%d either; %d output mismatches (rtol %g, atol %g); %.1f s" % (
              summary["patterns"], summary["fusable"], summary["left_unfused"], 100 * summary["unfused_share"],
              keeps, len(summary["keep_violations"]), summary["patterns"] - summary["fusable"] - keeps,
              len(summary["mismatches"]), RTOL, ATOL, seconds))


def _default_build() -> str:
    return os.path.join(REPO, "build-debian" if torch.__version__.startswith("1.13") else "build")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tsopt", default=os.path.join(_default_build(), "ir_tools", "tsopt"))
    parser.add_argument("--runtime", default=os.path.join(_default_build(), "runtime", "libtsopt_runtime.so"))
    parser.add_argument("--pipeline", default="-O2", help="tsopt's pipeline arguments, split as a shell would (default -O2)")
    parser.add_argument("--only", help="run only the patterns whose name matches this regex")
    parser.add_argument("--example-inputs", action="store_true",
                        help="give tsopt the patterns' inputs (--example-inputs): ranks and dtypes become known")
    parser.add_argument("--json", help="write the results and the summary to this file")
    parser.add_argument("--work", help="keep the archives in this folder (default: a temporary one)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 on a keep pattern fused, an output mismatch, or too many unfused patterns")
    parser.add_argument("--max-unfused-share", type=float, default=0.05)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.ops.load_library(args.runtime)

    started = time.time()
    patterns = all_patterns()
    if args.only:
        patterns = [p for p in patterns if re.search(args.only, p.name)]
        if not patterns:
            parser.error("--only %r matches no pattern" % args.only)
    if args.work:
        os.makedirs(args.work, exist_ok=True)
        results = run_zoo(args, patterns, args.work)
    else:
        with tempfile.TemporaryDirectory() as work:
            results = run_zoo(args, patterns, work)
    summary = summarize(results)
    print_report(results, summary, time.time() - started)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "pipeline": args.pipeline, "example_inputs": args.example_inputs,
                       "rtol": RTOL, "atol": ATOL,
                       "summary": summary, "patterns": results}, f, indent=1)
    if args.check:
        failures = []
        if summary["keep_violations"]:
            failures.append("keep patterns fused: " + "; ".join(summary["keep_violations"]))
        if summary["mismatches"]:
            failures.append("outputs differ from eager: " + "; ".join(summary["mismatches"]))
        if summary["unfused_share"] > args.max_unfused_share:
            failures.append("%.1f%% of fusable patterns left half-fused or unfused (at most %.1f%%)" % (
                100 * summary["unfused_share"], 100 * args.max_unfused_share))
        for failure in failures:
            print("FAIL: " + failure)
        return 1 if failures else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
