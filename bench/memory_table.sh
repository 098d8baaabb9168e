#!/usr/bin/env bash
# The memory table of issue 18 in one run: peak RSS and seconds per step at BERT-base shape
# (batch 32 x 128 tokens) and ViT-B/16 shape (batch 32 of 224 x 224 images, 197 tokens),
# random weights in the Hugging Face layout (bench/random_model.py), AdamW, each method in
# its own process:
#   cache   sherl-train from a cache: 320 examples, all 12 tiers in f16, consolidated
#           (contiguous); one epoch (10 steps)
#   online  sherl-train --input: the same 320 examples, the frozen early layers run every
#           step; one epoch (10 steps)
#   full, lora, sherl   the PyTorch references of bench/memory_reference.py (2 timed steps)
# Peak RSS: /usr/bin/time for the tools, ru_maxrss for the references (both the whole
# process). Seconds per step: the tools' epoch time from train.jsonl over 10 steps.
#
#   bench/memory_table.sh [WORK_DIR [SHAPE...]]     SHAPE: bert-base, vit-base (default both)
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

# 320 labelled examples of the shape: pre-tokenised ids (JSON Lines) or PNG files listed in
# a CSV. Prints the input's path.
make_input() {
  local shape=$1 dir=$2
  if [ "$shape" = bert-base ]; then
    [ -f "$dir/input.jsonl" ] || $PY -c '
import json, random
random.seed(0)
for i in range(320):
    print(json.dumps({"input_ids": [101] + [random.randrange(1000, 30000) for _ in range(126)] + [102], "label": i % 2}))
' > "$dir/input.jsonl"
    echo "$dir/input.jsonl"
  else
    [ -f "$dir/images.csv" ] || $PY - "$dir" <<'PY'
import os, sys
import numpy as np
from PIL import Image
d = sys.argv[1]
os.makedirs(d + "/images", exist_ok=True)
rng = np.random.default_rng(0)
with open(d + "/images.csv.tmp", "w") as f:
    for i in range(320):
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
  /usr/bin/time -f 'peak_rss_kb %M' "$BIN/sherl-train" "$@" --out "$run" --epochs 1 --batch-size 32 --warmup 1 \
    --quiet "${train_opts[@]}" > /dev/null 2> "$run.time"
  $PY - "$shape" "$method" "$run" <<'PY' >> "$results"
import json, sys
shape, method, run = sys.argv[1:]
log = open(run + ".time").read().split()
rss = int(log[log.index("peak_rss_kb") + 1]) * 1024
epoch = [json.loads(l) for l in open(run + "/train.jsonl") if '"epoch"' in l][-1]
print(json.dumps({"shape": shape, "method": method, "peak_rss_mib": round(rss / 2**20),
                  "s_per_step": round(epoch["seconds"] / 10, 3)}))
PY
}

for shape in "${shapes[@]}"; do
  dir="$work/$shape"
  mkdir -p "$dir"
  [ -f "$dir/model/config.json" ] || $PY bench/random_model.py "$shape" "$dir/model"
  input=$(make_input "$shape" "$dir")
  if wanted cache && [ ! -f "$dir/cons/train/manifest.json" ]; then
    echo "memory_table: extracting the $shape cache (a few minutes)" >&2
    "$BIN/sherl-extract" --model "$dir/model" --input "$input" --out "$dir/features" --batch-size 32 --overwrite --quiet
    "$BIN/sherl-consolidate" --input "$dir/features" --out "$dir/cons" --val-fraction 0 --quiet > /dev/null
  fi
  if wanted cache; then
    echo "memory_table: $shape: sherl-train from the cache" >&2
    measure "$shape" cache "$dir/run-cache" --model "$dir/model" --train "$dir/cons/train"
  fi
  if wanted online; then
    echo "memory_table: $shape: sherl-train online" >&2
    measure "$shape" online "$dir/run-online" --model "$dir/model" --input "$input"
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
         "cache": "`sherl-train` from a cache (12 tiers, f16)", "online": "`sherl-train --input` (online)"}
for shape in dict.fromkeys(r["shape"] for r in rows):
    mine = {r["method"]: r for r in rows if r["shape"] == shape}
    full = mine["full"]["peak_rss_mib"] if "full" in mine else float("nan")
    print(f"\n{shape}\n\n| method | peak RSS | ratio to full FT | s per step |\n|---|---:|---:|---:|")
    for m in ("full", "lora", "sherl", "cache", "online"):
        if m in mine:
            r = mine[m]
            print(f"| {names[m]} | {r['peak_rss_mib']} MiB | {r['peak_rss_mib'] / full:.2f} | {r['s_per_step']:.2f} |")
PY
