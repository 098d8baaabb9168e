"""Independent torch.nn CLIP towers, written from the published architecture, for the parity
tests of lib/model/vit.cpp's CLIP variant and lib/model/clip_text.cpp. model_reference.py
writes their variants.

  - patches by a strided convolution without bias, a learned class embedding prepended,
    learned position embeddings added, then a LayerNorm (pre_layrnorm);
  - pre-norm layers: h + attn(ln1(h)), h + fc2(quick_gelu(fc1(ln2(h)))), biases everywhere,
    scores scaled by 1/sqrt(head_dim); quick_gelu(x) = x * sigmoid(1.702 x);
  - pooled: post_layernorm of the class token; embedded: the pool times visual_projection.
Text tower: token + position embeddings, the same layers under a causal mask that also hides
padding, final_layer_norm; pooled at the first eos_token_id of each row; embedded: times text_projection.
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

    def forward(self, h, bias=None):
        B, T, d = h.shape
        hd = d // self.heads
        x = self.norm1(h)

        def split(t):
            return t.view(B, T, self.heads, hd).transpose(1, 2)

        scores = split(self.q(x)) @ split(self.k(x)).transpose(-1, -2) / math.sqrt(hd)
        if bias is not None:
            scores = scores + bias
        h = h + self.out((scores.softmax(-1) @ split(self.v(x))).transpose(1, 2).reshape(B, T, d))
        y = self.fc1(self.norm2(h))
        return h + self.fc2(y * torch.sigmoid(1.702 * y))


class ClipVision(nn.Module):
    projection_name = "visual_projection.weight"  # of the joint space, where stored

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
        return layer_state(self.blocks) | self.own_state()

    def own_state(self):
        s = {"embeddings.patch_embedding.weight": self.patch.weight,
             "embeddings.class_embedding": self.class_embedding,
             "embeddings.position_embedding.weight": self.position.weight,
             "pre_layrnorm.weight": self.pre_norm.weight, "pre_layrnorm.bias": self.pre_norm.bias,
             "post_layernorm.weight": self.post_norm.weight, "post_layernorm.bias": self.post_norm.bias}
        return {k: v.detach() for k, v in s.items()}


def layer_state(blocks):
    """The layers' weights under the names both towers use."""
    s = {}
    for i, b in enumerate(blocks):
        p = "encoder.layers.%d." % i
        for mod, name in [(b.q, "self_attn.q_proj"), (b.k, "self_attn.k_proj"), (b.v, "self_attn.v_proj"),
                          (b.out, "self_attn.out_proj"), (b.norm1, "layer_norm1"), (b.norm2, "layer_norm2"),
                          (b.fc1, "mlp.fc1"), (b.fc2, "mlp.fc2")]:
            s[p + name + ".weight"], s[p + name + ".bias"] = mod.weight.detach(), mod.bias.detach()
    return s


class ClipText(nn.Module):
    projection_name = "text_projection.weight"

    def __init__(self, cfg):
        super().__init__()
        d = cfg["hidden_size"]
        self.cfg = cfg
        self.token = nn.Embedding(cfg["vocab_size"], d)
        self.position = nn.Embedding(cfg["max_position_embeddings"], d)
        self.blocks = nn.ModuleList(ClipLayer(cfg) for _ in range(cfg["num_hidden_layers"]))
        self.final_norm = nn.LayerNorm(d, eps=cfg["layer_norm_eps"])

    def example_inputs(self, gen):
        """Three texts of 9, 6 and 3 tokens padded with pad_token_id, each ending in eos."""
        lengths, T, eos = [9, 6, 3], 9, self.cfg["eos_token_id"]
        ids = torch.full((len(lengths), T), self.cfg["pad_token_id"], dtype=torch.int64)
        mask = torch.zeros_like(ids)
        for b, n in enumerate(lengths):
            ids[b, :n - 1] = torch.randint(2, eos - 1, (n - 1,), generator=gen)
            ids[b, n - 1] = eos
            mask[b, :n] = 1
        return {"input_ids": ids, "token_type_ids": torch.zeros_like(ids), "attention_mask": mask}

    def forward(self, input_ids, token_type_ids, attention_mask):
        B, T = input_ids.shape
        lowest = torch.finfo(torch.float32).min
        causal = torch.full((T, T), lowest).triu(1)
        padding = (1 - attention_mask[:, None, None, :].float()) * lowest
        bias = torch.minimum(causal[None, None], padding)
        tiers = [self.token(input_ids) + self.position.weight[:T]]
        for block in self.blocks:
            tiers.append(block(tiers[-1], bias))
        last = self.final_norm(tiers[-1])
        eos_at = (input_ids == self.cfg["eos_token_id"]).int().argmax(-1)
        return tiers, last[torch.arange(B), eos_at]

    def hf_state(self):
        """Under Hugging Face's CLIPTextModel names (less 'text_model.')."""
        return layer_state(self.blocks) | {
            "embeddings.token_embedding.weight": self.token.weight.detach(),
            "embeddings.position_embedding.weight": self.position.weight.detach(),
            "final_layer_norm.weight": self.final_norm.weight.detach(),
            "final_layer_norm.bias": self.final_norm.bias.detach()}


def text_config():
    return {"model_type": "clip_text_model", "hidden_size": 32, "intermediate_size": 40, "num_hidden_layers": 3,
            "num_attention_heads": 2, "vocab_size": 50, "max_position_embeddings": 12, "hidden_act": "quick_gelu",
            "layer_norm_eps": 1e-5, "pad_token_id": 1, "bos_token_id": 48, "eos_token_id": 49, "projection_dim": 16}


def clip_model_config():
    """A CLIPModel's config.json: the two towers' configs under text_config / vision_config."""
    vision = vision_config()
    del vision["architectures"]
    return {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 16,
            "logit_scale_init_value": 2.6592, "text_config": text_config(), "vision_config": vision}


def as_clip_model(stored, cfg, gen):
    """A whole CLIPModel checkpoint: a vision tower and both projections beside the text tower."""
    import model_reference  # here: it imports this module
    vision = ClipVision(vision_config())
    model_reference.randomize(vision, gen)
    stored |= {"vision_model." + k: v for k, v in vision.hf_state().items()}
    d, p = cfg["text_config"]["hidden_size"], cfg["projection_dim"]
    stored["text_projection.weight"] = torch.randn(p, d, generator=gen)
    stored["visual_projection.weight"] = torch.randn(p, cfg["vision_config"]["hidden_size"], generator=gen)
    stored["logit_scale"] = torch.tensor(2.6592)
    return stored


def vision_config():
    return {"architectures": ["CLIPVisionModel"], "model_type": "clip_vision_model", "hidden_size": 32,
            "intermediate_size": 48, "num_hidden_layers": 3, "num_attention_heads": 4, "num_channels": 3,
            "image_size": 32, "patch_size": 8, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
            "projection_dim": 16}


def with_projection(stored, cfg, gen):
    """A CLIPVisionModelWithProjection also holds visual_projection."""
    stored["visual_projection.weight"] = torch.randn(cfg["projection_dim"], cfg["hidden_size"], generator=gen)
    return stored
