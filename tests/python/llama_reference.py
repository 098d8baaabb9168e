"""An independent torch.nn Llama-style decoder (Llama, Mistral, Qwen2), written from the
published architecture, for the parity test of lib/model/llama.cpp. model_reference.py writes
its variants; see there for the files.

  - RMS norms (weight only), pre-norm layers: h + attn(norm(h)), then h + mlp(norm(h));
  - grouped-query attention: each key/value head serves num_heads / num_key_value_heads
    consecutive query heads; scores scaled by 1/sqrt(head_dim); causal and padding masks;
  - rotary positions: angle(p, i) = p / factor * theta^(-2i/head_dim), applied as
    x cos + rotate_half(x) sin with the angles repeated over both halves;
  - SwiGLU MLP: down(silu(gate(x)) * up(x)); biases on q/k/v for Qwen2;
  - pooled: the last real token after the final RMS norm.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from t5_reference import RmsNorm


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class DecoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["hidden_size"]
        self.heads, self.kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.hd = cfg.get("head_dim", d // self.heads)
        qkv_bias = cfg["model_type"] == "qwen2"
        self.q = nn.Linear(d, self.heads * self.hd, bias=qkv_bias)
        self.k = nn.Linear(d, self.kv_heads * self.hd, bias=qkv_bias)
        self.v = nn.Linear(d, self.kv_heads * self.hd, bias=qkv_bias)
        self.o = nn.Linear(self.heads * self.hd, d, bias=False)
        ff = cfg["intermediate_size"]
        self.gate, self.up, self.down = nn.Linear(d, ff, bias=False), nn.Linear(d, ff, bias=False), nn.Linear(ff, d, bias=False)
        self.input_norm, self.post_norm = RmsNorm(d, cfg["rms_norm_eps"]), RmsNorm(d, cfg["rms_norm_eps"])

    def forward(self, h, bias, cos, sin):
        B, T, _ = h.shape
        x = self.input_norm(h)

        def split(t, n):
            return t.view(B, T, n, self.hd).transpose(1, 2)

        q, k, v = split(self.q(x), self.heads), split(self.k(x), self.kv_heads), split(self.v(x), self.kv_heads)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = self.heads // self.kv_heads
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.hd) + bias
        h = h + self.o((scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, -1))
        x = self.post_norm(h)
        return h + self.down(F.silu(self.gate(x)) * self.up(x))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.blocks = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg["num_hidden_layers"]))
        self.final_norm = RmsNorm(cfg["hidden_size"], cfg["rms_norm_eps"])

    def rotary(self, T):
        hd = self.blocks[0].hd
        factor = (self.cfg.get("rope_scaling") or {}).get("factor", 1.0)
        inv_freq = 1.0 / (self.cfg["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd))
        angles = torch.outer(torch.arange(T).float() / factor, inv_freq)
        both = torch.cat((angles, angles), dim=-1)
        return both.cos(), both.sin()

    def forward(self, input_ids, token_type_ids, attention_mask):
        B, T = input_ids.shape
        allowed = torch.ones(T, T, dtype=torch.bool).tril()[None, None] & attention_mask.bool()[:, None, None, :]
        bias = torch.zeros(B, 1, T, T).masked_fill(~allowed, torch.finfo(torch.float32).min)
        cos, sin = self.rotary(T)
        tiers = [self.embed(input_ids)]
        for block in self.blocks:
            tiers.append(block(tiers[-1], bias, cos, sin))
        last = attention_mask.sum(1) - 1
        return tiers, self.final_norm(tiers[-1])[torch.arange(B), last]

    def hf_state(self):
        """This module's weights under Hugging Face's LlamaModel names."""
        s = {"embed_tokens.weight": self.embed.weight, "norm.weight": self.final_norm.weight}
        for i, b in enumerate(self.blocks):
            p = "layers.%d." % i
            for mod, name in [(b.q, "self_attn.q_proj"), (b.k, "self_attn.k_proj"), (b.v, "self_attn.v_proj"),
                              (b.o, "self_attn.o_proj"), (b.gate, "mlp.gate_proj"), (b.up, "mlp.up_proj"),
                              (b.down, "mlp.down_proj"), (b.input_norm, "input_layernorm"),
                              (b.post_norm, "post_attention_layernorm")]:
                s[p + name + ".weight"] = mod.weight
                if getattr(mod, "bias", None) is not None:
                    s[p + name + ".bias"] = mod.bias
        return {k: v.detach() for k, v in s.items()}


def decoder_config(model_type, **kw):
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": model_type, "hidden_size": 32,
           "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 48,
           "hidden_act": "silu", "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": None,
           "vocab_size": 50, "pad_token_id": None, "bos_token_id": 1, "eos_token_id": 2,
           "max_position_embeddings": 64, "tie_word_embeddings": False}
    cfg.update(kw)
    return cfg


def with_lm_head(stored, cfg, gen):
    """A causal-LM checkpoint also holds the LM head; it is ignored."""
    stored["lm_head.weight"] = torch.randn(cfg["vocab_size"], cfg["hidden_size"], generator=gen)
    return stored
