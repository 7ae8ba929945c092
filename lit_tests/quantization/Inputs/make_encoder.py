"""Writes a small BERT encoder for the quantization lit tests.

Usage: make_encoder.py OUTPUT.pt [--mode eval|train] [--outliers]

The zoo's BERT encoder and pooler without embeddings (examples/models/bert.py:
BertEncoderWithPooler): two layers of hidden 256, 4 heads, intermediate 1024,
weights initialized as the zoo's BERT's, traced in eval mode on a (2, 32, 256)
input with no attention mask; the pooler on the first token gives a second,
2-D output. Also writes OUTPUT.inputs.pt: a tuple of three input tuples (a
tuple, not a list: LibTorch 1.13 cannot read a one-element list) and
OUTPUT.calib.pt: four others, for calibration. With --mode
train the module is traced in training mode, so its dropouts keep train=True:
a model quantization must refuse. With --outliers, four of the 256 features of
every layer norm get a weight 20x the others': the few large activation channels
trained transformers have (the inputs get them too), which per-tensor int8 activations quantize badly
(what smooth-quant is for).
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
    parser.add_argument("--outliers", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = bert.BertEncoderWithPooler(CONFIG)
    bert.init_weights(model)
    if args.outliers:
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.LayerNorm):
                    module.weight[[3, 77, 150, 201]] *= 20.0
    model.train(args.mode == "train")
    inputs = tuple((torch.randn(BATCH, SEQ, CONFIG.hidden),) for _ in range(3))
    calibration = tuple((torch.randn(BATCH, SEQ, CONFIG.hidden),) for _ in range(4))
    if args.outliers:  # the embeddings' layer norm has them too
        for (hidden,) in inputs + calibration:
            hidden[..., [3, 77, 150, 201]] *= 20.0
    with torch.no_grad():
        traced = torch.jit.trace(model, inputs[0], check_trace=False)
    traced.save(args.output)
    torch.save(inputs, args.output[:-3] + ".inputs.pt")
    torch.save(calibration, args.output[:-3] + ".calib.pt")


if __name__ == "__main__":
    main()
