#!/usr/bin/python3
"""A learnable text task and a small random T5 for the end-to-end test of the T5 family.

Writes to OUTDIR:
  train.tsv, test.tsv   sentence<TAB>label: the label is "river" when the sentence holds the
                        word "river", else "none" (balanced); chance is 0.5
  t5/                   a random T5 1.1 encoder (gated-gelu, 3 layers, d_model 32) in Hugging
                        Face's layout, with a spiece.model that spm_train made from the text

Usage: /usr/bin/python3 make_t5_task.py OUTDIR
"""
import json
import os
import random
import subprocess
import sys

import sentencepiece
import torch

import model_reference
import t5_reference

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


def main():
    out = sys.argv[1]
    rng = random.Random(11)
    write_task(os.path.join(out, "train.tsv"), rng, 400)
    write_task(os.path.join(out, "test.tsv"), rng, 100)
    model_dir = os.path.join(out, "t5")
    os.makedirs(model_dir, exist_ok=True)
    corpus = os.path.join(out, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(sentence(rng, k % 2 == 0) for k in range(300)) + "\n")
    subprocess.run(["spm_train", "--input=" + corpus, "--model_prefix=" + os.path.join(model_dir, "spiece"),
                    "--vocab_size=60", "--hard_vocab_limit=false", "--model_type=unigram",
                    "--pad_id=0", "--eos_id=1", "--unk_id=2", "--bos_id=-1", "--minloglevel=2"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pieces = sentencepiece.SentencePieceProcessor(model_file=os.path.join(model_dir, "spiece.model")).get_piece_size()
    cfg = t5_reference.t5_config("gated-gelu", vocab_size=pieces + 8)  # T5's extra ids beyond the pieces
    torch.manual_seed(0)
    model = t5_reference.T5Encoder(cfg)
    model_reference.randomize(model, torch.Generator().manual_seed(3))
    model_reference.write_safetensors(os.path.join(model_dir, "model.safetensors"), model.hf_state())
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    os.remove(os.path.join(model_dir, "spiece.vocab"))


if __name__ == "__main__":
    main()
