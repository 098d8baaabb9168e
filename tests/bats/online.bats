#!/usr/bin/env bats
# The online early route of sherl-train (--input): the frozen early layers run every step
# instead of reading a cache. It must train the adapter a float32 cache of the same input
# trains, resume bit-identically, and refuse what does not fit it.

load common

# 100 training images, 20 of each class 5-9.
SELECTION=(--input "$FMNIST/train-images-idx3-ubyte.gz" --labels "$FMNIST/train-labels-idx1-ubyte.gz"
           --select-labels 5,6,7,8,9 --per-label 20)
COMMON=(--model "$SHERL_VIT" --warmup 2 --batch-size 16 --threads 1 --seed 1 --quiet)

# Succeeds when the two adapters' tensors ($1, $2: run directories) agree within $3.
same_adapter() {
  $PY - "$1" "$2" "$3" <<'PY'
import sys
sys.path.insert(0, "tests/python")
from mtsa_reference import read_safetensors
a, b = (read_safetensors(d + "/adapter.safetensors") for d in sys.argv[1:3])
assert sorted(a) == sorted(b), (sorted(a), sorted(b))
worst = max(float((a[k] - b[k]).abs().max()) for k in a)
print("largest difference", worst)
assert worst <= float(sys.argv[3]), worst
PY
}

@test "online training equals training from an f32 cache of the same input, split alike" {
  cd "$SHERL_ROOT"
  sherl-extract --model "$SHERL_VIT" "${SELECTION[@]}" --dtype f32 --batch-size 32 --out "$WORK/f32" --quiet
  sherl-consolidate --input "$WORK/f32" --out "$WORK/cons" --dtype f32 --val-fraction 0.2 --seed 3 --quiet > /dev/null
  sherl-train "${COMMON[@]}" --epochs 2 --train "$WORK/cons/train" --val "$WORK/cons/val" --out "$WORK/cached" \
    > "$WORK/cached.json"
  sherl-train "${COMMON[@]}" --epochs 2 "${SELECTION[@]}" --val-fraction 0.2 --split-seed 3 --out "$WORK/online" \
    > "$WORK/online.json"
  same_adapter "$WORK/cached" "$WORK/online" 2e-4
  $PY - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
cached, online = (json.load(open(w + f"/{r}.json")) for r in ("cached", "online"))
assert cached["epoch"] == online["epoch"], (cached, online)
assert abs(cached["validation"]["accuracy"] - online["validation"]["accuracy"]) < 1e-9, (cached, online)
assert abs(cached["train_loss"] - online["train_loss"]) < 1e-4, (cached, online)
a = json.load(open(w + "/online/adapter.json"))
assert a["training"]["feature_dtype"] == "f32", a["training"]
PY
  # Another split seed validates on other examples: the runs differ.
  sherl-train "${COMMON[@]}" --epochs 2 "${SELECTION[@]}" --val-fraction 0.2 --split-seed 4 --out "$WORK/other" > /dev/null
  ! same_adapter "$WORK/cached" "$WORK/other" 2e-4
}

@test "online training resumes bit-identically after SIGKILL, and refuses another input on --resume" {
  sherl-train "${COMMON[@]}" "${SELECTION[@]}" --epochs 6 --out "$WORK/full" > /dev/null
  sherl-train "${COMMON[@]}" "${SELECTION[@]}" --epochs 6 --out "$WORK/resumed" > /dev/null &
  kill_after_first_checkpoint $! "$WORK/resumed" 6
  sherl-train "${COMMON[@]}" "${SELECTION[@]}" --epochs 6 --out "$WORK/resumed" --resume > /dev/null
  cmp "$WORK/full/adapter.safetensors" "$WORK/resumed/adapter.safetensors"
  [ "$(grep -c '"epoch"' "$WORK/resumed/train.jsonl")" -eq 6 ]
  # Other labels (the same, decompressed) or another selection do not resume.
  sherl-train "${COMMON[@]}" "${SELECTION[@]}" --epochs 1 --out "$WORK/other" > /dev/null
  gzip -dc "$FMNIST/train-labels-idx1-ubyte.gz" > "$WORK/labels"
  run sherl-train "${COMMON[@]}" --input "$FMNIST/train-images-idx3-ubyte.gz" --labels "$WORK/labels" \
    --select-labels 5,6,7,8,9 --per-label 20 --epochs 1 --out "$WORK/other" --resume
  [ "$status" -eq 1 ]
  [[ "$output" == *"other labels (the content of --labels differs)"* ]]
  run sherl-train "${COMMON[@]}" "${SELECTION[@]/#20/21}" --epochs 1 --out "$WORK/other" --resume
  [ "$status" -eq 1 ]
  [[ "$output" == *"--selection"* ]]
}

@test "online training reads standard input, and leaves no spool behind" {
  gzip -dc "$FMNIST/train-images-idx3-ubyte.gz" | \
    sherl-train "${COMMON[@]}" --input - --labels "$FMNIST/train-labels-idx1-ubyte.gz" --select-labels 5,6,7,8,9 \
      --per-label 20 --epochs 1 --out "$WORK/run" > /dev/null
  [ -f "$WORK/run/adapter.safetensors" ]
  [ -z "$(find "$WORK/run" -name '.spool*')" ]
  grep -q '"input": "-"' "$WORK/run/adapter.json"
}

@test "the online route refuses what does not fit it, before writing anything" {
  run sherl-train --model "$SHERL_VIT" --out "$WORK/a" --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == *"--train DIR (a cache) or --input FILE (online), one of them"* ]]
  run sherl-train "${COMMON[@]}" "${SELECTION[@]}" --train "$WORK/none" --out "$WORK/a"
  [ "$status" -eq 1 ]
  [[ "$output" == *"one of them"* ]]
  run sherl-train --model "$SHERL_VIT" --train "$WORK/none" --per-label 3 --out "$WORK/a" --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == *"--per-label describes a raw input: it goes with --input"* ]]
  run sherl-train "${COMMON[@]}" "${SELECTION[@]}" --tiers auto --out "$WORK/a"
  [ "$status" -eq 1 ]
  [[ "$output" == *"--tiers auto measures"* ]]
  run sherl-train "${COMMON[@]}" "${SELECTION[@]}" --val-fraction 1 --out "$WORK/a"
  [ "$status" -eq 1 ]
  [[ "$output" == *"--val-fraction"*"[0, 1)"* ]]
  run sherl-train "${COMMON[@]}" "${SELECTION[@]}" --val-fraction 0.2 --val "$WORK/none" --out "$WORK/a"
  [ "$status" -eq 1 ]
  run sherl-train "${COMMON[@]}" "${SELECTION[@]}" --select-labels 11 --out "$WORK/a"
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-train: error: "* ]]
  run sherl-train "${COMMON[@]}" --input "$WORK/missing.jsonl" --out "$WORK/a"
  [ "$status" -eq 1 ]
  [[ "$output" == *"$WORK/missing.jsonl"* ]]
  [ ! -e "$WORK/a" ]
  run sherl-train "${COMMON[@]}" --input "$WORK" --out "$WORK/a"
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-train: error: $WORK: is a directory, not an input file" ]]
  run sherl-train "${COMMON[@]}" "${SELECTION[@]/#20/1}" --val-fraction 0.5 --out "$WORK/a"
  [ "$status" -eq 1 ]
  [[ "$output" == *"--val-fraction 0.5"*"leaves no example to validate on"* ]]
  [ ! -e "$WORK/a" ]
  # Refused while the examples are read (the label pre-scan passed): nothing written either.
  mkdir "$WORK/dir.png"
  printf 'dir.png,1\n' > "$WORK/dirs.csv"
  run sherl-train "${COMMON[@]}" --input "$WORK/dirs.csv" --out "$WORK/a"
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-train: error: "*"dir.png"*"is a directory, not an image file" ]]
  printf 'missing.png,1\n' > "$WORK/images.csv"
  run sherl-train "${COMMON[@]}" --input "$WORK/images.csv" --out "$WORK/a"
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-train: error: "*"missing.png"* ]]
  [ ! -e "$WORK/a" ]
}

@test "a --resume with other arguments is refused before the input's examples are read" {
  $PY "$SHERL_ROOT/tests/python/make_image_task.py" "$WORK" > /dev/null
  args=(--model "$WORK/model" --tower vision --input "$WORK/train.csv" --limit 64 --epochs 1 --batch-size 16
        --threads 1 --quiet)
  sherl-train "${args[@]}" --out "$WORK/run" > /dev/null
  # Reading the examples would now fail on this image: the refusal must come first.
  rm "$WORK/images/train-0000.png"
  run sherl-train "${args[@]}" --lr 1e-3 --out "$WORK/run" --resume
  [ "$status" -eq 1 ]
  [[ "$output" == *"the checkpoint was made with --lr 0.002, not 0.001"* ]]
  run sherl-train "${args[@]}" --out "$WORK/run" --resume
  [ "$status" -eq 1 ]
  [[ "$output" == *"train-0000.png"* ]]
  [ -f "$WORK/run/checkpoint/state.json" ]
}
