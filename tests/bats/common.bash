# Loaded by every Bats file: puts the built tools first on PATH and gives each test a
# scratch directory. SHERL_BUILD is the CMake build directory (default: ./build).
SHERL_ROOT="$(cd "$(dirname "${BATS_TEST_FILENAME}")/../.." && pwd)"
SHERL_BUILD="${SHERL_BUILD:-$SHERL_ROOT/build}"
export PATH="$SHERL_BUILD/bin:$PATH"
export HDF5_PLUGIN_PATH="$SHERL_BUILD/hdf5-plugins"
SHERL_VIT="$SHERL_ROOT/examples/models/vit-tiny-fmnist5"
FMNIST=/usr/share/datasets/fashion-mnist
PY=/usr/bin/python3
# The values the tools would set and re-exec themselves for (lib/core/runtime.cpp): set here,
# each tool starts once instead of twice (LibTorch takes ~0.7 s to load). The re-exec has
# its own test (workflow.bats), which unsets them.
export OMP_WAIT_POLICY=PASSIVE OPENBLAS_THREAD_TIMEOUT=4

# Extracts the bundled model's tiers of $3 Fashion-MNIST images of each class 5-9 from the
# data set's split $2 (train or t10k) into the shard set $1; sherl-extract options may follow.
extract_fmnist_slice() {
  local out=$1 split=$2 per_label=$3
  shift 3
  "$SHERL_BUILD/bin/sherl-extract" --model "$SHERL_VIT" --input "$FMNIST/$split-images-idx3-ubyte.gz" \
    --labels "$FMNIST/$split-labels-idx1-ubyte.gz" --select-labels 5,6,7,8,9 --per-label "$per_label" \
    --out "$out" --quiet "$@"
}

setup() {
  WORK="$(mktemp -d "${BATS_TMPDIR:-/tmp}/sherl-bats.XXXXXX")"
}

teardown() {
  rm -rf "$WORK"
}

# Succeeds when two shard sets hold the same examples: same shard files, and in each the
# same features, offsets, example ids and labels (attributes such as the command line may
# differ).
same_shard_data() {
  local a="$1" b="$2" f name
  [ "$(cd "$a" && ls shard-*.h5)" = "$(cd "$b" && ls shard-*.h5)" ] || return 1
  for f in "$a"/shard-*.h5; do
    name=$(basename "$f")
    for d in features offsets example_id label; do
      diff <(h5dump -d "$d" "$f" | tail -n +2) <(h5dump -d "$d" "$b/$name" | tail -n +2) > /dev/null || {
        echo "$name: dataset $d differs" >&2; return 1; }
    done
  done
}

# Kills process $1 (SIGKILL) once run directory $2 holds its first checkpoint, and checks
# that the run had not finished its $3 epochs by then: what --resume must then complete.
kill_after_first_checkpoint() {
  local pid=$1 run=$2 epochs=$3
  for _ in $(seq 1 600); do
    grep -qs '"epochs_done": [12]' "$run/checkpoint/state.json" && break
    sleep 0.05
  done
  kill -9 "$pid"; wait "$pid" || true
  ! grep -qs "\"epochs_done\": $epochs" "$run/checkpoint/state.json"
}
