"""Writes a scripted module of int8 convolution chains, as quantize-static
leaves them, for fuse-quantized-conv-act; or checks the fused module against it.

Usage: make_quantized_chains.py OUTPUT.pt
       make_quantized_chains.py --check ORIGINAL.pt FUSED.pt LIBTSOPT_RUNTIME.so
       make_quantized_chains.py --qint8-residual OUTPUT.pt

forward(x) quantizes x (uint8, 7 bits) and returns one result per chain:
  silu       conv -> dequantize -> silu -> quantize_per_tensor(quint8)       fused
  qint8      the same, quantized to qint8                                     kept
  two_uses   conv -> dequantize -> silu, returned beside its quantization     kept
  qparams    quantize_per_tensor with the input's scale (not a constant)      kept
  relu_silu  conv2d_relu -> dequantize -> silu -> quantize_per_tensor         kept
  hardswish  conv -> quantized::hardswish                                     fused
  sigmoid    depthwise conv -> sigmoid on the quantized tensor                fused
  relu6      dilated conv -> hardtanh(0, 6) on the quantized tensor           fused
  lone       conv alone                                                       kept (fused with lone-convs)
  add_relu   quantized::add_relu(conv, q)                                     fused (qconv2d_add_act)
  add        quantized::add(q, conv): the residual first                      fused (qconv2d_add_act)
  add_uses   quantized::add(conv, q), the conv's output returned too          kept
  add_qparams  quantized::add(conv, q) at the input's (non-constant) scale    kept
  add_float  conv -> dequantize -> aten::add(float x) -> quantize_per_tensor  kept
  relu_add   quantized::add(conv2d_relu, q)                                   kept (conv fused with lone-convs)
--qint8-residual writes a module whose quantized::add has a qint8 residual
(kept; PyTorch itself refuses to run it, so it is only rewritten, never run).
Every convolution's output scale is its chain's output scale, so the fused
op (one rounding) and the unfused chain (two) differ by at most 1 + slope / 2
uint8 steps (slope: silu 1.1, hardswish 1.5; the residual adds: 1.5): --check
allows 2, and prints the largest difference per output.
"""
import sys
from typing import List

import torch

SCALE = 0.05
ZERO = 64


def qweight(out_channels, in_channels, generator):
    weight = torch.randn(out_channels, in_channels, 3, 3, generator=generator) * 0.2
    scales = (weight.abs().amax(dim=(1, 2, 3)) / 127).double()
    return torch.quantize_per_channel(weight, scales, torch.zeros(out_channels, dtype=torch.long), 0, torch.qint8)


class Chains(torch.nn.Module):
    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)

        def pack(groups=1, dilation=1, channels=8):
            weight = qweight(channels, 8 // groups, generator)
            bias = torch.randn(channels, generator=generator)
            return torch.ops.quantized.conv2d_prepack(weight, bias, [1, 1], [dilation, dilation],
                                                      [dilation, dilation], groups)

        self.silu = pack()
        self.qint8 = pack()
        self.two_uses = pack()
        self.qparams = pack()
        self.relu_silu = pack()
        self.hardswish = pack()
        self.sigmoid = pack(groups=8)
        self.relu6 = pack(dilation=2)
        self.lone = pack()
        self.add_relu = pack()
        self.add = pack()
        self.add_uses = pack()
        self.add_qparams = pack()
        self.add_float = pack()
        self.relu_add = pack()

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        q = torch.quantize_per_tensor(x, 4.0 / 127, 0, torch.quint8)
        silu = torch.quantize_per_tensor(
            torch.nn.functional.silu(torch.ops.quantized.conv2d(q, self.silu, 0.05, 64).dequantize()),
            0.05, 64, torch.quint8)
        qint8 = torch.quantize_per_tensor(
            torch.nn.functional.silu(torch.ops.quantized.conv2d(q, self.qint8, 0.05, 0).dequantize()),
            0.05, 0, torch.qint8)
        two_uses = torch.nn.functional.silu(torch.ops.quantized.conv2d(q, self.two_uses, 0.05, 64).dequantize())
        two_uses_q = torch.quantize_per_tensor(two_uses, 0.05, 64, torch.quint8)
        qparams = torch.quantize_per_tensor(
            torch.nn.functional.silu(torch.ops.quantized.conv2d(q, self.qparams, 0.05, 64).dequantize()),
            q.q_scale(), 64, torch.quint8)
        relu_silu = torch.quantize_per_tensor(
            torch.nn.functional.silu(torch.ops.quantized.conv2d_relu(q, self.relu_silu, 0.05, 0).dequantize()),
            0.05, 0, torch.quint8)
        hardswish = torch.ops.quantized.hardswish(torch.ops.quantized.conv2d(q, self.hardswish, 0.05, 64), 0.05, 64)
        sigmoid = torch.sigmoid(torch.ops.quantized.conv2d(q, self.sigmoid, 1.0 / 256, 0))
        relu6 = torch.nn.functional.hardtanh(torch.ops.quantized.conv2d(q, self.relu6, 0.05, 0), 0.0, 6.0)
        lone = torch.ops.quantized.conv2d(q, self.lone, 0.05, 64)
        add_relu = torch.ops.quantized.add_relu(torch.ops.quantized.conv2d(q, self.add_relu, 0.05, 64), q, 0.05, 64)
        add = torch.ops.quantized.add(q, torch.ops.quantized.conv2d(q, self.add, 0.05, 64), 0.05, 64)
        add_uses_conv = torch.ops.quantized.conv2d(q, self.add_uses, 0.05, 64)
        add_uses = torch.ops.quantized.add(add_uses_conv, q, 0.05, 64)
        add_qparams = torch.ops.quantized.add(torch.ops.quantized.conv2d(q, self.add_qparams, 0.05, 64), q,
                                              q.q_scale(), 64)
        add_float = torch.quantize_per_tensor(
            torch.ops.quantized.conv2d(q, self.add_float, 0.05, 64).dequantize() + x, 0.05, 64, torch.quint8)
        relu_add = torch.ops.quantized.add(torch.ops.quantized.conv2d_relu(q, self.relu_add, 0.05, 0), q, 0.05, 64)
        return [silu, qint8, two_uses, two_uses_q, qparams, relu_silu, hardswish, sigmoid, relu6, lone, add_relu, add,
                add_uses_conv, add_uses, add_qparams, add_float, relu_add]


class Qint8Residual(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.ops.quantized.conv2d_prepack(qweight(8, 8, torch.Generator().manual_seed(0)), None,
                                                       [1, 1], [1, 1], [1, 1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.quantize_per_tensor(x, 4.0 / 127, 0, torch.quint8)
        residual = torch.quantize_per_tensor(x, 4.0 / 127, 0, torch.qint8)
        return torch.ops.quantized.add(torch.ops.quantized.conv2d(q, self.conv, 0.05, 64), residual, 0.05, 64)


NAMES = ["silu", "qint8", "two_uses", "two_uses_q", "qparams", "relu_silu", "hardswish", "sigmoid", "relu6", "lone",
         "add_relu", "add", "add_uses_conv", "add_uses", "add_qparams", "add_float", "relu_add"]


def check(original_path, fused_path, library):
    torch.ops.load_library(library)
    original = torch.jit.load(original_path)
    fused = torch.jit.load(fused_path)
    x = torch.randn(2, 8, 10, 12, generator=torch.Generator().manual_seed(5)).relu()
    for name, expected, got in zip(NAMES, original(x), fused(x)):
        assert expected.dtype == got.dtype, name
        if got.is_quantized:
            assert (got.q_scale(), got.q_zero_point()) == (expected.q_scale(), expected.q_zero_point()), name
            steps = int((got.int_repr().int() - expected.int_repr().int()).abs().max())
            print("%s: %d steps" % (name, steps))
            assert steps <= 2, name
        else:
            assert torch.allclose(got, expected), name
    print("ok")


if __name__ == "__main__":
    torch.backends.quantized.engine = "onednn" if "onednn" in torch.backends.quantized.supported_engines else "fbgemm"
    if sys.argv[1] == "--check":
        check(*sys.argv[2:5])
    elif sys.argv[1] == "--qint8-residual":
        torch.jit.script(Qint8Residual()).save(sys.argv[2])
    else:
        torch.jit.script(Chains()).save(sys.argv[1])
