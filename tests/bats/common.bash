# Loaded by every Bats file: puts the built tools first on PATH and gives each test a
# scratch directory. SHERL_BUILD is the CMake build directory (default: ./build).
SHERL_ROOT="$(cd "$(dirname "${BATS_TEST_FILENAME}")/../.." && pwd)"
SHERL_BUILD="${SHERL_BUILD:-$SHERL_ROOT/build}"
export PATH="$SHERL_BUILD/bin:$PATH"
export HDF5_PLUGIN_PATH="$SHERL_BUILD/hdf5-plugins"
SHERL_VIT="$SHERL_ROOT/examples/models/vit-tiny-fmnist5"
FMNIST=/usr/share/datasets/fashion-mnist
PY=/usr/bin/python3

setup() {
  WORK="$(mktemp -d "${BATS_TMPDIR:-/tmp}/sherl-bats.XXXXXX")"
}

teardown() {
  rm -rf "$WORK"
}
