"""Writes a small BERT-like encoder for the quantization lit tests.

Usage: make_encoder.py OUTPUT.pt [--mode eval|train]

Two post-norm transformer layers shaped like BERT's (hidden 256, 4 heads,
intermediate 1024, GELU, layer norm after each residual), weights drawn like
BERT's (normal, std 0.02), traced in eval mode on a (2, 32, 256) input; a
pooler on the first token gives a second, 2-D output. Also writes
OUTPUT.inputs.pt: a tuple of three input tuples (a tuple, not a list: LibTorch
1.13 cannot read a one-element list). With --mode train the module is traced
in training mode, so its dropouts keep train=True: a model quantization must
refuse.
"""
import argparse
import math

import torch
import torch.nn as nn

HIDDEN, HEADS, INTERMEDIATE, LAYERS, SEQ, BATCH = 256, 4, 1024, 2, 32, 2


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.query = nn.Linear(HIDDEN, HIDDEN)
        self.key = nn.Linear(HIDDEN, HIDDEN)
        self.value = nn.Linear(HIDDEN, HIDDEN)
        self.attention_output = nn.Linear(HIDDEN, HIDDEN)
        self.attention_norm = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.intermediate = nn.Linear(HIDDEN, INTERMEDIATE)
        self.output = nn.Linear(INTERMEDIATE, HIDDEN)
        self.output_norm = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.dropout = nn.Dropout(0.1)

    def heads(self, x):
        return x.view(x.size(0), x.size(1), HEADS, HIDDEN // HEADS).permute(0, 2, 1, 3)

    def forward(self, hidden):
        query, key, value = self.heads(self.query(hidden)), self.heads(self.key(hidden)), self.heads(self.value(hidden))
        scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(HIDDEN // HEADS)
        context = torch.matmul(self.dropout(scores.softmax(-1)), value).permute(0, 2, 1, 3).contiguous()
        context = context.view(hidden.size(0), hidden.size(1), HIDDEN)
        attention = self.attention_norm(self.dropout(self.attention_output(context)) + hidden)
        intermediate = nn.functional.gelu(self.intermediate(attention))
        return self.output_norm(self.dropout(self.output(intermediate)) + attention)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([Layer() for _ in range(LAYERS)])
        self.pooler = nn.Linear(HIDDEN, HIDDEN)

    def forward(self, hidden):
        for layer in self.layers:
            hidden = layer(hidden)
        return hidden, torch.tanh(self.pooler(hidden[:, 0]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("--mode", choices=("eval", "train"), default="eval")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = Encoder()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                module.weight.normal_(0.0, 0.02)
                module.bias.normal_(0.0, 0.02)
            elif isinstance(module, nn.LayerNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
    model.train(args.mode == "train")
    inputs = tuple((torch.randn(BATCH, SEQ, HIDDEN),) for _ in range(3))
    with torch.no_grad():
        traced = torch.jit.trace(model, inputs[0], check_trace=False)
    traced.save(args.output)
    torch.save(inputs, args.output[:-3] + ".inputs.pt")


if __name__ == "__main__":
    main()
