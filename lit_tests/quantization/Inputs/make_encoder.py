"""Writes a small BERT encoder for the quantization lit tests.

Usage: make_encoder.py OUTPUT.pt [--mode eval|train]

The zoo's BERT encoder and pooler without embeddings (examples/models/bert.py:
BertEncoderWithPooler): two layers of hidden 256, 4 heads, intermediate 1024,
weights initialized as the zoo's BERT's, traced in eval mode on a (2, 32, 256)
input with no attention mask; the pooler on the first token gives a second,
2-D output. Also writes OUTPUT.inputs.pt: a tuple of three input tuples (a
tuple, not a list: LibTorch 1.13 cannot read a one-element list). With --mode
train the module is traced in training mode, so its dropouts keep train=True:
a model quantization must refuse.
"""
import argparse

import torch

import bert

CONFIG = bert.BertConfig(hidden=256, layers=2, heads=4, intermediate=1024)
SEQ, BATCH = 32, 2


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("--mode", choices=("eval", "train"), default="eval")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = bert.BertEncoderWithPooler(CONFIG)
    bert.init_weights(model)
    model.train(args.mode == "train")
    inputs = tuple((torch.randn(BATCH, SEQ, CONFIG.hidden),) for _ in range(3))
    with torch.no_grad():
        traced = torch.jit.trace(model, inputs[0], check_trace=False)
    traced.save(args.output)
    torch.save(inputs, args.output[:-3] + ".inputs.pt")


if __name__ == "__main__":
    main()
