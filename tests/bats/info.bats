#!/usr/bin/env bats
# sherl-info: description of shards and shard sets, and --verify on sound and broken inputs.
# Broken inputs are made from a sound synthetic set (make_test_shards) by
# tests/python/corrupt_shard.py (h5py through our zstd plugin) or by plain file surgery.
load common

MAKE_SHARDS="$SHERL_BUILD/tests/make_test_shards"
CORRUPT="$SHERL_ROOT/tests/python/corrupt_shard.py"

make_set() {
  "$MAKE_SHARDS" --out "$WORK/set" --shards 2 --examples 6 --tiers 3 --hidden 16 --dtype "${1:-f16}" \
    --min-tokens 1 --max-tokens 300
}

# Runs sherl-info --verify on $1 and checks it fails with a message containing $2.
expect_verify_failure() {
  run sherl-info --verify "$1"
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"$2"* ]]
}

@test "sherl-info --help and --version" {
  run sherl-info --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"--verify"* ]]
  run sherl-info --version
  [ "$status" -eq 0 ]
  [[ "$output" == "sherl-info "[0-9]* ]]
}

@test "sherl-info loads no LibTorch: neither linked nor opened, even when verifying" {
  run ldd "$SHERL_BUILD/bin/sherl-info"
  [ "$status" -eq 0 ]
  [[ "$output" == *libsherl_format* ]]
  [[ "$output" != *libtorch* && "$output" != *libc10* && "$output" != *"libsherl.so"* ]]
  make_set
  strace -f -qq -e trace=openat -o "$WORK/trace" "$SHERL_BUILD/bin/sherl-info" --verify "$WORK/set"
  grep -q 'shard-00000.h5' "$WORK/trace"  # the trace sees the files it reads
  ! grep -E 'libtorch|libc10' "$WORK/trace"
}

@test "sherl-info: usage errors exit 2" {
  run sherl-info
  [ "$status" -eq 2 ]
  run sherl-info --no-such-option x
  [ "$status" -eq 2 ]
}

@test "sherl-info describes a shard set and a shard for people" {
  make_set
  run sherl-info "$WORK/set"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"shard set      2 shards"* ]]
  [[ "$output" == *"examples       12"* ]]
  [[ "$output" == *"tiers          3: 0 1 2"* ]]
  [[ "$output" == *"hidden size    16"* ]]
  [[ "$output" == *"dtype          f16"* ]]
  [[ "$output" == *"compression ratio"* ]]
  [[ "$output" == *"labels         class, 5 classes: t-shirt, trouser"* ]]
  run sherl-info "$WORK/set/shard-00001.h5"
  [ "$status" -eq 0 ]
  [[ "$output" == *"shard          index 1"* ]]
  [[ "$output" == *"examples       6"* ]]
}

@test "sherl-info --json gives numbers that match the files" {
  make_set bf16
  run sherl-info --json "$WORK/set" "$WORK/set/shard-00000.h5"
  [ "$status" -eq 0 ]
  printf '%s\n' "$output" > "$WORK/info.jsonl"
  "$PY" - "$WORK/info.jsonl" "$WORK/set" <<'PYEOF'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["kind"] for r in rows] == ["shard-set", "shard"], rows
s = rows[0]
assert s["examples"] == 12 and s["shards"] == 2
assert s["info"]["dtype"] == "bf16" and s["info"]["tiers"] == [0, 1, 2]
assert s["info"]["backbone"]["hidden_size"] == 16
size = sum(os.path.getsize(os.path.join(sys.argv[2], f)) for f in ("shard-00000.h5", "shard-00001.h5"))
assert s["bytes_on_disk"] == size, (s["bytes_on_disk"], size)
assert s["feature_bytes_uncompressed"] == s["tokens"]["total"] * 3 * 16 * 2
assert abs(s["compression_ratio"] - s["feature_bytes_uncompressed"] / size) < 1e-9
assert rows[1]["shard_index"] == 0 and rows[1]["examples"] == 6
PYEOF
}

@test "sherl-info --verify accepts a sound set and a sound shard" {
  make_set
  run sherl-info --verify "$WORK/set" "$WORK/set/shard-00000.h5"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"$WORK/set: ok"* ]]
}

@test "h5ls and h5dump read a shard through the plugin" {
  make_set
  run h5ls -r "$WORK/set/shard-00000.h5"
  [ "$status" -eq 0 ]
  [[ "$output" == *"/features"* ]]
  run h5dump -d /example_id "$WORK/set/shard-00001.h5"
  [ "$status" -eq 0 ]
  [[ "$output" == *"(0): 6, 7, 8, 9, 10, 11"* ]]
}

@test "verify: a truncated file" {
  make_set
  head -c 5000 "$WORK/set/shard-00000.h5" > "$WORK/truncated.h5"
  expect_verify_failure "$WORK/truncated.h5" "$WORK/truncated.h5: "
  [[ "$output" == *"truncated"* ]]
}

@test "verify: a file that is not HDF5" {
  echo "just some text" > "$WORK/text.h5"
  expect_verify_failure "$WORK/text.h5" "$WORK/text.h5: not an HDF5 file"
}

@test "verify: a shard with a missing dataset" {
  make_set
  "$PY" "$CORRUPT" "$WORK/set/shard-00000.h5" drop-dataset label
  expect_verify_failure "$WORK/set/shard-00000.h5" "shard-00000.h5: dataset 'label' is missing"
}

@test "verify: inconsistent offsets" {
  make_set
  "$PY" "$CORRUPT" "$WORK/set/shard-00001.h5" offsets
  expect_verify_failure "$WORK/set/shard-00001.h5" "shard-00001.h5: dataset 'offsets': not increasing at index 2"
  # In the set, the changed file also no longer matches the manifest's checksum.
  expect_verify_failure "$WORK/set" "shard-00001.h5: sha256 differs from manifest.json"
}

@test "verify: a manifest that lists a missing shard" {
  make_set
  rm "$WORK/set/shard-00001.h5"
  expect_verify_failure "$WORK/set" "$WORK/set/shard-00001.h5: listed in manifest.json but missing"
}

@test "verify: an unknown format version" {
  make_set
  "$PY" "$CORRUPT" "$WORK/set/shard-00000.h5" version 7
  expect_verify_failure "$WORK/set/shard-00000.h5" "shard-00000.h5: unsupported format version 7"
}

@test "verify: a flipped byte in a data chunk fails the Fletcher32 checksum" {
  make_set
  "$PY" "$CORRUPT" "$WORK/set/shard-00000.h5" flip-chunk
  expect_verify_failure "$WORK/set/shard-00000.h5" "shard-00000.h5: dataset 'features': cannot read examples"
  [[ "$output" == *"Fletcher32"* ]]
}

@test "verify: an interrupted set (no manifest, temporary file left)" {
  make_set
  rm "$WORK/set/manifest.json"
  cp "$WORK/set/shard-00001.h5" "$WORK/set/.shard-00002.h5.tmp.4242"
  expect_verify_failure "$WORK/set" "manifest.json: missing: incomplete shard set"
  [[ "$output" == *".shard-00002.h5.tmp.4242: temporary file"* ]]
  run sherl-info "$WORK/set"
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-info: error: "*"incomplete shard set"* ]]
}

# A flip in a shard's HDF5 object headers that made HDF5 1.10 itself crash (SIGSEGV) when
# verifying the file alone: found by tests/faults/soak.sh (1000 corruptions, seed 1).
@test "verify: a file whose damage crashes HDF5 is reported, and the paths after it are still verified" {
  sherl-extract --model "$SHERL_VIT" --input "$FMNIST/train-images-idx3-ubyte.gz" \
    --labels "$FMNIST/train-labels-idx1-ubyte.gz" --select-labels 5,6,7,8,9 --per-label 7 \
    --examples-per-shard 16 --threads 1 --out "$WORK/real" --quiet
  cp "$WORK/real/shard-00001.h5" "$WORK/damaged.h5"
  printf '\x67' | dd of="$WORK/damaged.h5" bs=1 seek=2410 conv=notrunc 2> /dev/null
  run sherl-info --verify "$WORK/damaged.h5" "$WORK/real/shard-00000.h5"
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"sherl-info: $WORK/damaged.h5: "* ]]
  [[ "$output" == *"$WORK/real/shard-00000.h5: ok"* ]]
  # In the set, the file is refused by its checksum before HDF5 opens it, by verify and train.
  cp "$WORK/damaged.h5" "$WORK/real/shard-00001.h5"
  expect_verify_failure "$WORK/real" "$WORK/real/shard-00001.h5: sha256 differs from manifest.json"
  run sherl-train --model "$SHERL_VIT" --train "$WORK/real" --out "$WORK/run" --epochs 1 --threads 1 --quiet
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-train: error: $WORK/real/shard-00001.h5: SHA-256 differs from manifest.json"* ]]
}
