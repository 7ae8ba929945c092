"""Writes an nn.TransformerEncoder traced in eval mode without autograd (the
inference fast path: one aten::_transformer_encoder_layer_fwd call per layer)
to ARGV[1], with two input sets next to it (NAME.inputs.pt), for lit:
fusion/decompose-transformer-encoder-layer-models.test. ARGV[2] picks the
layers:
  post   post-norm (norm_first=False), ReLU, batch first, two layers
  pre    pre-norm (norm_first=True), GELU, two layers
  mask   post-norm with a key padding mask as a second input (the native
         attention call keeps the mask: decompose-multi-head-attention leaves it)
  nested the same with nested tensors on (nn.TransformerEncoder's default):
         the layers run on the nested tensor made from the mask, and stay
Fails if the trace does not call aten::_transformer_encoder_layer_fwd, so the
test cannot pass without exercising the pass."""
import sys

import torch
import torch.nn as nn

from traced_fixture import save_with_inputs


class Encoder(nn.Module):
    def __init__(self, mode: str, width: int = 32, heads: int = 4):
        super().__init__()
        layer = nn.TransformerEncoderLayer(width, heads, 64, dropout=0.1, batch_first=True,
                                           activation="gelu" if mode == "pre" else "relu", norm_first=mode == "pre")
        nested_option = "enable_nested_tensor" in nn.TransformerEncoder.__init__.__code__.co_varnames
        kwargs = {"enable_nested_tensor": mode == "nested"} if nested_option else {}
        self.encoder = nn.TransformerEncoder(layer, 2, **kwargs)
        self.mode = mode

    def forward(self, x, padding):
        if self.mode in ("mask", "nested"):
            return self.encoder(x, src_key_padding_mask=padding)
        return self.encoder(x)


def main():
    torch.manual_seed(0)
    path, mode = sys.argv[1], sys.argv[2]
    encoder = Encoder(mode).eval()
    for parameter in encoder.parameters():  # layer norms away from the identity
        parameter.data += 0.1 * torch.randn_like(parameter)

    def inputs():
        padding = torch.zeros(2, 7, dtype=torch.bool)
        padding[1, 5:] = True
        return torch.randn(2, 7, 32), padding

    save_with_inputs(encoder, path, [inputs(), inputs()], "aten::_transformer_encoder_layer_fwd")

if __name__ == "__main__":
    main()
