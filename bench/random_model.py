#!/usr/bin/python3
"""Writes a model with random weights (float32, Hugging Face layout) of a real shape, for
extract_gflops_bench --model:

  t5-base      T5 1.1 base encoder: 12 layers, d_model 768, 12 heads of 64, d_ff 2048
               (gated-gelu), vocabulary 32128
  bert-base    BERT-base: 12 layers, hidden 768, 12 heads, intermediate 3072 (gelu),
               vocabulary 30522, 512 positions
  llama-small  a Llama-shaped decoder: 12 layers, hidden 768, 12 query heads over 4
               key/value heads of 64, intermediate 2048 (SwiGLU), vocabulary 32000
  llama-1b     a Llama-shaped decoder of 1.03 B parameters (TinyLlama's shape: 22 layers, hidden
               2048, 32 query heads over 4 key/value heads of 64, intermediate 5632,
               vocabulary 32000), stored in BF16
  vit-base     ViT-B/16: 12 layers, hidden 768, 12 heads, intermediate 3072 (gelu), 224 x 224
               RGB images in patches of 16 (197 tokens), with a preprocessor_config.json

Usage: /usr/bin/python3 bench/random_model.py t5-base|bert-base|llama-small|llama-1b|vit-base OUTDIR
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
import llama_reference  # noqa: E402
import model_reference  # noqa: E402
import t5_reference  # noqa: E402

SHAPES = {
    "bert-base": (model_reference.RefEncoder, model_reference.base_config(
        "bert", "gelu", hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
        vocab_size=30522, max_position_embeddings=512)),
    "t5-base": (t5_reference.T5Encoder, t5_reference.t5_config(
        "gated-gelu", d_model=768, d_kv=64, d_ff=2048, num_layers=12, num_heads=12, vocab_size=32128,
        relative_attention_num_buckets=32, relative_attention_max_distance=128)),
    "llama-small": (llama_reference.Decoder, llama_reference.decoder_config(
        "llama", hidden_size=768, num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=4,
        intermediate_size=2048, vocab_size=32000, max_position_embeddings=2048)),
    "llama-1b": (llama_reference.Decoder, llama_reference.decoder_config(
        "llama", hidden_size=2048, num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
        intermediate_size=5632, vocab_size=32000, max_position_embeddings=2048)),
}
STORED_DTYPE = {"llama-1b": torch.bfloat16}  # the others: float32


VIT_BASE = {"architectures": ["ViTModel"], "model_type": "vit", "hidden_size": 768, "num_hidden_layers": 12,
            "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
            "image_size": 224, "patch_size": 16, "num_channels": 3, "qkv_bias": True,
            "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
VIT_PREPROCESSOR = {"image_processor_type": "ViTImageProcessor", "do_resize": True, "size": {"height": 224, "width": 224},
                    "resample": 2, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
                    "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}


def vit_base_state(gen):
    """ViTModel's tensors under Hugging Face's names, random (weights scaled by 1/sqrt(fan-in))."""
    d, m = VIT_BASE["hidden_size"], VIT_BASE["intermediate_size"]

    def w(rows, cols):
        return torch.randn(rows, cols, generator=gen) / cols ** 0.5

    s = {"embeddings.cls_token": 0.02 * torch.randn(1, 1, d, generator=gen),
         "embeddings.position_embeddings": 0.02 * torch.randn(1, 197, d, generator=gen),
         "embeddings.patch_embeddings.projection.weight": torch.randn(d, 3, 16, 16, generator=gen) / (3 * 256) ** 0.5,
         "embeddings.patch_embeddings.projection.bias": torch.zeros(d),
         "layernorm.weight": torch.ones(d), "layernorm.bias": torch.zeros(d)}
    for i in range(VIT_BASE["num_hidden_layers"]):
        p = "encoder.layer.%d." % i
        for name, (rows, cols) in [("attention.attention.query", (d, d)), ("attention.attention.key", (d, d)),
                                   ("attention.attention.value", (d, d)), ("attention.output.dense", (d, d)),
                                   ("intermediate.dense", (m, d)), ("output.dense", (d, m))]:
            s[p + name + ".weight"], s[p + name + ".bias"] = w(rows, cols), torch.zeros(rows)
        for norm in ("layernorm_before", "layernorm_after"):
            s[p + norm + ".weight"], s[p + norm + ".bias"] = torch.ones(d), torch.zeros(d)
    return s


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2, sort_keys=True)


def main():
    shape, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    if shape == "vit-base":
        model_reference.write_safetensors(os.path.join(out, "model.safetensors"), vit_base_state(torch.Generator().manual_seed(1)))
        write_json(os.path.join(out, "config.json"), VIT_BASE)
        write_json(os.path.join(out, "preprocessor_config.json"), VIT_PREPROCESSOR)
        return
    model_class, cfg = SHAPES[shape]
    torch.manual_seed(0)
    model = model_class(cfg)
    model_reference.randomize(model, torch.Generator().manual_seed(1))
    dtype = STORED_DTYPE.get(shape, torch.float32)
    model_reference.write_safetensors(os.path.join(out, "model.safetensors"),
                                      {k: v.to(dtype) for k, v in model.hf_state().items()})
    write_json(os.path.join(out, "config.json"), cfg)


if __name__ == "__main__":
    main()
