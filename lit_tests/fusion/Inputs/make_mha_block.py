"""Writes a traced encoder block with nn.MultiheadAttention (batch first, eval
mode, no grad: the inference fast path that records one
aten::_native_multi_head_attention call per attention) to ARGV[1], and two
input sets next to it (lit: fusion/decompose-multi-head-attention-models.test).
ARGV[2] picks the block: "self" (self-attention, then a linear layer),
"cross" (self-attention, then nn.MultiheadAttention over a second input,
which takes the slow path: no native call), or "direct" (the native op called
by hand for attention over a second input, key and value the same tensor,
then key and value different tensors). Fails if the tracer did not record the native call for the
self-attention, so the test cannot pass without exercising the pass."""
import sys
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, cross: bool, width: int = 32, heads: int = 4):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.cross = nn.MultiheadAttention(width, heads, batch_first=True) if cross else None
        self.ln = nn.LayerNorm(width)
        self.fc = nn.Linear(width, width)

    def forward(self, x, memory):
        y = self.ln(x + self.attn(x, x, x, need_weights=False)[0])
        if self.cross is not None:
            y = y + self.cross(y, memory, memory, need_weights=False)[0]
        return torch.relu(self.fc(y))


class Direct(nn.Module):
    def __init__(self, width: int = 32, heads: int = 4):
        super().__init__()
        self.width, self.heads = width, heads
        self.qkv_weight = nn.Parameter(torch.randn(3 * width, width) / width ** 0.5)
        self.qkv_bias = nn.Parameter(torch.randn(3 * width) / 10)
        self.proj = nn.Linear(width, width)

    def attend(self, q, k, v):
        return torch._native_multi_head_attention(q, k, v, self.width, self.heads, self.qkv_weight, self.qkv_bias,
                                                  self.proj.weight, self.proj.bias, None, False)[0]

    def forward(self, x, memory):
        y = x + self.attend(x, memory, memory)
        return self.attend(y, memory, memory * 2.0)


def main():
    torch.manual_seed(0)
    block = (Direct() if sys.argv[2] == "direct" else Block(sys.argv[2] == "cross")).eval()
    # The native op wants query, key and value of one shape: "direct" attends over 5 positions.
    memory = 5 if sys.argv[2] == "direct" else 7
    make = lambda: (torch.randn(2, 5, 32), torch.randn(2, memory, 32))
    with torch.no_grad():
        traced = torch.jit.trace(block, make())
    graph = str(traced.inlined_graph)
    if "aten::_native_multi_head_attention" not in graph:
        sys.exit("the tracer did not record aten::_native_multi_head_attention")
    traced.save(sys.argv[1])
    torch.save([make(), make()], sys.argv[1][:-len(".pt")] + ".inputs.pt")
    print("native calls:", graph.count("aten::_native_multi_head_attention"))


if __name__ == "__main__":
    main()
