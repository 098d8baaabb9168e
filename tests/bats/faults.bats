#!/usr/bin/env bats
# Faults: SIGKILL at seeded random moments (sherl-extract; sherl-train --resume), a full disk
# (a file-size limit, and a small tmpfs where one can be mounted), SIGINT and SIGTERM.
# The drivers are in tests/faults/; tests/faults/soak.sh runs them longer (10 kills, more
# examples) outside the default suite.

load common

KILL_RESUME="$SHERL_ROOT/tests/faults/kill_resume.py"
# 150 training images of classes 5-9 in 3 shards of 50 (one batch size throughout: batches
# of other shapes may round differently).
EXTRACT_ARGS=(--model "$SHERL_VIT" --labels "$FMNIST/train-labels-idx1-ubyte.gz" --select-labels 5,6,7,8,9
  --per-label 30 --examples-per-shard 50 --batch-size 10 --threads 1 --quiet)
EXTRACT=(sherl-extract --input "$FMNIST/train-images-idx3-ubyte.gz" "${EXTRACT_ARGS[@]}")
CONSOLIDATE=(sherl-consolidate --input "$BATS_FILE_TMPDIR/set" --val-fraction 0.2 --quiet)

setup_file() {
  "${EXTRACT[@]}" --out "$BATS_FILE_TMPDIR/set"
  "${CONSOLIDATE[@]}" --examples-per-shard 40 --out "$BATS_FILE_TMPDIR/cons" > /dev/null
}

# Fails listing them when temporaries (.<name>.tmp.<pid>) are left under the given directories.
no_temporaries() {
  local left
  left=$(find "$@" -name '.*.tmp.*')
  [ -z "$left" ] || { echo "temporaries left: $left" >&2; return 1; }
}

# "<sha256>  <path>" of every file under $1: equal before and after means nothing changed,
# appeared or vanished.
checksums() { (cd "$1" && find . -type f | sort | xargs -r sha256sum); }

# Every shard file under its final name in the given directories is sound on its own.
final_shards_sound() {
  local shards
  shards=$(find "$@" -name 'shard-*.h5')
  [ -z "$shards" ] || sherl-info --verify $shards > /dev/null
}

# Runs a command under a file-size limit of $1 KiB, with SIGXFSZ ignored so that writes past
# the limit fail with EFBIG ("File too large") instead of killing the process.
with_file_limit() {
  bash -c 'trap "" XFSZ; ulimit -f "$0"; exec "$@"' "$@"
}

# on_small_tmpfs SIZE DIR SEED COMMAND...: in a private mount namespace, mounts a tmpfs of
# SIZE on DIR, copies SEED's contents there (if SEED is not "-"), runs COMMAND and copies what
# DIR then holds to DIR.after (the tmpfs vanishes with the namespace). Status: COMMAND's.
on_small_tmpfs() {
  mkdir -p "$2"
  unshare -m bash -c 'mount -t tmpfs -o size="$0" sherl-test "$1" || exit 99
    [ "$2" = - ] || cp -a "$2"/. "$1"/ || exit 98
    "${@:3}"; rc=$?; cp -a "$1" "$1.after"; exit $rc' "$@"
}

tmpfs_available() {
  mkdir -p "$WORK/probe"
  unshare -m mount -t tmpfs -o size=64k sherl-probe "$WORK/probe" 2> /dev/null
}

# Starts "$@" in the background (PID in $pid) and waits until the file pattern $WAIT_FOR
# exists (at most about 60 s); fails if the command ends first.
start_and_wait_for() {
  "$@" > "$WORK/stdout" 2> "$WORK/stderr" &
  pid=$!
  for _ in $(seq 1 1200); do
    compgen -G "$WAIT_FOR" > /dev/null && return 0
    kill -0 $pid 2> /dev/null || { echo "ended before $WAIT_FOR appeared" >&2; cat "$WORK/stderr" >&2; return 1; }
    sleep 0.05
  done
  echo "timed out waiting for $WAIT_FOR" >&2
  return 1
}

# ---- SIGKILL at random moments --------------------------------------------------------------

@test "extract: SIGKILL at 3 seeded random moments, each followed by a rerun, gives the uninterrupted shard set" {
  run "$PY" "$KILL_RESUME" extract --bin "$SHERL_BUILD/bin" --work "$WORK" --kills 3 --seed 7 \
    --examples 600 --examples-per-shard 40 --batch-size 8 --require-mid-shard
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"final set of 15 shards equals the uninterrupted one"* ]]
}

@test "train --resume: SIGKILL at 3 seeded random moments gives a byte-identical adapter" {
  run "$PY" "$KILL_RESUME" train --bin "$SHERL_BUILD/bin" --work "$WORK" --kills 3 --seed 5 \
    --train "$BATS_FILE_TMPDIR/cons/train" --val "$BATS_FILE_TMPDIR/cons/val" --epochs 4 --batch-size 16
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"adapter byte-identical"* ]]
}

# ---- a full disk ----------------------------------------------------------------------------

@test "full disk (file-size limit): extract fails naming the shard, keeps the complete ones, and the rerun completes" {
  cp -r "$BATS_FILE_TMPDIR/set" "$WORK/b"
  rm "$WORK/b/shard-00002.h5" "$WORK/b/manifest.json"   # an interrupted run to resume
  before=$(checksums "$WORK/b")
  run with_file_limit 1024 "${EXTRACT[@]}" --out "$WORK/b"
  echo "$output"
  [ "$status" -eq 1 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == "sherl-extract: error: $WORK/b/shard-00002.h5: "*"File too large"* ]]
  [ "$(checksums "$WORK/b")" = "$before" ]   # nothing changed, nothing added under any name
  "${EXTRACT[@]}" --out "$WORK/b"
  sherl-info --verify "$WORK/b"
  same_shard_data "$BATS_FILE_TMPDIR/set" "$WORK/b"
}

@test "full disk (file-size limit): consolidate fails naming the shard; no set with a manifest mixes old and new shards" {
  cp -r "$BATS_FILE_TMPDIR/cons" "$WORK/c"
  # a rerun with another split into the same --out, on a full disk
  run with_file_limit 1024 "${CONSOLIDATE[@]}" --examples-per-shard 40 --out "$WORK/c" --seed 1
  echo "$output"
  [ "$status" -eq 1 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == "sherl-consolidate: error: $WORK/c/"*"/shard-00000.h5: "*"File too large"* ]]
  no_temporaries "$WORK/c"
  final_shards_sound "$WORK/c"
  [ ! -e "$WORK/c/consolidate.json" ]     # not complete
  # whatever still has a manifest is the old, complete set; the other one is refused
  for s in train val; do
    if [ -e "$WORK/c/$s/manifest.json" ]; then
      sherl-info --verify "$WORK/c/$s"
      same_shard_data "$BATS_FILE_TMPDIR/cons/$s" "$WORK/c/$s"
    else
      run sherl-info --verify "$WORK/c/$s"
      [ "$status" -eq 1 ]
      [[ "$output" == *"incomplete shard set"* ]]
    fi
  done
  "${CONSOLIDATE[@]}" --examples-per-shard 40 --out "$WORK/c" > /dev/null
  for s in train val; do same_shard_data "$BATS_FILE_TMPDIR/cons/$s" "$WORK/c/$s"; done
  sherl-info --verify "$WORK/c/train" "$WORK/c/val"
}

# A constant learning rate, so that the first epochs of a run equal those of a longer one.
train_args() {
  args=(--model "$SHERL_VIT" --train "$BATS_FILE_TMPDIR/cons/train" --val "$BATS_FILE_TMPDIR/cons/val"
    --threads 1 --seed 4 --lr 2e-3 --batch-size 16 --schedule constant --warmup 0 --quiet --resume)
}

@test "consolidate rerun with another split, killed mid-way: no manifest ever lists a mix of old and new shards" {
  cp -r "$BATS_FILE_TMPDIR/cons" "$WORK/c"
  # chunked at level 19: slow enough to be caught after its first training shard
  WAIT_FOR="$WORK/c/train/.shard-00001.h5.tmp.*"
  start_and_wait_for "${CONSOLIDATE[@]}" --examples-per-shard 40 --layout chunked --zstd-level 19 --seed 1 \
    --out "$WORK/c"
  kill -KILL $pid
  wait_status $pid
  [ ! -e "$WORK/c/consolidate.json" ]
  for s in train val; do
    if [ -e "$WORK/c/$s/manifest.json" ]; then   # then it is still the old set, whole
      sherl-info --verify "$WORK/c/$s" 2>&1 | { ! grep -v -e ': ok$' -e ': temporary file of an interrupted'; }
      # (the killed writer's temporary aside)
      same_shard_data "$BATS_FILE_TMPDIR/cons/$s" "$WORK/c/$s"
    else
      run sherl-train --model "$SHERL_VIT" --train "$WORK/c/$s" --out "$WORK/run" --epochs 1 --quiet
      [ "$status" -eq 1 ]
      [[ "$output" == *"$WORK/c/$s/manifest.json: missing: incomplete shard set"* ]]
    fi
  done
  [ ! -e "$WORK/c/train/manifest.json" ]      # the first shard was replaced
  "${CONSOLIDATE[@]}" --examples-per-shard 40 --seed 1 --out "$WORK/c" > /dev/null
  no_temporaries "$WORK/c"
  sherl-info --verify "$WORK/c/train" "$WORK/c/val"
}

@test "full disk (file-size limit): train fails naming the adapter, the last checkpoint and adapter stay, --resume completes" {
  train_args
  sherl-train "${args[@]}" --epochs 2 --out "$WORK/ref" > /dev/null
  sherl-train "${args[@]}" --epochs 1 --out "$WORK/run" > /dev/null
  before=$(checksums "$WORK/run")
  # the adapter (about 240 KB) is the first file of epoch 2 and does not fit
  run with_file_limit 200 sherl-train "${args[@]}" --epochs 2 --out "$WORK/run"
  echo "$output"
  [ "$status" -eq 1 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == "sherl-train: error: $WORK/run/"*"adapter.safetensors"*"File too large"* ]]
  no_temporaries "$WORK/run"
  # the adapter and checkpoint of epoch 1 are as they were (only the log moved on)
  diff <(echo "$before" | grep -v train.jsonl) <(checksums "$WORK/run" | grep -v train.jsonl)
  sherl-train "${args[@]}" --epochs 2 --out "$WORK/run" > /dev/null
  cmp "$WORK/ref/adapter.safetensors" "$WORK/run/adapter.safetensors"
}

@test "full disk (file-size limit): a checkpoint that does not fit is a clear error, the last one stays" {
  train_args
  sherl-train "${args[@]}" --epochs 1 --out "$WORK/run" > /dev/null
  before=$(checksums "$WORK/run/checkpoint")
  # the adapter (about 240 KB) and the weights (270 KB) fit, the optimizer state (520 KB) does not
  run with_file_limit 400 sherl-train "${args[@]}" --epochs 2 --out "$WORK/run"
  echo "$output"
  [ "$status" -eq 1 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == "sherl-train: error: "*"$WORK/run/checkpoint/optimizer-2.pt"*"File too large"* ]]
  no_temporaries "$WORK/run"
  # state.json and the files it names are as they were (a complete model-2.pt may have come)
  diff <(echo "$before") <(checksums "$WORK/run/checkpoint" | grep -v ' ./model-2.pt$')
}

@test "full disk (a small tmpfs): extract refuses to start, or with --no-space-check stops with 'No space left on device', as train does, keeping what is complete" {
  tmpfs_available || skip "cannot mount a tmpfs in a private mount namespace (needs CAP_SYS_ADMIN)"
  # The estimate (uncompressed) exceeds the 8 MiB: refused before anything is written.
  run on_small_tmpfs 8m "$WORK/disk" - "${EXTRACT[@]}" --out "$WORK/disk/set"
  echo "$output"
  [ "$status" -eq 1 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == "sherl-extract: error: $WORK/disk/set: the features need up to 13.1 MiB (150 examples, 7500 token rows of 1536 bytes) but 8.0 MiB is free at $WORK/disk/set: free space, store fewer --tiers or a narrower --dtype (i8), or pass --no-space-check" ]]
  [ ! -e "$WORK/disk.after/set" ]
  rm -rf "$WORK/disk.after"
  # 8 MiB hold two shards of 50 examples (3.3 MB each) but not the third
  run on_small_tmpfs 8m "$WORK/disk" - "${EXTRACT[@]}" --no-space-check --out "$WORK/disk/set"
  echo "$output"
  [ "$status" -eq 1 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == "sherl-extract: error: $WORK/disk/set/shard-00002.h5: "*"No space left on device"* ]]
  no_temporaries "$WORK/disk.after"
  [ ! -e "$WORK/disk.after/set/manifest.json" ]
  final_shards_sound "$WORK/disk.after/set"
  [ "$(ls "$WORK/disk.after/set"/shard-*.h5 | wc -l)" -eq 2 ]
  cp -r "$WORK/disk.after/set" "$WORK/set"
  "${EXTRACT[@]}" --out "$WORK/set"     # on a disk with room, the rerun completes
  same_shard_data "$BATS_FILE_TMPDIR/set" "$WORK/set"

  train_args
  sherl-train "${args[@]}" --epochs 1 --out "$WORK/run" > /dev/null
  before=$(checksums "$WORK/run")
  used=$(du -sk "$WORK/run" | cut -f1)
  # not enough room for the next adapter (about 240 KB) beside the last one
  run on_small_tmpfs "$((used + 100))k" "$WORK/disk2" "$WORK/run" sherl-train "${args[@]}" --epochs 3 --out "$WORK/disk2"
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-train: error: $WORK/disk2/"*"No space left on device"* ]]
  no_temporaries "$WORK/disk2.after"
  # the adapter and checkpoint of epoch 1 are intact
  (cd "$WORK/disk2.after" && echo "$before" | grep -v train.jsonl | sha256sum -c --quiet)
}

# ---- SIGINT and SIGTERM ---------------------------------------------------------------------

# Sets $status to the exit status of background process $1 (bats' run would wait in a
# subshell, which cannot).
wait_status() {
  status=0
  wait "$1" || status=$?
}

# Waits until process $1, or a child of it (sherl-info --verify checks each path in one),
# has a file open whose path matches the extended regex $2.
wait_for_open_file() {
  for _ in $(seq 1 1200); do
    for p in $1 $(pgrep -P $1); do
      ls -l /proc/$p/fd 2> /dev/null | grep -Eq "$2" && return 0
    done
    kill -0 $1 2> /dev/null || { echo "process $1 ended before opening $2" >&2; return 1; }
    sleep 0.05
  done
  return 1
}

@test "SIGTERM stops extract mid-shard: status 143, no temporaries, complete shards kept, the rerun resumes" {
  WAIT_FOR="$WORK/set/.shard-00001.h5.tmp.*"
  start_and_wait_for "${EXTRACT[@]}" --out "$WORK/set"
  kill -TERM $pid
  wait_status $pid
  [ "$status" -eq 143 ]
  no_temporaries "$WORK/set"
  [ -e "$WORK/set/shard-00000.h5" ]
  [ ! -e "$WORK/set/manifest.json" ]
  final_shards_sound "$WORK/set"
  "${EXTRACT[@]}" --out "$WORK/set"
  same_shard_data "$BATS_FILE_TMPDIR/set" "$WORK/set"
}

@test "SIGINT stops extract reading standard input: status 130, the spool and the shard temporaries removed" {
  WAIT_FOR="$WORK/set/.shard-00000.h5.tmp.*"
  start_and_wait_for bash -c 'zcat "$0" | exec sherl-extract "$@"' "$FMNIST/train-images-idx3-ubyte.gz" \
    --input - "${EXTRACT_ARGS[@]}" --out "$WORK/set"
  ls -a "$WORK/set" | grep -q '^\.spool-input\.tmp\.'  # the spool is there...
  kill -INT "$(pgrep -P $pid -f sherl-extract)"     # (bash -c forwards nothing: signal the tool)
  wait_status $pid
  [ "$status" -eq 130 ]
  no_temporaries "$WORK/set"                        # ...and gone with the shard temporary
}

@test "SIGINT stops consolidate: status 130, no temporaries, nothing that looks complete" {
  WAIT_FOR="$WORK/c/train/.shard-00000.h5.tmp.*"
  # chunked at zstd level 19 keeps it busy writing the first training shard for a while
  start_and_wait_for "${CONSOLIDATE[@]}" --out "$WORK/c" --examples-per-shard 200 --layout chunked --zstd-level 19
  kill -INT $pid
  wait_status $pid
  [ "$status" -eq 130 ]
  no_temporaries "$WORK/c"
  [ ! -e "$WORK/c/consolidate.json" ]
  [ ! -e "$WORK/c/train/manifest.json" ]
}

@test "SIGTERM and SIGINT stop train: status 143/130, no temporaries, the checkpoint resumes to the same adapter" {
  # a constant learning rate: 3 epochs of a run meant for 30 equal a run of 3
  args=(--model "$SHERL_VIT" --train "$BATS_FILE_TMPDIR/cons/train" --threads 1 --seed 9 --batch-size 8
    --schedule constant --warmup 0 --quiet --resume)
  WAIT_FOR="$WORK/run/checkpoint/model-1.pt"
  start_and_wait_for sherl-train "${args[@]}" --epochs 30 --out "$WORK/run"
  kill -TERM $pid
  wait_status $pid
  [ "$status" -eq 143 ]
  no_temporaries "$WORK/run"
  WAIT_FOR="$WORK/run/checkpoint/model-2.pt"
  start_and_wait_for sherl-train "${args[@]}" --epochs 30 --out "$WORK/run"
  kill -INT $pid
  wait_status $pid
  [ "$status" -eq 130 ]
  no_temporaries "$WORK/run"
  sherl-train "${args[@]}" --epochs 3 --out "$WORK/run" > /dev/null
  sherl-train "${args[@]}" --epochs 3 --out "$WORK/ref" > /dev/null
  cmp "$WORK/ref/adapter.safetensors" "$WORK/run/adapter.safetensors"
}

@test "SIGTERM and SIGINT stop predict, eval and info --verify with status 143/130" {
  sherl-train --model "$SHERL_VIT" --train "$BATS_FILE_TMPDIR/cons/train" --out "$WORK/run" --epochs 1 \
    --threads 1 --quiet > /dev/null
  # predict: all 10000 test images, signalled once it has printed
  sherl-predict --adapter "$WORK/run" --model "$SHERL_VIT" --input "$FMNIST/t10k-images-idx3-ubyte.gz" \
    --labels "$FMNIST/t10k-labels-idx1-ubyte.gz" --limit 100000 --threads 1 --batch-size 4 > "$WORK/pred.tsv" &
  pid=$!
  for _ in $(seq 1 1200); do [ -s "$WORK/pred.tsv" ] && break; sleep 0.05; done
  kill -TERM $pid
  wait_status $pid
  [ "$status" -eq 143 ]
  # eval (one example per batch) and info --verify (the set 40 times), signalled once they
  # have the shards open
  sherl-eval --adapter "$WORK/run" --model "$SHERL_VIT" --data "$BATS_FILE_TMPDIR/set" --threads 1 \
    --batch-size 1 --predictions "$WORK/eval.tsv" > /dev/null 2>&1 &
  pid=$!
  wait_for_open_file $pid 'shard-0000[0-9].h5'
  kill -INT $pid
  wait_status $pid
  [ "$status" -eq 130 ]
  [ ! -e "$WORK/eval.tsv" ]
  sherl-info --verify $(for i in $(seq 40); do echo "$BATS_FILE_TMPDIR/set"; done) > /dev/null 2>&1 &
  pid=$!
  wait_for_open_file $pid 'shard-0000[0-9].h5'
  kill -TERM $pid
  wait_status $pid
  [ "$status" -eq 143 ]
  no_temporaries "$WORK"
}
