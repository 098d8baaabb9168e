#!/usr/bin/env bats
# Concurrent readers of one shard set: shards are opened read-only (H5F_ACC_RDONLY) with, at
# most, HDF5's shared advisory lock, so that readers never wait for each other.

load common

setup_file() {
  local set="$BATS_FILE_TMPDIR/set"
  sherl-extract --model "$SHERL_VIT" --input "$FMNIST/train-images-idx3-ubyte.gz" \
    --labels "$FMNIST/train-labels-idx1-ubyte.gz" --select-labels 5,6,7,8,9 --per-label 30 \
    --examples-per-shard 50 --threads 1 --out "$set/feats" --quiet
  sherl-consolidate --input "$set/feats" --out "$set/cons" --val-fraction 0.2 --examples-per-shard 40 --quiet > /dev/null
}

# Prints "<access mode> <path>" for every shard file process $1 has open (mode 0 = read-only).
open_shards() {
  local fd target
  for fd in /proc/$1/fd/*; do
    target=$(readlink "$fd" 2> /dev/null) || continue
    [[ "$target" == *.h5 ]] || continue
    echo "$(( 0$(awk '/^flags:/ {print $2}' "/proc/$1/fdinfo/${fd##*/}" 2> /dev/null) & 3 )) $target"
  done
}

# Prints the types (READ/WRITE) of the advisory locks held on the shard files under $1.
shard_locks() {
  local inodes
  inodes=$(find "$1" -name 'shard-*.h5' -exec stat -c '%i' {} + | sort -u | paste -sd'|')
  awk -v re=":($inodes)\$" '$6 ~ re || $7 ~ re {print $2, $4}' /proc/locks
}

@test "four concurrent sherl-train runs and sherl-info --verify in a loop: all succeed with the adapter of a run alone" {
  set="$BATS_FILE_TMPDIR/set/cons"
  # 10 epochs, and a sampler of its own every 20 ms (not between two verify runs, which
  # take a second each): the trainers finish an epoch of this set in well under a second.
  args=(--model "$SHERL_VIT" --train "$set/train" --val "$set/val" --epochs 10 --threads 1 --seed 3 --batch-size 16 --quiet)
  sherl-train "${args[@]}" --out "$WORK/alone" > /dev/null
  pids=()
  for i in 1 2 3 4; do
    sherl-train "${args[@]}" --out "$WORK/run$i" > /dev/null 2> "$WORK/run$i.err" &
    pids+=($!)
  done
  : > "$WORK/modes"
  : > "$WORK/locks"
  (
    while kill -0 "${pids[@]}" 2> /dev/null; do
      for p in "${pids[@]}"; do open_shards $p >> "$WORK/modes"; done
      shard_locks "$set" >> "$WORK/locks"
      sleep 0.02
    done
  ) &
  sampler=$!
  verifies=0
  while kill -0 "${pids[@]}" 2> /dev/null; do
    sherl-info --verify "$set/train" "$set/val" > /dev/null
    verifies=$((verifies + 1))
  done
  wait $sampler
  for i in 1 2 3 4; do
    wait ${pids[$((i - 1))]} || { cat "$WORK/run$i.err"; false; }
    cmp "$WORK/alone/adapter.safetensors" "$WORK/run$i/adapter.safetensors"
  done
  echo "verify runs: $verifies; shard opens seen: $(wc -l < "$WORK/modes"); locks seen: $(sort "$WORK/locks" | uniq -c)"
  [ "$verifies" -ge 1 ]
  [ -s "$WORK/modes" ]                          # the trainers were seen holding shards open
  ! grep -v '^0 ' "$WORK/modes"                 # ... every one read-only
  ! grep -v ' READ$' "$WORK/locks"              # and no lock on a shard but shared ones
}

# Holds flock locks (mode s: shared, x: exclusive) on the files $2... in one background
# process (PID in $holder) until killed; returns once they are held.
hold_locks() {
  rm -f "$WORK/held"
  "$PY" -c '
import fcntl, sys, time
mode = fcntl.LOCK_SH if sys.argv[1] == "s" else fcntl.LOCK_EX
files = [open(p) for p in sys.argv[3:]]
for f in files:
    fcntl.flock(f, mode)
open(sys.argv[2], "w").write("held")
time.sleep(120)' "$1" "$WORK/held" "${@:2}" &
  holder=$!
  for _ in $(seq 1 200); do [ -s "$WORK/held" ] && return 0; sleep 0.05; done
  return 1
}

@test "a reader does not wait for a lock: others' shared locks are no obstacle, an exclusive one fails fast naming the file" {
  set="$BATS_FILE_TMPDIR/set/feats"
  shard="$set/shard-00001.h5"
  hold_locks s "$set"/shard-*.h5     # as other readers hold them
  run timeout 60 sherl-info --verify "$set"
  kill $holder; wait $holder || true
  [ "$status" -eq 0 ]
  # an exclusive lock, as HDF5 takes it when a shard is opened for writing (e.g. h5py's
  # mode "r+"): the reader does not wait, it says which file it cannot open
  hold_locks x "$shard"
  run timeout 60 sherl-info --verify "$set"
  kill $holder; wait $holder || true
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"$shard: cannot open HDF5 file (unable to lock file"* ]]
}
