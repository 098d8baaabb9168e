#!/usr/bin/env bash
# The long, seeded variants of the fault tests, outside the default suite (about 10-15
# minutes on 2 cores): sherl-extract killed 10 times during 3000 examples, sherl-train
# --resume killed 10 times, and 1000 corruptions of a shard set with sherl-train run on 100
# of them. Each run prints its kills or counts; the script exits non-zero on any failure.
#
#   tests/faults/soak.sh [BUILD_DIR] [SEED]      (defaults: build, 1)
#
# Scratch files go to a temporary directory, removed at the end unless KEEP=1.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
seed="${2:-1}"
work="$(mktemp -d "${TMPDIR:-/tmp}/sherl-soak.XXXXXX")"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
export HDF5_PLUGIN_PATH="$build/hdf5-plugins"
py=/usr/bin/python3
model="$root/examples/models/vit-tiny-fmnist5"
data=/usr/share/datasets/fashion-mnist
status=0

echo "== sherl-extract: 10 kills during 3000 examples (seed $seed)"
"$py" "$root/tests/faults/kill_resume.py" extract --bin "$build/bin" --work "$work/extract" --kills 10 \
  --seed "$seed" --examples 3000 --examples-per-shard 100 --batch-size 8 --require-mid-shard || status=1

echo "== sherl-train --resume: 10 kills (seed $seed)"
"$py" "$root/tests/faults/kill_resume.py" train --bin "$build/bin" --work "$work/train" --kills 10 \
  --seed "$seed" --examples 500 --epochs 8 --batch-size 16 || status=1

echo "== 1000 corruptions of a shard set (seed $seed)"
"$build/bin/sherl-extract" --model "$model" --input "$data/train-images-idx3-ubyte.gz" \
  --labels "$data/train-labels-idx1-ubyte.gz" --select-labels 5,6,7,8,9 --per-label 7 \
  --examples-per-shard 16 --threads 1 --out "$work/corrupt/set" --quiet
"$py" "$root/tests/faults/corruption.py" --bin "$build/bin" --set "$work/corrupt/set" --model "$model" \
  --work "$work/corrupt/trials" -n 1000 --seed "$seed" --train-checks 100 \
  --report "$work/corruption-report.json" || status=1
[ "${KEEP:-0}" = 1 ] && echo "kept: $work"
exit $status
