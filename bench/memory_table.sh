#!/usr/bin/env bash
# The memory table of issue 18 in one run: peak RSS and seconds per step at BERT-base shape
# (batch 32 x 128 tokens), ViT-B/16 shape (batch 32 of 224 x 224 images, 197 tokens) and,
# when asked for, a Llama-shaped decoder of 1 B parameters (batch 8 x 256 tokens, bf16
# weights, sherl-train with --precision bf16), random weights in the Hugging Face layout
# (bench/random_model.py), AdamW, each method in its own process:
#   cache   sherl-train from a cache: 320 examples (llama-1b: 24), all tiers in f16,
#           consolidated (contiguous); one epoch (10 steps; llama-1b: 3)
#   online  sherl-train --input: the same examples, the frozen early layers run every
#           step; one epoch
#   full, lora, sherl   the PyTorch references of bench/memory_reference.py (2 timed steps)
# Peak RSS: /usr/bin/time for the tools, ru_maxrss for the references (both the whole
# process). Seconds per step: the tools' epoch time from train.jsonl over the epoch's steps.
#
#   bench/memory_table.sh [WORK_DIR [SHAPE...]]   SHAPE: bert-base, vit-base (the default),
#                                                  llama-1b (about 25 min, 12 GB of memory)
#
# Models and caches are made once in WORK_DIR (default /tmp/sherl-memory; about 3 GB) and
# reused. Extra sherl-train options: SHERL_TRAIN_OPTS. METHODS picks the rows to measure
# (default: cache online full lora sherl); rows already in WORK_DIR/results.jsonl for the
# others are kept, so that the references are measured once. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/sherl-memory}
shift || true
shapes=("$@")
((${#shapes[@]})) || shapes=(bert-base vit-base)
BIN=${BIN:-build/bin}
PY=/usr/bin/python3
read -r -a train_opts <<< "${SHERL_TRAIN_OPTS:-}"
mkdir -p "$work"
results="$work/results.jsonl"
read -r -a methods <<< "${METHODS:-cache online full lora sherl}"
wanted() { [[ " ${methods[*]} " == *" $1 "* ]]; }
# Rows of this run's shapes and methods are measured again; the others are kept.
touch "$results"
$PY - "$results" "${shapes[*]}" "${methods[*]}" <<'PY'
import json, sys
path, shapes, methods = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
rows = [json.loads(l) for l in open(path) if l.strip()]
with open(path, "w") as f:
    for r in rows:
        if not (r["shape"] in shapes and r["method"] in methods):
            f.write(json.dumps(r) + "\n")
PY

# Per shape: the batch, the examples (a whole number of batches), options of every tool
# run and options of those that read the raw input.
shape_settings() {
  case $1 in
    llama-1b) batch=8 examples=24 shape_opts=(--precision bf16) input_opts=(--max-length 256) ;;
    *) batch=32 examples=320 shape_opts=() input_opts=() ;;
  esac
}

# $examples labelled examples of the shape: pre-tokenised ids (JSON Lines: BERT's [CLS] ..
# [SEP] of 128 tokens, or 256 tokens for the decoder) or PNG files listed in a CSV. Prints
# the input's path.
make_input() {
  local shape=$1 dir=$2
  if [ "$shape" != vit-base ]; then
    [ -f "$dir/input.jsonl" ] || $PY - "$shape" "$examples" <<'PY' > "$dir/input.jsonl"
import json, random, sys
shape, n = sys.argv[1], int(sys.argv[2])
random.seed(0)
for i in range(n):
    ids = [random.randrange(1000, 30000) for _ in range(256 if shape == "llama-1b" else 126)]
    print(json.dumps({"input_ids": ids if shape == "llama-1b" else [101] + ids + [102], "label": i % 2}))
PY
    echo "$dir/input.jsonl"
  else
    [ -f "$dir/images.csv" ] || $PY - "$dir" "$examples" <<'PY'
import os, sys
import numpy as np
from PIL import Image
d = sys.argv[1]
os.makedirs(d + "/images", exist_ok=True)
rng = np.random.default_rng(0)
with open(d + "/images.csv.tmp", "w") as f:
    for i in range(int(sys.argv[2])):
        Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(d + "/images/%03d.png" % i)
        f.write("images/%03d.png,%d\n" % (i, i % 2))
os.rename(d + "/images.csv.tmp", d + "/images.csv")
PY
    echo "$dir/images.csv"
  fi
}

# measure SHAPE METHOD RUN_DIR sherl-train-args...: one sherl-train epoch in its own process.
measure() {
  local shape=$1 method=$2 run=$3
  shift 3
  rm -rf "$run"
  /usr/bin/time -f 'peak_rss_kb %M' "$BIN/sherl-train" "$@" --out "$run" --epochs 1 --batch-size "$batch" --warmup 1 \
    --quiet "${shape_opts[@]}" "${train_opts[@]}" > /dev/null 2> "$run.time"
  $PY - "$shape" "$method" "$run" $((examples / batch)) <<'PY' >> "$results"
import json, sys
shape, method, run, steps = sys.argv[1:]
log = open(run + ".time").read().split()
rss = int(log[log.index("peak_rss_kb") + 1]) * 1024
epoch = [json.loads(l) for l in open(run + "/train.jsonl") if '"epoch"' in l][-1]
print(json.dumps({"shape": shape, "method": method, "peak_rss_mib": round(rss / 2**20),
                  "s_per_step": round(epoch["seconds"] / int(steps), 3)}))
PY
}

for shape in "${shapes[@]}"; do
  dir="$work/$shape"
  mkdir -p "$dir"
  shape_settings "$shape"
  [ -f "$dir/model/config.json" ] || $PY bench/random_model.py "$shape" "$dir/model"
  input=$(make_input "$shape" "$dir")
  if wanted cache && [ ! -f "$dir/cons/train/manifest.json" ]; then
    echo "memory_table: extracting the $shape cache (a few minutes)" >&2
    "$BIN/sherl-extract" --model "$dir/model" --input "$input" --out "$dir/features" --batch-size "$batch" \
      "${shape_opts[@]}" "${input_opts[@]}" --overwrite --quiet
    "$BIN/sherl-consolidate" --input "$dir/features" --out "$dir/cons" --val-fraction 0 --quiet > /dev/null
  fi
  if wanted cache; then
    echo "memory_table: $shape: sherl-train from the cache" >&2
    measure "$shape" cache "$dir/run-cache" --model "$dir/model" --train "$dir/cons/train"
  fi
  if wanted online; then
    echo "memory_table: $shape: sherl-train online" >&2
    measure "$shape" online "$dir/run-online" --model "$dir/model" --input "$input" "${input_opts[@]}"
  fi
  for method in full lora sherl; do
    wanted "$method" || continue
    echo "memory_table: $shape: the PyTorch reference, $method" >&2
    $PY bench/memory_reference.py "$shape" "$method" >> "$results"
  done
done

$PY - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
names = {"full": "full fine-tuning (PyTorch)", "lora": "LoRA r = 8 on query/value (PyTorch)",
         "sherl": "SHERL, early layers recomputed under no-grad (PyTorch)",
         "cache": "`sherl-train` from a cache (all tiers, f16)", "online": "`sherl-train --input` (online)"}
for shape in dict.fromkeys(r["shape"] for r in rows):
    mine = {r["method"]: r for r in rows if r["shape"] == shape}
    full = mine["full"]["peak_rss_mib"] if "full" in mine else float("nan")
    print(f"\n{shape}\n\n| method | peak RSS | ratio to full FT | s per step |\n|---|---:|---:|---:|")
    for m in ("full", "lora", "sherl", "cache", "online"):
        if m in mine:
            r = mine[m]
            print(f"| {names[m]} | {r['peak_rss_mib']} MiB | {r['peak_rss_mib'] / full:.2f} | {r['s_per_step']:.2f} |")
PY
