"""A BERT-base encoder in plain torch, shaped like HuggingFace's BertModel.

Module names, nesting and arithmetic follow transformers' modeling_bert.py
(embeddings.word_embeddings, encoder.layer.N.attention.self.query, ...,
pooler.dense), so graphs look like those of a traced HuggingFace model, without
depending on transformers. Configuration is bert-base-uncased: 12 layers,
hidden 768, 12 heads, intermediate 3072, GELU, vocabulary 30522.

forward(input_ids, attention_mask, token_type_ids) returns
(last_hidden_state, pooler_output), as BertModel does with return_dict=False.

Every class takes a BertConfig, bert-base's sizes by default; the lit tests
build small encoders (BertEncoderWithPooler) from the same classes.
"""
import math
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn as nn

from zoo_common import Inputs, randomize_norm_affine, seeded, trace

VOCAB_SIZE = 30522
MAX_POSITIONS = 512
TYPE_VOCAB_SIZE = 2
LAYER_NORM_EPS = 1e-12
DROPOUT = 0.1
CLS_TOKEN, SEP_TOKEN, PAD_TOKEN = 101, 102, 0


@dataclass(frozen=True)
class BertConfig:
    """The encoder's sizes; the defaults are bert-base-uncased's."""

    hidden: int = 768
    layers: int = 12
    heads: int = 12
    intermediate: int = 3072


BERT_BASE = BertConfig()


class BertEmbeddings(nn.Module):
    def __init__(self, config: BertConfig = BERT_BASE):
        super().__init__()
        self.word_embeddings = nn.Embedding(VOCAB_SIZE, config.hidden, padding_idx=PAD_TOKEN)
        self.position_embeddings = nn.Embedding(MAX_POSITIONS, config.hidden)
        self.token_type_embeddings = nn.Embedding(TYPE_VOCAB_SIZE, config.hidden)
        self.LayerNorm = nn.LayerNorm(config.hidden, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(DROPOUT)
        self.register_buffer("position_ids", torch.arange(MAX_POSITIONS).expand((1, -1)))

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        position_ids = self.position_ids[:, : input_ids.size(1)]
        embeddings = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class BertSelfAttention(nn.Module):
    def __init__(self, config: BertConfig = BERT_BASE):
        super().__init__()
        self.num_attention_heads = config.heads
        self.attention_head_size = config.hidden // config.heads
        self.all_head_size = config.hidden
        self.query = nn.Linear(config.hidden, config.hidden)
        self.key = nn.Linear(config.hidden, config.hidden)
        self.value = nn.Linear(config.hidden, config.hidden)
        self.dropout = nn.Dropout(DROPOUT)

    def transpose_for_scores(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(x.size()[:-1] + (self.num_attention_heads, self.attention_head_size))
        return x.permute(0, 2, 1, 3)

    def forward(self, hidden_states: torch.Tensor, attention_mask: Optional[torch.Tensor]) -> torch.Tensor:
        query = self.transpose_for_scores(self.query(hidden_states))
        key = self.transpose_for_scores(self.key(hidden_states))
        value = self.transpose_for_scores(self.value(hidden_states))
        scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(self.attention_head_size)
        if attention_mask is not None:
            scores = scores + attention_mask
        probs = self.dropout(nn.functional.softmax(scores, dim=-1))
        context = torch.matmul(probs, value).permute(0, 2, 1, 3).contiguous()
        return context.view(context.size()[:-2] + (self.all_head_size,))


class BertSelfOutput(nn.Module):
    def __init__(self, config: BertConfig = BERT_BASE):
        super().__init__()
        self.dense = nn.Linear(config.hidden, config.hidden)
        self.LayerNorm = nn.LayerNorm(config.hidden, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(DROPOUT)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertAttention(nn.Module):
    def __init__(self, config: BertConfig = BERT_BASE):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states: torch.Tensor, attention_mask: Optional[torch.Tensor]) -> torch.Tensor:
        return self.output(self.self(hidden_states, attention_mask), hidden_states)


class BertIntermediate(nn.Module):
    def __init__(self, config: BertConfig = BERT_BASE):
        super().__init__()
        self.dense = nn.Linear(config.hidden, config.intermediate)
        self.intermediate_act_fn = nn.GELU()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(hidden_states))


class BertOutput(nn.Module):
    def __init__(self, config: BertConfig = BERT_BASE):
        super().__init__()
        self.dense = nn.Linear(config.intermediate, config.hidden)
        self.LayerNorm = nn.LayerNorm(config.hidden, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(DROPOUT)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertLayer(nn.Module):
    def __init__(self, config: BertConfig = BERT_BASE):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states: torch.Tensor, attention_mask: Optional[torch.Tensor]) -> torch.Tensor:
        attention_output = self.attention(hidden_states, attention_mask)
        return self.output(self.intermediate(attention_output), attention_output)


class BertEncoder(nn.Module):
    def __init__(self, config: BertConfig = BERT_BASE):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.layers)])

    def forward(self, hidden_states: torch.Tensor, attention_mask: Optional[torch.Tensor]) -> torch.Tensor:
        for layer in self.layer:
            hidden_states = layer(hidden_states, attention_mask)
        return hidden_states


class BertPooler(nn.Module):
    def __init__(self, config: BertConfig = BERT_BASE):
        super().__init__()
        self.dense = nn.Linear(config.hidden, config.hidden)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states[:, 0]))


class BertModel(nn.Module):
    def __init__(self, config: BertConfig = BERT_BASE):
        super().__init__()
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        # Padding positions get the dtype's most negative value, as in
        # HuggingFace's get_extended_attention_mask.
        dtype = self.embeddings.word_embeddings.weight.dtype
        extended_mask = attention_mask[:, None, None, :].to(dtype)
        extended_mask = (1.0 - extended_mask) * torch.finfo(dtype).min
        hidden_states = self.encoder(self.embeddings(input_ids, token_type_ids), extended_mask)
        return hidden_states, self.pooler(hidden_states)


class BertEncoderWithPooler(nn.Module):
    """BertModel without its embeddings: forward(hidden_states[, attention_mask])
    returns (last_hidden_state, pooler_output); the mask, if any, is already
    additive (0 to attend, very negative to mask)."""

    def __init__(self, config: BertConfig = BERT_BASE):
        super().__init__()
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config)

    def forward(self, hidden_states: torch.Tensor,
                attention_mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        hidden_states = self.encoder(hidden_states, attention_mask)
        return hidden_states, self.pooler(hidden_states)


def init_weights(model: nn.Module) -> None:
    """BERT's initializer range (0.02), plus non-zero biases and layer-norm
    parameters so that folding and fusion have something to get wrong."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                module.weight.normal_(0.0, 0.02)
                module.bias.normal_(0.0, 0.02)
            elif isinstance(module, nn.Embedding):
                module.weight.normal_(0.0, 0.02)
                if module.padding_idx is not None:
                    module.weight[module.padding_idx].zero_()
    randomize_norm_affine(model)


def example_inputs(batch: int, seq_len: int, padding: int, generator: torch.Generator) -> Tuple[torch.Tensor, ...]:
    """[CLS] sentence-A [SEP] sentence-B [SEP], then `padding` pad tokens."""
    length = seq_len - padding
    input_ids = torch.randint(1000, VOCAB_SIZE, (batch, seq_len), generator=generator)
    input_ids[:, 0] = CLS_TOKEN
    input_ids[:, length // 2] = SEP_TOKEN
    input_ids[:, length - 1] = SEP_TOKEN
    input_ids[:, length:] = PAD_TOKEN
    attention_mask = torch.zeros(batch, seq_len, dtype=torch.long)
    attention_mask[:, :length] = 1
    token_type_ids = torch.zeros(batch, seq_len, dtype=torch.long)
    token_type_ids[:, length // 2 + 1:length] = 1
    return input_ids, attention_mask, token_type_ids


def _build(seq_len: int, batch: int):
    generator = seeded(768)
    model = BertModel()
    init_weights(model)
    inputs: Inputs = [example_inputs(batch, seq_len, 0, generator),
                      example_inputs(batch, seq_len, seq_len // 4, generator)]
    return trace(model, inputs), inputs


def bert_base_seq14(batch: int):
    return _build(14, batch)


def bert_base_seq128(batch: int):
    return _build(128, batch)
