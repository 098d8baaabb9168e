#!/usr/bin/env bats
# What the tools refuse, and why: each test is a command that once lost data or printed a
# confident wrong result (data loss, label mix-ups, non-finite values, degenerate splits,
# resumes onto other data, concurrent writers, hostile configs, leftovers, unchecked options).

load common

TRAIN_INPUT=(--input "$FMNIST/train-images-idx3-ubyte.gz" --labels "$FMNIST/train-labels-idx1-ubyte.gz")
TEST_INPUT=(--input "$FMNIST/t10k-images-idx3-ubyte.gz" --labels "$FMNIST/t10k-labels-idx1-ubyte.gz")
TRAIN_ARGS=(--model "$SHERL_VIT" "${TRAIN_INPUT[@]}" --examples-per-shard 20 --threads 1 --quiet)
TEST_ARGS=(--model "$SHERL_VIT" "${TEST_INPUT[@]}" --threads 1 --quiet)

# 40 training images (8 of each class 5-9), 20 test images, a consolidated split and an
# adapter trained for one epoch, made once for the file.
setup_file() {
  export SET="$BATS_FILE_TMPDIR"
  sherl-extract "${TRAIN_ARGS[@]}" --select-labels 5,6,7,8,9 --per-label 8 --out "$SET/train"
  sherl-extract "${TEST_ARGS[@]}" --select-labels 5,6,7,8,9 --per-label 4 --out "$SET/test"
  sherl-consolidate --input "$SET/train" --out "$SET/cons" --val-fraction 0.25 --quiet > /dev/null
  sherl-train --model "$SHERL_VIT" --train "$SET/cons/train" --out "$SET/run" --epochs 1 --warmup 1 \
    --threads 1 --quiet > /dev/null
}

# "<sha256>  <path>" of every file under $1.
checksums() { (cd "$1" && find . -type f | sort | xargs -r sha256sum); }

# Copies the shard set $1 to $2 and sets one feature of example $3 (position in the first
# shard) to NaN, fixing the manifest's checksums: a set that a foreign writer or a bit flip
# could leave. Needs the contiguous layout (sherl-consolidate's default).
poisoned_copy() {
  cp -r "$1" "$2"
  $PY - "$2" "$3" <<'PY'
import hashlib, json, os, sys, h5py
d, i = sys.argv[1], int(sys.argv[2])
with h5py.File(d + "/shard-00000.h5", "r+") as f:
    f["features"][f["offsets"][i], 0, 0] = float("nan")
    print(f["example_id"][i])
m = json.load(open(d + "/manifest.json"))
e = m["shards"][0]
e["sha256"] = hashlib.sha256(open(d + "/" + e["file"], "rb").read()).hexdigest()
e["bytes"] = os.path.getsize(d + "/" + e["file"])
json.dump(m, open(d + "/manifest.json", "w"))
PY
}

# ---- data loss ----------------------------------------------------------------------------

@test "consolidate refuses an output that is, contains or lies inside its input" {
  cp -r "$SET/cons" "$WORK/nest"
  before=$(checksums "$WORK/nest")
  for args in "--input $WORK/nest/train --out $WORK/nest" "--input $WORK/nest/val --out $WORK/nest/" \
              "--input $WORK/nest/train --out $WORK/nest/train" "--input $WORK/nest/train --out $WORK/nest/train/sub" \
              "--input $WORK/nest/train --out $WORK/nest/train/../"; do
    run sherl-consolidate $args --quiet
    echo "$args: $output"
    [ "$status" -eq 1 ]
    [[ "$output" == *"the output must neither be, contain, nor lie inside the input set"* ]]
  done
  [ "$before" = "$(checksums "$WORK/nest")" ]
  # A sibling is fine: nest/train into nest2.
  run sherl-consolidate --input "$WORK/nest/train" --out "$WORK/nest2" --val-fraction 0 --quiet
  [ "$status" -eq 0 ]
}

@test "extract refuses an --out holding files it did not write; --overwrite leaves no orphan" {
  cp -r "$SET/cons/train" "$WORK/out"
  before=$(checksums "$WORK/out")
  run sherl-extract "${TEST_ARGS[@]}" --select-labels 5 --per-label 3 --out "$WORK/out"
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-extract: error: $WORK/out: holds files that sherl-extract did not write (manifest.json and 1 more); use a new or empty --out, or add --overwrite to replace the shard set in it" ]]
  [ "$before" = "$(checksums "$WORK/out")" ]
  # A user's own manifest.json alone is not the tool's either.
  mkdir "$WORK/mine" && echo '{"mine": true}' > "$WORK/mine/manifest.json"
  run sherl-extract "${TEST_ARGS[@]}" --select-labels 5 --per-label 3 --out "$WORK/mine"
  [ "$status" -eq 1 ]
  grep -q mine "$WORK/mine/manifest.json"
  run sherl-extract "${TEST_ARGS[@]}" --select-labels 5 --per-label 3 --out "$WORK/out" --overwrite
  [ "$status" -eq 0 ]
  [ "$(ls "$WORK/out"/shard-*.h5)" = "$WORK/out/shard-00000.h5" ]
  sherl-info --verify "$WORK/out"
}

@test "train refuses to replace a finished adapter without a checkpoint; --overwrite replaces it" {
  mkdir "$WORK/run"
  cp "$SET/run/adapter.json" "$SET/run/adapter.safetensors" "$WORK/run/"
  before=$(checksums "$WORK/run")
  for extra in "" --resume; do
    run sherl-train --model "$SHERL_VIT" --train "$SET/cons/train" --out "$WORK/run" --epochs 1 --quiet $extra
    echo "$output"
    [ "$status" -eq 1 ]
    [[ "$output" == "sherl-train: error: $WORK/run: holds a trained adapter (adapter.json) and no checkpoint to resume; use a new --out, or add --overwrite to replace it" ]]
  done
  [ "$before" = "$(checksums "$WORK/run")" ]
  run sherl-train --model "$SHERL_VIT" --train "$SET/cons/train" --out "$WORK/run" --epochs 1 --seed 5 --quiet --overwrite
  [ "$status" -eq 0 ]
  [ "$before" != "$(checksums "$WORK/run")" ]
  [ -f "$WORK/run/checkpoint/state.json" ]
}

# ---- silent wrong results -----------------------------------------------------------------

@test "predict keeps to the adapter's classes, and needs no labels for unlabeled input" {
  run sherl-predict --adapter "$SET/run" --model "$SHERL_VIT" --input "$FMNIST/t10k-images-idx3-ubyte.gz" \
    --labels "$FMNIST/t10k-labels-idx1-ubyte.gz" --limit 30 --threads 1
  [ "$status" -eq 0 ]
  echo "$output" > "$WORK/rows.tsv"
  $PY - "$WORK/rows.tsv" "$FMNIST/t10k-labels-idx1-ubyte.gz" <<'PY'
import gzip, sys
rows = open(sys.argv[1]).read().splitlines()[1:]
labels = gzip.open(sys.argv[2]).read()[8:]
ids = [int(r.split("\t")[0]) for r in rows]
assert len(ids) == 30, len(ids)
assert all(labels[i] >= 5 for i in ids), [(i, labels[i]) for i in ids if labels[i] < 5]
# every image of classes 5-9 up to the last one predicted, none skipped
assert ids == [i for i in range(ids[-1] + 1) if labels[i] >= 5]
PY
  # Without --labels: every image, in order.
  run sherl-predict --adapter "$SET/run" --model "$SHERL_VIT" --input "$FMNIST/t10k-images-idx3-ubyte.gz" \
    --limit 4 --threads 1 --no-header
  [ "$status" -eq 0 ]
  [ "$(cut -f 1 <<< "$output" | tr '\n' ' ')" = "0 1 2 3 " ]
  # --no-labels: every image, whatever its label.
  run sherl-predict --adapter "$SET/run" --model "$SHERL_VIT" --input "$FMNIST/t10k-images-idx3-ubyte.gz" \
    --labels "$FMNIST/t10k-labels-idx1-ubyte.gz" --no-labels --limit 3 --threads 1 --no-header
  [ "$status" -eq 0 ]
  [ "$(cut -f 1 <<< "$output" | tr '\n' ' ')" = "0 1 2 " ]
  # Labels of none of the adapter's classes: the documented error, and no header printed.
  $PY -c 'import sys; sys.stdout.buffer.write(bytes([0, 0, 8, 1, 0, 0, 0x27, 0x10]) + bytes(10000))' > "$WORK/zeros.idx"
  run sherl-predict --adapter "$SET/run" --model "$SHERL_VIT" --input "$FMNIST/t10k-images-idx3-ubyte.gz" \
    --labels "$WORK/zeros.idx" --threads 1
  echo "$output"
  [ "$status" -eq 1 ]
  [ "$output" = "sherl-predict: error: $FMNIST/t10k-images-idx3-ubyte.gz: no example has a label among the adapter's classes (5,6,7,8,9)" ]
}

@test "eval and train --val compare class names: other classes refused, another order mapped" {
  # Classes 0-4: none is the adapter's.
  sherl-extract "${TEST_ARGS[@]}" --select-labels 0,1,2,3,4 --per-label 2 --out "$WORK/other"
  run sherl-eval --adapter "$SET/run" --model "$SHERL_VIT" --data "$WORK/other" --threads 1
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-eval: error: $WORK/other: class '0' (of 0,1,2,3,4) is not one of the classes 5,6,7,8,9 of adapter $SET/run" ]]
  # All 10 classes: refused, naming the set.
  sherl-extract "${TEST_ARGS[@]}" --per-label 1 --out "$WORK/ten"
  run sherl-eval --adapter "$SET/run" --model "$SHERL_VIT" --data "$WORK/ten" --threads 1
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-eval: error: $WORK/ten: class '0' "* ]]
  run sherl-train --model "$SHERL_VIT" --train "$SET/cons/train" --val "$WORK/ten" --out "$WORK/r" --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-train: error: $WORK/ten: class '0' (of 0,1,2,3,4,5,6,7,8,9) is not one of the classes 5,6,7,8,9 of the training shards $SET/cons/train" ]]
  # The same images with the classes listed in reverse: the same metrics.
  sherl-extract "${TEST_ARGS[@]}" --select-labels 9,8,7,6,5 --per-label 4 --out "$WORK/reversed"
  a=$(sherl-eval --adapter "$SET/run" --model "$SHERL_VIT" --data "$SET/test" --threads 1 | $PY -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')
  b=$(sherl-eval --adapter "$SET/run" --model "$SHERL_VIT" --data "$WORK/reversed" --threads 1 | $PY -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')
  echo "in order $a, reversed $b"
  [ "$a" = "$b" ]
}

@test "non-finite features: extract, consolidate, train and eval refuse them, naming file and example" {
  # NaN weights: the extraction writes nothing.
  cp -r "$SHERL_VIT" "$WORK/nanvit"
  $PY - "$WORK/nanvit/model.safetensors" <<'PY'
import json, struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
begin, end = header["vit.embeddings.cls_token"]["data_offsets"]
data[8 + n + begin:8 + n + begin + 4] = struct.pack("<f", float("nan"))
open(path, "wb").write(data)
PY
  run sherl-extract --model "$WORK/nanvit" --input "$FMNIST/t10k-images-idx3-ubyte.gz" \
    --labels "$FMNIST/t10k-labels-idx1-ubyte.gz" --limit 3 --out "$WORK/nanset" --quiet
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-extract: error: $WORK/nanset/shard-00000.h5: example 0: features hold NaN or infinite values"* ]]
  [ -z "$(ls "$WORK/nanset" | grep shard-)" ]
  # A NaN in cached features.
  id=$(poisoned_copy "$SET/cons/val" "$WORK/poisoned" 2)
  echo "poisoned example $id"
  run sherl-eval --adapter "$SET/run" --model "$SHERL_VIT" --data "$WORK/poisoned" --threads 1
  echo "$output"
  [ "$status" -eq 1 ]
  [ "$output" = "sherl-eval: error: $WORK/poisoned/shard-00000.h5: example $id: features hold NaN or infinite values" ]
  run sherl-consolidate --input "$WORK/poisoned" --out "$WORK/c2" --quiet
  [ "$status" -eq 1 ]
  [ "$output" = "sherl-consolidate: error: $WORK/poisoned/shard-00000.h5: example $id: features hold NaN or infinite values" ]
  run sherl-train --model "$SHERL_VIT" --train "$WORK/poisoned" --out "$WORK/r" --epochs 1 --threads 1 --quiet
  echo "$output"
  [ "$status" -eq 1 ]
  [ "$output" = "sherl-train: error: $WORK/poisoned/shard-00000.h5: example $id: features hold NaN or infinite values" ]
}

@test "a diverging run says truthfully that no checkpoint was written" {
  run sherl-train --model "$SHERL_VIT" --train "$SET/cons/train" --out "$WORK/r" --epochs 1 --batch-size 4 \
    --lr 1e30 --warmup 0 --clip-norm 0 --threads 1 --quiet
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"the loss is not finite"*"no checkpoint was written yet" ]]
}

@test "degenerate splits: no empty training set, every class kept for training, with a warning" {
  for f in 0.99 nan 1 -0.1; do
    run sherl-consolidate --input "$SET/train" --out "$WORK/c" --val-fraction $f --quiet
    echo "$f: $output"
    if [ "$f" = 0.99 ]; then
      [ "$status" -eq 0 ]
      [ "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["train_examples"])' "$WORK/c/consolidate.json")" -eq 5 ]
    else
      [ "$status" -eq 1 ]
      [[ "$output" == *"--val-fraction"*"must be in [0, 1)" ]]
    fi
  done
  # A class with a single example stays in training, and the missing validation class is named.
  sherl-extract "${TRAIN_ARGS[@]}" --select-labels 5,6 --per-label 1 --out "$WORK/tiny"
  run sherl-consolidate --input "$WORK/tiny" --out "$WORK/ct" --val-fraction 0.5
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"sherl-consolidate: warning: class '"*"' has no validation example (too few examples)"* ]]
  $PY - "$WORK/ct/train" <<'PY'
import h5py, json, sys
labels = set()
for s in json.load(open(sys.argv[1] + "/manifest.json"))["shards"]:
    with h5py.File(sys.argv[1] + "/" + s["file"], "r") as f:
        labels |= set(f["label"][:].tolist())
assert labels == {0, 1}, labels
PY
  # A set without examples is refused by the trainer.
  $PY - "$SET/cons/train" "$WORK/empty" <<'PY'
import json, os, sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
m["shards"], m["total_examples"] = [], 0
os.makedirs(sys.argv[2])
json.dump(m, open(sys.argv[2] + "/manifest.json", "w"))
PY
  run sherl-train --model "$SHERL_VIT" --train "$WORK/empty" --out "$WORK/r" --quiet
  [ "$status" -eq 1 ]
  [ "$output" = "sherl-train: error: $WORK/empty: holds no examples to train on" ]
  run sherl-eval --adapter "$SET/run" --model "$SHERL_VIT" --data "$WORK/empty"
  [ "$status" -eq 1 ]
  [ "$output" = "sherl-eval: error: $WORK/empty: holds no examples to evaluate" ]
}

@test "--resume compares the data, not the spelling of its path" {
  cp -r "$SET/cons" "$WORK/data"
  sherl-train --model "$SHERL_VIT" --train "$WORK/data/train" --out "$WORK/r" --epochs 1 --warmup 1 --threads 1 --quiet > /dev/null
  # The same data, spelled otherwise: resumes.
  (cd "$WORK" && sherl-train --model "$SHERL_VIT/" --train "./data/train/" --out "$WORK/r" --epochs 2 --warmup 1 \
    --threads 1 --quiet --resume > /dev/null)
  [ "$(grep -c '"epoch"' "$WORK/r/train.jsonl")" -eq 2 ]
  # Other data under the same path: refused.
  rm -r "$WORK/data/train" && cp -r "$SET/cons/val" "$WORK/data/train"
  run sherl-train --model "$SHERL_VIT" --train "$WORK/data/train" --out "$WORK/r" --epochs 3 --warmup 1 --threads 1 \
    --quiet --resume
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"the checkpoint was made with other training data (the manifest of --train differs)"* ]]
}

@test "preprocessing files are part of the backbone's identity" {
  cp -r "$SHERL_VIT" "$WORK/vit2"
  $PY - "$WORK/vit2/preprocessor_config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["image_mean"] = [0.25]; json.dump(c, open(sys.argv[1], "w"))
PY
  a=$(sherl-info --json "$SET/train" | $PY -c 'import json,sys; print(json.load(sys.stdin)["info"]["backbone"]["preprocessing_sha256"])')
  [ ${#a} -eq 64 ]
  # Resuming an extraction with the changed normalisation: refused.
  run sherl-extract --model "$WORK/vit2" "${TRAIN_INPUT[@]}" --examples-per-shard 20 --threads 1 --quiet --select-labels 5,6,7,8,9 --per-label 8 --out "$SET/train"
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"was made by another extraction (differs in: backbone)"* ]]
  run sherl-predict --adapter "$SET/run" --model "$WORK/vit2" --input "$FMNIST/t10k-images-idx3-ubyte.gz" --limit 1
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-predict: error: $WORK/vit2: is not the backbone adapter $SET/run was trained with"* ]]
}

@test "one writer per run directory and per shard: a second process is refused" {
  sherl-train --model "$SHERL_VIT" --train "$SET/cons/train" --out "$WORK/r" --epochs 1 --threads 1 --quiet > /dev/null
  sherl-train --model "$SHERL_VIT" --train "$SET/cons/train" --out "$WORK/r" --epochs 5000 --threads 1 --quiet \
    --resume > /dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do grep -qs '"epoch": 2' "$WORK/r/train.jsonl" && break; sleep 0.05; done
  run sherl-train --model "$SHERL_VIT" --train "$SET/cons/train" --out "$WORK/r" --epochs 5000 --threads 1 --quiet --resume
  kill $pid 2> /dev/null || true
  wait $pid || true
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-train: error: $WORK/r: in use by another sherl-train run (pid $pid); wait for it to end, or use another directory" ]]
  # Extractions lock the bytes of their blocks: a holder of block 1's byte (here a Python
  # process taking the same kind of POSIX record lock) keeps out every run that writes
  # block 1, and no other.
  mkdir -p "$WORK/x"
  $PY -c 'import fcntl, os, sys, time
fd = os.open(sys.argv[1] + "/.sherl-lock", os.O_RDWR | os.O_CREAT)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 1)  # 1 byte at offset 1: block 1
open(sys.argv[1] + "/locked", "w").close(); time.sleep(60)' "$WORK/x" &
  holder=$!
  for _ in $(seq 1 200); do [ -e "$WORK/x/locked" ] && break; sleep 0.05; done
  rm "$WORK/x/locked"
  X=("${TEST_ARGS[@]}" --limit 8 --examples-per-shard 2 --out "$WORK/x")  # 4 blocks
  run sherl-extract "${X[@]}" --shard 0/2                                  # blocks 0, 1
  echo "$output"
  [ "$status" -eq 1 ]
  [ "$output" = "sherl-extract: error: $WORK/x: in use by another sherl-extract writing the same shards (pid $holder); wait for it to end, or use another directory" ]
  run sherl-extract "${X[@]}" --shard 1/2                                  # blocks 2, 3
  [ "$status" -eq 0 ]
  kill $holder; wait $holder || true
  sherl-extract "${X[@]}" --shard 0/2
  sherl-info --verify "$WORK/x"
}

@test "an MTSA width below 2 is refused before training" {
  run sherl-train --model "$SHERL_VIT" --train "$SET/cons/train" --out "$WORK/r" --downsample-factor 128 --quiet
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"downsample_factor 128 leaves a width h = 1 (d = 128); h must be at least 2"* ]]
  [ ! -e "$WORK/r/checkpoint" ]
}

# ---- hostile configs ----------------------------------------------------------------------

@test "config sizes that the checkpoint does not hold are refused before allocating" {
  # (999999999: divisible by the 3 heads, so that the size itself is what is refused)
  for edit in '"num_hidden_layers": 100000' '"hidden_size": 999999999' '"image_size": 1000000' \
              '"intermediate_size": 1000000000000'; do
    rm -rf "$WORK/vit" && cp -r "$SHERL_VIT" "$WORK/vit"
    key=${edit%%:*}; key=${key//\"/}
    $PY - "$WORK/vit/config.json" "{$edit}" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c.update(json.loads(sys.argv[2])); json.dump(c, open(sys.argv[1], "w"))
PY
    run /usr/bin/time -f 'peak_rss_kb=%M' sherl-extract --model "$WORK/vit" "${TEST_INPUT[@]}" --limit 2 --quiet \
      --out "$WORK/o$RANDOM"
    echo "$edit: $output"
    [ "$status" -eq 1 ]
    [[ "$output" == *"sherl-extract: error: $WORK/vit/config.json: key '$key': "*" implies "*"does config.json belong to these weights?"* ]]
    rss=$(sed -n 's/^peak_rss_kb=//p' <<< "$output")
    [ "$rss" -lt 1000000 ]
  done
}

# ---- leftovers and messages ---------------------------------------------------------------

@test "spools: a full disk leaves none behind, a dead process's is removed, pipes are spooled" {
  # A spool that cannot be written (file-size limit): an error naming it, nothing left.
  STDIN_ARGS=(--model "$SHERL_VIT" --input - --labels "$FMNIST/t10k-labels-idx1-ubyte.gz" --limit 2 --quiet --out "$WORK/s")
  run bash -c 'trap "" XFSZ; ulimit -f 1024; exec sherl-extract "$@"' _ "${STDIN_ARGS[@]}" \
    < <(zcat "$FMNIST/t10k-images-idx3-ubyte.gz")
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *".spool-input.tmp."*"cannot spool standard input: File too large"* ]]
  [ -z "$(find "$WORK/s" -name '.spool-*')" ]
  # A spool left by a dead process goes with the next run.
  mkdir -p "$WORK/s"  # (the failed run left no directory behind)
  touch "$WORK/s/.spool-input.tmp.999999999" "$WORK/s/.stdin.tmp.999999998"
  zcat "$FMNIST/t10k-images-idx3-ubyte.gz" | sherl-extract "${STDIN_ARGS[@]}"
  [ -z "$(find "$WORK/s" -name '.spool-*' -o -name '.stdin.*')" ]
  # Pipes (process substitution) for the input and the labels give the same shards as files.
  sherl-extract --model "$SHERL_VIT" --input <(zcat "$FMNIST/t10k-images-idx3-ubyte.gz") \
    --labels <(zcat "$FMNIST/t10k-labels-idx1-ubyte.gz") --limit 2 --quiet --out "$WORK/p"
  sherl-extract "${TEST_ARGS[@]}" --limit 2 --out "$WORK/f"
  same_shard_data "$WORK/p" "$WORK/f"
}

@test "options are checked before anything is written" {
  check() {  # check "<expected message part>" tool args...
    local want="$1"; shift
    run "$@"
    echo "$* -> $output"
    [ "$status" -ne 0 ]
    [[ "$output" == *"$want"* ]]
  }
  C=(sherl-consolidate --input "$SET/train" --out "$WORK/c" --quiet)
  check "--threshold 1.5" "${C[@]}" --threshold 1.5
  check "--threshold nan" "${C[@]}" --threshold nan
  check "--threshold -0.1" "${C[@]}" --threshold -0.1
  check "--examples-per-shard must be at least 1" "${C[@]}" --examples-per-shard 0
  check "--tiers is empty" "${C[@]}" --tiers ''
  check "--seed" "${C[@]}" --seed 1e20
  [ ! -e "$WORK/c" ]
  T=(sherl-train --model "$SHERL_VIT" --train "$SET/cons/train" --out "$WORK/r" --quiet)
  check "--clip-norm must be a finite number >= 0" "${T[@]}" --clip-norm -1
  check "--clip-norm must be a finite number >= 0" "${T[@]}" --clip-norm nan
  check "--patience must not be negative" "${T[@]}" --patience -1
  check "--shuffle-buffer-mb must not be negative" "${T[@]}" --shuffle-buffer-mb -1
  check "--resume and --overwrite contradict each other" "${T[@]}" --resume --overwrite
  [ ! -e "$WORK/r" ]
  check "--batch-size must be at least 1" sherl-eval --adapter "$SET/run" --model "$SHERL_VIT" --data "$SET/test" --batch-size 0
  check "--batch-size must be at least 1" sherl-eval --adapter "$SET/run" --model "$SHERL_VIT" --data "$SET/test" --batch-size -1
  X=(sherl-extract "${TEST_ARGS[@]}" --limit 2 --out "$WORK/x")
  check "--tiers is empty" "${X[@]}" --tiers ''
  check "--zstd-level: zstd level 23 is out of range 0..22" "${X[@]}" --zstd-level 23
  check "--select-labels: an empty item in the list '5,,6'" "${X[@]}" --select-labels 5,,6
  [ ! -e "$WORK/x/extract.json" ]
  ln -s "$WORK/nowhere" "$WORK/dangling"
  check "--out $WORK/dangling: is a symbolic link to $WORK/nowhere, which does not exist" \
    sherl-extract "${TEST_ARGS[@]}" --limit 2 --out "$WORK/dangling"
  # Manifest entries that are no plain file name.
  for name in . .. 'a\u0000b'; do
    rm -rf "$WORK/m" && cp -r "$SET/test" "$WORK/m"
    $PY - "$WORK/m/manifest.json" "$name" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); m["shards"][0]["file"] = sys.argv[2].encode().decode("unicode_escape")
json.dump(m, open(sys.argv[1], "w"))
PY
    check "must be a plain name inside the directory" sherl-eval --adapter "$SET/run" --model "$SHERL_VIT" --data "$WORK/m"
    [[ "$output" != *HDF5* ]]
  done
  # An adapter error comes before any output, naming the file.
  mkdir "$WORK/broken" && cp "$SET/run/adapter.json" "$WORK/broken/"
  run sherl-predict --adapter "$WORK/broken" --model "$SHERL_VIT" --input "$FMNIST/t10k-images-idx3-ubyte.gz" --limit 1
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "${lines[0]}" == "sherl-predict: error: $WORK/broken/adapter.safetensors"* ]]
}

# ---- found by hostile testing of the fixes above ------------------------------------------

@test "consolidate refuses split directories that are the input (through a link) or hold another tool's set" {
  cp -r "$SET/train" "$WORK/feats"
  mkdir "$WORK/outer" && ln -s ../feats "$WORK/outer/train"
  before=$(checksums "$WORK/feats")
  run sherl-consolidate --input "$WORK/outer/train" --out "$WORK/outer" --quiet
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"would replace the input set"* ]]
  [ "$before" = "$(checksums "$WORK/feats")" ]
  mkdir "$WORK/proj" && cp -r "$SET/train" "$WORK/proj/train"
  run sherl-consolidate --input "$SET/test" --out "$WORK/proj" --val-fraction 0 --quiet
  echo "$output"
  [ "$status" -eq 1 ]
  [ "$output" = "sherl-consolidate: error: $WORK/proj/train: holds extract.json, which sherl-consolidate does not write: not a split of an earlier consolidation; use another --out" ]
  # A rerun into its own earlier output is fine.
  run sherl-consolidate --input "$SET/train" --out "$WORK/c" --quiet
  run sherl-consolidate --input "$SET/train" --out "$WORK/c" --quiet
  [ "$status" -eq 0 ]
}

@test "extract --overwrite removes only shard-set files; a kept shard must match in every respect" {
  mkdir "$WORK/ud"
  cp "$FMNIST/t10k-images-idx3-ubyte.gz" "$WORK/ud/manifest-images.gz"
  cp "$FMNIST/t10k-labels-idx1-ubyte.gz" "$WORK/ud/manifest-labels.gz"
  echo notes > "$WORK/ud/manifest.txt"
  mkdir "$WORK/ud/manifests_old" && touch "$WORK/ud/manifests_old/x"
  run sherl-extract --model "$SHERL_VIT" --input "$WORK/ud/manifest-images.gz" --labels "$WORK/ud/manifest-labels.gz" \
    --select-labels 5,6 --per-label 2 --out "$WORK/ud" --overwrite --quiet
  echo "$output"
  [ "$status" -eq 0 ]
  [ -f "$WORK/ud/manifest-images.gz" ] && [ -f "$WORK/ud/manifest.txt" ] && [ -f "$WORK/ud/manifests_old/x" ]
  # An f16 shard among the shards of an f32 extraction of the same input is redone, not kept.
  X=(--model "$SHERL_VIT" "${TEST_INPUT[@]}" --limit 6 --examples-per-shard 3 --quiet)
  sherl-extract "${X[@]}" --out "$WORK/f16"
  sherl-extract "${X[@]}" --dtype f32 --out "$WORK/f32"
  cp "$WORK/f16/shard-00000.h5" "$WORK/f32/shard-00000.h5"
  rm "$WORK/f32"/manifest*.json
  run sherl-extract "${X[@]}" --dtype f32 --out "$WORK/f32"
  echo "$output"
  [[ "$output" == *"redoing $WORK/f32/shard-00000.h5 (its dtype differs from this set's)"* ]]
  sherl-info --verify "$WORK/f32"
}

@test "extract --overwrite does not clear a directory where another partition is writing" {
  X=(--model "$SHERL_VIT" "${TRAIN_INPUT[@]}" --select-labels 5,6,7,8,9 --per-label 1000 --examples-per-shard 500
     --batch-size 8 --threads 1 --quiet --out "$WORK/px")
  sherl-extract "${X[@]}" --shard 0/2 &
  pid=$!
  for _ in $(seq 1 200); do [ -e "$WORK/px/extract.json" ] && break; sleep 0.05; done
  run sherl-extract "${X[@]}" --shard 1/2 --dtype f32 --overwrite
  running=0; kill -0 $pid 2> /dev/null && running=1
  wait $pid
  echo "$output (first partition running: $running)"
  if [ $running -eq 1 ]; then
    [ "$status" -eq 1 ]
    [[ "$output" == *"in use by another sherl-extract writing shards there (pid $pid)"* ]]
    sherl-extract "${X[@]}" --shard 1/2
  else  # (a slow machine) the first partition had ended: the set was replaced, as asked
    [ "$status" -eq 0 ]
    sherl-extract "${X[@]}" --shard 0/2 --dtype f32
  fi
  sherl-info --verify "$WORK/px"
}

@test "eval --predictions may not replace files of its inputs" {
  cp -r "$SET/test" "$WORK/t"
  for target in "$WORK/t/manifest.json" "$SET/run/adapter.json"; do
    run sherl-eval --adapter "$SET/run" --model "$SHERL_VIT" --data "$WORK/t" --predictions "$target" --threads 1
    echo "$output"
    [ "$status" -eq 1 ]
    [[ "$output" == *"--predictions $target: lies inside"*"whose files it could replace"* ]]
  done
  sherl-info --verify "$WORK/t"
}

@test "label names that contradict the labels, and labels outside the set's classes, are refused" {
  relabel() {  # relabel DIR PYTHON-EXPRESSION-ON-info: edits the manifest and every shard's attributes
    $PY - "$1" "$2" <<'PY'
import hashlib, json, os, sys, h5py, numpy as np
d, expr = sys.argv[1], sys.argv[2]
m = json.load(open(d + "/manifest.json"))
info = m["info"]; exec(expr)
for e in m["shards"]:
    p = d + "/" + e["file"]
    with h5py.File(p, "r+") as f:
        f.attrs["label_names"] = np.array(info["label_names"], dtype=h5py.string_dtype())
        f.attrs["num_labels"] = info["num_labels"]
    e["sha256"] = hashlib.sha256(open(p, "rb").read()).hexdigest(); e["bytes"] = os.path.getsize(p)
json.dump(m, open(d + "/manifest.json", "w"))
PY
  }
  cp -r "$SET/cons/val" "$WORK/dup" && relabel "$WORK/dup" 'info["label_names"] = ["5", "5", "7", "8", "9"]'
  run sherl-eval --adapter "$SET/run" --model "$SHERL_VIT" --data "$WORK/dup" --threads 1
  echo "$output"
  [ "$status" -eq 1 ]
  [ "$output" = "sherl-eval: error: $WORK/dup: names two classes '5' (label_names)" ]
  cp -r "$SET/cons/val" "$WORK/few" && relabel "$WORK/few" 'info["label_names"] = ["5", "6", "7"]; info["num_labels"] = 3'
  run sherl-eval --adapter "$SET/run" --model "$SHERL_VIT" --data "$WORK/few" --threads 1
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-eval: error: $WORK/few: example "*" has class "*", outside the set's 0..2"* ]]
  run sherl-train --model "$SHERL_VIT" --train "$SET/cons/train" --val "$WORK/dup" --out "$WORK/r" --quiet
  [ "$status" -eq 1 ]
  [ ! -e "$WORK/r" ]
}

@test "more refusals before any work: linear-probe options, preprocessing sizes, counts, paths" {
  run sherl-train --model "$SHERL_VIT" --train "$SET/cons/train" --out "$WORK/r" --method linear \
    --downsample-factor 3 --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == *"downsample_factor 3 does not divide hidden_size 128"* ]]
  [ ! -e "$WORK/r" ]
  cp -r "$SHERL_VIT" "$WORK/big"
  $PY - "$WORK/big/preprocessor_config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c.update(do_resize=True, size={"height": 100000, "width": 100000})
json.dump(c, open(sys.argv[1], "w"))
PY
  run timeout 60 sherl-extract --model "$WORK/big" "${TEST_INPUT[@]}" --limit 2 --out "$WORK/o" --quiet
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"$WORK/big/preprocessor_config.json: 'size' height must be between 1 and 65536, found 100000"* ]]
  for opt in "--per-label -3" "--limit -3" "--limit 0" "--examples-per-shard 0" "--batch-size -1"; do
    run sherl-extract "${TEST_ARGS[@]}" $opt --out "$WORK/o2"
    echo "$opt: $output"
    [ "$status" -eq 2 ]
    [[ "${lines[0]}" == "${opt%% *}: must be at least 1, not ${opt##* }" ]]
  done
  # An empty label is a usage error now, found while the command line is parsed.
  run sherl-extract "${TEST_ARGS[@]}" --select-labels '' --out "$WORK/o3"
  [ "$status" -eq 2 ]
  [[ "$output" == *"--select-labels: an empty item in the list ''"* ]]
  [ ! -e "$WORK/o3" ]
  run sherl-extract --model "$SHERL_VIT" --input - --labels - --out "$WORK/o4" < /dev/null
  [ "$status" -eq 1 ]
  [[ "$output" == *"--input and --labels cannot both be standard input"* ]]
  run sherl-train --model "$SHERL_VIT" --train "$WORK/nowhere" --out "$WORK/r" --quiet
  [ "$output" = "sherl-train: error: $WORK/nowhere: no such directory" ]
  run sherl-train --model "$SHERL_VIT" --train "$SET/cons" --out "$WORK/r" --quiet
  [ "$output" = "sherl-train: error: $SET/cons: is the output of sherl-consolidate, not a shard set: give its train/ or val/" ]
  ln -s loop2 "$WORK/loop1" && ln -s loop1 "$WORK/loop2"
  run sherl-consolidate --input "$SET/train" --out "$WORK/loop1" --quiet
  [[ "$output" == *"--out $WORK/loop1: is a loop of symbolic links"* ]]
}

@test "extract --estimate prints the cache's bytes from the input's tokens, writes nothing, and bounds the real size" {
  IMAGES=(--model "$SHERL_VIT" --input "$FMNIST/train-images-idx3-ubyte.gz" --labels "$FMNIST/train-labels-idx1-ubyte.gz"
          --select-labels 5,6,7,8,9 --per-label 40 --quiet)
  run sherl-extract "${IMAGES[@]}" --estimate --out "$WORK/est/a/b"
  [ "$status" -eq 0 ]
  [ ! -e "$WORK/est" ]  # nor the parents made for it
  # 200 images of 50 tokens; 6 tiers of 128 values: 1536 bytes a row in f16, 6 x (128 + 4) in i8.
  echo "$output" | $PY -c '
import json, sys
e = json.load(sys.stdin)
assert (e["examples"], e["tokens"], e["bytes_per_token_row"]) == (200, 10000, 1536), e
assert e["bytes"] == 10000 * 1536 + 200 * 24 + 704 * 1024 and e["fits"] and e["free_bytes"] > 0, e'
  [ "$(sherl-extract "${IMAGES[@]}" --dtype i8 --estimate --out "$WORK/est" | $PY -c 'import json,sys; print(json.load(sys.stdin)["bytes_per_token_row"])')" -eq 792 ]
  # The real shards: compressed, so at most the estimate, and not far below it.
  sherl-extract "${IMAGES[@]}" --out "$WORK/set"
  estimate=$(sherl-extract "${IMAGES[@]}" --estimate --out "$WORK/other" | $PY -c 'import json,sys; print(json.load(sys.stdin)["bytes"])')
  actual=$(cat "$WORK"/set/shard-*.h5 | wc -c)
  echo "estimate $estimate actual $actual"
  [ "$actual" -le "$estimate" ] && [ "$actual" -ge $((estimate * 7 / 10)) ]
  # Text: the input is tokenised to count ([CLS] ... [SEP]): 3 + 4 + 6 tokens of one tier of 8 values.
  mkdir -p "$WORK/bert"
  echo '{"model_type": "bert", "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
    "intermediate_size": 16, "vocab_size": 8, "type_vocab_size": 2, "max_position_embeddings": 512}' > "$WORK/bert/config.json"
  printf '%s\n' '[PAD]' '[UNK]' '[CLS]' '[SEP]' a b > "$WORK/bert/vocab.txt"
  printf 'sentence\tlabel\na\tx\na b\ty\nb b b b\tx\n' > "$WORK/text.tsv"
  printf 'not read' > "$WORK/bert/model.safetensors"
  run sherl-extract --model "$WORK/bert" --input "$WORK/text.tsv" --estimate --out "$WORK/text-est"
  echo "$output"
  [ "$status" -eq 0 ]
  echo "$output" | $PY -c '
import json, sys
e = json.load(sys.stdin)
assert (e["examples"], e["tokens"], e["bytes_per_token_row"], e["bytes"]) == (3, 13, 16, 13 * 16 + 3 * 24 + 704 * 1024), e'
}
