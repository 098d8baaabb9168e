"""An independent torch.nn T5 encoder (T5 1.0 `relu`, T5 1.1 / Flan-T5 `gated-gelu`), written
from the published architecture, for the parity test of lib/model/t5.cpp. model_reference.py
writes its variants; see there for the files.

  - RMS layer norm: weight * x / sqrt(mean(x^2) + eps), no bias, no mean subtraction;
  - linear layers without biases; attention scores not scaled by 1/sqrt(d_kv);
  - a bucketed, bidirectional relative position bias computed once from the first layer's
    table and added, with the padding mask, to every layer's scores;
  - pre-norm blocks: h + attn(norm(h)), then h + ff(norm(h)); final RMS norm at the end;
  - pooled: mean of the final-normed states over the real tokens.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def gelu_tanh(x):  # the tanh approximation that T5 1.1's gated-gelu uses
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class RmsNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def relative_bucket(relative, num_buckets, max_distance):
    """T5's bidirectional bucket of key position minus query position."""
    half = num_buckets // 2
    bucket = (relative > 0).long() * half
    distance = relative.abs()
    exact = half // 2
    large = exact + (torch.log(distance.float() / exact) / math.log(max_distance / exact)
                     * (half - exact)).long()
    large = torch.clamp(large, max=half - 1)
    return bucket + torch.where(distance < exact, distance, large)


class T5Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, inner, ff = cfg["d_model"], cfg["num_heads"] * cfg["d_kv"], cfg["d_ff"]
        self.heads, self.d_kv = cfg["num_heads"], cfg["d_kv"]
        self.q, self.k, self.v = (nn.Linear(d, inner, bias=False) for _ in range(3))
        self.o = nn.Linear(inner, d, bias=False)
        self.norm_attention = RmsNorm(d, cfg["layer_norm_epsilon"])
        self.norm_ff = RmsNorm(d, cfg["layer_norm_epsilon"])
        self.gated = cfg["feed_forward_proj"] == "gated-gelu"
        if self.gated:
            self.wi_0, self.wi_1 = nn.Linear(d, ff, bias=False), nn.Linear(d, ff, bias=False)
        else:
            self.wi = nn.Linear(d, ff, bias=False)
        self.wo = nn.Linear(ff, d, bias=False)

    def forward(self, h, bias):
        B, T, _ = h.shape
        x = self.norm_attention(h)

        def split(t):
            return t.view(B, T, self.heads, self.d_kv).transpose(1, 2)

        scores = split(self.q(x)) @ split(self.k(x)).transpose(-1, -2) + bias  # no 1/sqrt(d_kv)
        context = (scores.softmax(-1) @ split(self.v(x))).transpose(1, 2).reshape(B, T, -1)
        h = h + self.o(context)
        x = self.norm_ff(h)
        inner = gelu_tanh(self.wi_0(x)) * self.wi_1(x) if self.gated else F.relu(self.wi(x))
        return h + self.wo(inner)


class T5Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.shared = nn.Embedding(cfg["vocab_size"], cfg["d_model"])
        self.position_table = nn.Embedding(cfg["relative_attention_num_buckets"], cfg["num_heads"])
        self.blocks = nn.ModuleList(T5Block(cfg) for _ in range(cfg["num_layers"]))
        self.final_norm = RmsNorm(cfg["d_model"], cfg["layer_norm_epsilon"])

    def position_bias(self, T):
        positions = torch.arange(T)
        relative = positions[None, :] - positions[:, None]  # [query, key]: key - query
        buckets = relative_bucket(relative, self.cfg["relative_attention_num_buckets"],
                                  self.cfg["relative_attention_max_distance"])
        return self.position_table(buckets).permute(2, 0, 1).unsqueeze(0)  # [1, H, T, T]

    def forward(self, input_ids, token_type_ids, attention_mask):
        h = self.shared(input_ids)
        padding = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        bias = self.position_bias(input_ids.shape[1]) + padding
        tiers = [h]
        for block in self.blocks:
            tiers.append(block(tiers[-1], bias))
        normed = self.final_norm(tiers[-1])
        weights = attention_mask.float().unsqueeze(-1)
        return tiers, (normed * weights).sum(1) / weights.sum(1)

    def hf_state(self):
        """This module's weights under Hugging Face's T5EncoderModel names."""
        s = {"shared.weight": self.shared.weight, "encoder.final_layer_norm.weight": self.final_norm.weight,
             "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight": self.position_table.weight}
        for i, b in enumerate(self.blocks):
            p = "encoder.block.%d.layer." % i
            for mod, name in [(b.q, "0.SelfAttention.q"), (b.k, "0.SelfAttention.k"), (b.v, "0.SelfAttention.v"),
                              (b.o, "0.SelfAttention.o"), (b.norm_attention, "0.layer_norm"),
                              (b.wo, "1.DenseReluDense.wo"), (b.norm_ff, "1.layer_norm")]:
                s[p + name + ".weight"] = mod.weight
            if b.gated:
                s[p + "1.DenseReluDense.wi_0.weight"], s[p + "1.DenseReluDense.wi_1.weight"] = b.wi_0.weight, b.wi_1.weight
            else:
                s[p + "1.DenseReluDense.wi.weight"] = b.wi.weight
        return {k: v.detach() for k, v in s.items()}


def t5_config(ff, **kw):
    cfg = {"architectures": ["T5EncoderModel"], "model_type": "t5", "d_model": 32, "d_kv": 8, "d_ff": 64,
           "num_layers": 3, "num_heads": 4, "relative_attention_num_buckets": 8,
           "relative_attention_max_distance": 12, "layer_norm_epsilon": 1e-6, "feed_forward_proj": ff,
           "vocab_size": 50, "pad_token_id": 0, "eos_token_id": 1, "dropout_rate": 0.1, "is_encoder_decoder": True}
    cfg.update(kw)
    return cfg


def as_full_checkpoint(stored, cfg, gen):
    """A T5ForConditionalGeneration checkpoint: also decoder tensors and an LM head, all ignored."""
    d = cfg["d_model"]
    stored.update({"decoder.block.0.layer.0.SelfAttention.q.weight": torch.randn(d, d, generator=gen),
                   "decoder.final_layer_norm.weight": torch.randn(d, generator=gen),
                   "lm_head.weight": torch.randn(cfg["vocab_size"], d, generator=gen)})
    return stored


def as_embed_tokens(stored, cfg, gen):
    """The embedding table saved under its tied encoder name instead of 'shared'."""
    stored["encoder.embed_tokens.weight"] = stored.pop("shared.weight")
    return stored
