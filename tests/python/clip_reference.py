"""An independent torch.nn CLIP vision tower, written from the published architecture, for
the parity test of lib/model/vit.cpp's CLIP variant. model_reference.py writes its variant.

  - patches by a strided convolution without bias, a learned class embedding prepended,
    learned position embeddings added, then a LayerNorm (pre_layrnorm);
  - pre-norm layers: h + attn(ln1(h)), h + fc2(quick_gelu(fc1(ln2(h)))), biases everywhere,
    scores scaled by 1/sqrt(head_dim); quick_gelu(x) = x * sigmoid(1.702 x);
  - pooled: post_layernorm of the class token.
"""
import math

import torch
import torch.nn as nn


class ClipLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, eps = cfg["hidden_size"], cfg["layer_norm_eps"]
        self.heads = cfg["num_attention_heads"]
        self.q, self.k, self.v, self.out = (nn.Linear(d, d) for _ in range(4))
        self.norm1, self.norm2 = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
        self.fc1, self.fc2 = nn.Linear(d, cfg["intermediate_size"]), nn.Linear(cfg["intermediate_size"], d)

    def forward(self, h):
        B, T, d = h.shape
        hd = d // self.heads
        x = self.norm1(h)

        def split(t):
            return t.view(B, T, self.heads, hd).transpose(1, 2)

        scores = split(self.q(x)) @ split(self.k(x)).transpose(-1, -2) / math.sqrt(hd)
        h = h + self.out((scores.softmax(-1) @ split(self.v(x))).transpose(1, 2).reshape(B, T, d))
        y = self.fc1(self.norm2(h))
        return h + self.fc2(y * torch.sigmoid(1.702 * y))


class ClipVision(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, p = cfg["hidden_size"], cfg["patch_size"]
        self.cfg = cfg
        self.patch = nn.Conv2d(cfg["num_channels"], d, p, stride=p, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(d))
        self.position = nn.Embedding((cfg["image_size"] // p) ** 2 + 1, d)
        self.pre_norm = nn.LayerNorm(d, eps=cfg["layer_norm_eps"])
        self.blocks = nn.ModuleList(ClipLayer(cfg) for _ in range(cfg["num_hidden_layers"]))
        self.post_norm = nn.LayerNorm(d, eps=cfg["layer_norm_eps"])

    def example_inputs(self, gen):
        c, s = self.cfg["num_channels"], self.cfg["image_size"]
        return {"pixel_values": torch.randn(3, c, s, s, generator=gen)}

    def forward(self, pixel_values):
        patches = self.patch(pixel_values).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(pixel_values.shape[0], 1, -1)
        tiers = [self.pre_norm(torch.cat((cls, patches), 1) + self.position.weight)]
        for block in self.blocks:
            tiers.append(block(tiers[-1]))
        return tiers, self.post_norm(tiers[-1][:, 0])

    def hf_state(self):
        """This module's weights under Hugging Face's CLIPVisionModel names (less 'vision_model.')."""
        s = {"embeddings.patch_embedding.weight": self.patch.weight,
             "embeddings.class_embedding": self.class_embedding,
             "embeddings.position_embedding.weight": self.position.weight,
             "pre_layrnorm.weight": self.pre_norm.weight, "pre_layrnorm.bias": self.pre_norm.bias,
             "post_layernorm.weight": self.post_norm.weight, "post_layernorm.bias": self.post_norm.bias}
        for i, b in enumerate(self.blocks):
            p = "encoder.layers.%d." % i
            for mod, name in [(b.q, "self_attn.q_proj"), (b.k, "self_attn.k_proj"), (b.v, "self_attn.v_proj"),
                              (b.out, "self_attn.out_proj"), (b.norm1, "layer_norm1"), (b.norm2, "layer_norm2"),
                              (b.fc1, "mlp.fc1"), (b.fc2, "mlp.fc2")]:
                s[p + name + ".weight"], s[p + name + ".bias"] = mod.weight, mod.bias
        return {k: v.detach() for k, v in s.items()}


def vision_config():
    return {"architectures": ["CLIPVisionModel"], "model_type": "clip_vision_model", "hidden_size": 32,
            "intermediate_size": 48, "num_hidden_layers": 3, "num_attention_heads": 4, "num_channels": 3,
            "image_size": 32, "patch_size": 8, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
            "projection_dim": 16}


def with_projection(stored, cfg, gen):
    """A CLIPVisionModelWithProjection also holds visual_projection; it is not applied."""
    stored["visual_projection.weight"] = torch.randn(cfg["projection_dim"], cfg["hidden_size"], generator=gen)
    return stored
