#!/usr/bin/python3
"""Reference tokenisations for lib/input/sentencepiece_tokenizer.cpp.

Trains a small SentencePiece model with Debian's `spm_train` on text written here (a few
hundred sentences over a small vocabulary, with accents, CJK and emoji), then tokenises test
texts with Debian's python3-sentencepiece. Writes to OUTDIR:

  spiece.model       the model
  reference.json     [{"text": ..., "ids": [...]}]: the pieces' ids, no special tokens

Usage: /usr/bin/python3 sentencepiece_reference.py OUTDIR
"""
import json
import os
import random
import subprocess
import sys

import sentencepiece

WORDS = ("the a cat dog sat on mat quick brown fox jumps over lazy river bank money loan "
         "naïve café résumé Zürich straße 東京 日本語 文字 😀 🚀 rock'n'roll don't e-mail 3.14 42").split()


def corpus(rng, n):
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) for _ in range(n)]


def main():
    out = sys.argv[1]
    rng = random.Random(7)
    text_file = os.path.join(out, "corpus.txt")
    with open(text_file, "w", encoding="utf-8") as f:
        f.write("\n".join(corpus(rng, 400)) + "\n")
    subprocess.run(["spm_train", "--input=" + text_file, "--model_prefix=" + os.path.join(out, "spiece"),
                    "--vocab_size=80", "--hard_vocab_limit=false", "--model_type=unigram", "--character_coverage=1.0",
                    "--pad_id=0", "--eos_id=1", "--unk_id=2", "--bos_id=-1", "--minloglevel=2"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(out, "spiece.model"))
    texts = ["", " ", "the cat sat on the mat", "  leading and   inner   spaces  ", "naïve café in Zürich",
             "東京の日本語", "unknown glyphs: ∮ ℵ ⅞", "emoji 😀🚀 and tabs\there", "Ünïcödé résumé",
             "x" * 3000, " ".join(corpus(rng, 1)) * 1000]  # the last one about 50 KB
    texts += corpus(rng, 20)
    with open(os.path.join(out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump([{"text": t, "ids": sp.encode(t)} for t in texts], f, ensure_ascii=False)


if __name__ == "__main__":
    main()
