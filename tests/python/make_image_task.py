#!/usr/bin/python3
"""A learnable image task for a CLIPModel's vision tower, for the end-to-end tests.

Writes to OUTDIR:
  train.csv, test.csv   path,label: 40 x 28 PNG images (images/) of grey noise with an 8 x 8
                        square whose colour is the label, "red" or "blue" (balanced); chance
                        is 0.5
  model/                the CLIPModel of make_text_task.py clip, with a preprocessor_config.json
                        as CLIPImageProcessor writes it: the short side to 32 (bicubic), the
                        centre 32 x 32 cropped, CLIP's mean and std; the non-square images make
                        every step count

Usage: /usr/bin/python3 make_image_task.py OUTDIR
"""
import json
import os
import random
import sys

import numpy as np
from PIL import Image

import make_text_task

PREPROCESSOR = {"do_resize": True, "size": {"shortest_edge": 32}, "resample": 3, "do_center_crop": True,
                "crop_size": {"height": 32, "width": 32}, "do_rescale": True, "rescale_factor": 1 / 255,
                "do_normalize": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_std": [0.26862954, 0.26130258, 0.27577711], "do_convert_rgb": True,
                "image_processor_type": "CLIPImageProcessor"}
COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220)}


def write_images(out, name, rng, n):
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    with open(os.path.join(out, name + ".csv"), "w") as f:
        f.write("path,label\n")
        for i in range(n):
            label = "red" if i % 2 == 0 else "blue"
            pixels = np.array([[[rng.randint(90, 160)] * 3 for _ in range(40)] for _ in range(28)], dtype=np.uint8)
            x, y = rng.randint(8, 24), rng.randint(4, 16)  # inside the centre crop
            pixels[y:y + 8, x:x + 8] = COLOURS[label]
            path = "images/%s-%04d.png" % (name, i)
            Image.fromarray(pixels, "RGB").save(os.path.join(out, path))
            f.write("%s,%s\n" % (path, label))


def main():
    out = sys.argv[1]
    rng = random.Random(13)
    write_images(out, "train", rng, 300)
    write_images(out, "test", rng, 100)
    model_dir = os.path.join(out, "model")
    os.makedirs(model_dir, exist_ok=True)
    make_text_task.bpe_model("clip", model_dir, [make_text_task.sentence(rng, k % 2 == 0) for k in range(100)])
    with open(os.path.join(model_dir, "preprocessor_config.json"), "w") as f:
        json.dump(PREPROCESSOR, f, indent=2)


if __name__ == "__main__":
    main()
