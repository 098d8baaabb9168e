#!/usr/bin/python3
"""Reference image preprocessing for lib/input/image_preprocess.cpp, with Debian's Pillow (the
library Hugging Face's image processors resize with) and numpy.

For random 8-bit images of several shapes, writes OUTDIR/reference.json:
  [{"width", "height", "channels", "pixels": [...] (HWC),
    "resized": [{"width", "height", "resample": 2|3, "pixels": [...]}],
    "clip": {"shortest_edge", "crop", "values": [...] (CHW float32)}}]
"resized" holds Image.resize to sizes that shrink and enlarge; "clip" is CLIPImageProcessor's
pipeline written out here: the short side to `shortest_edge` (the long one to
int(shortest_edge * long / short)) with BICUBIC, the centre crop at ((W - crop) // 2,
(H - crop) // 2), then (x / 255 - mean) / std with CLIP's mean and std.

Usage: /usr/bin/python3 image_reference.py OUTDIR
"""
import json
import os
import sys

import numpy as np
from PIL import Image

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def clip_pipeline(img, shortest, crop):
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(shortest * long / short)
    size = (shortest, new_long) if w <= h else (new_long, shortest)
    a = np.asarray(img.resize(size, Image.BICUBIC))
    top, left = (a.shape[0] - crop) // 2, (a.shape[1] - crop) // 2
    a = a[top:top + crop, left:left + crop].astype(np.float64) / 255.0
    a = (a - np.array(CLIP_MEAN)) / np.array(CLIP_STD)
    return a.astype(np.float32).transpose(2, 0, 1)


def main():
    rng = np.random.default_rng(5)
    cases = []
    for (w, h) in [(37, 23), (23, 37), (64, 48), (9, 100), (5, 5), (30, 30)]:
        pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        # Smooth regions too, so that overshoot of the cubic (clipped to 0..255) is exercised
        # beside noise.
        pixels[: h // 2, : w // 2] = np.linspace(0, 255, w // 2, dtype=np.uint8)[None, :, None]
        img = Image.fromarray(pixels, "RGB")
        resized = []
        for (rw, rh) in [(16, 16), (w * 2 + 1, h + 3), (max(1, w // 3), max(1, h // 2)), (w, h * 2)]:
            for resample in (Image.BILINEAR, Image.BICUBIC):
                out = np.asarray(img.resize((rw, rh), resample))
                resized.append({"width": rw, "height": rh, "resample": int(resample),
                                "pixels": out.reshape(-1).tolist()})
        clip = {"shortest_edge": 16, "crop": 12, "values": clip_pipeline(img, 16, 12).reshape(-1).tolist()}
        cases.append({"width": w, "height": h, "channels": 3, "pixels": pixels.reshape(-1).tolist(),
                      "resized": resized, "clip": clip})
    with open(os.path.join(sys.argv[1], "reference.json"), "w") as f:
        json.dump(cases, f)


if __name__ == "__main__":
    main()
