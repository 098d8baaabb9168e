#!/usr/bin/python3
"""Writes the rows of an IDX image/label file pair that sherl-extract would select with
--select-labels L --per-label N (the first N rows of each listed label, in input order) as
a new, smaller gzip IDX pair. sherl-extract then selects exactly the same images, in the
same order, from the subset as from the full files.

usage: subset_idx.py IMAGES LABELS --select-labels 5,6,7 [--per-label N] OUT_IMAGES OUT_LABELS

Standard library only (the GPU machine's check does not need it; prepare.sh runs it here).
"""
import argparse
import gzip
import struct
import sys


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        sys.exit(f"subset_idx: {path}: not an IDX file")
    if data[2] != 0x08:
        sys.exit(f"subset_idx: {path}: element type 0x{data[2]:02x}, only unsigned bytes (0x08) handled")
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    row = 1
    for d in dims[1:]:
        row *= d
    if len(body) != dims[0] * row:
        sys.exit(f"subset_idx: {path}: {len(body)} data bytes, header says {dims[0] * row}")
    return dims, row, body


def write_idx(path, dims, rows):
    header = bytes([0, 0, 0x08, len(dims)]) + struct.pack(">" + "I" * len(dims), *dims)
    # mtime=0: the same input gives a byte-identical file.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(header)
        f.write(b"".join(rows))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images")
    p.add_argument("labels")
    p.add_argument("out_images")
    p.add_argument("out_labels")
    p.add_argument("--select-labels", required=True, help="comma-separated labels, as sherl-extract's")
    p.add_argument("--per-label", type=int, default=0, help="first N rows of each label (0: all)")
    a = p.parse_args()

    selected = {int(x) for x in a.select_labels.split(",") if x.strip()}
    img_dims, img_row, images = read_idx(a.images)
    lab_dims, lab_row, labels = read_idx(a.labels)
    if lab_row != 1 or lab_dims[0] != img_dims[0]:
        sys.exit(f"subset_idx: {a.labels}: {lab_dims[0]} labels for {img_dims[0]} images in {a.images}")

    counts = {}
    keep = []
    for i, label in enumerate(labels):
        if label not in selected:
            continue
        if a.per_label and counts.get(label, 0) >= a.per_label:
            continue
        counts[label] = counts.get(label, 0) + 1
        keep.append(i)
    missing = sorted(selected - set(counts))
    if missing:
        sys.exit(f"subset_idx: {a.labels}: no rows with label(s) {missing}")

    write_idx(a.out_images, (len(keep),) + tuple(img_dims[1:]),
              [images[i * img_row:(i + 1) * img_row] for i in keep])
    write_idx(a.out_labels, (len(keep),), [labels[i:i + 1] for i in keep])
    print(f"subset_idx: {a.out_images}: {len(keep)} of {img_dims[0]} rows "
          f"({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))})")


if __name__ == "__main__":
    main()
