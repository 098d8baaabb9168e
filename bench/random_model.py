#!/usr/bin/python3
"""Writes a model with random weights (float32, Hugging Face layout) of a real shape, for
extract_gflops_bench --model:

  t5-base      T5 1.1 base encoder: 12 layers, d_model 768, 12 heads of 64, d_ff 2048
               (gated-gelu), vocabulary 32128
  bert-base    BERT-base: 12 layers, hidden 768, 12 heads, intermediate 3072 (gelu),
               vocabulary 30522, 512 positions
  llama-small  a Llama-shaped decoder: 12 layers, hidden 768, 12 query heads over 4
               key/value heads of 64, intermediate 2048 (SwiGLU), vocabulary 32000

Usage: /usr/bin/python3 bench/random_model.py t5-base|bert-base|llama-small OUTDIR
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
}


def main():
    shape, out = sys.argv[1], sys.argv[2]
    model_class, cfg = SHAPES[shape]
    torch.manual_seed(0)
    model = model_class(cfg)
    model_reference.randomize(model, torch.Generator().manual_seed(1))
    os.makedirs(out, exist_ok=True)
    model_reference.write_safetensors(os.path.join(out, "model.safetensors"), model.hf_state())
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
