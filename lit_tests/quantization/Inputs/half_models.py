"""A small convolution net and a small transformer for the convert-half tests.

usage: half_models.py OUTDIR
Writes OUTDIR/NAME.pt (traced, eval mode, float32 on the CPU) and
OUTDIR/NAME.inputs.pt (a list of input tuples) for NAME in:
  convnet: torchvision's ResNet-18 (10 classes) with randomized batch norms,
           on 2x3x32x32 images;
  bert:    the zoo's BertModel (examples/models/bert.py) with 2 layers of
           width 32: token ids, an attention mask and token types (all int64)
           in, hidden states and the pooled output out; its embeddings sum
           and layer norm is the add + layer_norm fuse-add-layer-norm takes.
"""
import os
import sys

import torch
import torchvision

from bert import BertConfig, BertModel, example_inputs, init_weights
from zoo_common import randomize_batch_norms, seeded, trace

torch.manual_seed(0)
torch.set_num_threads(1)


def models():
    convnet = randomize_batch_norms(torchvision.models.resnet18(num_classes=10), (-0.2, 0.2))
    images = [(torch.randn(2, 3, 32, 32),), (torch.randn(2, 3, 32, 32),)]
    bert = BertModel(BertConfig(hidden=32, layers=2, heads=4, intermediate=64))
    init_weights(bert)
    generator = seeded(768)
    tokens = [example_inputs(2, 12, 0, generator), example_inputs(2, 12, 3, generator)]
    return {"convnet": (convnet, images), "bert": (bert, tokens)}


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for name, (module, inputs) in models().items():
        trace(module, inputs).save(os.path.join(outdir, name + ".pt"))
        torch.save(inputs, os.path.join(outdir, name + ".inputs.pt"))


if __name__ == "__main__":
    main()
