#!/usr/bin/env python3
"""Every torch.nn layer, and small models built from functional calls, through
tsopt as a new user would run them: each traced and scripted, saved, optimized
with -O1 and -O2 under --check-equivalence, then with --example-inputs and the
int8 pipelines of docs/quantization.md. Prints each failure (a crash, an
internal assert, a mismatch, an optimized module that no longer runs on the
original's inputs) and ends with "done N" failures; exit status 1 if N > 0.

Run it with the interpreter of the LibTorch line the tsopt binary was built
for: /usr/bin/python3 with build-debian/ir_tools/tsopt, .venv/bin/python3 with
build/ir_tools/tsopt. Outside CI (minutes per line); docs/robustness.md says
what it found.

  scripts/check_layer_zoo.py --tsopt build/ir_tools/tsopt --work-dir /tmp/zoo [--only linear,conv2d]
"""

import argparse
import os
import subprocess
import sys
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

DYNAMIC_INT8 = (
    "O1,sink-views,fuse-concat-linear,fuse-linear-dynamic,fuse-add-layer-norm,fuse-attention,"
    "convert-attention-bf16,dce"
)
STATIC_INT8 = (
    "O1,insert-observers{activation-observer=histogram},calibrate,quantize-static{engine=onednn},"
    "quantize-squeeze-excitation,fuse-quantized-conv-act,fuse-quantized-gate,dce"
)


def R(*sizes):
    """One input: a random tensor of these sizes."""
    return lambda: (torch.randn(*sizes),)


class InplaceChain(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.bn(self.c(x))
        y.relu_()
        y.add_(1.0)
        z = y.clone()
        z.mul_(2)
        return y, z


class SplitCat(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(8, 12)

    def forward(self, x):
        a, b, c = self.l(x).chunk(3, -1)
        return torch.cat([F.gelu(a), torch.sigmoid(b) * c, a + b], -1)


class Control(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 4)
        self.n = 3

    def forward(self, x):
        for i in range(self.n):
            if x.sum() > 0:
                x = torch.relu(self.l(x))
            else:
                x = self.l(x) - 1
        return x


class DictOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 2)

    def forward(self, x) -> Dict[str, torch.Tensor]:
        return {"a": self.l(x), "b": x.mean(0)}


class ListIn(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 4)

    def forward(self, xs: List[torch.Tensor]):
        return torch.stack([self.l(x) for x in xs]).sum(0)


class IntOps(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("idx", torch.tensor([2, 0, 1]))
        self.w = nn.Parameter(torch.randn(3, 3))

    def forward(self, x):
        y = x[:, self.idx] @ self.w
        return y.argmax(-1), (y > 0).sum(), y.to(torch.float64) * 2, y.int() + 1


class MaskedFill(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(6, 6)

    def forward(self, x):
        m = x < 0
        return self.l(x).masked_fill(m, -1e4).softmax(-1), torch.where(m, x, self.l(x))


class SetItem(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv1d(4, 4, 1)

    def forward(self, x):
        y = self.c(x)
        y[:, 0] = 0.0
        y[..., -1] += 1
        return y


class ConvResid(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(8, 8, 3, padding=1)
        self.b1 = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 1)
        self.b2 = nn.BatchNorm2d(8)

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + x), y


class SharedConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        a = self.c(x)
        return F.relu(a) + self.c(a), a


class Upsampler(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        y = F.interpolate(self.c(x), scale_factor=2.0, mode="nearest")
        return F.avg_pool2d(y, 2) + x


class Half(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(8, 8)

    def forward(self, x):
        return self.l(x.double().float()).half().float()


class ScalarOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 1)

    def forward(self, x) -> Tuple[float, int, torch.Tensor]:
        y = self.l(x)
        return float(y.sum()), int(y.numel()), y


class OptionalArgs(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 4)

    def forward(self, x, y: Optional[torch.Tensor] = None, scale: float = 2.0):
        z = self.l(x)
        if y is not None:
            z = z + y
        return z * scale


class Einsum(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 5, 6))

    def forward(self, x):
        return torch.einsum("bi,ijk->bjk", x, self.w).flatten(1).logsumexp(-1)


class LinearBnTranspose(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(6, 6)
        self.bn = nn.BatchNorm1d(6)

    def forward(self, x):
        return self.bn(self.l(x).transpose(1, 2)).transpose(1, 2)


class ConvAct(nn.Module):
    def __init__(self, act):
        super().__init__()
        self.c = nn.Conv2d(4, 6, 3)
        self.a = act

    def forward(self, x):
        return self.a(self.c(x))


class EmptyBatch(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.c(x).relu()


def layer_cases():
    return {
        "linear": (nn.Linear(8, 4), R(3, 8)),
        "linear_nobias": (nn.Linear(8, 4, bias=False), R(2, 5, 8)),
        "bilinear": (nn.Bilinear(4, 5, 3), lambda: (torch.randn(2, 4), torch.randn(2, 5))),
        "conv1d": (nn.Conv1d(3, 4, 3), R(1, 3, 10)),
        "conv2d": (nn.Conv2d(3, 4, 3, padding=1), R(1, 3, 8, 8)),
        "conv2d_nobias_s2": (nn.Conv2d(3, 8, 3, stride=2, bias=False), R(2, 3, 9, 9)),
        "conv2d_groups": (nn.Conv2d(4, 8, 3, groups=2, dilation=2, padding=2), R(1, 4, 8, 8)),
        "conv2d_dw": (nn.Conv2d(8, 8, 3, groups=8, padding=1), R(1, 8, 8, 8)),
        "conv2d_reflect": (nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), R(1, 3, 8, 8)),
        "conv2d_same": (nn.Conv2d(3, 4, 4, padding="same"), R(1, 3, 8, 8)),
        "conv3d": (nn.Conv3d(2, 4, 3, padding=1), R(1, 2, 4, 6, 6)),
        "convT2d": (nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), R(1, 4, 5, 5)),
        "convT1d": (nn.ConvTranspose1d(4, 3, 3, stride=2), R(1, 4, 5)),
        "bn1d": (nn.BatchNorm1d(4), R(3, 4)),
        "bn2d": (nn.BatchNorm2d(4), R(2, 4, 5, 5)),
        "bn3d": (nn.BatchNorm3d(4), R(1, 4, 3, 3, 3)),
        "ln": (nn.LayerNorm(8), R(2, 3, 8)),
        "gn": (nn.GroupNorm(2, 4), R(2, 4, 5, 5)),
        "in2d": (nn.InstanceNorm2d(4, affine=True), R(2, 4, 5, 5)),
        "embedding": (nn.Embedding(10, 4), lambda: (torch.randint(0, 10, (2, 5)),)),
        "embbag": (nn.EmbeddingBag(10, 4), lambda: (torch.randint(0, 10, (2, 5)),)),
        "lstm": (nn.LSTM(4, 6, batch_first=True), R(2, 5, 4)),
        "gru": (nn.GRU(4, 6, num_layers=2), R(5, 2, 4)),
        "rnn": (nn.RNN(4, 6), R(5, 2, 4)),
        "mha": (nn.MultiheadAttention(8, 2, batch_first=True), lambda: (torch.randn(2, 5, 8),) * 3),
        "tel": (nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True), R(2, 5, 16)),
        "tdl": (
            nn.TransformerDecoderLayer(16, 2, 32, dropout=0.0),
            lambda: (torch.randn(5, 2, 16), torch.randn(4, 2, 16)),
        ),
        "prelu": (nn.PReLU(4), R(2, 4, 3, 3)),
        "relu": (nn.ReLU(), R(3, 4)),
        "gelu": (nn.GELU("tanh"), R(3, 4)),
        "softmax": (nn.Softmax(-1), R(3, 4)),
        "logsoftmax": (nn.LogSoftmax(1), R(3, 4)),
        "hardswish": (nn.Hardswish(), R(3, 4)),
        "maxpool": (nn.MaxPool2d(2), R(1, 3, 8, 8)),
        "avgpool": (nn.AvgPool2d(3, 2, 1), R(1, 3, 8, 8)),
        "adaptive": (nn.AdaptiveAvgPool2d(1), R(1, 3, 8, 8)),
        "upsample": (nn.Upsample(scale_factor=2, mode="bilinear"), R(1, 3, 4, 4)),
        "pixelshuffle": (nn.PixelShuffle(2), R(1, 8, 3, 3)),
        "flatten": (nn.Flatten(), R(2, 3, 4)),
        "dropout": (nn.Dropout(0.5), R(3, 4)),
        "identity": (nn.Identity(), R(3, 4)),
        "seq_lin_bn": (nn.Sequential(nn.Linear(8, 6), nn.BatchNorm1d(6), nn.ReLU()), R(4, 8)),
        "seq_conv_bn": (nn.Sequential(nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6), nn.ReLU6()), R(1, 3, 8, 8)),
        "cosine": (nn.CosineSimilarity(), lambda: (torch.randn(3, 4), torch.randn(3, 4))),
        "pairwise": (nn.PairwiseDistance(), lambda: (torch.randn(3, 4), torch.randn(3, 4))),
        "unfold": (nn.Unfold(2), R(1, 3, 4, 4)),
        "fold": (nn.Fold((4, 4), 2), R(1, 12, 9)),
        "channelshuffle": (nn.ChannelShuffle(2), R(1, 4, 3, 3)),
        "zeropad": (nn.ZeroPad2d((0, 1, 0, 1)), R(1, 3, 4, 4)),
        "lppool": (nn.LPPool2d(2, 2), R(1, 3, 4, 4)),
        "localresp": (nn.LocalResponseNorm(2), R(1, 4, 4, 4)),
        "rmsnorm": (nn.RMSNorm(8), R(2, 8)) if hasattr(nn, "RMSNorm") else (nn.Identity(), R(2, 8)),
    }


def model_cases():
    return {
        "inplace_chain": (InplaceChain(), R(1, 3, 6, 6)),
        "split_cat": (SplitCat(), R(2, 3, 8)),
        "control": (Control(), R(2, 4)),
        "dict_out": (DictOut(), R(3, 4)),
        "list_in": (ListIn(), lambda: ([torch.randn(2, 4), torch.randn(2, 4)],)),
        "int_ops": (IntOps(), R(4, 3)),
        "masked_fill": (MaskedFill(), R(2, 6)),
        "setitem": (SetItem(), R(1, 4, 5)),
        "conv_resid": (ConvResid(), R(1, 8, 6, 6)),
        "shared_conv": (SharedConv(), R(1, 4, 6, 6)),
        "upsampler": (Upsampler(), R(1, 4, 5, 5)),
        "half": (Half(), R(3, 8)),
        "scalar_out": (ScalarOut(), R(3, 4)),
        "optional": (OptionalArgs(), R(3, 4)),
        "einsum": (Einsum(), R(3, 4)),
        "linear_bn_t": (LinearBnTranspose(), R(2, 5, 6)),
        "conv_elu": (ConvAct(nn.ELU()), R(1, 4, 6, 6)),
        "conv_leaky": (ConvAct(nn.LeakyReLU(0.2)), R(1, 4, 6, 6)),
        "conv_hardtanh": (ConvAct(nn.Hardtanh(-0.5, 0.5)), R(1, 4, 6, 6)),
        "conv_softplus": (ConvAct(nn.Softplus(beta=2.0)), R(1, 4, 6, 6)),
        "conv_celu": (ConvAct(nn.CELU()), R(1, 4, 6, 6)),
        "conv_selu": (ConvAct(nn.SELU()), R(1, 4, 6, 6)),
        "conv_mish": (ConvAct(nn.Mish()), R(1, 4, 6, 6)),
        "conv_threshold": (ConvAct(nn.Threshold(0.1, 20.0)), R(1, 4, 6, 6)),
        "conv_softsign": (ConvAct(nn.Softsign()), R(1, 4, 6, 6)),
        "conv_tanhshrink": (ConvAct(nn.Tanhshrink()), R(1, 4, 6, 6)),
        "conv_glu": (ConvAct(nn.GLU(1)), R(1, 4, 6, 6)),
        "conv_relu6": (ConvAct(nn.ReLU6()), R(1, 4, 6, 6)),
        "conv_silu": (ConvAct(nn.SiLU()), R(1, 4, 6, 6)),
        "empty_batch": (EmptyBatch(), R(0, 3, 6, 6)),
    }


def run_tsopt(tsopt, arguments):
    try:
        result = subprocess.run([tsopt] + arguments, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return None, "timed out after 600 s"
    return result.returncode, (result.stderr + result.stdout).strip()


def check(tsopt, path, inputs):
    """The failures of one saved model, as lines."""
    failures = []
    stem = path[: -len(".pt")]
    runs = [
        ("-O1", [path, "-O1", "--check-equivalence", "-o", stem + ".O1.out.pt"], True),
        ("-O2", [path, "-O2", "--check-equivalence", "-o", stem + ".O2.out.pt"], True),
        (
            "--example-inputs",
            [path, "-O2", "--example-inputs=" + inputs, "--check-equivalence", "-o", stem + ".ex.out.pt"],
            True,
        ),
        ("dynamic int8", [path, "--passes=" + DYNAMIC_INT8, "--check-equivalence", "-o", stem + ".dyn.out.pt"], False),
        (
            "static int8",
            [
                path,
                "--passes=" + STATIC_INT8,
                "--calibration-data=" + inputs,
                "--check-equivalence",
                "-o",
                stem + ".st.out.pt",
            ],
            False,
        ),
    ]
    for name, arguments, exact in runs:
        code, output = run_tsopt(tsopt, arguments)
        crashed = code is None or code < 0 or code > 3 or "INTERNAL ASSERT" in output or "report a bug" in output
        # int8 may differ beyond --check-equivalence's float tolerances; it must still run.
        wrong = exact and (code != 0 or "MISMATCH" in output)
        if crashed or wrong or "failed to run" in output:
            failures.append(f"{os.path.basename(path)} {name}: exit {code}: {output[-400:]}")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tsopt", required=True)
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--only", default="", help="comma-separated case names")
    args = parser.parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    only = set(filter(None, args.only.split(",")))
    torch.manual_seed(0)
    cases = dict(layer_cases(), **model_cases())
    failures = []
    for name, (module, make_inputs) in cases.items():
        if only and name not in only:
            continue
        with torch.no_grad():
            for parameter in module.parameters():
                parameter.add_(torch.randn_like(parameter) * 0.1)
            for buffer in module.buffers():
                if buffer.dtype.is_floating_point:
                    buffer.uniform_(0.5, 1.5)
        module.eval()
        for mode in ("trace", "script"):
            done = "scripted" if mode == "script" else "traced"
            path = f"{args.work_dir}/{name}.{mode}.pt"
            try:
                with torch.no_grad():
                    saved = (
                        torch.jit.script(module)
                        if mode == "script"
                        else torch.jit.trace(module, make_inputs(), check_trace=False, strict=False)
                    )
                saved.save(path)
                if not hasattr(saved, "forward"):  # a scripted nn.LSTM keeps only overloads forward__0, forward__1
                    print(f"{name}: the {done} module has no forward method, skipped")
                    continue
            except Exception as error:  # the layer does not trace or script: not tsopt's to check
                print(f"{name}: not {done}: {str(error).splitlines()[0][:100]}")
                continue
            inputs = path[: -len(".pt")] + ".inputs.pt"
            torch.save((make_inputs(), make_inputs()), inputs)
            for failure in check(args.tsopt, path, inputs):
                print(failure)
                failures.append(failure)
    print("done", len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
