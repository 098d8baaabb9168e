#!/usr/bin/python3
"""Writes the hand-made seed inputs of the fuzz targets into tests/fuzz/corpus/<target>/.

  tests/fuzz/make_corpus.py [--make-test-shards BUILD/tests/make_test_shards]

Seeds are small valid inputs of each format (so that the fuzzer starts deep inside the
parsers) and a few hostile ones. Files are named seed-*; inputs the fuzzer found and
run.sh merged in keep libFuzzer's hash names. The shard_file seeds need make_test_shards (a
test tool of the build); without it they are left as they are.
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def safetensors(header, data=b"", header_len=None):
    text = json.dumps(header).encode() if not isinstance(header, bytes) else header
    n = len(text) if header_len is None else header_len
    return struct.pack("<Q", n) + text + data


def safetensors_seeds():
    f32 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    put("safetensors", "two-tensors", safetensors(
        {"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
         "b": {"dtype": "I64", "shape": [2], "data_offsets": [24, 40]},
         "__metadata__": {"format": "pt"}}, f32 + struct.pack("<2q", -1, 7)))
    put("safetensors", "dtypes", safetensors(
        {"h": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]},
         "bf": {"dtype": "BF16", "shape": [1, 2], "data_offsets": [4, 8]},
         "m": {"dtype": "BOOL", "shape": [3], "data_offsets": [8, 11]},
         "u": {"dtype": "U8", "shape": [], "data_offsets": [11, 12]},
         "e": {"dtype": "F64", "shape": [0, 4], "data_offsets": [12, 12]}}, bytes(range(12))))
    # Hostile: a header length of a terabyte, negative and overflowing offsets, overlap,
    # a shape whose product wraps around, a zero-size shape with huge dimensions, deep nesting.
    put("safetensors", "terabyte-header", safetensors({"w": {}}, header_len=1 << 40))
    put("safetensors", "negative-offset", safetensors(
        {"w": {"dtype": "U8", "shape": [4], "data_offsets": [-4, 0]}}, bytes(4)))
    put("safetensors", "overflowing-offset", safetensors(
        {"w": {"dtype": "U8", "shape": [4], "data_offsets": [18446744073709551614, 2]}}, bytes(4)))
    put("safetensors", "overlap", safetensors(
        {"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
         "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}, bytes(6)))
    put("safetensors", "wrapping-shape", safetensors(
        {"w": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 0]}}))
    put("safetensors", "empty-huge-dims", safetensors(
        {"w": {"dtype": "U8", "shape": [0, 9223372036854775808], "data_offsets": [0, 0]},
         "v": {"dtype": "U8", "shape": [4611686018427387904, 4611686018427387904, 0], "data_offsets": [0, 0]}}))
    put("safetensors", "deep-nesting", safetensors(b'{"w": ' + b"[" * 200 + b"]" * 200 + b"}"))


def model_config_seeds():
    bert = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 64, "hidden_act": "gelu", "layer_norm_eps": 1e-12, "vocab_size": 64,
            "type_vocab_size": 2, "max_position_embeddings": 64, "_name_or_path": "bert-base-cased"}
    put("model_config", "bert.json", json.dumps(bert, indent=1))
    put("model_config", "roberta.json", json.dumps(dict(bert, model_type="roberta", hidden_act="gelu_new",
                                                        pad_token_id=1, max_position_embeddings=66)))
    put("model_config", "vit.json", json.dumps({
        "model_type": "vit", "hidden_size": 128, "num_hidden_layers": 6, "num_attention_heads": 4,
        "intermediate_size": 512, "hidden_act": "gelu", "image_size": 28, "patch_size": 4, "num_channels": 1,
        "qkv_bias": True, "layer_norm_eps": 1e-12, "id2label": {"0": "a", "1": "b"}}))
    put("model_config", "wrong-types.json", json.dumps(dict(bert, hidden_size=32.0, num_attention_heads="4",
                                                            is_decoder=None, layer_norm_eps=-1)))
    put("model_config", "huge-ints.json", json.dumps(dict(bert, hidden_size=18446744073709551615,
                                                          vocab_size=-9223372036854775808)))
    put("model_config", "deep-nesting.json", '{"hidden_size": ' + "[" * 200 + "]" * 200 + "}")


def idx(dims, data, gz=False):
    raw = bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)
    return gzip.compress(raw, mtime=0) if gz else raw


def idx_seeds():
    images = [(7 * i) % 256 for i in range(3 * 4 * 5)]
    put("idx", "images", idx([3, 4, 5], images))
    put("idx", "images-gz", idx([3, 4, 5], images, gz=True))
    put("idx", "rgb", idx([2, 2, 2, 3], range(24)))
    put("idx", "labels", idx([5], [0, 1, 2, 1, 0]))
    put("idx", "labels-gz", idx([5], [0, 1, 2, 1, 0], gz=True))
    put("idx", "truncated", idx([3, 4, 5], images)[:30])
    put("idx", "trailing", idx([2], [1, 2, 3]))
    put("idx", "huge-items", idx([2, 65535, 65535], []))


def text_seeds():
    # First byte: the options of tests/fuzz/targets/text_input.cpp.
    put("tsv", "single", b"\x00" + b"sentence\tlabel\nthe cat sat on the mat\t0\nthe dog ran!\t1\n\nun-affable\t0\n")
    put("tsv", "pairs", b"\x04" + b"sentence1\tsentence2\tlabel\ncat\tdog\t1\nna\xc3\xafve caf\xc3\xa9\t\xe4\xb8\xad\t0\n")
    put("tsv", "columns", b"\x30" + b"label\ttext_a\ttext_b\n1\ta\tb\n0\tx x\ty\n")
    put("tsv", "regression", b"\x01" + b"sentence\tlabel\r\nthe mat\t2.5\r\nthe cat\t-1e3\r\n")
    put("tsv", "multilabel", b"\x02" + b"\xef\xbb\xbfsentence\tlabel\na\t0,1\nb\t\nc\t1\n")
    put("tsv", "per-label", b"\x0c" + b"sentence\tlabel\n" + b"".join(b"w%d\t%d\n" % (i, i % 3) for i in range(9)))
    put("tsv", "sniffed", b"\x40" + b"sentence\tlabel\na\tb\n")
    put("tsv", "ragged", b"\x00" + b"sentence\tlabel\na\tb\tc\n")
    put("jsonl", "text", b"\x00" + b'{"sentence": "the cat sat", "label": 0}\n\n{"sentence": "dog", "label": 1}\n')
    put("jsonl", "ids", b"\x00" + b'{"input_ids": [2, 7, 3], "token_type_ids": [0, 0, 0], "label": "a"}\n'
                                  b'{"input_ids": [2, 3], "label": "b"}\n')
    put("jsonl", "pairs", b"\x04" + b'{"sentence1": "a", "sentence2": "b", "label": 1}\n'
                                    b'{"sentence1": "x", "sentence2": "\\u00e9", "label": 0}\n')
    put("jsonl", "multilabel", b"\x02" + b'{"sentence": "a", "label": [0, 1]}\n{"sentence": "b", "label": []}\n')
    put("jsonl", "regression", b"\x11" + b'{"sentence": "a", "label": 0.5}\n{"sentence": "b", "label": 1e308}\n')
    put("jsonl", "sniffed", b"\x40" + b'{"sentence": "a", "label": true}\n')
    put("jsonl", "bad-ids", b"\x00" + b'{"input_ids": [2, 99, -1, 1.5], "label": 0}\n')
    put("jsonl", "deep-nesting", b"\x00" + b'{"label": ' + b"[" * 200 + b"]" * 200 + b"}\n")


def wordpiece_seeds():
    put("wordpiece", "sentence", b"\x07" + b"The cat sat on the mat!")
    put("wordpiece", "subwords", b"\x07" + b"unaffable runs running xx")
    put("wordpiece", "accents-cjk", b"\x03" + "naïve CAFÉ 中国人 Ünïcödé".encode())
    put("wordpiece", "cased", b"\x00" + "Naïve Café".encode())
    put("wordpiece", "specials", b"\xff" + b"[CLS] the [MASK] sat [SEP][PAD] [UNK]")
    put("wordpiece", "pair", b"\x2f" + b"the cat sat on the mat\ta dog, running")
    put("wordpiece", "controls", b"\x07" + b"a\x00b\x07c\xef\xbf\xbd d\r\ne\xe3\x80\x80f")
    put("wordpiece", "invalid-utf8", b"\x07" + b"\xff\xfe\xc3(\xe2\x82 \xf0\x90\x80 ok")
    put("wordpiece", "long-word", b"\x07" + b"x" * 150 + b" " + b"1" + b"2" * 99)


def shard_file_seeds(tool):
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in [("f16", ["--dtype", "f16"]), ("f32", ["--dtype", "f32"]),
                           ("bf16-noshuffle", ["--dtype", "bf16", "--no-shuffle"])]:
            out = os.path.join(tmp, name)
            subprocess.run([tool, "--out", out, "--shards", "1", "--examples", "3", "--tiers", "2", "--hidden", "4",
                            "--max-tokens", "3", "--data", "integers"] + args, check=True)
            with open(os.path.join(out, "shard-00000.h5"), "rb") as f:
                put("shard_file", name + ".h5", f.read())


def shard_seeds():
    # Bytes that tests/fuzz/targets/shard.cpp builds shards from: the first byte picks the
    # number of examples (mod 6), the next ones tiers, hidden size and so on; an exhausted
    # input leaves the rest sound.
    put("shard", "empty", b"")
    put("shard", "three-examples", bytes([3, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 3, 0, 0, 0, 1, 2, 3]))
    put("shard", "regression", bytes([5, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 7, 1, 2]))
    put("shard", "multilabel-bf16", bytes([2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 0, 0, 9, 9, 9]))
    put("shard", "perturbed", bytes(range(7, 250, 3)))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--make-test-shards", help="path of the make_test_shards test tool")
    a = p.parse_args()
    safetensors_seeds()
    model_config_seeds()
    idx_seeds()
    text_seeds()
    wordpiece_seeds()
    shard_seeds()
    if a.make_test_shards:
        shard_file_seeds(a.make_test_shards)


if __name__ == "__main__":
    main()
