"""The models of the peer comparison (issue 10, part 2), each from its library's
own definition with random weights from a fixed seed, in eval mode.

Usage (a library; compare_peers.py and compare_ipex.py import it):
    import peer_models
    module, inputs = peer_models.build("bert_base_seq128", batch=1)   # module(*inputs)
    peer_models.calibration_inputs("resnet50", batch=1, count=32)      # list of input tuples
    .venv/bin/python3 benchmarks/peer_models.py                        # the list, and a check of each

  resnet50, mobilenet_v2  torchvision's definitions, built by the zoo's own code
                          (examples/models/vision.py: the same seeds, random batch
                          norm scales and calibrated running statistics, so the
                          weights are those of the zoo's archives); input images
                          224x224, drawn as the zoo draws them
  bert_base_seq128/seq14  transformers' BertModel(BertConfig()): BERT-base (12
                          layers, hidden 768, 12 heads); inputs input_ids and
                          attention_mask, the last quarter of each sequence padding
                          (tokens drawn as the zoo draws them); output
                          (last_hidden_state, pooler_output)
  vit_b_16                torchvision's vit_b_16 (ViT-B/16, 224x224); random layer
                          norm scales, and a random classifier head (torchvision
                          initializes it to zeros, which would make every logit 0)
  gpt2_seq128             transformers' GPT2Model(GPT2Config()): the full 12-layer
                          GPT-2 (124M), no LM head; input input_ids of 128 tokens,
                          no padding (causal attention); output (last_hidden_state,)

The transformers models are built with torchscript=True and return_dict=False so
that they trace, and with the attention implementation given (transformers'
default, "sdpa": aten::scaled_dot_product_attention; "eager": matmul, softmax,
matmul). Nothing is downloaded: configurations are built in code, and the
Hugging Face hub is switched off (ENVIRONMENT, below). This module imports
under torch 2.14 (.venv) and torch 2.8 (.venv-ipex) alike.
"""
import os
import sys
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

# The benchmarks' environment, set here before torch loads (so import this module before torch; a value already
# in the environment wins): nothing is downloaded. OpenMP's idle policy is left at its default (threads spin a
# while, then sleep): on a quiet machine that is every variant's best configuration, and with
# OMP_WAIT_POLICY=PASSIVE every 2-thread row runs slower than its 1-thread row (MobileNetV2 b1: eager 36 against
# 18 ms, tsopt -O2 8.8 against 6.9; default policy 16.6 and 3.6 ms). Set OMP_WAIT_POLICY=PASSIVE (ONNX Runtime's
# spinning then goes off too) on a machine others are using: spinning threads there made BERT-base seq14 at 2
# threads 3-6x slower (244-562 ms against 89 ms).
ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
for _variable, _value in ENVIRONMENT.items():
    os.environ.setdefault(_variable, _value)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torchvision  # noqa: E402

import bench_common  # noqa: E402  (puts examples/models on sys.path)
import bert as zoo_bert  # noqa: E402
import vision as zoo_vision  # noqa: E402
import zoo_common  # noqa: E402

Inputs = Tuple[torch.Tensor, ...]
ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")
GPT2_SEQUENCE = 128
CALIBRATION_SEED = 99  # docs/quantization.md: calibration inputs are drawn from seed 99


@dataclass(frozen=True)
class ModelSpec:
    module: Callable[[int, str], nn.Module]  # (batch, attention implementation) -> eval module
    inputs: Callable[[int, torch.Generator], Inputs]  # (batch, generator) -> one input tuple
    seed: int
    int8: Optional[str]  # "static" (calibrated), "dynamic" (weights only), or None: no int8 rows
    conv_net: bool  # eager is also timed in channels_last
    description: str


def _zoo_vision(model: str) -> Callable[[int, str], nn.Module]:
    return lambda batch, attention: bench_common.build_eager(model, batch)


def _images(batch: int, generator: torch.Generator) -> Inputs:
    size = zoo_vision.IMAGE_SIZE
    return (torch.randn(batch, 3, size, size, generator=generator),)


def _vit_b_16(batch: int, attention: str) -> nn.Module:
    zoo_common.seeded(16)
    model = torchvision.models.vit_b_16(weights=None)
    zoo_common.randomize_norm_affine(model)
    with torch.no_grad():
        model.heads.head.weight.normal_(0.0, 0.02)
        model.heads.head.bias.normal_(0.0, 0.02)
    return model.eval()


def _bert_base(batch: int, attention: str) -> nn.Module:
    from transformers import BertConfig, BertModel
    zoo_common.seeded(768)
    config = BertConfig(torchscript=True, return_dict=False, attn_implementation=attention)
    return BertModel(config).eval()


def _bert_inputs(sequence: int) -> Callable[[int, torch.Generator], Inputs]:
    def inputs(batch: int, generator: torch.Generator) -> Inputs:
        input_ids, attention_mask, _ = zoo_bert.example_inputs(batch, sequence, sequence // 4, generator)
        return input_ids, attention_mask
    return inputs


def _gpt2(batch: int, attention: str) -> nn.Module:
    from transformers import GPT2Config, GPT2Model
    zoo_common.seeded(124)
    config = GPT2Config(torchscript=True, return_dict=False, use_cache=False, attn_implementation=attention)
    return GPT2Model(config).eval()


def _gpt2_inputs(batch: int, generator: torch.Generator) -> Inputs:
    from transformers import GPT2Config
    return (torch.randint(0, GPT2Config().vocab_size, (batch, GPT2_SEQUENCE), generator=generator),)


MODELS = {
    "resnet50": ModelSpec(_zoo_vision("resnet50"), _images, 50, "static", True,
                          "torchvision resnet50 (the zoo's weights)"),
    "mobilenet_v2": ModelSpec(_zoo_vision("mobilenet_v2"), _images, 2, "static", True,
                              "torchvision mobilenet_v2 (the zoo's weights)"),
    "bert_base_seq128": ModelSpec(_bert_base, _bert_inputs(128), 768, "dynamic", False,
                                  "transformers BertModel, BERT-base, sequence 128"),
    "bert_base_seq14": ModelSpec(_bert_base, _bert_inputs(14), 768, "dynamic", False,
                                 "transformers BertModel, BERT-base, sequence 14"),
    "vit_b_16": ModelSpec(_vit_b_16, _images, 16, None, False, "torchvision vit_b_16 (ViT-B/16, 224x224)"),
    "gpt2_seq128": ModelSpec(_gpt2, _gpt2_inputs, 124, None, False,
                             "transformers GPT2Model, all 12 layers (GPT-2 124M), sequence %d" % GPT2_SEQUENCE),
}


def build(name: str, batch: int, attention: str = "sdpa") -> Tuple[nn.Module, Inputs]:
    """The eval-mode module and the input tuple that is timed."""
    spec = MODELS[name]
    module = spec.module(batch, attention)
    generator = torch.Generator().manual_seed(spec.seed + 1)
    return module, spec.inputs(batch, generator)


def calibration_inputs(name: str, batch: int, count: int) -> List[Inputs]:
    """`count` input tuples drawn like the timed one from another seed: the
    calibration data of the static int8 variants."""
    generator = torch.Generator().manual_seed(CALIBRATION_SEED)
    return [MODELS[name].inputs(batch, generator) for _ in range(count)]


def main() -> int:
    for name, spec in MODELS.items():
        module, inputs = build(name, 1)
        with torch.inference_mode():
            output = zoo_common.output_tensors(module(*inputs))[0]
        print("%-18s %-60s int8 %-7s output %s, |mean| %.3g, std %.3g" % (
            name, spec.description, spec.int8 or "-", tuple(output.shape), output.mean().abs().item(),
            output.std().item()))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
