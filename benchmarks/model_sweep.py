"""tsopt -O2 on models nobody tuned a pass for, as a new user would try them
(issues 13 and 17): every torchvision model, and transformer architectures
from the `transformers` library other than the zoo's BERT and GPT-2.

- torchvision (`--source torchvision`, the default): classification by default;
  segmentation and video with --families (detection models return lists of
  dicts and are not traced). Traced at batch 1 on a 224x224 image (video: 8
  frames of 112x112).
- transformers (`--source transformers`): the base models of the
  architectures in ARCHITECTURES (their configs as stated there: the library's
  defaults except where those are multi-billion-parameter models), batch 1:
  text models on a sequence of 128 token ids and a full attention mask,
  vision models on a 224x224 image (or their config's size), speech encoders
  on one second of 16 kHz audio.

Every model is built from its library's own definition with random weights
(seeded; batch-norm statistics perturbed so that folding them is not the
identity; zero-initialized layers given small random values), traced, saved,
optimized by `tsopt -O2` in its own process, loaded back in this one with
libtsopt_runtime, and checked against eager on the same input. Then eager
(contiguous and, for images, channels-last), torch.jit.freeze, freeze +
optimize_for_inference and tsopt -O2 are timed in interleaved rounds.

Reported per model: what failed (and its one-line message) if anything did, the
first output's cosine and largest absolute error against eager, tsopt's
pipeline time, the medians, the ratio of -O2 to the faster of freeze and
optimize_for_inference (issue 13's goal: at least 0.97x on every model) and to
the faster eager layout, and -O2's achieved GFLOP/s (FLOPs counted by
torch.utils.flop_counter on eager, a multiply-add counted as two).

Usage:
    .venv/bin/python3 benchmarks/model_sweep.py [--source torchvision|transformers]
        [--tsopt build/ir_tools/tsopt] [--runtime-lib build/runtime/libtsopt_runtime.so]
        [--models a,b | --families F,F --max-params 100e6] [--pipeline FLAGS] [--threads 1] [--rounds 5]
        [--seconds-per-round 0.2] [--warmup 5] [--markdown FILE] [--json FILE]

Outputs are compared with a tolerance scaled to the output's magnitude:
max abs error <= 1e-3 * max|eager| + 1e-4 (float32 reassociation in fused
kernels and Winograd convolutions; a miscompile is orders of magnitude off).
The exit status is 1 when tsopt failed, a result did not load or run, or it
did not match; a model that fails in eager or that the tracer cannot take is
reported and not counted.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from typing import Tuple

import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

import bench_common
import small_models

REPO = bench_common.REPO
TOLERANCE_RELATIVE, TOLERANCE_ABSOLUTE = 1e-3, 1e-4
SEQUENCE = 128

# torchvision: each family's module and the input its models are traced on (batch 1).
FAMILIES = {
    "classification": (torchvision.models, (1, 3, 224, 224)),
    "segmentation": (torchvision.models.segmentation, (1, 3, 224, 224)),
    "video": (torchvision.models.video, (1, 3, 8, 112, 112)),
}
# Models whose definition fixes another input size (MViT's positional embeddings, S3D's pooling: 16 frames
# of 224x224).
INPUT_SIZES = {"mvit_v1_b": (1, 3, 16, 224, 224), "mvit_v2_s": (1, 3, 16, 224, 224), "s3d": (1, 3, 16, 224, 224)}

# transformers: name -> (model class, config class, config overrides[, input kind]). Overrides give
# the base size where the library's default config is a multi-billion-parameter model. The input kind
# (INPUT_KINDS) is "text" unless given.
BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
# Decoder-only language models, at 768 wide and 6 layers with a 32k vocabulary.
SMALL_LM = dict(hidden_size=768, intermediate_size=2048, num_hidden_layers=6, num_attention_heads=12,
                vocab_size=32000)
ARCHITECTURES = {
    "distilbert": ("DistilBertModel", "DistilBertConfig", {}),
    "roberta": ("RobertaModel", "RobertaConfig", {}),
    "albert": ("AlbertModel", "AlbertConfig", dict(BASE)),
    "electra": ("ElectraModel", "ElectraConfig", {}),
    "mpnet": ("MPNetModel", "MPNetConfig", {}),
    "deberta_v2": ("DebertaV2Model", "DebertaV2Config", dict(BASE)),
    "t5_encoder": ("T5EncoderModel", "T5Config", {}),
    "opt": ("OPTModel", "OPTConfig", {}),
    "bloom": ("BloomModel", "BloomConfig", dict(hidden_size=768, n_layer=12, n_head=12)),
    "gpt_neo": ("GPTNeoModel", "GPTNeoConfig", dict(hidden_size=768, num_layers=12, num_heads=12,
                                                      attention_types=[[["global", "local"], 6]])),
    "llama": ("LlamaModel", "LlamaConfig", dict(hidden_size=768, intermediate_size=2048, num_hidden_layers=8,
                                                num_attention_heads=12, num_key_value_heads=4)),
    # Added 2026-12-06: text models with other building blocks (Fourier mixing, grouped 1-D convolutions,
    # bottlenecks without layer norm, pooled sequences, rotary and parallel-residual decoders).
    "fnet": ("FNetModel", "FNetConfig", {}),
    "squeezebert": ("SqueezeBertModel", "SqueezeBertConfig", {}),
    "convbert": ("ConvBertModel", "ConvBertConfig", {}),
    "mobilebert": ("MobileBertModel", "MobileBertConfig", {}),
    "funnel": ("FunnelModel", "FunnelConfig", {}),
    "esm": ("EsmModel", "EsmConfig", dict(BASE, vocab_size=33, pad_token_id=1)),
    "phi": ("PhiModel", "PhiConfig", dict(SMALL_LM)),
    "gpt_neox": ("GPTNeoXModel", "GPTNeoXConfig", dict(SMALL_LM)),
    "mistral": ("MistralModel", "MistralConfig", dict(SMALL_LM, num_key_value_heads=4)),
    "qwen2": ("Qwen2Model", "Qwen2Config", dict(SMALL_LM, num_key_value_heads=4)),
    "falcon": ("FalconModel", "FalconConfig", dict(hidden_size=768, num_hidden_layers=6, num_attention_heads=12,
                                                   vocab_size=32000)),
    # Vision models (a 224x224 image, or the config's own size), as transformers defines them.
    "vit": ("ViTModel", "ViTConfig", {}, "image"),
    "beit": ("BeitModel", "BeitConfig", dict(use_relative_position_bias=True), "image"),
    "dinov2": ("Dinov2Model", "Dinov2Config", {}, "image"),
    "swin": ("SwinModel", "SwinConfig", {}, "image"),
    "convnext": ("ConvNextModel", "ConvNextConfig", {}, "image"),
    "convnextv2": ("ConvNextV2Model", "ConvNextV2Config", {}, "image"),
    "levit": ("LevitModel", "LevitConfig", {}, "image"),
    "mobilevit": ("MobileViTModel", "MobileViTConfig", {}, "image"),
    "segformer": ("SegformerModel", "SegformerConfig", {}, "image"),
    "poolformer": ("PoolFormerModel", "PoolFormerConfig", {}, "image"),
    "cvt": ("CvtModel", "CvtConfig", {}, "image"),
    "focalnet": ("FocalNetModel", "FocalNetConfig", {}, "image"),
    "efficientnet": ("EfficientNetModel", "EfficientNetConfig", {}, "image"),
    "regnet": ("RegNetModel", "RegNetConfig", {}, "image"),
    "resnet": ("ResNetModel", "ResNetConfig", {}, "image"),
    "bit": ("BitModel", "BitConfig", {}, "image"),
    "mobilenet_v1": ("MobileNetV1Model", "MobileNetV1Config", {}, "image"),
    "mobilenet_v2_hf": ("MobileNetV2Model", "MobileNetV2Config", {}, "image"),
    # Speech encoders on one second of 16 kHz audio.
    "wav2vec2": ("Wav2Vec2Model", "Wav2Vec2Config", {}, "audio"),
    "hubert": ("HubertModel", "HubertConfig", {}, "audio"),
    "wavlm": ("WavLMModel", "WavLMConfig", {}, "audio"),
    "data2vec_audio": ("Data2VecAudioModel", "Data2VecAudioConfig", {}, "audio"),
}
# Input kind -> the keyword names the model is called with.
INPUT_KINDS = {"text": ("input_ids", "attention_mask"), "image": ("pixel_values",), "audio": ("input_values",)}


def parameter_count(build) -> int:
    try:
        with torch.device("meta"):
            model = build()
    except (NotImplementedError, RuntimeError):  # a constructor that copies data: built for real
        model = build()
    return sum(p.numel() for p in model.parameters())


def torchvision_model(name: str, family: str) -> torch.nn.Module:
    kwargs = {"aux_logits": False, "init_weights": True} if name in ("googlenet", "inception_v3") else {}
    if family == "segmentation":
        kwargs = {"weights_backbone": None}  # its default downloads ImageNet weights
    return torchvision.models.get_model(name, weights=None, **kwargs)


def torchvision_models(families: str, max_params: float):
    """The families' models small enough to time on 2 cores (by parameter count)."""
    return [name for family in families.split(",")
            for name in torchvision.models.list_models(module=FAMILIES[family][0])
            if parameter_count(lambda: torchvision_model(name, family)) <= max_params]


def family_of(name: str) -> str:
    for family, (module, _) in FAMILIES.items():
        if name in torchvision.models.list_models(module=module):
            return family
    raise SystemExit("torchvision has no model named %r" % name)


def with_random_zeros(module: torch.nn.Module) -> torch.nn.Module:
    """Zero-initialized layers (ViT's head) would make outputs 0 and prove nothing."""
    with torch.no_grad():
        for parameter in module.parameters():
            if not parameter.any():
                parameter.normal_(0, 0.02)
    return module


def build_torchvision(name: str) -> Tuple[torch.nn.Module, tuple]:
    torch.manual_seed(0)
    family = family_of(name)
    module = small_models.randomized(torchvision_model(name, family))
    size = INPUT_SIZES.get(name, FAMILIES[family][1])
    image = torch.randn(*size, generator=torch.Generator().manual_seed(1))
    return with_random_zeros(module), (image,)


def transformers_inputs(config, kind: str) -> tuple:
    generator = torch.Generator().manual_seed(1)
    if kind == "image":
        size = getattr(config, "image_size", 224)
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        return (torch.randn(1, getattr(config, "num_channels", 3), height, width, generator=generator),)
    if kind == "audio":
        return (torch.randn(1, 16000, generator=generator),)
    input_ids = torch.randint(0, config.vocab_size, (1, SEQUENCE), generator=generator)
    return input_ids, torch.ones(1, SEQUENCE, dtype=torch.long)


def build_transformers(name: str) -> Tuple[torch.nn.Module, tuple]:
    import transformers
    model_class, config_class, overrides, *rest = ARCHITECTURES[name]
    kind = rest[0] if rest else "text"
    torch.manual_seed(0)
    config = getattr(transformers, config_class)(use_cache=False, **overrides)
    module = LastHiddenState(getattr(transformers, model_class)(config), INPUT_KINDS[kind])
    return with_random_zeros(small_models.randomized(module)), transformers_inputs(config, kind)


class LastHiddenState(torch.nn.Module):
    """A transformers base model called the usual way (keyword arguments), returning its last hidden
    state: the library's own output classes, not its tracing flags (torchscript=True, return_dict=False),
    which some of its models no longer honour."""

    def __init__(self, model: torch.nn.Module, names: Tuple[str, ...]) -> None:
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, inputs))).last_hidden_state


SOURCES = {"torchvision": build_torchvision, "transformers": build_transformers}


def gflop(module: torch.nn.Module, inputs: tuple) -> float:
    counter = FlopCounterMode(display=False)
    # no_grad, not inference_mode: under inference_mode the flop counter fails on weight-normed
    # convolutions (torch.nn.utils.parametrize; wav2vec2's positional convolution), where plain calls work.
    with counter, torch.no_grad():
        module(*inputs)
    return counter.get_total_flops() / 1e9


def first_line(error: BaseException) -> str:
    """The exception's first line, or its type where it has no message."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:160]


def first_tensor(output) -> torch.Tensor:
    if isinstance(output, dict):
        output = next(iter(output.values()))
    if isinstance(output, (tuple, list)):
        output = output[0]
    return output


def optimize(tsopt: str, flags: str, archive: str, out: str):
    """Runs tsopt with `flags` (-O2 unless told); (seconds, '') or (seconds, the error line)."""
    start = time.perf_counter()
    done = subprocess.run([tsopt, archive, *shlex.split(flags), "-o", out], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return seconds, "tsopt exit %d: %s" % (done.returncode, lines[-1] if lines else "")
    return seconds, ""


def sweep_one(name: str, args, work_dir: str) -> dict:
    row = {"model": name}
    build = SOURCES[args.source]
    try:
        module, inputs = build(name)
        with torch.inference_mode():
            reference = first_tensor(module(*inputs))
        row["gflop"] = gflop(module, inputs)
    except Exception as error:  # the library's own model fails in eager: not tsopt's failure, skipped
        row["failure"] = "eager: " + first_line(error)
        return row
    archive = os.path.join(work_dir, name + ".pt")

    def trace():
        return torch.jit.trace(module, inputs, check_trace=False, strict=False).eval()

    try:
        trace().save(archive)
    except Exception as error:  # a model the tracer cannot take is not tsopt's failure: recorded, skipped
        row["failure"] = "trace: " + first_line(error)
        return row
    out = os.path.join(work_dir, name + ".O2.pt")
    row["pipeline_s"], failure = optimize(args.tsopt, args.pipeline, archive, out)
    if failure:
        row["failure"] = failure
        return row
    try:
        optimized = torch.jit.load(out).eval()
        with torch.inference_mode():
            result = first_tensor(optimized(*inputs))
    except Exception as error:
        row["failure"] = "run: " + first_line(error)
        return row
    match = bench_common.agreement(reference, result)
    row.update(match)
    bound = TOLERANCE_RELATIVE * reference.abs().max().item() + TOLERANCE_ABSOLUTE
    row["matches"] = bool(result.shape == reference.shape and match["max_abs_error"] <= bound)
    if not row["matches"]:
        row["failure"] = "mismatch: max abs error %.3g > %.3g" % (match["max_abs_error"], bound)
    if args.rounds == 0:
        return row

    frozen = torch.jit.freeze(trace())
    ofi = torch.jit.optimize_for_inference(torch.jit.freeze(trace()))
    functions = {"eager": lambda: module(*inputs), "freeze": lambda: frozen(*inputs), "ofi": lambda: ofi(*inputs),
                 "tsopt-O2": lambda: optimized(*inputs)}
    if inputs[0].dim() in (4, 5):
        layout = torch.channels_last if inputs[0].dim() == 4 else torch.channels_last_3d
        channels_last_module, channels_last_inputs = build(name)
        channels_last_module = channels_last_module.to(memory_format=layout)
        channels_last_image = channels_last_inputs[0].contiguous(memory_format=layout)
        functions["eager-cl"] = lambda: channels_last_module(channels_last_image)
    medians = small_models.measure(functions, args)
    row["median_ms"] = {key: value * 1e3 for key, value in medians.items()}
    best_eager = min(medians["eager"], medians.get("eager-cl", float("inf")))
    row["O2_vs_best_builtin"] = min(medians["freeze"], medians["ofi"]) / medians["tsopt-O2"]
    row["O2_vs_best_eager"] = best_eager / medians["tsopt-O2"]
    row["gflops_O2"] = row["gflop"] / medians["tsopt-O2"]
    return row


def markdown(rows, threads: int) -> str:
    lines = ["| model | GFLOP | -O2 s | cosine | max abs err | eager ms (best layout) | freeze ms | ofi ms "
             "| -O2 ms | -O2 GFLOP/s | -O2 vs best built-in | -O2 vs eager |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        if "median_ms" not in row:
            pipeline = "%.1f" % row["pipeline_s"] if "pipeline_s" in row else ""
            if "failure" in row:
                lines.append("| %s | %.2f | %s | **failed**: %s | | | | | | | | |" % (
                    row["model"], row.get("gflop", 0), pipeline, row["failure"]))
            else:
                lines.append("| %s | %.2f | %s | %.6f | %.1e | not timed | | | | | | |" % (
                    row["model"], row["gflop"], pipeline, row["cosine"], row["max_abs_error"]))
            continue
        ms = row["median_ms"]
        eager = min(ms["eager"], ms.get("eager-cl", float("inf")))
        layout = "cl" if eager < ms["eager"] else "contiguous"
        flag = "" if row["matches"] else " **mismatch**"
        lines.append("| %s | %.2f | %.1f | %.6f%s | %.1e | %.2f (%s) | %.2f | %.2f | %.2f | %.1f | %.2fx | %.2fx |" % (
            row["model"], row["gflop"], row["pipeline_s"], row["cosine"], flag, row["max_abs_error"], eager,
            layout, ms["freeze"], ms["ofi"], ms["tsopt-O2"], row["gflops_O2"], row["O2_vs_best_builtin"],
            row["O2_vs_best_eager"]))
    timed = [row for row in rows if "median_ms" in row]
    if timed:
        ratios = sorted(row["O2_vs_best_builtin"] for row in timed)
        lines.append("")
        lines.append("%d models timed with %d thread(s); -O2 against the faster of freeze and "
                     "optimize_for_inference: min %.2fx, median %.2fx, max %.2fx; below 0.97x: %s." % (
                         len(timed), threads, ratios[0], ratios[len(ratios) // 2], ratios[-1],
                         ", ".join(row["model"] for row in timed if row["O2_vs_best_builtin"] < 0.97) or "none"))
    return "\n".join(lines) + "\n"


def main(argv) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=sorted(SOURCES), default="torchvision")
    parser.add_argument("--tsopt", default=os.path.join(REPO, "build", "ir_tools", "tsopt"))
    parser.add_argument("--runtime-lib", default=os.path.join(REPO, "build", "runtime", "libtsopt_runtime.so"))
    parser.add_argument("--models", help="comma-separated model names (default: torchvision's --families up to "
                        "--max-params, or every architecture of ARCHITECTURES)")
    parser.add_argument("--families", default="classification",
                        help="torchvision only: comma-separated, from: %s (default: classification)" %
                        ", ".join(FAMILIES))
    parser.add_argument("--max-params", type=float, default=100e6, help="torchvision only")
    parser.add_argument("--pipeline", default="-O2",
                        help="tsopt's flags for the optimized variant (default: -O2; the columns keep the name)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (0: check outputs only)")
    parser.add_argument("--seconds-per-round", type=float, default=0.2)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--markdown")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    args.clock = "wall"
    problem = bench_common.load_runtime(args.runtime_lib)
    if problem:
        parser.error(problem)
    bench_common.set_threads(args.threads)
    if args.models:
        names = args.models.split(",")
        known = torchvision.models.list_models() if args.source == "torchvision" else list(ARCHITECTURES)
        unknown = [name for name in names if name not in known]
        if unknown:
            parser.error("--models: %s has no model named %s" % (args.source, ", ".join(unknown)))
    elif args.source == "torchvision":
        names = torchvision_models(args.families, args.max_params)
    else:
        names = list(ARCHITECTURES)
    rows = []
    with tempfile.TemporaryDirectory() as work_dir:
        for name in names:
            row = sweep_one(name, args, work_dir)
            rows.append(row)
            print(json.dumps(row), flush=True)
            for path in (os.path.join(work_dir, name + suffix) for suffix in (".pt", ".O2.pt")):
                if os.path.exists(path):
                    os.remove(path)
    table = markdown(rows, args.threads)
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as out:
            out.write(table)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"torch": torch.__version__, "torchvision": torchvision.__version__, "source": args.source,
                       "threads": args.threads, "blas": bench_common.blas_info(), "rows": rows}, out, indent=1)
    failed = [row["model"] for row in rows if "failure" in row and not row["failure"].startswith(("trace:", "eager:"))]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
