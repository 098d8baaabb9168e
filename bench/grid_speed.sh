#!/usr/bin/env bash
# A grid in one process against the same runs one after another, side by side on this
# machine: sherl-train --lr A,B --seed 0,1,2 against six sherl-train runs of one point each,
# all with the same threads, on the bundled example's consolidated cache. Prints the wall
# times, their ratio, and how the grid's epochs split (from its train.jsonl).
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
start=$(now)
"$BIN/sherl-train" "${args[@]}" --lr "$LRS" --seed "$SEEDS" --data-seed 0 --out "$OUT/grid" > /dev/null
grid=$(echo "$(now) - $start" | bc)

echo "| $(nproc) cores, --threads $THREADS, $EPOCHS epochs, --lr $LRS --seed $SEEDS | wall s |"
echo "|---|---:|"
printf "| runs one after another | %.1f |\n| one grid | %.1f |\n| ratio | %.2f |\n" "$separate" "$grid" \
  "$(echo "$separate / $grid" | bc -l)"
/usr/bin/python3 - "$OUT/grid" <<'PY'
import csv, json, sys
log = [json.loads(l) for l in open(sys.argv[1] + "/train.jsonl")]
epochs = [r for r in log if "epoch" in r]
mean = lambda k: sum(r[k] for r in epochs) / len(epochs)
rows = list(csv.DictReader(open(sys.argv[1] + "/summary.tsv"), delimiter="\t"))
own = sum(float(r["s_per_epoch"]) for r in rows)
print(f"\ngrid, per epoch: {mean('seconds'):.2f} s of steps, of which {mean('loading_seconds'):.2f} s waiting "
      f"for batches; {mean('validation_seconds'):.2f} s validating; the points' own step time summed "
      f"{own:.2f} s ({len(rows)} points); peak RSS {rows[0]['peak_rss_mib']} MiB")
PY
