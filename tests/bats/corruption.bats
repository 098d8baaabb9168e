#!/usr/bin/env bats
# Seeded corruption of a real shard set (tests/faults/corruption.py): 200 single-byte flips
# in chunks, HDF5 metadata and manifest.json, and truncations. sherl-info --verify must
# detect, naming the file, every one that changes what a reader reads and every one in a
# stored chunk; sherl-train must refuse a sample of them, naming the file. The counts are
# printed (bats --show-output-of-passing-tests) and kept in bench/README.md; the larger run
# is tests/faults/soak.sh.

load common

setup_file() {
  sherl-extract --model "$SHERL_VIT" --input "$FMNIST/train-images-idx3-ubyte.gz" \
    --labels "$FMNIST/train-labels-idx1-ubyte.gz" --select-labels 5,6,7,8,9 --per-label 7 \
    --examples-per-shard 16 --threads 1 --out "$BATS_FILE_TMPDIR/set" --quiet
}

@test "200 seeded corruptions: every damage to stored data or read metadata is detected naming the file, and refused by train" {
  run "$PY" "$SHERL_ROOT/tests/faults/corruption.py" --bin "$SHERL_BUILD/bin" --set "$BATS_FILE_TMPDIR/set" \
    --model "$SHERL_VIT" --work "$WORK/trials" -n 200 --seed 1 --train-checks 6
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"0 silent; verify stopped on 0"* ]]
  # the sound set stays sound
  sherl-info --verify "$BATS_FILE_TMPDIR/set"
}
