#!/usr/bin/python3
"""Reference byte-level BPE tokenisations for lib/input/bpe_tokenizer.cpp.

Independent of the C++ code: GPT-2's published algorithm (bytes_to_unicode, the merge loop
that merges every occurrence of the best-ranked pair per pass) with Debian's python3-regex
running each family's published pattern. For each family it learns merges from a corpus
written here (so the merges come in the order BPE training gives them), writes the files the
family ships, and tokenises test texts. Writes to OUTDIR:

  clip/vocab.json, clip/merges.txt      CLIP's files ("</w>" word ends; its two special tokens)
  gpt2/tokenizer.json                   ByteLevel pre-tokenizer (GPT-2's own pattern)
  llama3/tokenizer.json                 Split by Llama 3's pattern, ignore_merges, <|begin_of_text|>
  qwen2/tokenizer.json                  NFC, Split by Qwen2's pattern, <|endoftext|> added
  <family>/reference.json               [{"text": ..., "ids": [...]}]: no post-processor tokens
  <family>/specials.json                {"prefix": [...], "suffix": [...]}: what encode adds

Usage: /usr/bin/python3 bpe_reference.py OUTDIR
"""
import json
import os
import random
import sys
import unicodedata

import regex

PATTERNS = {
    "gpt2": r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    "llama3": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    "qwen2": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
}
CLIP_PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", regex.IGNORECASE)
ADDED = {"gpt2": ["<|endoftext|>"], "llama3": ["<|begin_of_text|>", "<|end_of_text|>"],
         "qwen2": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], "clip": ["<|startoftext|>", "<|endoftext|>"]}

WORDS = ("the a cat dog sat on mat quick brown fox jumps over lazy river bank money loan I'm don't DON'T "
         "we'll they've naïve café résumé Zürich straße ΑΘΗΝΑ Москва 東京 日本語 文字 😀 🚀 3.14 42 2024 "
         "12345678 e-mail foo_bar <tag> !!! ... ¿qué? x\u0301 \u00a0nbsp").split()
SEPARATORS = [" ", " ", " ", "  ", "\n", "\t", "\r\n", " \n ", "\u3000", "\u2028", "\u00a0", "\x0b", "\x85", "\x1c"]


def bytes_to_unicode():
    """GPT-2's table: printable Latin-1 bytes stand for themselves, the rest for 256 + n."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE = bytes_to_unicode()


def clip_clean(text):
    return regex.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).lower()


def words_of(family, text):
    if family == "clip":
        return CLIP_PATTERN.findall(clip_clean(text))
    if family == "qwen2":
        text = unicodedata.normalize("NFC", text)
    found = regex.findall(PATTERNS[family], text)
    assert "".join(found) == text, "the pattern should cover every character"
    return found


def symbols_of(family, word):
    s = [BYTE[b] for b in word.encode("utf-8")]
    if family == "clip":
        s[-1] += "</w>"
    return s


def merge_pass(symbols, pair):
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def bpe(symbols, ranks):
    """GPT-2's loop: merge every occurrence of the best-ranked pair, until none is ranked."""
    while len(symbols) > 1:
        pairs = set(zip(symbols, symbols[1:]))
        best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if best not in ranks:
            break
        symbols = merge_pass(symbols, best)
    return symbols


def learn_merges(family, corpus, count):
    freq = {}
    for line in corpus:
        for w in words_of(family, line):
            freq[w] = freq.get(w, 0) + 1
    words = {w: symbols_of(family, w) for w in freq}
    merges = []
    for _ in range(count):
        pairs = {}
        for w, s in words.items():
            for p in zip(s, s[1:]):
                pairs[p] = pairs.get(p, 0) + freq[w]
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])
        merges.append(best)
        words = {w: merge_pass(s, best) for w, s in words.items()}
    return merges


def vocabulary(family, merges):
    pieces = [BYTE[b] for b in range(256)]
    if family == "clip":
        pieces += [BYTE[b] + "</w>" for b in range(256)]
    for a, b in merges:
        if a + b not in pieces:
            pieces.append(a + b)
    vocab = {p: i for i, p in enumerate(pieces)}
    for t in ADDED[family]:
        vocab.setdefault(t, len(vocab))
    return vocab


def tokenize(family, text, vocab, ranks, ignore_merges):
    special = regex.compile("|".join(regex.escape(t) for t in sorted(ADDED[family], key=len, reverse=True)))
    ids, done = [], 0
    segments = []
    for m in special.finditer(text):
        segments.append((text[done:m.start()], None))
        segments.append((None, m.group()))
        done = m.end()
    segments.append((text[done:], None))
    for plain, token in segments:
        if token is not None:
            ids.append(vocab[token])
            continue
        if not plain:
            continue
        for w in words_of(family, plain):
            whole = "".join(symbols_of(family, w))
            if ignore_merges and whole in vocab:
                ids.append(vocab[whole])
                continue
            ids.extend(vocab[s] for s in bpe(symbols_of(family, w), ranks))
    return ids


def tokenizer_json(family, vocab, merges):
    pre = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    if family != "gpt2":
        pre = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": PATTERNS[family]}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    post = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True}
    if family == "llama3":
        bos = "<|begin_of_text|>"
        post = {"type": "Sequence", "processors": [post, {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [vocab[bos]], "tokens": [bos]}}}]}
    added = [{"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for t in ADDED[family]]
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
            "normalizer": {"type": "NFC"} if family == "qwen2" else None, "pre_tokenizer": pre,
            "post_processor": post, "decoder": {"type": "ByteLevel"},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                      "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                      "ignore_merges": family == "llama3", "vocab": vocab,
                      "merges": [f"{a} {b}" if family != "qwen2" else [a, b] for a, b in merges]}}


def corpus(rng, n):
    return ["".join(rng.choice(WORDS) + rng.choice(SEPARATORS) for _ in range(rng.randint(3, 12))) for _ in range(n)]


def test_texts(rng):
    texts = ["", " ", "   ", "\n", "the cat sat on the mat", "  leading and   inner   spaces  ", "Hello world",
             "I'M sure THEY'VE don't", "12345678 and 3.14159", "naïve café in Zürich", "e\u0301te\u0301 composed",
             "東京の日本語", "unknown glyphs: ∮ ℵ ⅞", "emoji 😀🚀 and tabs\there", "line\r\nbreaks\n\n\nand\u2028more",
             "nbsp\u00a0ideographic\u3000space", "vt\x0bnel\x85fs\x1cend", "hi<|endoftext|>there <|startoftext|>x",
             "<|begin_of_text|><|begin_of_text|>", "!!!???...", "'s's's", "x" * 3000,
             " ".join(corpus(rng, 1)) * 200]
    return texts + corpus(rng, 25)


def main():
    out = sys.argv[1]
    rng = random.Random(11)
    train = corpus(rng, 500)
    texts = test_texts(rng)
    for family in ("clip", "gpt2", "llama3", "qwen2"):
        d = os.path.join(out, family)
        os.makedirs(d)
        merges = learn_merges(family, train, 300)
        vocab = vocabulary(family, merges)
        ranks = {p: i for i, p in enumerate(merges)}
        if family == "clip":
            with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
                json.dump(vocab, f, ensure_ascii=False)
            with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
                f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
            specials = {"prefix": [vocab["<|startoftext|>"]], "suffix": [vocab["<|endoftext|>"]]}
        else:
            with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
                json.dump(tokenizer_json(family, vocab, merges), f, ensure_ascii=False)
            specials = {"prefix": [vocab["<|begin_of_text|>"]] if family == "llama3" else [], "suffix": []}
        reference = [{"text": t, "ids": tokenize(family, t, vocab, ranks, family == "llama3")} for t in texts]
        with open(os.path.join(d, "reference.json"), "w", encoding="utf-8") as f:
            json.dump(reference, f, ensure_ascii=False)
        with open(os.path.join(d, "specials.json"), "w") as f:
            json.dump(specials, f)


if __name__ == "__main__":
    main()
