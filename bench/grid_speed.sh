#!/usr/bin/env bash
# A grid in one process against the same runs one after another, side by side on this
# machine: sherl-train --lr A,B --seed 0,1,2 (its points one at a time, the default, and side
# by side with --threads-per-point 1) against six sherl-train runs of one point each, all
# with the same threads, on the bundled example's consolidated cache. Prints the wall times,
# their ratios, and how each grid's epochs split (from its train.jsonl).
#
#   bash bench/grid_speed.sh [EPOCHS=10] [THREADS=2] [LRS=1e-3,2e-3] [SEEDS=0,1,2]
#
# Needs the main job's cache (make -f pipelines/Makefile runs/fmnist-transfer/consolidated/train/manifest.json).
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-10} THREADS=${2:-2} LRS=${3:-1e-3,2e-3} SEEDS=${4:-0,1,2}
BIN=${BIN:-build/bin}
MODEL=examples/models/vit-tiny-fmnist5
CONS=runs/fmnist-transfer/consolidated
[ -f $CONS/train/manifest.json ] || { echo "grid_speed.sh: no cache in $CONS: run the main job first" >&2; exit 1; }
OUT=$(mktemp -d /tmp/sherl-grid-speed.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
args=(--model $MODEL --train $CONS/train --val $CONS/val --epochs "$EPOCHS" --threads "$THREADS" --quiet)

now() { date +%s.%N; }
start=$(now)
for lr in ${LRS//,/ }; do
  for seed in ${SEEDS//,/ }; do
    # --data-seed: the grid's data order, so that both sides do the same work.
    "$BIN/sherl-train" "${args[@]}" --lr "$lr" --seed "$seed" --data-seed 0 --out "$OUT/lr$lr-seed$seed" > /dev/null
  done
done
separate=$(echo "$(now) - $start" | bc)
declare -A grid
for tpp in 0 1; do
  start=$(now)
  "$BIN/sherl-train" "${args[@]}" --lr "$LRS" --seed "$SEEDS" --data-seed 0 --threads-per-point $tpp \
    --out "$OUT/grid$tpp" > /dev/null
  grid[$tpp]=$(echo "$(now) - $start" | bc)
done

echo "| $(nproc) cores, --threads $THREADS, $EPOCHS epochs, --lr $LRS --seed $SEEDS | wall s | ratio |"
echo "|---|---:|---:|"
printf "| runs one after another | %.1f | 1 |\n" "$separate"
printf "| one grid, points one at a time (default) | %.1f | %.2f |\n" "${grid[0]}" "$(echo "$separate / ${grid[0]}" | bc -l)"
printf "| one grid, points side by side (--threads-per-point 1) | %.1f | %.2f |\n" "${grid[1]}" \
  "$(echo "$separate / ${grid[1]}" | bc -l)"
for tpp in 0 1; do
  /usr/bin/python3 - "$OUT/grid$tpp" "$tpp" <<'PY'
import csv, json, sys
log = [json.loads(l) for l in open(sys.argv[1] + "/train.jsonl")]
epochs = [r for r in log if "epoch" in r]
mean = lambda k: sum(r[k] for r in epochs) / len(epochs)
rows = list(csv.DictReader(open(sys.argv[1] + "/summary.tsv"), delimiter="\t"))
own = sum(float(r["s_per_epoch"]) for r in rows)
print(f"\n--threads-per-point {sys.argv[2]}, per epoch: {mean('seconds'):.2f} s of steps, of which "
      f"{mean('loading_seconds'):.2f} s waiting for batches; {mean('validation_seconds'):.2f} s validating; the "
      f"points' own step time summed {own:.2f} s ({len(rows)} points); peak RSS {rows[0]['peak_rss_mib']} MiB")
PY
done
