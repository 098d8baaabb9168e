#!/usr/bin/python3
"""Reads a sherl shard with h5py alone, following formats/shard.md, as an independent check
of the format (and of the zstd plugin found through HDF5_PLUGIN_PATH).

usage: h5py_read_shard.py SHARD OUT_PREFIX
Writes OUT_PREFIX.features.f32 (all token rows as little-endian float32, [T, N, d]) and
prints a JSON summary (attributes, offsets, ids, labels) on stdout.
"""
import json
import sys

import h5py
import numpy as np


def to_float32(raw, dtype, scales=None):
    if dtype == "bf16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    if dtype == "i8":
        return raw.astype(np.float32) * scales[..., None]
    return raw.astype(np.float32)


def main(shard, prefix):
    with h5py.File(shard, "r") as f:
        assert f.attrs["format"] == "sherl-shard", f.attrs["format"]
        assert f.attrs["format_version"] == 1
        dtype = f.attrs["dtype"]
        feats = f["features"]
        assert feats.attrs["dtype"] == dtype
        offsets = f["offsets"][:]
        # Read example by example, as a training loader would.
        scales = f["feature_scales"] if dtype == "i8" else None
        rows = [slice(offsets[i], offsets[i + 1]) for i in range(len(offsets) - 1)]
        parts = [to_float32(feats[r], dtype, scales[r] if scales is not None else None) for r in rows]
        values = np.concatenate(parts) if parts else np.zeros((0,) + feats.shape[1:], np.float32)
        values.astype("<f4").tofile(prefix + ".features.f32")
        summary = {
            "dtype": dtype,
            "stored_numpy_dtype": str(feats.dtype),
            "shape": list(feats.shape),
            "chunks": list(feats.chunks),
            "filters": sorted(str(k) for k in feats._filters),
            "fletcher32": bool(feats.fletcher32),
            "tiers": [int(t) for t in f.attrs["tiers"]],
            "label_names": [str(s) for s in f.attrs.get("label_names", [])],
            "offsets": [int(o) for o in offsets],
            "example_id": [int(i) for i in f["example_id"][:]],
            "label": f["label"][:].tolist(),
        }
    print(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
