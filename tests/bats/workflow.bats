#!/usr/bin/env bats
# The tools chained as users chain them, on a small slice of the bundled example:
# extract -> consolidate -> train -> eval, predict, resume after a kill, bad inputs.

load common

# Features of 200 training images (40 of each class 5-9) and 100 test images, made once
# for the whole file.
setup_file() {
  export SMALL="$BATS_FILE_TMPDIR/small"
  extract_fmnist_slice "$SMALL/train" train 40 --examples-per-shard 64
  extract_fmnist_slice "$SMALL/test" t10k 20
  "$SHERL_BUILD/bin/sherl-consolidate" --input "$SMALL/train" --out "$SMALL/cons" --val-fraction 0.2 --quiet > /dev/null
}

@test "extract writes a complete, verifiable shard set with the tiers for K=1" {
  run sherl-info --json "$SMALL/train"
  [ "$status" -eq 0 ]
  echo "$output" | $PY -c '
import json, sys
info = json.load(sys.stdin)
assert info["examples"] == 200, info["examples"]
assert info["info"]["tiers"] == [0, 1, 2, 3, 4, 5]      # embeddings + layers 0..4: K = 1 of 6
assert info["info"]["label_names"] == ["5", "6", "7", "8", "9"]
' 
  run sherl-info --verify "$SMALL/train"
  [ "$status" -eq 0 ]
  [ -f "$SMALL/train/manifest.json" ]
  [ "$(ls "$SMALL"/train/shard-*.h5 | wc -l)" -eq 4 ]
}

@test "consolidate writes train/val splits, a redundancy report and a heatmap" {
  [ -f "$SMALL/cons/train/manifest.json" ]
  [ -f "$SMALL/cons/val/manifest.json" ]
  grep -q '<svg' "$SMALL/cons/redundancy.svg"
  $PY - "$SMALL/cons" <<'PY'
import json, sys
d = sys.argv[1]
r = json.load(open(d + "/redundancy.json"))
n = len(r["tiers"])
assert r["tiers"] == list(range(6)), r["tiers"]          # embeddings + layers 0..4 of 6
for i in range(n):
    assert abs(r["pairwise"][i][i] - 1) < 1e-6            # a tier is fully redundant with itself
    assert abs(sum(r["pairwise"][i]) - r["total"][i]) < 1e-9
c = json.load(open(d + "/consolidate.json"))
assert c["train_examples"] + c["val_examples"] == 200
assert c["val_examples"] == 40                            # 20% of each of 5 classes of 40
import h5py                                               # the default, training layout
with h5py.File(d + "/train/shard-00000.h5", "r") as f:
    assert f["features"].chunks is None and not f["features"].fletcher32
PY
  run sherl-info --verify "$SMALL/cons/train" "$SMALL/cons/val"
  [ "$status" -eq 0 ]
}

@test "consolidate --layout chunked writes compressed, checksummed shards of the same examples" {
  run sherl-consolidate --input "$SMALL/train" --out "$WORK/chunked" --val-fraction 0.2 --layout chunked --quiet
  [ "$status" -eq 0 ]
  run sherl-info --verify "$WORK/chunked/train"
  [ "$status" -eq 0 ]
  $PY - "$WORK/chunked/train" "$SMALL/cons/train" <<'PY'
import sys, h5py
chunked, contiguous = (h5py.File(p + "/shard-00000.h5", "r") for p in sys.argv[1:])
assert chunked["features"].chunks is not None and chunked["features"].fletcher32
assert (chunked["example_id"][:] == contiguous["example_id"][:]).all()
assert (chunked["features"][:] == contiguous["features"][:]).all()
PY
}

# Succeeds when every one of the 100 rows of eval's predictions ($1) has predict's row ($2,
# which may hold more ids) with the same class and outputs within 1e-4: the same model on the
# same values, only the batch shapes (BLAS blocking) differ.
same_predictions() {
  $PY - "$1" "$2" <<'PY'
import sys
ev = {l.split("\t")[0]: l.split("\t")[:3] for l in open(sys.argv[1]).read().splitlines()[1:]}
pr = {l.split("\t")[0]: l.split("\t")[:3] for l in open(sys.argv[2]).read().splitlines()[1:]}
assert len(ev) == 100
worst = 0.0
for i, row in ev.items():
    assert pr[i][1] == row[1], (i, pr[i], row)
    worst = max(worst, max(abs(float(a) - float(b)) for a, b in zip(pr[i][2].split(","), row[2].split(","))))
assert worst <= 1e-4, worst
PY
}

@test "train then eval: metrics JSON, predictions, curve and log" {
  # 6 steps in all: a warm-up of 2 lets the learning rate reach its peak, so that the adapter
  # learns something to evaluate. One learning rate: a run, not the default grid.
  run sherl-train --model "$SHERL_VIT" --train "$SMALL/cons/train" --val "$SMALL/cons/val" \
    --out "$WORK/run" --epochs 3 --warmup 2 --lr 2e-3 --threads 1 --quiet
  [ "$status" -eq 0 ]
  [ -f "$WORK/run/adapter.safetensors" ]
  grep -q '<svg' "$WORK/run/curve.svg"
  [ "$(grep -c '"epoch"' "$WORK/run/train.jsonl")" -eq 3 ]
  run sherl-eval --adapter "$WORK/run" --model "$SHERL_VIT" --data "$SMALL/test" --threads 1 \
    --predictions "$WORK/pred.tsv"
  [ "$status" -eq 0 ]
  echo "$output" | $PY -c '
import json, sys
m = json.load(sys.stdin)
assert 0.3 < m["accuracy"] <= 1, m  # chance is 0.2
assert len(m["confusion_matrix"]) == 5 and sum(map(sum, m["confusion_matrix"])) == 100
for k in ("macro_f1", "mcc"): assert k in m
'
  [ "$(wc -l < "$WORK/pred.tsv")" -eq 101 ]
}

@test "predict on raw input equals eval --predictions on the shards of the same input" {
  sherl-train --model "$SHERL_VIT" --train "$SMALL/cons/train" --out "$WORK/run" --epochs 2 --threads 1 --quiet > /dev/null
  sherl-eval --adapter "$WORK/run" --model "$SHERL_VIT" --data "$SMALL/test" --threads 1 \
    --predictions "$WORK/eval.tsv" > /dev/null
  sherl-predict --adapter "$WORK/run" --model "$SHERL_VIT" --input $FMNIST/t10k-images-idx3-ubyte.gz \
    --labels $FMNIST/t10k-labels-idx1-ubyte.gz --limit 300 --threads 1 > "$WORK/predict-all.tsv"
  # predict sees the first 300 test images (the eval shards' 20 per class of 5-9 end at
  # image 253); the ids that the eval shards hold must agree
  same_predictions "$WORK/eval.tsv" "$WORK/predict-all.tsv"
}

@test "an i8 cache: half the f16 bytes, readable by h5py, and train, eval and predict work on it" {
  local data=/usr/share/datasets/fashion-mnist
  sherl-extract --model "$SHERL_VIT" --input $data/train-images-idx3-ubyte.gz --labels $data/train-labels-idx1-ubyte.gz \
    --select-labels 5,6,7,8,9 --per-label 40 --examples-per-shard 64 --dtype i8 --out "$WORK/train" --quiet
  sherl-extract --model "$SHERL_VIT" --input $data/t10k-images-idx3-ubyte.gz --labels $data/t10k-labels-idx1-ubyte.gz \
    --select-labels 5,6,7,8,9 --per-label 20 --dtype i8 --out "$WORK/test" --quiet
  run sherl-info --verify "$WORK/train"
  [ "$status" -eq 0 ]
  sherl-info --json "$WORK/train" > "$WORK/i8.json"
  sherl-info --json "$SMALL/train" > "$WORK/f16.json"
  # The same examples as the f16 set, within half a scale of each row; about half its raw bytes.
  $PY - "$WORK/i8.json" "$WORK/f16.json" "$WORK/train/shard-00000.h5" "$SMALL/train/shard-00000.h5" <<'PY'
import json, sys
import h5py, numpy as np
i8, f16 = (json.load(open(p)) for p in sys.argv[1:3])
assert i8["info"]["dtype"] == "i8" and f16["info"]["dtype"] == "f16"
ratio = i8["feature_bytes_uncompressed"] / f16["feature_bytes_uncompressed"]
assert 0.5 < ratio < 0.53, ratio
with h5py.File(sys.argv[3]) as a, h5py.File(sys.argv[4]) as b:
    assert a["features"].dtype == np.int8 and a["features"].attrs["encoding"] == "int8-absmax-rows"
    scales = a["feature_scales"][:]
    x = a["features"][:].astype(np.float32) * scales[..., None]   # formats/shard.md's formula
    y = b["features"][:].astype(np.float32)
    assert (a["example_id"][:] == b["example_id"][:]).all()
    assert (np.abs(x - y) <= scales[..., None] * 0.5 + np.abs(y) * 2e-3 + 1e-6).all()
PY
  sherl-consolidate --input "$WORK/train" --out "$WORK/cons" --val-fraction 0.2 --dtype i8 --quiet > /dev/null
  run sherl-info --verify "$WORK/cons/train"
  [ "$status" -eq 0 ]
  sherl-train --model "$SHERL_VIT" --train "$WORK/cons/train" --val "$WORK/cons/val" --out "$WORK/run" \
    --epochs 3 --warmup 2 --threads 1 --quiet > /dev/null
  run sherl-eval --adapter "$WORK/run" --model "$SHERL_VIT" --data "$WORK/test" --threads 1 --predictions "$WORK/eval.tsv"
  [ "$status" -eq 0 ]
  echo "$output" | $PY -c 'import json, sys; m = json.load(sys.stdin); assert 0.3 < m["accuracy"] <= 1, m'
  # predict rounds raw tiers as the i8 training shards were: the same outputs as eval.
  sherl-predict --adapter "$WORK/run" --model "$SHERL_VIT" --input $data/t10k-images-idx3-ubyte.gz \
    --labels $data/t10k-labels-idx1-ubyte.gz --limit 300 --threads 1 > "$WORK/predict.tsv"
  same_predictions "$WORK/eval.tsv" "$WORK/predict.tsv"
}

@test "predict streams into a pipe and exits cleanly when the reader stops" {
  sherl-train --model "$SHERL_VIT" --train "$SMALL/cons/train" --out "$WORK/run" --epochs 1 --threads 1 --quiet > /dev/null
  run bash -c "set -o pipefail; zcat $FMNIST/t10k-images-idx3-ubyte.gz | sherl-predict --adapter '$WORK/run' \
    --model '$SHERL_VIT' --input - --labels $FMNIST/t10k-labels-idx1-ubyte.gz --threads 1 --batch-size 8 | head -3"
  [ "$(echo "$output" | wc -l)" -eq 3 ]
  [[ "${lines[0]}" == id* ]]
  # SIGPIPE (141) or success: never a crash or an error message
  [[ "$status" -eq 0 || "$status" -eq 141 ]]
  [[ "$output" != *error* ]]
}

@test "train --resume after SIGKILL gives the same adapter as an uninterrupted run" {
  args=(--model "$SHERL_VIT" --train "$SMALL/cons/train" --val "$SMALL/cons/val" --epochs 4 --threads 1 --seed 3 --quiet)
  sherl-train "${args[@]}" --out "$WORK/full" > /dev/null
  sherl-train "${args[@]}" --out "$WORK/killed" > /dev/null &
  kill_after_first_checkpoint $! "$WORK/killed" 4
  sherl-train "${args[@]}" --out "$WORK/killed" --resume > /dev/null
  cmp "$WORK/full/adapter.safetensors" "$WORK/killed/adapter.safetensors"
}

@test "train refuses an existing run without --resume, and shards of another backbone" {
  sherl-train --model "$SHERL_VIT" --train "$SMALL/cons/train" --out "$WORK/run" --epochs 1 --threads 1 --quiet > /dev/null
  run sherl-train --model "$SHERL_VIT" --train "$SMALL/cons/train" --out "$WORK/run" --epochs 1 --threads 1 --quiet
  [ "$status" -ne 0 ]
  [[ "$output" == *"--resume"* ]]
  cp -r "$SHERL_VIT" "$WORK/other"
  $PY - "$WORK/other/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["layer_norm_eps"] = 1e-6
json.dump(c, open(sys.argv[1], "w"))
PY
  run sherl-train --model "$WORK/other" --train "$SMALL/cons/train" --out "$WORK/run2" --epochs 1 --threads 1
  [ "$status" -ne 0 ]
  [[ "$output" == *"another backbone"* ]]
  [ ! -e "$WORK/run2/adapter.safetensors" ]
}

@test "train --resume starts afresh a run stopped between its first adapter and its first checkpoint" {
  args=(--model "$SHERL_VIT" --train "$SMALL/cons/train" --out "$WORK/run" --epochs 2 --threads 1 --quiet)
  sherl-train "${args[@]}" > /dev/null
  cp "$WORK/run/adapter.safetensors" "$WORK/full.safetensors"
  # A finished adapter without its checkpoint is not resumed...
  rm -r "$WORK/run/checkpoint"
  run sherl-train "${args[@]}" --resume
  [ "$status" -eq 1 ]
  [[ "$output" == *"holds a trained adapter (adapter.json) and no checkpoint to resume"* ]]
  # ...but one whose log says the run stopped before finishing is: as the window after
  # epoch 1's adapter and before its checkpoint leaves it (SIGTERM, a full disk).
  head -n 1 "$WORK/run/train.jsonl" > "$WORK/log" && mv "$WORK/log" "$WORK/run/train.jsonl"
  sherl-train "${args[@]}" --resume > /dev/null
  cmp "$WORK/full.safetensors" "$WORK/run/adapter.safetensors"
  [ "$(grep -c '"done"' "$WORK/run/train.jsonl")" -eq 1 ]
}

@test "extract refuses a directory made from another input, and resumes an interrupted one" {
  run sherl-extract --model "$SHERL_VIT" --input $FMNIST/t10k-images-idx3-ubyte.gz \
    --labels $FMNIST/t10k-labels-idx1-ubyte.gz --select-labels 5,6 --per-label 10 --out "$SMALL/train" --quiet
  [ "$status" -ne 0 ]
  [[ "$output" == *"another extraction"* ]]
  extract=(sherl-extract --model "$SHERL_VIT" --input $FMNIST/t10k-images-idx3-ubyte.gz
    --labels $FMNIST/t10k-labels-idx1-ubyte.gz --select-labels 5,6,7 --per-label 30 --examples-per-shard 16 --quiet)
  "${extract[@]}" --out "$WORK/b"
  cp -r "$WORK/b" "$WORK/a"
  rm "$WORK/b/shard-00002.h5" "$WORK/b/manifest.json"       # as if killed before shard 2 and the manifest
  touch "$WORK/b/.shard-00003.h5.tmp.99999"                 # and a temporary left behind
  run sherl-info --verify "$WORK/b"
  [ "$status" -ne 0 ]
  "${extract[@]}" --out "$WORK/b"
  [ ! -e "$WORK/b/.shard-00003.h5.tmp.99999" ]
  sherl-info --verify "$WORK/b"
  same_shard_data "$WORK/a" "$WORK/b"
}

@test "extract in partitions makes the same shard set as one run" {
  extract=(sherl-extract --model "$SHERL_VIT" --input $FMNIST/t10k-images-idx3-ubyte.gz
    --labels $FMNIST/t10k-labels-idx1-ubyte.gz --select-labels 8,9 --per-label 24 --examples-per-shard 10 --quiet)
  "${extract[@]}" --out "$WORK/one"
  "${extract[@]}" --out "$WORK/parts" --shard 0/2
  [ ! -f "$WORK/parts/manifest.json" ]
  "${extract[@]}" --out "$WORK/parts" --shard 1/2
  [ -f "$WORK/parts/manifest.json" ]
  sherl-info --verify "$WORK/parts"
  same_shard_data "$WORK/one" "$WORK/parts"
}

@test "every tool has --help and --version" {
  for tool in sherl-extract sherl-consolidate sherl-train sherl-eval sherl-info sherl-predict; do
    run $tool --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"--"* ]]
    run $tool --version
    [ "$status" -eq 0 ]
    [[ "$output" == *"$tool"* ]]
  done
}

@test "--help, --version and usage errors start each tool once: no re-exec before compute" {
  for tool in sherl-extract sherl-consolidate sherl-train sherl-eval sherl-predict sherl-info; do
    for args in --help --version --no-such-option; do
      env -u OMP_WAIT_POLICY -u OPENBLAS_THREAD_TIMEOUT strace -f -qq -e trace=execve -o "$WORK/trace" \
        "$SHERL_BUILD/bin/$tool" $args > /dev/null 2>&1 || true
      n=$(grep -c 'execve(' "$WORK/trace")
      echo "$tool $args: $n execve"
      [ "$n" -eq 1 ]
    done
  done
}

@test "a tool started without OMP_WAIT_POLICY and OPENBLAS_THREAD_TIMEOUT re-execs itself with them set" {
  mkfifo "$WORK/in"
  env -u OMP_WAIT_POLICY -u OPENBLAS_THREAD_TIMEOUT sherl-extract --input - --model "$SHERL_VIT" \
    --labels "$FMNIST/train-labels-idx1-ubyte.gz" --out "$WORK/set" --quiet < "$WORK/in" 2> /dev/null &
  pid=$!
  exec {writer}> "$WORK/in"  # the tool starts, re-execs, and waits for input
  environ=""
  for _ in $(seq 1 200); do
    environ=$(tr '\0' '\n' < /proc/$pid/environ 2> /dev/null || true)
    [[ "$environ" == *OMP_WAIT_POLICY=PASSIVE* ]] && break
    sleep 0.05
  done
  exec {writer}>&-
  kill $pid 2> /dev/null || true
  wait $pid 2> /dev/null || true
  [[ "$environ" == *OMP_WAIT_POLICY=PASSIVE* ]]
  [[ "$environ" == *OPENBLAS_THREAD_TIMEOUT=4* ]]
}
