#!/usr/bin/env bash
# Peak RSS and seconds per step of sherl-train from a cache at BERT-base shape (issue 18):
# a random BERT-base (bench/random_model.py), 320 examples of 128 tokens (pre-tokenised
# ids, two classes) extracted with all 12 tiers in f16, consolidated, then one epoch of
# batch 32 (10 steps) with AdamW, measured by /usr/bin/time in its own process.
#
#   bench/train_memory.sh [WORK_DIR] [sherl-train options...]
#
# The model and cache are made once in WORK_DIR (default /tmp/sherl-train-memory; about
# 2 GB, extraction takes a few minutes on 2 cores) and reused by later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/sherl-train-memory}
shift || true
BIN=${BIN:-build/bin}
mkdir -p "$work"
[ -f "$work/bert-base/config.json" ] || /usr/bin/python3 bench/random_model.py bert-base "$work/bert-base"
if [ ! -f "$work/cons/train/manifest.json" ]; then
  /usr/bin/python3 -c '
import json, random
random.seed(0)
for i in range(320):
    print(json.dumps({"input_ids": [101] + [random.randrange(1000, 30000) for _ in range(126)] + [102], "label": i % 2}))
' > "$work/input.jsonl"
  "$BIN/sherl-extract" --model "$work/bert-base" --input "$work/input.jsonl" --out "$work/features" --batch-size 32 \
    --overwrite --quiet
  "$BIN/sherl-consolidate" --input "$work/features" --out "$work/cons" --val-fraction 0 --quiet > /dev/null
fi
rm -rf "$work/run"
/usr/bin/time -f 'peak_rss_kb %M wall_s %e' "$BIN/sherl-train" --model "$work/bert-base" --train "$work/cons/train" \
  --out "$work/run" --epochs 1 --batch-size 32 --warmup 1 --quiet "$@" > "$work/result.json" 2> "$work/time.log"
/usr/bin/python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
log = open(work + "/time.log").read().split()
rss = int(log[log.index("peak_rss_kb") + 1]) * 1024
epoch = [json.loads(l) for l in open(work + "/run/train.jsonl") if '"epoch"' in l][-1]
print(json.dumps({"peak_rss_mib": round(rss / 2**20), "s_per_step": round(epoch.get("seconds", float("nan")) / 10, 3),
                  "epoch": epoch}))
PY
