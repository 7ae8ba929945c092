"""Writes an encoder block whose attention is F.scaled_dot_product_attention
(PyTorch 2.x; what transformers' "sdpa" attention traces to) to ARGV[1], with
two input sets next to it (NAME.inputs.pt), for
lit: fusion/fuse-attention-sdpa-models.test. ARGV[2] picks the mask:
  float     an additive padding mask (0 / finfo.min, as transformers builds it), traced
  bool      a boolean mask, one batch row of the second input set left without keys
            (PyTorch's result is 0 there), traced
  none      no mask, an explicit scale, the heads put back by permute, scripted
  causal    is_causal=True, no mask, traced
  dropout   dropout_p=0.1, traced in training mode (the dropout stays in the graph; not fused)
Fails if the graph does not call aten::scaled_dot_product_attention, so the
test cannot pass without exercising the pass."""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from traced_fixture import save_with_inputs


class Block(nn.Module):
    def __init__(self, mode: str, width: int = 32, heads: int = 4):
        super().__init__()
        self.mode, self.heads = mode, heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.ln = nn.LayerNorm(width)

    def forward(self, x, mask):
        b, s, w = x.shape
        q, k, v = self.qkv(x).view(b, s, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        if self.mode == "none":
            o = F.scaled_dot_product_attention(q, k, v, scale=0.3).permute(0, 2, 1, 3)
        elif self.mode == "causal":
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2)
        elif self.mode == "dropout":
            o = F.scaled_dot_product_attention(q, k, v, dropout_p=0.1).transpose(1, 2)
        else:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2)
        return self.ln(x + self.out(o.reshape(b, s, w)))


def inputs(mode: str, rows_without_keys: bool):
    x = torch.randn(2, 7, 32)
    keep = torch.rand(2, 1, 1, 7) < 0.7
    keep[..., 0] = True
    if rows_without_keys:
        keep[1] = False
    if mode == "bool":
        return x, keep
    return x, torch.zeros(2, 1, 1, 7).masked_fill(~keep, torch.finfo(torch.float32).min)


def main():
    torch.manual_seed(0)
    path, mode = sys.argv[1], sys.argv[2]
    block = Block(mode).train(mode == "dropout")
    save_with_inputs(block, path, [inputs(mode, False), inputs(mode, mode == "bool")],
                     "aten::scaled_dot_product_attention", script=mode == "none")

if __name__ == "__main__":
    main()
