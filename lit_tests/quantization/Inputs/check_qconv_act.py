"""Checks tsopt::qconv2d_act and qconv2d_add_act against PyTorch's unfused int8 path.

Usage: check_qconv_act.py LIBTSOPT_RUNTIME.so

For each case (activation, groups, stride, padding, input zero point), the
same quint8 input (7-bit activations, as on CPUs without VNNI) and the same
per-channel qint8 weights go through
  fused:    tsopt::qconv2d_act(qx, packed, conv_scale, conv_zero_point, act, ..., out_scale, out_zero_point)
  unfused:  quantized::conv2d(qx, ..., conv_scale, conv_zero_point) -> dequantize -> act -> quantize_per_tensor
  float:    conv2d(dequantize(qx), dequantized weights) + bias, clamped to the range uint8 covers at
            conv_scale and conv_zero_point -> act -> quantize_per_tensor
With a residual (tsopt::qconv2d_add_act, activation none or relu), the
unfused path is quantized::conv2d -> quantized::add / add_relu(conv, residual),
and the float reference adds dequantize(residual) after the clamp, before the
activation. Compares the results. Tolerances: at most 1 output step (out_scale) from
the float reference anywhere (the fused op rounds once); from the unfused path,
at most 1 output step plus what the unfused path's own rounding of the
convolution to uint8 can move the activation: conv_scale / 2 times the
activation's largest slope (1; silu 1.1, hardswish 1.5, sigmoid 0.25, hardsigmoid 1/6), in
dequantized units. Prints one line per case and "ok", or fails.
"""
import os
import subprocess
import sys

import torch
import torch.nn.functional as F

# name: (function, alpha, beta, largest slope)
ACTIVATIONS = {
    "none": (lambda x: x, 0.0, 0.0, 1.0),
    "relu": (F.relu, 0.0, 0.0, 1.0),
    "clamp": (lambda x: torch.clamp(x, 0.0, 6.0), 0.0, 6.0, 1.0),
    "silu": (F.silu, 0.0, 0.0, 1.1),
    "hardswish": (F.hardswish, 0.0, 0.0, 1.5),
    "sigmoid": (torch.sigmoid, 0.0, 0.0, 0.25),
    # Takes ATen's path: oneDNN 2.6's int8 kernel gets hardsigmoid's post-ops wrong.
    "hardsigmoid": (F.hardsigmoid, 0.0, 0.0, 1.0 / 6),
}


def qparams(tensor, levels=255):
    low, high = min(float(tensor.min()), 0.0), max(float(tensor.max()), 0.0)
    scale = max((high - low) / levels, 1e-8)
    return scale, int(round(-low / scale))


def check_case(activation, groups, stride, padding, zero_input, generator, residual=False, kernel=3, with_bias=True,
               channels=None):
    cin, cout = channels or ((16, 16) if groups > 1 else (8, 12))
    x = torch.randn(2, cin, 9, 11, generator=generator)
    if zero_input:
        x = x.relu()
    in_scale, in_zero = qparams(x, levels=127)
    qx = torch.quantize_per_tensor(x, in_scale, in_zero, torch.quint8)
    weight = torch.randn(cout, cin // groups, kernel, kernel, generator=generator) * 0.3
    bias = torch.randn(cout, generator=generator) if with_bias else None
    wscales = weight.abs().amax(dim=(1, 2, 3)) / 127
    qweight = torch.quantize_per_channel(weight, wscales.double(), torch.zeros(cout, dtype=torch.long), 0, torch.qint8)
    fn, alpha, beta, slope = ACTIVATIONS[activation]
    reference = F.conv2d(qx.dequantize(), qweight.dequantize(), bias, stride, padding, 1, groups)
    # The convolution's range a little narrow, so that its saturation shows.
    conv_scale, conv_zero = qparams(reference * 0.9)
    reference = reference.clamp(-conv_zero * conv_scale, (255 - conv_zero) * conv_scale)
    if residual:
        other = torch.randn(reference.shape, generator=generator)
        other_scale, other_zero = qparams(other)
        qother = torch.quantize_per_tensor(other, other_scale, other_zero, torch.quint8)
        reference = reference + qother.dequantize()
    out_scale, out_zero = qparams(fn(reference))

    packed = torch.ops.tsopt.qconv2d_prepack(qweight, bias, [stride] * 2, [padding] * 2, [1, 1], groups)
    if residual:
        fused = torch.ops.tsopt.qconv2d_add_act(qx, qother, packed, conv_scale, conv_zero, activation, alpha, beta,
                                                out_scale, out_zero)
    else:
        fused = torch.ops.tsopt.qconv2d_act(qx, packed, conv_scale, conv_zero, activation, alpha, beta, out_scale,
                                            out_zero)
    assert fused.dtype == torch.quint8 and fused.q_scale() == out_scale and fused.q_zero_point() == out_zero
    assert fused.is_contiguous(memory_format=torch.channels_last)

    pt_packed = torch.ops.quantized.conv2d_prepack(qweight, bias, [stride] * 2, [padding] * 2, [1, 1], groups)
    conv = torch.ops.quantized.conv2d(qx, pt_packed, conv_scale, conv_zero)
    if residual:
        add = torch.ops.quantized.add_relu if activation == "relu" else torch.ops.quantized.add
        unfused = add(conv, qother, out_scale, out_zero)
    else:
        unfused = torch.quantize_per_tensor(fn(conv.dequantize()), out_scale, out_zero, torch.quint8)
    expected = torch.quantize_per_tensor(fn(reference), out_scale, out_zero, torch.quint8)

    to_float = int((fused.int_repr().int() - expected.int_repr().int()).abs().max())
    to_unfused = float((fused.dequantize() - unfused.dequantize()).abs().max())
    bound = out_scale + slope * conv_scale / 2 + 1e-6
    name = "%s%s %dx%d groups=%d stride=%d padding=%d input-zero-point=%d%s" % (
        "add+" if residual else "", activation, kernel, kernel, groups, stride, padding, in_zero,
        " residual-zero-point=%d" % other_zero if residual else "") + ("" if with_bias else " no-bias") + (
        " channels=%d>%d" % channels if channels else "")
    print("%s: max steps from float %d; from unfused %.3g <= %.3g" % (name, to_float, to_unfused, bound))
    assert to_float <= 1, name
    assert to_unfused <= bound, name

    # A float input takes the reference path: the same values.
    if residual:
        again = torch.ops.tsopt.qconv2d_add_act(qx.dequantize(), qother, packed, conv_scale, conv_zero, activation,
                                                alpha, beta, out_scale, out_zero)
    else:
        again = torch.ops.tsopt.qconv2d_act(qx.dequantize(), packed, conv_scale, conv_zero, activation, alpha, beta,
                                            out_scale, out_zero)
    assert int((again.int_repr().int() - expected.int_repr().int()).abs().max()) <= 1, name


def run_post_op_cases(library):
    """Runs three int8 convolutions whose post-ops differ (in a child process under ONEDNN_VERBOSE)."""
    torch.ops.load_library(library)
    x = torch.quantize_per_tensor(torch.rand(1, 8, 5, 5), 1 / 127, 0, torch.quint8)
    qweight = torch.quantize_per_channel(torch.randn(4, 8, 1, 1), torch.full((4,), 0.01, dtype=torch.double),
                                         torch.zeros(4, dtype=torch.long), 0, torch.qint8)
    packed = torch.ops.tsopt.qconv2d_prepack(qweight, None, [1, 1], [0, 0], [1, 1], 1)
    for activation, zero_point in (("relu", 0), ("clamp", 0), ("none", 128)):
        print("case", activation, zero_point, flush=True)
        torch.ops.tsopt.qconv2d_act(x, packed, 0.05, zero_point, activation, 0.0, 6.0, 0.05, zero_point)
    # Padded convolutions with a source zero point (60): padded explicitly with it where that pays (qconv_packed.cpp's
    # padsSourceExplicitly), oneDNN's runtime zero point otherwise; depthwise layers on one thread only.
    for name, cin, cout, kernel, stride, groups, size, threads in (
            ("depthwise 3x3 16 @ 9x11", 16, 16, 3, 1, 16, (9, 11), 1),
            ("stem 7x7 3>64 stride 2", 3, 64, 7, 2, 1, (9, 11), 1),
            ("stem 7x7 3>64 stride 2, 2 threads", 3, 64, 7, 2, 1, (9, 11), 2),
            ("dense 3x3 8>12", 8, 12, 3, 1, 1, (9, 11), 1),
            ("depthwise 3x3 32 @ 80x80", 32, 32, 3, 1, 32, (80, 80), 1),
            ("depthwise 3x3 16 @ 9x11, 2 threads", 16, 16, 3, 1, 16, (9, 11), 2)):
        torch.set_num_threads(threads)
        source = torch.quantize_per_tensor(torch.rand(1, cin, *size), 1 / 127, 60, torch.quint8)
        weight = torch.quantize_per_channel(torch.randn(cout, cin // groups, kernel, kernel),
                                            torch.full((cout,), 0.01, dtype=torch.double),
                                            torch.zeros(cout, dtype=torch.long), 0, torch.qint8)
        padded = torch.ops.tsopt.qconv2d_prepack(weight, None, [stride] * 2, [kernel // 2] * 2, [1, 1], groups)
        print("case zero-points " + name, flush=True)
        torch.ops.tsopt.qconv2d_act(source, padded, 0.05, 0, "relu", 0.0, 0.0, 0.05, 0)


def print_post_ops(library):
    """The requantization folded into the output scales where the output's zero point is 0 and the activation
    commutes with a positive factor (relu; clamp with its bounds scaled), kept as eltwise_linear otherwise."""
    child = subprocess.run([sys.executable, __file__, library, "--post-op-cases"], capture_output=True, text=True,
                           check=True, env=dict(os.environ, ONEDNN_VERBOSE="1"))
    case = None
    for line in child.stdout.splitlines():
        if line.startswith("case "):
            case = line[len("case "):]
        elif ",exec," in line and "convolution" in line:
            post_ops = [field for field in line.split(",") if field.startswith("attr-")]
            post_ops = " ".join(field.split(":", 1)[1] for part in post_ops for field in part.split()
                                if field.startswith("attr-post-ops:"))
            if case.startswith("zero-points "):
                zero_points = [field for field in line.split(",") for part in field.split()
                               if part.startswith("attr-zero-points:")]
                print("%s: %s" % (case, "runtime zero point" if zero_points else "folded"))
            else:
                print("post-ops %s: %s" % (case, post_ops or "none"))


class FreshResidual(torch.nn.Module):
    """A residual whose last use is the fused op: TorchScript's interpreter hands over its only reference."""

    def __init__(self, packed):
        super().__init__()
        self.packed = packed

    def forward(self, x, other):
        residual = torch.quantize_per_tensor(other, 0.02, 100, torch.quint8).contiguous(memory_format=torch.channels_last)
        return torch.ops.tsopt.qconv2d_add_act(x, residual, self.packed, 0.05, 0, "relu", 0.0, 0.0, 0.04, 0)


def check_residual_reuse():
    """qconv2d_add_act writes its result over the residual only where nothing else can see it: counted by the
    output allocations (aten::_empty_affine_quantized) the op makes under the profiler."""
    generator = torch.Generator().manual_seed(1)
    x = torch.quantize_per_tensor(torch.rand(1, 8, 5, 5, generator=generator), 1 / 127, 0, torch.quint8)
    qweight = torch.quantize_per_channel(torch.randn(4, 8, 1, 1, generator=generator),
                                         torch.full((4,), 0.01, dtype=torch.double), torch.zeros(4, dtype=torch.long),
                                         0, torch.qint8)
    packed = torch.ops.tsopt.qconv2d_prepack(qweight, None, [1, 1], [0, 0], [1, 1], 1)
    other = torch.randn(1, 4, 5, 5, generator=generator)
    held = torch.quantize_per_tensor(other, 0.02, 100, torch.quint8).contiguous(memory_format=torch.channels_last)
    held_values = held.int_repr().clone()
    scripted = torch.jit.script(FreshResidual(packed))
    scripted(x, other)

    def allocations(function):
        with torch.profiler.profile() as profile:
            result = function()
        return result, sum(1 for event in profile.events() if event.name == "aten::_empty_affine_quantized"
                           and event.cpu_parent is not None and event.cpu_parent.name == "tsopt::qconv2d_add_act")

    eager, eager_allocations = allocations(
        lambda: torch.ops.tsopt.qconv2d_add_act(x, held, packed, 0.05, 0, "relu", 0.0, 0.0, 0.04, 0))
    fresh, fresh_allocations = allocations(lambda: scripted(x, other))
    assert torch.equal(held.int_repr(), held_values), "a residual Python holds changed"
    assert torch.equal(eager.int_repr(), fresh.int_repr()) and (fresh.q_scale(), fresh.q_zero_point()) == (0.04, 0)
    print("residual held by Python: %d output allocation, unchanged; residual's last use: %d output allocations, "
          "same result" % (eager_allocations, fresh_allocations))


def main(library):
    torch.ops.load_library(library)
    torch.backends.quantized.engine = "onednn" if "onednn" in torch.backends.quantized.supported_engines else "fbgemm"
    generator = torch.Generator().manual_seed(0)
    for activation in ACTIVATIONS:
        check_case(activation, 1, 1, 1, False, generator)
    check_case("silu", 16, 1, 1, False, generator)
    check_case("hardswish", 16, 2, 1, False, generator)
    check_case("relu", 1, 2, 0, True, generator)
    # The residual add as a sum post-op (ResNet's add_relu, MobileNetV2's add; 1x1 and depthwise layers).
    check_case("relu", 1, 1, 1, False, generator, residual=True)
    check_case("none", 1, 1, 1, False, generator, residual=True)
    check_case("none", 1, 2, 1, True, generator, residual=True)
    check_case("relu", 16, 1, 1, False, generator, residual=True)
    check_case("relu", 1, 1, 0, False, generator, residual=True, kernel=1)
    check_case("none", 1, 1, 0, True, generator, residual=True, kernel=1)
    # Zero points folded (no padding: the source's into the bias; no activation after the sum: the residual's into
    # the requantization), MobileNetV2's expansion (relu6) and projection + add layers among them.
    check_case("clamp", 1, 1, 0, False, generator, kernel=1)
    check_case("none", 1, 1, 0, False, generator, kernel=1, with_bias=False)
    check_case("silu", 16, 2, 0, False, generator)
    check_case("none", 1, 1, 0, False, generator, residual=True, kernel=1)
    check_case("none", 1, 1, 0, False, generator, residual=True, kernel=1, with_bias=False)
    # Padded with a source zero point: the input padded explicitly with it where qconv_packed.cpp's
    # padsSourceExplicitly says so (depthwise layers on small inputs on one thread, as lit runs them; stems with many
    # outputs per input byte), the runtime zero point otherwise (the 3x3 cases with groups=1 at the top). Depthwise
    # 3x3 and 5x5, stride 1 and 2, a residual; a 7x7 stem with 3 input channels, stride 2, 9x11 -> 5x6.
    check_case("clamp", 16, 1, 1, False, generator)
    check_case("hardswish", 16, 2, 2, False, generator, kernel=5)
    check_case("none", 16, 1, 1, False, generator, residual=True)
    check_case("relu", 1, 2, 3, False, generator, kernel=7, channels=(3, 64))
    check_case("none", 1, 2, 3, False, generator, kernel=7, channels=(3, 64), with_bias=False)

    # Serializable: a scripted module holding the packed weights reloads.
    x = torch.quantize_per_tensor(torch.rand(1, 8, 5, 5), 1 / 127, 0, torch.quint8)
    qweight = torch.quantize_per_channel(torch.randn(4, 8, 1, 1), torch.full((4,), 0.01, dtype=torch.double),
                                         torch.zeros(4, dtype=torch.long), 0, torch.qint8)
    packed = torch.ops.tsopt.qconv2d_prepack(qweight, None, [1, 1], [0, 0], [1, 1], 1)
    state = packed.__getstate__()
    reloaded = torch.ops.tsopt.qconv2d_prepack(qweight, None, [1, 1], [0, 0], [1, 1], 1)
    reloaded.__setstate__(state)
    first = torch.ops.tsopt.qconv2d_act(x, packed, 0.05, 128, "none", 0.0, 0.0, 0.05, 128)
    second = torch.ops.tsopt.qconv2d_act(x, reloaded, 0.05, 128, "none", 0.0, 0.0, 0.05, 128)
    assert torch.equal(first.int_repr(), second.int_repr())

    # A residual the kernel does not read (qint8) takes the ATen fallback: the same sum.
    residual = torch.quantize_per_tensor(torch.randn(1, 4, 5, 5), 0.02, 0, torch.qint8)
    fallback = torch.ops.tsopt.qconv2d_add_act(x, residual, packed, 0.05, 128, "none", 0.0, 0.0, 0.05, 128)
    kernel = torch.ops.tsopt.qconv2d_add_act(x, torch.quantize_per_tensor(residual.dequantize(), 0.02, 128,
                                                                          torch.quint8),
                                             packed, 0.05, 128, "none", 0.0, 0.0, 0.05, 128)
    assert int((fallback.int_repr().int() - kernel.int_repr().int()).abs().max()) <= 1
    print("qint8 residual: ATen fallback, within 1 step of the kernel")
    print_post_ops(library)
    check_residual_reuse()

    # NEGATIVE: a float weight, an output zero point out of range, a residual of another size fail with one line.
    for bad in (lambda: torch.ops.tsopt.qconv2d_prepack(torch.randn(4, 8, 1, 1), None, [1, 1], [0, 0], [1, 1], 1),
                lambda: torch.ops.tsopt.qconv2d_act(x, packed, 0.05, 128, "none", 0.0, 0.0, 0.05, 300),
                lambda: torch.ops.tsopt.qconv2d_add_act(x, x[:, :4, :3], packed, 0.05, 128, "none", 0.0, 0.0, 0.05,
                                                        128)):
        try:
            bad()
        except RuntimeError as error:
            print("error:", str(error).splitlines()[0])
        else:
            raise AssertionError("expected an error")
    print("ok")


if __name__ == "__main__":
    if sys.argv[2:] == ["--post-op-cases"]:
        run_post_op_cases(sys.argv[1])
    else:
        main(sys.argv[1])
