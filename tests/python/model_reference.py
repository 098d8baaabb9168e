#!/usr/bin/python3
"""Reference outputs for the BERT / RoBERTa backbones of lib/model.

Writes small randomly initialised models in the Hugging Face layout (config.json plus
safetensors written by hand: 8-byte little-endian header length, JSON header, raw bytes)
and runs an independent PyTorch implementation built from torch.nn modules on a padded
batch with an attention mask and token types. For each model NAME in OUTDIR:

  OUTDIR/NAME/                     the model directory
  OUTDIR/NAME-reference.safetensors  input_ids, token_type_ids, attention_mask (I64),
                                   tier_0 .. tier_L [B, T, d] and pool [B, d] (F32)

The variants cover the loaders and activations:
  bert      gelu (erf),  F32,  one file, 'bert.' prefix, plus pooler/classifier/position_ids
  roberta   gelu_new,    F16,  two shards with model.safetensors.index.json, no prefix
  bert-relu relu,        BF16, one file, no prefix, layer_norm_eps 1e-5
  t5        T5 1.0 relu, F32,  one file, the table as encoder.embed_tokens, distances past
                                relative_attention_max_distance (t5_reference.py)
  t5-gated  gated-gelu,  BF16, two shards, a full encoder-decoder checkpoint, d_kv 12 with
                                4 heads (inner size 48, not d_model 32)
  llama     F32, 'model.' prefix and an LM head, 4 query heads over 2 key/value heads,
                                no pad_token_id (llama_reference.py)
  qwen2     BF16, two shards, q/k/v biases, one key/value head, rope_theta 1e6
  mistral   F16, head_dim 12 (not 32 / 4), linear rope scaling (factor 2), sliding_window
  clip-vision  F32, CLIPVisionModelWithProjection names, images of 32 x 32 in patches of 8
                                (clip_reference.py; pixel_values instead of the text inputs)
  clip-text    F32, a whole CLIPModel (config with text_config / vision_config, both towers,
                                projections, logit_scale); its text tower: causal, padded, pooled
                                at eos_token_id

Usage: /usr/bin/python3 model_reference.py OUTDIR
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

import clip_reference
import llama_reference
import t5_reference

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the bits
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def write_safetensors(path, tensors):
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        data = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


# ---------------------------------------------------------------- reference model


def gelu_new(x):  # transformers' NewGELUActivation, written out
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACTIVATIONS = {"gelu": F.gelu, "gelu_new": gelu_new, "relu": F.relu}


class RefLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, eps = cfg["hidden_size"], cfg["layer_norm_eps"]
        self.heads = cfg["num_attention_heads"]
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.attn_out, self.attn_norm = nn.Linear(d, d), nn.LayerNorm(d, eps=eps)
        self.inter, self.out = nn.Linear(d, cfg["intermediate_size"]), nn.Linear(cfg["intermediate_size"], d)
        self.out_norm = nn.LayerNorm(d, eps=eps)
        self.act = ACTIVATIONS[cfg["hidden_act"]]

    def forward(self, x, extended_mask):
        B, T, d = x.shape
        hd = d // self.heads

        def split(t):
            return t.view(B, T, self.heads, hd).permute(0, 2, 1, 3)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd) + extended_mask
        ctx = torch.matmul(scores.softmax(dim=-1), v).permute(0, 2, 1, 3).reshape(B, T, d)
        a = self.attn_norm(self.attn_out(ctx) + x)
        return self.out_norm(self.out(self.act(self.inter(a))) + a)


class RefEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["hidden_size"]
        self.cfg = cfg
        self.word = nn.Embedding(cfg["vocab_size"], d)
        self.position = nn.Embedding(cfg["max_position_embeddings"], d)
        self.token_type = nn.Embedding(cfg["type_vocab_size"], d)
        self.norm = nn.LayerNorm(d, eps=cfg["layer_norm_eps"])
        self.layers = nn.ModuleList(RefLayer(cfg) for _ in range(cfg["num_hidden_layers"]))

    def positions(self, input_ids):
        if self.cfg["model_type"] == "roberta":  # create_position_ids_from_input_ids
            pad = self.cfg["pad_token_id"]
            mask = input_ids.ne(pad).int()
            return (torch.cumsum(mask, dim=1).type_as(mask) * mask).long() + pad
        return torch.arange(input_ids.shape[1]).unsqueeze(0).expand_as(input_ids)

    def forward(self, input_ids, token_type_ids, attention_mask):
        h = self.word(input_ids) + self.token_type(token_type_ids) + self.position(self.positions(input_ids))
        tiers = [self.norm(h)]
        extended = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.layers:
            tiers.append(layer(tiers[-1], extended))
        return tiers, tiers[-1][:, 0]

    def hf_state(self):
        """This module's weights under Hugging Face's BertModel names."""
        s = {"embeddings.word_embeddings.weight": self.word.weight,
             "embeddings.position_embeddings.weight": self.position.weight,
             "embeddings.token_type_embeddings.weight": self.token_type.weight,
             "embeddings.LayerNorm.weight": self.norm.weight, "embeddings.LayerNorm.bias": self.norm.bias}
        for i, l in enumerate(self.layers):
            p = "encoder.layer.%d." % i
            for mod, name in [(l.query, "attention.self.query"), (l.key, "attention.self.key"),
                              (l.value, "attention.self.value"), (l.attn_out, "attention.output.dense"),
                              (l.attn_norm, "attention.output.LayerNorm"), (l.inter, "intermediate.dense"),
                              (l.out, "output.dense"), (l.out_norm, "output.LayerNorm")]:
                s[p + name + ".weight"], s[p + name + ".bias"] = mod.weight, mod.bias
        return {k: v.detach() for k, v in s.items()}


def randomize(model, gen):
    """Non-trivial values everywhere (LayerNorm gains and biases too), so that a weight
    loaded into the wrong place or ignored shows up in the outputs."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif p.dim() == 2 and "word" not in name and "position" not in name and "token_type" not in name:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]))
            else:
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))


# ---------------------------------------------------------------- variants


def make_inputs(cfg, gen):
    lengths, T = [9, 6, 3], 9
    pad = cfg["pad_token_id"] or 0
    ids = torch.full((len(lengths), T), pad, dtype=torch.int64)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(2, cfg["vocab_size"], (n,), generator=gen)
        mask[b, :n] = 1
        if cfg.get("type_vocab_size", 1) > 1:
            types[b, n // 2:n] = 1  # a sentence pair: the second half is segment B
    return ids, types, mask


def write_variant(outdir, name, model, cfg, dtype, prefix, shards, finish, seed):
    """`finish(stored, cfg, gen)` returns the tensors to store, from the model's own."""
    gen = torch.Generator().manual_seed(seed)
    randomize(model, gen)
    # The model computes with exactly the values stored (rounded to F16 / BF16 if so).
    state = {k: v.to(dtype) for k, v in model.hf_state().items()}
    with torch.no_grad():
        for p, v in zip(model.hf_state().values(), state.values()):
            p.copy_(v.float())
    stored = finish({prefix + k: v for k, v in state.items()}, cfg, gen)
    model_dir = os.path.join(outdir, name)
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    if shards == 1:
        write_safetensors(os.path.join(model_dir, "model.safetensors"), stored)
    else:
        names = sorted(stored)
        weight_map, per = {}, math.ceil(len(names) / shards)
        for s in range(shards):
            file = "model-%05d-of-%05d.safetensors" % (s + 1, shards)
            part = {n: stored[n] for n in names[s * per:(s + 1) * per]}
            write_safetensors(os.path.join(model_dir, file), part)
            weight_map.update({n: file for n in part})
        total = sum(v.numel() * v.element_size() for v in stored.values())
        with open(os.path.join(model_dir, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)

    if hasattr(model, "example_inputs"):
        inputs = model.example_inputs(gen)
    else:
        inputs = dict(zip(("input_ids", "token_type_ids", "attention_mask"), make_inputs(cfg, gen)))
    with torch.no_grad():
        tiers, pooled = model(**inputs)
    ref = dict(inputs, pool=pooled.contiguous())
    # A tower with its joint-space projection in the checkpoint: the projected pool too.
    projection = stored.get(getattr(model, "projection_name", None))
    if projection is not None:
        ref["embeds"] = (pooled @ projection.float().T).contiguous()
    ref.update({"tier_%d" % t: h for t, h in enumerate(tiers)})
    write_safetensors(os.path.join(outdir, name + "-reference.safetensors"), ref)


def base_config(model_type, act, **kw):
    cfg = {"architectures": ["BertModel"], "model_type": model_type, "hidden_size": 32,
           "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 64,
           "hidden_act": act, "vocab_size": 50, "max_position_embeddings": 24, "type_vocab_size": 2,
           "layer_norm_eps": 1e-12, "pad_token_id": 0, "position_embedding_type": "absolute",
           "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}
    cfg.update(kw)
    return cfg


def as_bert_task(stored, cfg, gen):
    """What a BertForSequenceClassification checkpoint also holds; all of it is ignored."""
    d = cfg["hidden_size"]
    return stored | {"bert.pooler.dense.weight": torch.randn(d, d, generator=gen),
            "bert.pooler.dense.bias": torch.randn(d, generator=gen),
            "classifier.weight": torch.randn(3, d, generator=gen), "classifier.bias": torch.randn(3, generator=gen),
            "bert.embeddings.position_ids": torch.arange(cfg["max_position_embeddings"]).unsqueeze(0)}


def main():
    outdir = sys.argv[1]
    torch.set_num_threads(1)
    def bert(cfg):
        return RefEncoder(cfg), cfg

    def t5(cfg):
        return t5_reference.T5Encoder(cfg), cfg

    def as_is(stored, cfg, gen):
        return stored

    write_variant(outdir, "bert", *bert(base_config("bert", "gelu")), torch.float32, "bert.", 1, as_bert_task, 1)
    write_variant(outdir, "roberta",
                  *bert(base_config("roberta", "gelu_new", pad_token_id=1, type_vocab_size=1, layer_norm_eps=1e-5)),
                  torch.float16, "", 2, as_is, 2)
    write_variant(outdir, "bert-relu", *bert(base_config("bert", "relu", layer_norm_eps=1e-5)), torch.bfloat16, "",
                  1, as_is, 3)
    write_variant(outdir, "t5", *t5(t5_reference.t5_config("relu", relative_attention_max_distance=6)),
                  torch.float32, "", 1, t5_reference.as_embed_tokens, 4)
    write_variant(outdir, "t5-gated", *t5(t5_reference.t5_config("gated-gelu", d_kv=12, model_type="t5")),
                  torch.bfloat16, "", 2, t5_reference.as_full_checkpoint, 5)

    def decoder(cfg):
        return llama_reference.Decoder(cfg), cfg

    write_variant(outdir, "llama", *decoder(llama_reference.decoder_config("llama")), torch.float32, "model.", 1,
                  llama_reference.with_lm_head, 6)
    write_variant(outdir, "qwen2", *decoder(llama_reference.decoder_config("qwen2", num_key_value_heads=1,
                                                                         rope_theta=1e6, pad_token_id=0)),
                  torch.bfloat16, "", 2, as_is, 7)
    write_variant(outdir, "mistral", *decoder(llama_reference.decoder_config(
                      "mistral", head_dim=12, rope_scaling={"type": "linear", "factor": 2.0}, sliding_window=4096)),
                  torch.float16, "model.", 1, as_is, 8)
    write_variant(outdir, "clip-vision", clip_reference.ClipVision(clip_reference.vision_config()),
                  clip_reference.vision_config(), torch.float32, "vision_model.", 1, clip_reference.with_projection, 9)
    write_variant(outdir, "clip-text", clip_reference.ClipText(clip_reference.text_config()),
                  clip_reference.clip_model_config(), torch.float32, "text_model.", 1, clip_reference.as_clip_model, 10)


if __name__ == "__main__":
    main()
