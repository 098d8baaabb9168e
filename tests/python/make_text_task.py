#!/usr/bin/python3
"""A learnable text task and a small random model of a family, for the end-to-end tests.

Writes to OUTDIR:
  train.tsv, test.tsv   sentence<TAB>label: the label is "river" when the sentence holds the
                        word "river", else "none" (balanced); chance is 0.5
  model/                a random model in Hugging Face's layout (3 layers, width 32) with a
                        tokenizer made from the text: a SentencePiece model that spm_train
                        makes, or byte-level BPE merges that bpe_reference.py learns:
                        t5:    a T5 1.1 encoder (gated-gelu), spiece.model (</s> id 1)
                        llama: a Llama decoder (4 query heads over 2 key/value heads),
                               tokenizer.model (<s> id 1, </s> id 2, no padding piece)
                        qwen2: a Qwen2 decoder (q/k/v biases), tokenizer.json (NFC, Qwen2's
                               pattern, no special tokens added)
                        clip:  a whole CLIPModel (both towers, projections); the text tower's
                               vocab.json and merges.txt (<|startoftext|> text <|endoftext|>)

Usage: /usr/bin/python3 make_text_task.py t5|llama|qwen2|clip OUTDIR
"""
import json
import os
import random
import subprocess
import sys

import sentencepiece
import torch

import bpe_reference
import clip_reference
import llama_reference
import model_reference
import t5_reference

# Per family: the tokenizer's file, spm_train's special ids, and the model.
FAMILIES = {
    "t5": ("spiece.model", ["--pad_id=0", "--eos_id=1", "--unk_id=2", "--bos_id=-1"],
           lambda vocab: (t5_reference.T5Encoder, t5_reference.t5_config("gated-gelu", vocab_size=vocab + 8))),
    "llama": ("tokenizer.model", ["--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=-1"],
              lambda vocab: (llama_reference.Decoder, llama_reference.decoder_config("llama", vocab_size=vocab))),
}

WORDS = ("the a one cat dog bird sat ran flew on over under near mat tree hill road field bank "
         "green red quick slow old young morning evening").split()


def sentence(rng, river):
    words = [rng.choice(WORDS) for _ in range(rng.randint(4, 10))]
    if river:
        words.insert(rng.randint(0, len(words)), "river")
    return " ".join(words)


def write_task(path, rng, n):
    with open(path, "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n")
        for i in range(n):
            river = i % 2 == 0
            f.write("%s\t%s\n" % (sentence(rng, river), "river" if river else "none"))


def write_model(model_dir, model, cfg, stored):
    model_reference.write_safetensors(os.path.join(model_dir, "model.safetensors"), stored)
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)


def random_model(model_class, cfg):
    torch.manual_seed(0)
    model = model_class(cfg)
    model_reference.randomize(model, torch.Generator().manual_seed(3))
    return model


def bpe_model(family, model_dir, texts):
    """Qwen2 with a tokenizer.json, or a CLIPModel with vocab.json and merges.txt."""
    merges = bpe_reference.learn_merges(family, texts, 60)
    vocab = bpe_reference.vocabulary(family, merges)
    if family == "qwen2":
        with open(os.path.join(model_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(bpe_reference.tokenizer_json(family, vocab, merges), f, ensure_ascii=False)
        cfg = llama_reference.decoder_config("qwen2", vocab_size=len(vocab))
        model = random_model(llama_reference.Decoder, cfg)
        return write_model(model_dir, model, cfg, model.hf_state())
    with open(os.path.join(model_dir, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(model_dir, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join("%s %s\n" % m for m in merges))
    cfg = clip_reference.clip_model_config()
    cfg["text_config"].update(vocab_size=len(vocab), max_position_embeddings=32, pad_token_id=0,
                              bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"])
    model = random_model(clip_reference.ClipText, cfg["text_config"])
    stored = {"text_model." + k: v for k, v in model.hf_state().items()}
    write_model(model_dir, model, cfg, clip_reference.as_clip_model(stored, cfg, torch.Generator().manual_seed(4)))


def main():
    family, out = sys.argv[1], sys.argv[2]
    rng = random.Random(11)
    # 1200: with 400 the decoders' adapters memorised the examples for some seeds instead of
    # finding the word (validation near chance, whatever the backbone's correctness).
    write_task(os.path.join(out, "train.tsv"), rng, 1200)
    write_task(os.path.join(out, "test.tsv"), rng, 100)
    model_dir = os.path.join(out, "model")
    os.makedirs(model_dir, exist_ok=True)
    texts = [sentence(rng, k % 2 == 0) for k in range(300)]
    if family not in FAMILIES:
        return bpe_model(family, model_dir, texts)
    tokenizer_file, special_ids, make_model = FAMILIES[family]
    corpus = os.path.join(out, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(texts) + "\n")
    prefix = os.path.join(model_dir, "tokenizer")
    subprocess.run(["spm_train", "--input=" + corpus, "--model_prefix=" + prefix, "--vocab_size=60",
                    "--hard_vocab_limit=false", "--model_type=unigram", "--minloglevel=2"] + special_ids,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.rename(prefix + ".model", os.path.join(model_dir, tokenizer_file))
    os.remove(prefix + ".vocab")
    pieces = sentencepiece.SentencePieceProcessor(model_file=os.path.join(model_dir, tokenizer_file)).get_piece_size()
    model_class, cfg = make_model(pieces)
    model = random_model(model_class, cfg)
    write_model(model_dir, model, cfg, model.hf_state())


if __name__ == "__main__":
    main()
