#!/usr/bin/python3
"""Peak memory and seconds per step of the PyTorch references that sherl-train's memory is
compared with (issue 18), one method and one shape per process, random weights, AdamW:

  full    full fine-tuning: every backbone weight, and a linear head on the pooled vector
  lora    LoRA of rank 8 (alpha 16) on the query and value projections of every layer; the
          backbone frozen; the head trained
  sherl   SHERL as the official code runs it: the frozen early layers recomputed under
          no-grad every step (no cache), the MTSA over all L-K+1 tiers (K = 1, h = d/2,
          linear-ln projections, ln output), the frozen last layer on the gradient path, the
          pooling and the head

Shapes (the models are torch.nn modules written here and in tests/python, not sherl's):
  bert-base  BERT-base: 12 post-LN layers, d 768, 12 heads, MLP 3072, batch 32 x 128 tokens
  vit-base   ViT-B/16: 12 pre-LN layers, d 768, 12 heads, MLP 3072, 224 x 224 x 3 images in
             patches of 16 (197 tokens), batch 32
  llama-1b   a Llama-shaped decoder of 1.03 B parameters (TinyLlama's shape: 22 layers, d 2048,
             32 query heads over 4 key/value heads, SwiGLU 5632, vocabulary 32000), batch
             8 x 256 tokens, causal; weights, gradients and AdamW moments in bf16 (the
             float32 states of full fine-tuning, 16.5 GB, do not fit this 24 GiB machine
             beside the activations); the MTSA and the head stay float32. LoRA targets its
             q and v projections.

Prints one JSON line: shape, method, trainable parameters, peak RSS (ru_maxrss: the whole
process, Python and LibTorch included), seconds per step (the mean of the timed steps,
after one untimed step). Threads: $THREADS, default one per core.

  /usr/bin/python3 bench/memory_reference.py bert-base|vit-base|llama-1b full|lora|sherl [STEPS]
"""
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
import llama_reference  # noqa: E402
import model_reference  # noqa: E402

D, HEADS, MLP, LAYERS, CLASSES = 768, 12, 3072, 12, 2
BATCH = {"bert-base": 32, "vit-base": 32, "llama-1b": 8}
LLAMA_1B = llama_reference.decoder_config(
    "llama", hidden_size=2048, num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
    intermediate_size=5632, vocab_size=32000, max_position_embeddings=2048)


class PreLnLayer(nn.Module):
    """A ViT layer: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self):
        super().__init__()
        self.heads = HEADS
        self.norm1, self.norm2 = nn.LayerNorm(D, eps=1e-12), nn.LayerNorm(D, eps=1e-12)
        self.query, self.key, self.value, self.attn_out = (nn.Linear(D, D) for _ in range(4))
        self.inter, self.out = nn.Linear(D, MLP), nn.Linear(MLP, D)

    def forward(self, x):
        B, T, _ = x.shape
        hd = D // self.heads
        y = self.norm1(x)
        q, k, v = (m(y).view(B, T, self.heads, hd).transpose(1, 2) for m in (self.query, self.key, self.value))
        ctx = ((q @ k.transpose(-1, -2)) / math.sqrt(hd)).softmax(-1) @ v
        x = x + self.attn_out(ctx.transpose(1, 2).reshape(B, T, D))
        return x + self.out(F.gelu(self.inter(self.norm2(x))))


class Vit(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, D, 16, stride=16)
        self.cls = nn.Parameter(torch.randn(1, 1, D) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, 197, D) * 0.02)
        self.layers = nn.ModuleList(PreLnLayer() for _ in range(LAYERS))
        self.norm = nn.LayerNorm(D, eps=1e-12)

    lora_targets = ("query", "value")

    def embed(self, pixels):
        x = self.patch(pixels).flatten(2).transpose(1, 2)
        return torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos

    def run(self, layer, h):
        return layer(h)

    def pool(self, h):
        return self.norm(h)[:, 0]


class Bert(nn.Module):
    """model_reference.RefEncoder split into the steps SHERL needs apart."""

    def __init__(self):
        super().__init__()
        cfg = model_reference.base_config("bert", "gelu", hidden_size=D, num_hidden_layers=LAYERS,
                                          num_attention_heads=HEADS, intermediate_size=MLP, vocab_size=30522,
                                          max_position_embeddings=512)
        self.ref = model_reference.RefEncoder(cfg)
        self.layers = self.ref.layers

    lora_targets = ("query", "value")

    def embed(self, ids):
        r = self.ref
        return r.norm(r.word(ids) + r.token_type(torch.zeros_like(ids)) + r.position(r.positions(ids)))

    def run(self, layer, h):
        return layer(h, 0.0)  # no padding: a zero attention bias

    def pool(self, h):
        return h[:, 0]


class Llama(nn.Module):
    """llama_reference.Decoder, built one bf16 layer at a time (a float32 copy of the whole
    would set the process's peak), with the causal bias and rotary tables of 256 tokens."""

    def __init__(self, tokens=256):
        super().__init__()
        torch.set_default_dtype(torch.bfloat16)
        self.ref = llama_reference.Decoder(dict(LLAMA_1B, num_hidden_layers=0))
        for _ in range(LLAMA_1B["num_hidden_layers"]):
            self.ref.blocks.append(llama_reference.DecoderLayer(LLAMA_1B))
        torch.set_default_dtype(torch.float32)
        self.layers = self.ref.blocks
        causal = torch.ones(tokens, tokens, dtype=torch.bool).tril()
        self.bias = torch.zeros(1, 1, tokens, tokens).masked_fill(~causal, -1e4).to(torch.bfloat16)
        self.cos, self.sin = (t.to(torch.bfloat16) for t in self.ref.rotary(tokens))

    lora_targets = ("q", "v")

    def embed(self, ids):
        return self.ref.embed(ids)

    def run(self, layer, h):
        return layer(h, self.bias, self.cos, self.sin)

    def pool(self, h):
        return self.ref.final_norm(h)[:, -1]  # the last token: every token is real


class LoraLinear(nn.Module):
    def __init__(self, base, rank=8, alpha=16):
        super().__init__()
        self.base = base
        self.a = nn.Parameter(torch.randn(rank, base.in_features) / math.sqrt(base.in_features))
        self.b = nn.Parameter(torch.zeros(base.out_features, rank))
        self.scale = alpha / rank

    def forward(self, x):
        return self.base(x) + F.linear(F.linear(x, self.a), self.b) * self.scale


class Mtsa(nn.Module):
    """The MTSA of the official code's BERT/ViT variant (docs/method.md), in float32."""

    def __init__(self, tiers, d):
        super().__init__()
        h = d // 2
        self.proj = nn.ModuleList(nn.Sequential(nn.Linear(d, h), nn.LayerNorm(h)) for _ in range(tiers))
        self.attn, self.up, self.up_norm = nn.Linear(h, 1), nn.Linear(h, d), nn.LayerNorm(d, eps=1e-12)
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, tiers):
        tiers = [t.float() for t in tiers]
        xs = torch.stack([p(t) for p, t in zip(self.proj, tiers)], 2)
        guide, shallow = xs[:, :, -1], xs[:, :, :-1]
        unit = shallow / (shallow.norm(dim=-1, keepdim=True) + 1e-8)
        redundancy = F.relu(unit @ unit.transpose(-1, -2)).sum(-1)
        a = F.relu(self.attn(shallow * guide.unsqueeze(2)).squeeze(-1)) / redundancy
        a = a / (a.abs().sum(-1, keepdim=True) + 1e-8)
        z = (a.unsqueeze(-1) * shallow).sum(2) + guide
        return self.up_norm(self.up(F.relu(z))) + torch.tanh(self.gate / 0.1) * tiers[-1]


def make_batch(shape):
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, CLASSES, (BATCH[shape],), generator=g)
    if shape == "vit-base":
        return torch.randn(BATCH[shape], 3, 224, 224, generator=g), labels
    if shape == "llama-1b":
        return torch.randint(1000, 30000, (BATCH[shape], 256), generator=g), labels
    return torch.randint(1000, 30000, (BATCH[shape], 128), generator=g), labels


def build(shape, method):
    backbone = {"bert-base": Bert, "vit-base": Vit, "llama-1b": Llama}[shape]()
    d = LLAMA_1B["hidden_size"] if shape == "llama-1b" else D
    dtype = next(backbone.parameters()).dtype
    head = nn.Linear(d, CLASSES)
    if method != "full":
        for p in backbone.parameters():
            p.requires_grad_(False)
    if method == "lora":
        for layer in backbone.layers:
            for name in backbone.lora_targets:
                setattr(layer, name, LoraLinear(getattr(layer, name)).to(dtype))
    mtsa = Mtsa(len(backbone.layers), d) if method == "sherl" else None

    def loss_of(inputs, labels):
        h = backbone.embed(inputs)
        if mtsa is None:
            for layer in backbone.layers:
                h = backbone.run(layer, h)
        else:
            with torch.no_grad():  # the official code: the early route recomputed, without gradients
                tiers = [h]
                for layer in backbone.layers[:-1]:
                    tiers.append(backbone.run(layer, tiers[-1]))
            h = backbone.run(backbone.layers[-1], mtsa(tiers).to(dtype))
        return F.cross_entropy(head(backbone.pool(h).float()), labels)

    modules = [backbone, head] + ([mtsa] if mtsa is not None else [])
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    return loss_of, params


def main():
    shape, method = sys.argv[1], sys.argv[2]
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    assert shape in BATCH and method in ("full", "lora", "sherl"), sys.argv
    # Both cores, as sherl-train uses them (this build of torch starts with one thread).
    torch.set_num_threads(int(os.environ.get("THREADS", os.cpu_count())))
    torch.manual_seed(0)
    loss_of, params = build(shape, method)
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    inputs, labels = make_batch(shape)
    times = []
    for step in range(steps + 1):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(inputs, labels)
        loss.backward()
        optimizer.step()
        if step > 0:
            times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"shape": shape, "method": method, "trainable": sum(p.numel() for p in params),
                      "peak_rss_mib": round(peak / 2**20), "s_per_step": round(sum(times) / len(times), 3),
                      "threads": torch.get_num_threads(), "loss": round(loss.item(), 4)}))


if __name__ == "__main__":
    main()
