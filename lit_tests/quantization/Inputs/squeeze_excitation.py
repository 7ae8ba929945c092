"""Squeeze-excitation blocks for quantize-squeeze-excitation's lit test.

Usage: squeeze_excitation.py gates OUTPUT.pt
       squeeze_excitation.py check-gates ORIGINAL.pt REWRITTEN.pt
       squeeze_excitation.py check-kernel LIBTSOPT_RUNTIME.so
       squeeze_excitation.py net OUTPUT.pt
       squeeze_excitation.py check-net FLOAT.pt INPUTS.pt LIBTSOPT_RUNTIME.so NAME=INT8.pt...

gates: a scripted module of the float32 islands quantize-static leaves in a
squeeze-excitation block, between uint8 tensors: the activation of a
dequantized tensor, its pooling and its gating multiply, each requantized.
  silu       SiLU (scale 0.05, zero point 64), adaptive_avg_pool2d, gate * a
  hardswish  hardswish (scale 0.04, zero point 40), mean over H, W, a * gate
It returns the uint8 values of the four requantizations. check-gates runs it
and its rewrite on random inputs and prints, per output, the largest
difference in uint8 steps and its bound. The original module computes the
float32 result of the same uint8 operands and rounds once: it is PyTorch's
unfused chain and the float computation at once. The rewrite rounds the
activation to its own scale s_a first: the gate (at most 255/256) times half
a step of s_a, then the output's rounding (1 step): bound 1 + 0.5 s_a / s_m;
the pooling averages values rounded by half a step of s_a and rounds to s_a
again: bound 1 + s_a / s_p. "ok" when all are within bounds.

check-kernel: tsopt::quantized_gate (fuse-quantized-gate's op) against
quantized::mul on per-channel gates, either operand, NCHW and channels-last,
batch 2 with a gate per element or one for all: within 1 uint8 step (float32
multiplier per channel instead of PyTorch's integer product), the activation's
layout kept; other shapes fall back to quantized::mul exactly; bad operands
fail as quantized::mul does.

net: a small EfficientNet/MobileNetV3-like network (conv-bn-SiLU stem; an
inverted residual block with SiLU and a squeeze-excitation of SiLU/sigmoid;
one with hardswish and ReLU/hardsigmoid; pooling and a classifier), traced in
eval mode, with OUTPUT.inputs.pt (8 inputs) and OUTPUT.calib.pt (16).
check-net prints each int8 module's mean and worst cosine to the float one,
and fails when the worst cosine of "se" (quantize-squeeze-excitation) is more
than 0.002 below that of "static" (quantize-static alone), or that of "fused"
(then fuse-quantized-conv-act, fuse-quantized-gate) below "before" (those
fusions without quantize-squeeze-excitation).
"""
import sys
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

from zoo_common import randomize_norm_affine, trace

SILU_OUTPUTS = (0.01, 28, 0.02, 14)      # pooled scale, zero point; multiplied scale, zero point
HARDSWISH_OUTPUTS = (0.01, 20, 0.03, 10)


class Gates(nn.Module):
    def forward(self, x: torch.Tensor, gate: torch.Tensor) -> List[torch.Tensor]:
        g = torch.quantize_per_tensor(gate, 1.0 / 256, 0, torch.quint8).dequantize()
        a = F.silu(torch.quantize_per_tensor(x, 0.05, 64, torch.quint8).dequantize())
        pooled = torch._C._nn.adaptive_avg_pool2d(a, [1, 1])
        p = torch.quantize_per_tensor(pooled, 0.01, 28, torch.quint8)
        m = torch.quantize_per_tensor(g * a, 0.02, 14, torch.quint8)
        h = F.hardswish(torch.quantize_per_tensor(x, 0.04, 40, torch.quint8).dequantize())
        hp = torch.quantize_per_tensor(h.mean([2, 3], keepdim=True), 0.01, 20, torch.quint8)
        hm = torch.quantize_per_tensor(h * g, 0.03, 10, torch.quint8)
        return [p.int_repr(), m.int_repr(), hp.int_repr(), hm.int_repr()]


def activation_scales(module) -> List[float]:
    """The scales the rewrite gave the activations, in graph order."""
    scales = []
    for node in module.graph.nodes():
        if node.kind() == "aten::quantize_per_tensor" and node.inputsAt(0).node().kind().startswith(
                ("aten::silu", "aten::hardswish")):
            scales.append(node.inputsAt(1).toIValue())
    return scales


def check_gates(original_path: str, rewritten_path: str) -> int:
    original = torch.jit.load(original_path)
    rewritten = torch.jit.load(rewritten_path)
    graph = str(rewritten.graph)
    scales = activation_scales(rewritten)
    if graph.count("quantized::mul") != 2 or len(scales) != 2:
        print("FAILED: expected 2 quantized::mul and 2 quantized activations in\n" + graph)
        return 1
    generator = torch.Generator().manual_seed(0)
    worst = [0, 0, 0, 0]
    for _ in range(8):
        x = torch.randn(2, 16, 7, 7, generator=generator) * 2
        gate = torch.rand(2, 16, 1, 1, generator=generator)
        expected = original(x, gate)
        actual = rewritten(x, gate)
        for index, (e, a) in enumerate(zip(expected, actual)):
            worst[index] = max(worst[index], int((e.int() - a.int()).abs().max()))
    failed = False
    for index, (name, (pooled_scale, _, mul_scale, _), scale) in enumerate(
            [("silu", SILU_OUTPUTS, scales[0]), ("hardswish", HARDSWISH_OUTPUTS, scales[1])]):
        for kind, steps, bound in (("pooled", worst[2 * index], int(1 + scale / pooled_scale)),
                                   ("gated", worst[2 * index + 1], int(1 + 0.5 * scale / mul_scale))):
            print("%s %s: max steps from PyTorch's unfused chain %d (bound %d, activation scale %.5f)"
                  % (name, kind, steps, bound, scale))
            failed |= steps > bound
    print("FAILED" if failed else "ok")
    return 1 if failed else 0


def check_kernel(runtime: str) -> int:
    torch.ops.load_library(runtime)
    generator = torch.Generator().manual_seed(1)
    failed = False
    for layout in (torch.contiguous_format, torch.channels_last):
        for gate_batch in (2, 1):
            for gate_first in (False, True):
                x = torch.quantize_per_tensor(torch.randn(2, 24, 9, 7, generator=generator) * 2, 0.05, 60,
                                              torch.quint8).contiguous(memory_format=layout)
                gate = torch.quantize_per_tensor(torch.rand(gate_batch, 24, 1, 1, generator=generator), 1.0 / 256, 0,
                                                 torch.quint8)
                operands = (gate, x) if gate_first else (x, gate)
                expected = torch.ops.quantized.mul(*operands, 0.03, 9)
                actual = torch.ops.tsopt.quantized_gate(*operands, 0.03, 9)
                steps = int((expected.int_repr().int() - actual.int_repr().int()).abs().max())
                same = float((expected.int_repr() == actual.int_repr()).float().mean())
                kept = actual.is_contiguous(memory_format=layout)
                print("gate %s, batch %d gate, %s: max steps %d, equal %.4f, layout kept %s"
                      % ("first" if gate_first else "second", gate_batch,
                         "channels-last" if layout == torch.channels_last else "NCHW", steps, same, kept))
                failed |= steps > 1 or not kept or actual.q_scale() != 0.03 or actual.q_zero_point() != 9
    # Not a per-channel gate: quantized::mul itself, bit for bit.
    a = torch.quantize_per_tensor(torch.randn(2, 24, 9, 7, generator=generator), 0.05, 60, torch.quint8)
    b = torch.quantize_per_tensor(torch.randn(2, 24, 9, 7, generator=generator), 0.04, 70, torch.quint8)
    same = torch.equal(torch.ops.quantized.mul(a, b, 0.03, 9).int_repr(),
                       torch.ops.tsopt.quantized_gate(a, b, 0.03, 9).int_repr())
    print("same shapes: quantized::mul fallback, identical %s" % same)
    failed |= not same
    try:
        torch.ops.tsopt.quantized_gate(torch.randn(2, 24, 9, 7), b, 0.03, 9)
        print("float operand: no error")
        failed = True
    except RuntimeError as error:
        print("float operand: error: " + str(error).strip().splitlines()[0][:60])
    print("FAILED" if failed else "ok")
    return 1 if failed else 0


class SqueezeExcitation(nn.Module):
    def __init__(self, channels, squeeze, activation, gate):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = activation()
        self.scale_activation = gate()

    def forward(self, x):
        return self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x))))) * x


class InvertedResidual(nn.Module):
    def __init__(self, channels, expanded, activation, se_activation, gate):
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(channels, expanded, 1, bias=False), nn.BatchNorm2d(expanded), activation())
        self.depthwise = nn.Sequential(nn.Conv2d(expanded, expanded, 3, padding=1, groups=expanded, bias=False),
                                       nn.BatchNorm2d(expanded), activation())
        self.se = SqueezeExcitation(expanded, expanded // 4, se_activation, gate)
        self.project = nn.Sequential(nn.Conv2d(expanded, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        return self.project(self.se(self.depthwise(self.expand(x)))) + x


class SENet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.SiLU())
        self.silu_block = InvertedResidual(16, 64, nn.SiLU, nn.SiLU, nn.Sigmoid)
        self.hardswish_block = InvertedResidual(16, 64, nn.Hardswish, nn.ReLU, nn.Hardsigmoid)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.hardswish_block(self.silu_block(self.stem(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def make_net(output: str) -> None:
    torch.manual_seed(0)
    model = SENet()
    batches = [(torch.randn(1, 3, 32, 32),) for _ in range(24)]
    model.train()
    with torch.no_grad():
        for batch in batches[:4]:
            model(*batch)
        randomize_norm_affine(model)
        trace(model, batches[:1]).save(output)
    torch.save(tuple(batches[:8]), output[:-3] + ".inputs.pt")
    torch.save(tuple(batches[8:]), output[:-3] + ".calib.pt")


def check_net(float_path: str, inputs_path: str, runtime: str, variants: List[str]) -> int:
    torch.ops.load_library(runtime)
    reference = torch.jit.load(float_path)
    inputs = torch.load(inputs_path)
    worst = {}
    for variant in variants:
        name, path = variant.split("=", 1)
        module = torch.jit.load(path)
        with torch.no_grad():
            cosines = [float(F.cosine_similarity(reference(*args).flatten(), module(*args).flatten(), dim=0))
                       for args in inputs]
        worst[name] = min(cosines)
        print("%s: cosine mean %.4f worst %.4f" % (name, sum(cosines) / len(cosines), min(cosines)))
    # The criterion: no more than 0.002 below the graph without the rewrite.
    failed = False
    for rewritten, baseline in (("se", "static"), ("fused", "before")):
        if rewritten in worst and baseline in worst:
            drop = worst[baseline] - worst[rewritten]
            print("%s against %s: worst cosine %+.4f (at most 0.002 lower)" % (rewritten, baseline, -drop))
            failed |= drop > 0.002
    print("FAILED" if failed else "ok")
    return 1 if failed else 0


def main(argv: List[str]) -> int:
    if len(argv) >= 3 and argv[1] == "gates":
        torch.jit.script(Gates()).save(argv[2])
        return 0
    if len(argv) == 4 and argv[1] == "check-gates":
        return check_gates(argv[2], argv[3])
    if len(argv) == 3 and argv[1] == "check-kernel":
        return check_kernel(argv[2])
    if len(argv) == 3 and argv[1] == "net":
        make_net(argv[2])
        return 0
    if len(argv) >= 5 and argv[1] == "check-net":
        return check_net(argv[2], argv[3], argv[4], argv[5:])
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
