#!/usr/bin/env bash
# The GPU check of issue 7 in one run on the borrowed GPU machine (no network, none of our
# -dev packages): builds sherl against the CUDA LibTorch inside the machine's Python torch
# with the Debian packages that scripts/gpu/prepare.sh put into .gpu/, then runs
#   1. the CUDA tests (`ctest -L cuda`),
#   2. the bundled example (the main job's settings, read from pipelines/fmnist-transfer.mk)
#      on the device: extract (--precision bf16), verify, consolidate, train, eval, and its
#      accuracy against the CPU reference in README.md,
#   3. the benchmarks: extraction throughput (BERT-base sized, bf16) and the training step,
# and writes logs and a summary (summary.md, summary.json) into $OUT. Every step has a time
# limit within one overall budget; a failing step is reported and the next one still runs.
# Exits non-zero when any step failed. Usage (see scripts/gpu/README.md):
#
#   bash scripts/gpu/check.sh                            # on the GPU machine
#   SHERL_GPU_CHECK_DEVICE=cpu nice -n 19 bash scripts/gpu/check.sh   # rehearsal on a CPU
#
# Settings (environment):
#   SHERL_GPU_CHECK_DEVICE     cuda (default) or cpu (a rehearsal: same steps on the CPU)
#   SHERL_GPU_CHECK_PRECISION  extraction precision (default bf16 on cuda, f32 on cpu)
#   SHERL_GPU_CHECK_BUDGET     seconds for the whole check (default 540 on cuda, 5400 on cpu)
#   SHERL_GPU_CHECK_CAP_SCALE  factor on each step's own time limit (default 1 on cuda, 8 on cpu)
#   SHERL_GPU_CHECK_BUILD      build directory (default build-gpu: kept on a warm machine)
#   SHERL_GPU_CHECK_WORK       the example's features and runs (default /tmp/sherl-gpu-check)
#   SHERL_GPU_CHECK_DEPS       where the .debs are unpacked (default /tmp/sherl-deps)
#   SHERL_GPU_CHECK_JOBS       build jobs (default: all cores)
#   SHERL_GPU_CHECK_PARALLEL   training runs at once (default 8 on cuda: all of them; 2 on cpu)
#   SHERL_GPU_CHECK_SEEDS      override the main job's seeds (e.g. "0" for a quick rehearsal)
#   SHERL_GPU_CHECK_ACC_TOL    largest accepted |GPU - CPU| mean test accuracy (default 0.015)
#   SHERL_GPU_CHECK_EXTRACT_BENCH_ARGS, SHERL_GPU_CHECK_TRAIN_BENCH_ARGS  the benches' sizes
#   SHERL_GPU_CHECK_STEPS      steps to run (default: all), e.g. "machine deps configure build"
#   OUT                        where logs and the summary go (default out/gpu-check)
set -uo pipefail  # no -e: every step runs, and each one's failure is recorded
cd "$(dirname "$0")/../.."
source scripts/gpu/common.sh
export LC_ALL=C

# --- settings -------------------------------------------------------------------------
export DEVICE=${SHERL_GPU_CHECK_DEVICE:-cuda}
case $DEVICE in
  cpu) d_precision=f32 d_budget=5400 d_parallel=2 d_cap_scale=8
       d_extract_bench="--batch 8 --tokens 32 --reps 1 --batches 1 --gemm 512"
       d_train_bench="--steps 10" ;;
  cuda*) d_precision=bf16 d_budget=540 d_parallel=8 d_cap_scale=1
       d_extract_bench="--batch 64 --tokens 128"
       d_train_bench="" ;;
  *) echo "check: SHERL_GPU_CHECK_DEVICE=$DEVICE: expected cuda, cuda:N or cpu" >&2; exit 2 ;;
esac
export PRECISION=${SHERL_GPU_CHECK_PRECISION:-$d_precision}
BUDGET=${SHERL_GPU_CHECK_BUDGET:-$d_budget}
CAP_SCALE=${SHERL_GPU_CHECK_CAP_SCALE:-$d_cap_scale}
export BUILD=${SHERL_GPU_CHECK_BUILD:-build-gpu}
export WORK=${SHERL_GPU_CHECK_WORK:-/tmp/sherl-gpu-check}
export DEPS=${SHERL_GPU_CHECK_DEPS:-/tmp/sherl-deps}
export JOBS=${SHERL_GPU_CHECK_JOBS:-$(nproc)}
export PARALLEL=${SHERL_GPU_CHECK_PARALLEL:-$d_parallel}
export ACC_TOL=${SHERL_GPU_CHECK_ACC_TOL:-0.015}
export EXTRACT_BENCH_ARGS=${SHERL_GPU_CHECK_EXTRACT_BENCH_ARGS:-$d_extract_bench}
export TRAIN_BENCH_ARGS=${SHERL_GPU_CHECK_TRAIN_BENCH_ARGS:-$d_train_bench}
STEPS=${SHERL_GPU_CHECK_STEPS:-all}
export OUT=${OUT:-$PWD/out/gpu-check}
[[ $BUILD == /* ]] || BUILD=$PWD/$BUILD
export ROOT=$DEPS/root                       # the unpacked .debs
export FALLBACK=$DEPS/fallback-lib           # their libraries the system lacks
export MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
export REPO=$PWD GPU_DIR GPU_DEBS GPU_DATA
mkdir -p "$OUT"
# The device tool brings back at most 8 files from $OUT: these 8.
export LOG_CHECK=$OUT/check.log LOG_ENV=$OUT/env.txt LOG_BUILD=$OUT/build.log LOG_CTEST=$OUT/ctest.log \
       LOG_EXAMPLE=$OUT/example.log LOG_BENCH=$OUT/bench.log SUMMARY_MD=$OUT/summary.md SUMMARY_JSON=$OUT/summary.json
rm -f "$LOG_CHECK" "$LOG_ENV" "$LOG_BUILD" "$LOG_CTEST" "$LOG_EXAMPLE" "$LOG_BENCH" "$SUMMARY_MD" "$SUMMARY_JSON"
exec > >(tee -a "$LOG_CHECK") 2>&1
export RESULTS=$WORK/results.tsv  # key \t value lines for the summary, written by the steps
mkdir -p "$WORK"
: > "$RESULTS"

# Tools of the pip installation (cmake, ninja) and the CUDA toolkit, where not on PATH.
for d in /opt/torch/.venv/bin /usr/local/cuda/bin; do
  [ -d "$d" ] && [[ ":$PATH:" != *":$d:"* ]] && PATH="$PATH:$d"
done
export PATH

# --- step runner ----------------------------------------------------------------------
T0=$(date +%s)
RESERVE=20   # seconds kept for the summary
declare -a STEP_ROWS=()
FAILED=0

result() { printf '%s\t%s\n' "$1" "$2" >> "$RESULTS"; }
export -f result

want() { [ "$STEPS" = all ] || [[ " $STEPS " == *" $1 "* ]]; }

declare -A STATUS=()
# step NAME CAP LOG FUNCTION [NEEDED STEP...]: runs FUNCTION (exported) in a child bash
# under `timeout min(CAP, what is left of the budget)` (CAP: seconds on the 16-core GPU
# machine, scaled up for a rehearsal on a CPU), its output appended to LOG; skipped
# when a needed step did not succeed (steps left out by SHERL_GPU_CHECK_STEPS count as done).
# FUNCTION exits 0 (ok), $INCOMPLETE (it ran, its results are usable, but something asked for
# was missing, e.g. a flag: the check fails, the steps after it still run), or else (failed).
step() {
  local name=$1 cap=$2 log=$3 fn=$4 left limit start rc secs status note="" need
  shift 4
  want "$name" || return 0
  for need in "$@"; do
    if want "$need" && [[ ${STATUS[$need]:-} != @(ok|incomplete) ]]; then
      STATUS[$name]=skipped
      STEP_ROWS+=("$name	skipped	0	needs $need")
      echo "check: [$name] skipped: needs $need"
      FAILED=1
      return 1
    fi
  done
  left=$((BUDGET - ($(date +%s) - T0) - RESERVE))
  if ((left < 5)); then
    STATUS[$name]=skipped
    STEP_ROWS+=("$name	skipped	0	out of time (budget ${BUDGET}s)")
    echo "check: [$name] skipped: out of time"
    FAILED=1
    return 1
  fi
  cap=$((cap * CAP_SCALE))
  limit=$((cap < left ? cap : left))
  echo "check: [$name] start $(date +%T), limit ${limit}s, log $(basename "$log")"
  printf '\n===== [%s] %s (limit %ss)\n' "$name" "$(date +%T)" "$limit" >> "$log"
  start=$(date +%s.%N)
  timeout -k 10 "$limit" bash -c "$fn" >> "$log" 2>&1
  rc=$?
  secs=$(elapsed "$start")
  case $rc in
    0) status=ok ;;
    "$INCOMPLETE") status=incomplete ;;
    124|137) status=timeout note="killed after ${limit}s" ;;
    *) status=failed note="exit $rc" ;;
  esac
  # A step may explain itself in one line (e.g. why it failed) through $WORK/note.
  if [ -s "$WORK/note" ]; then note="${note:+$note; }$(head -c 300 "$WORK/note" | tr '\n\t' '  ')"; fi
  rm -f "$WORK/note"
  STATUS[$name]=$status
  STEP_ROWS+=("$name	$status	$secs	$note")
  printf '===== [%s] %s in %ss %s\n' "$name" "$status" "$secs" "$note" >> "$log"
  echo "check: [$name] $status in ${secs}s${note:+ ($note)}"
  if [ "$status" != ok ]; then
    FAILED=1
    echo "----- last lines of $(basename "$log"):"
    tail -n 25 "$log" | sed 's/^/    /'
  fi
  [ "$status" = ok ]
}

note() { echo "$*" >> "$WORK/note"; }
export INCOMPLETE=99
export -f note

# calc EXPRESSION: floating-point arithmetic (awk: minimal images lack bc).
calc() { awk "BEGIN { print ($*) }"; }
# elapsed START: seconds since START (date +%s.%N), one decimal.
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
export -f calc elapsed

# flag_supported BINARY FLAG: whether BINARY's --help lists FLAG.
flag_supported() { "$1" --help 2>/dev/null | grep -q -- "$2\b"; }
export -f flag_supported

# --- 0. the machine ---------------------------------------------------------------------
step_machine() {
  set -x
  uname -a; nproc; grep -E '^(MemTotal|MemAvailable)' /proc/meminfo; df -h /tmp .
  nvidia-smi || true
  nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv || true
  command -v nvcc && nvcc --version
  g++ --version | head -1; cmake --version | head -1; ninja --version || true
  : "Python torch (its LibTorch is what we build against)"
  for py in /opt/torch/.venv/bin/python3 python3; do
    command -v "$py" >/dev/null || continue
    timeout 60 "$py" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available());
print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no device"); print(torch.utils.cmake_prefix_path)' && break
  done
  set +x
  if command -v nvidia-smi >/dev/null; then
    result gpu "$(nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader | head -1)"
  fi
  result host "$(nproc) cores, $(awk '/^MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo) GiB, $(. /etc/os-release; echo "$PRETTY_NAME")"
  result compiler "$(g++ --version | head -1)"
  command -v g++ >/dev/null || { note "no g++"; exit 1; }
  command -v cmake >/dev/null || { note "no cmake"; exit 1; }
}
export -f step_machine

# --- 1. the .debs, unpacked into $ROOT (never into /) -----------------------------------
step_deps() {
  set -e
  local debs stamp
  debs=$(ls "$REPO/$GPU_DEBS"/*.deb 2>/dev/null) || { note "no $GPU_DEBS/*.deb: run scripts/gpu/prepare.sh here first and carry .gpu"; exit 1; }
  stamp=$(basename -a $debs | md5sum | cut -d' ' -f1)
  if [ "$(cat "$DEPS/stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$DEPS"
    mkdir -p "$ROOT"
    for deb in $debs; do
      if command -v dpkg-deb >/dev/null; then
        dpkg-deb -x "$deb" "$ROOT"
      else  # not a Debian-like system: a .deb is an ar archive around a tar
        ar p "$deb" "$(ar t "$deb" | grep '^data\.tar')" | tar -x -J -C "$ROOT"
      fi
    done
    # Bookworm's packages put some libraries under /lib: merge them into /usr/lib as the
    # merged-/usr systems do, and re-point absolute symlinks (libz.so -> /lib/...) into $ROOT.
    if [ -d "$ROOT/lib" ] && [ ! -L "$ROOT/lib" ]; then
      cp -a "$ROOT/lib/." "$ROOT/usr/lib/"
      rm -rf "${ROOT:?}/lib"
      ln -s usr/lib "$ROOT/lib"
    fi
    find "$ROOT" -type l | while read -r link; do
      target=$(readlink "$link")
      if [[ $target == /* ]]; then ln -sfn "$ROOT$target" "$link"; fi
    done
    # The runtime libraries the system lacks (by soname), for LD_LIBRARY_PATH: the system's
    # own copies stay first for everything else (Python, CUDA, the system's OpenSSL).
    mkdir -p "$FALLBACK"
    local have
    have=$(ldconfig -p | awk '{ print $1 }' | sort -u)
    for lib in "$ROOT/usr/lib/$MULTIARCH"/lib*.so.*; do
      name=$(basename "$lib")
      [[ $name =~ \.so\.[0-9]+$ ]] || continue   # the soname links only
      grep -qxF "$name" <<<"$have" || ln -sfn "$lib" "$FALLBACK/$name"
    done
    echo "$stamp" > "$DEPS/stamp"
  fi
  echo "unpacked $(echo $debs | wc -w) packages into $ROOT ($(du -sh "$ROOT" | cut -f1))"
  echo "libraries the system lacks (used through LD_LIBRARY_PATH): $(ls "$FALLBACK" | tr '\n' ' ')"
  result deps_fallback_libraries "$(ls "$FALLBACK" | wc -l) of $(ls "$ROOT/usr/lib/$MULTIARCH"/lib*.so.* | grep -cE '\.so\.[0-9]+$')"
}
export -f step_deps

# The environment of everything after the deps: the unpacked headers and libraries, the
# CUDA LibTorch's libraries (for the linker, which resolves libtorch_cuda's NVIDIA
# dependencies through LD_LIBRARY_PATH too), the zstd HDF5 plugin.
setup_env() {
  local py site torch_lib nv=""
  export TORCH_DIR=""
  for py in ${SHERL_GPU_CHECK_PYTHON:-} /opt/torch/.venv/bin/python3 python3; do
    command -v "$py" >/dev/null || continue
    site=$(timeout 60 "$py" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))' 2>/dev/null) || continue
    if [ -f "$site/torch/share/cmake/Torch/TorchConfig.cmake" ]; then
      TORCH_DIR=$site/torch/share/cmake/Torch
      torch_lib=$site/torch/lib
      for d in "$site"/nvidia/*/lib; do [ -d "$d" ] && nv="$nv:$d"; done
      break
    fi
  done
  export LD_LIBRARY_PATH="$FALLBACK${torch_lib:+:$torch_lib}$nv${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # Debian's multiarch headers (openssl/configuration.h) are not under a -I that CMake adds.
  export CPATH="$ROOT/usr/include/$MULTIARCH${CPATH:+:$CPATH}"
  export HDF5_PLUGIN_PATH=$BUILD/hdf5-plugins
  if [[ $DEVICE == cuda* ]] && command -v nvidia-smi >/dev/null; then
    # Only this card's architecture: LibTorch's CMake config otherwise probes or lists all.
    local cap
    cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1)
    [ -n "$cap" ] && export TORCH_CUDA_ARCH_LIST=$cap
    command -v nvcc >/dev/null && export CUDACXX=$(command -v nvcc)
    # LibTorch's CMake config (Caffe2/public/cuda.cmake) looks for the header-only NVTX3
    # only inside its own source tree, and otherwise falls back to CUDA::nvToolsExt, which
    # CUDA 12.9 and later no longer have: configure fails. Point it at the toolkit's NVTX3.
    local inc
    for inc in ${CUDACXX:+"$(dirname "$CUDACXX")/../include"} /usr/local/cuda/include ${site:+"$site"/nvidia/*/include}; do
      if [ -f "$inc/nvtx3/nvToolsExt.h" ]; then
        NVTX3_DIR=$(cd "$inc" && pwd -P)
        export NVTX3_DIR
        break
      fi
    done
  fi
}

# --- 2. configure and build only what the check runs -----------------------------------
step_configure() {
  local generator=() cuda=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  [ -n "${CUDACXX:-}" ] && cuda=(-DCMAKE_CUDA_ARCHITECTURES=native)
  [ -n "${NVTX3_DIR:-}" ] && cuda+=("-Dnvtx3_dir=$NVTX3_DIR")
  # A build directory configured with another generator cannot be reused.
  if [ -f "$BUILD/CMakeCache.txt" ] && ! grep -q "CMAKE_GENERATOR:INTERNAL=${generator[1]:-Unix Makefiles}" "$BUILD/CMakeCache.txt"; then
    rm -rf "$BUILD"
  fi
  set -x
  cmake -S "$REPO" -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DSHERL_BUILD_TESTS=ON -DSHERL_BUILD_BENCH=ON ${TORCH_DIR:+"-DTorch_DIR=$TORCH_DIR"} \
    "-DCMAKE_PREFIX_PATH=$ROOT/usr" "-DHDF5_ROOT=$ROOT/usr/lib/$MULTIARCH/hdf5/serial" "${cuda[@]}" || exit 1
  set +x
  # Where each dependency was found: the unpacked .debs, or (on a development machine) the system.
  grep -E '^(Torch_DIR|HDF5_hdf5_LIBRARY_RELEASE|HDF5_C_INCLUDE_DIR|zstd_DIR|CLI11_DIR|nlohmann_json_DIR|OPENSSL_CRYPTO_LIBRARY|OPENSSL_INCLUDE_DIR|PNG_LIBRARY_RELEASE|JPEG_LIBRARY_RELEASE|ZLIB_LIBRARY_RELEASE|ICU_UC_LIBRARY_RELEASE|ICU_INCLUDE_DIR|GTest_DIR|CUDA_TOOLKIT_ROOT_DIR|CUDAToolkit_ROOT|CUDAToolkit_NVCC_EXECUTABLE|nvtx3_dir|CMAKE_CUDA_COMPILER)[:=]' \
    "$BUILD/CMakeCache.txt" | sed 's/^/found: /' | tee "$WORK/found.txt"
  local outside
  outside=$(grep -vE "($ROOT|Torch_DIR|CUDA)" "$WORK/found.txt" | grep -vE ':(PATH|FILEPATH|STRING)=$' || true)
  [ -z "$outside" ] || echo "note: found outside $ROOT: $outside"
  result torch_dir "${TORCH_DIR:-system}"
}
export -f step_configure

# The targets the check needs: the tools, the benches, and the binaries of tests labelled cuda.
check_targets() {
  local all
  all=$(cmake --build "$BUILD" --target help 2>/dev/null | sed -nE 's/^(\.\.\. )?([A-Za-z0-9_.+-]+)(:.*)?$/\2/p')
  local wanted="sherl-extract sherl-consolidate sherl-train sherl-eval sherl-info h5zstd extract_gflops_bench train_step_bench"
  # A test's command is known only once built; its name is the target's by our convention.
  wanted="$wanted $(cd "$BUILD" && ctest -N -V -L cuda 2>/dev/null |
    sed -nE -e 's/.*Test command: ([^ ]+).*/\1/p' -e 's/^ *Test +#[0-9]+: +([^ ]+).*/\1/p' | xargs -rn1 basename | sort -u | tr '\n' ' ')"
  for t in $wanted; do grep -qxF "$t" <<<"$all" && echo "$t"; done
}
export -f check_targets

step_build() {
  local targets
  targets=$(check_targets | tr '\n' ' ')
  echo "targets: $targets"
  for t in extract_gflops_bench train_step_bench; do [[ " $targets " == *" $t "* ]] || note "no target $t"; done
  set -x
  cmake --build "$BUILD" -j "$JOBS" --target $targets || exit 1
  set +x
  # Which libraries the tools load, from where; and that the CUDA LibTorch is really linked
  # (with --as-needed a binary can silently lose libtorch_cuda.so and see no GPU).
  {
    echo "== ldd $BUILD/bin/sherl-extract"
    ldd "$BUILD/bin/sherl-extract"
  } >> "$LOG_ENV"
  if ldd "$BUILD/bin/sherl-extract" | grep -q "not found"; then
    note "sherl-extract: $(ldd "$BUILD/bin/sherl-extract" | grep 'not found' | awk '{ print $1 }' | tr '\n' ' ')not found"
    exit 1
  fi
  if [[ $DEVICE == cuda* ]] && ! ldd "$BUILD/bin/sherl-extract" | grep -q libtorch_cuda; then
    note "sherl-extract does not load libtorch_cuda.so"
    exit 1
  fi
  exit 0
}
export -f step_build

# --- 3. the CUDA tests ------------------------------------------------------------------
step_ctest() {
  cd "$BUILD" || exit 1
  local n
  n=$(ctest -N -L cuda | sed -nE 's/^Total Tests: ([0-9]+)/\1/p')
  result cuda_tests "${n:-0}"
  if [ "${n:-0}" -eq 0 ]; then
    note "no tests labelled cuda"
    exit 1
  fi
  # -V: every test's output in the log, GoogleTest's list of what ran and what skipped included.
  ctest -L cuda -V --timeout 300
  local rc=$? skipped
  skipped=$(grep -cE '^[[:space:]]*[0-9]+ - .*\(Skipped\)$' "$LOG_CTEST")
  result cuda_tests_summary "$(grep -E 'tests passed|tests failed' "$LOG_CTEST" | tail -1); $skipped skipped"
  result cuda_tests_gtest "$(grep -oE '\[ *(PASSED|SKIPPED|FAILED) *\] [0-9]+ tests?' "$LOG_CTEST" | sed -E 's/\[ *([A-Z]+) *\] /\1 /' | tr '\n' ',' | sed 's/,$//; s/,/, /g')"
  # Skipped is right without a GPU; on the GPU machine it means the tests saw none.
  if [[ $DEVICE == cuda* ]] && ((skipped > 0)); then
    note "$skipped test binaries labelled cuda skipped on the GPU machine"
    exit 1
  fi
  exit $rc
}
export -f step_ctest

# --- 4. the bundled example on the device -------------------------------------------------
# The main job's settings, from its config; the data from .gpu when there (the GPU machine
# has no dataset package), else the config's own paths.
export MODEL=$(mk_value MODEL) SELECT=$(mk_value SELECT_LABELS) PER_LABEL=$(mk_value PER_LABEL) \
  TEST_PER_LABEL=$(mk_value TEST_PER_LABEL) TIERS=$(mk_value TIERS) VAL_FRACTION=$(mk_value VAL_FRACTION) \
  METHODS=$(mk_value METHODS) SEEDS=${SHERL_GPU_CHECK_SEEDS:-$(mk_value SEEDS)} LRS=$(mk_value LRS) \
  EPOCHS=$(mk_value EPOCHS) EXTRACT_BATCH=64
data_file() {  # data_file CONFIG_VAR: the .gpu copy of that file if there, else the config's path
  local path
  path=$(mk_value "$1")
  if [ -f "$GPU_DATA/$(basename "$path")" ]; then echo "$REPO/$GPU_DATA/$(basename "$path")"; else echo "$path"; fi
}
export TRAIN_INPUT=$(data_file TRAIN_INPUT) TRAIN_LABELS=$(data_file TRAIN_LABELS) \
  TEST_INPUT=$(data_file TEST_INPUT) TEST_LABELS=$(data_file TEST_LABELS)
export EX=$WORK/example BIN=$BUILD/bin

run() { echo "+ $*" >&2; "$@"; }  # the command on stderr: stdout may be a result file
export -f run

# extract_set NAME INPUT LABELS PER_LABEL
extract_set() {
  local precision=() t0 n secs
  if flag_supported "$BIN/sherl-extract" --precision; then
    precision=(--precision "$PRECISION")
  else
    note "sherl-extract has no --precision: extracted in its default precision"
  fi
  t0=$(date +%s.%N)
  run "$BIN/sherl-extract" --model "$REPO/$MODEL" --input "$2" --labels "$3" --select-labels "$SELECT" \
    ${4:+--per-label "$4"} --out "$EX/features/$1" --batch-size "$EXTRACT_BATCH" --device "$DEVICE" \
    "${precision[@]}" --overwrite --quiet || exit 1
  secs=$(elapsed "$t0")
  n=$("$BIN/sherl-info" --json "$EX/features/$1" 2>/dev/null | grep -oE '"examples": *[0-9]+' | head -1 | grep -oE '[0-9]+$')
  echo "extract $1: ${n:-?} examples in $secs s"
  result "extract_${1}_seconds" "$secs"
  [ -n "$n" ] && result "extract_${1}_examples_per_s" "$(calc "int($n / $secs + 0.5)")"
  [ -n "${precision[*]}" ] || exit "$INCOMPLETE"
}
export -f extract_set
step_extract_train() { rm -rf "$EX"; mkdir -p "$EX"; extract_set train "$TRAIN_INPUT" "$TRAIN_LABELS" "$PER_LABEL"; }
step_extract_test() { extract_set test "$TEST_INPUT" "$TEST_LABELS" "$TEST_PER_LABEL"; }
step_verify() { run "$BIN/sherl-info" --verify "$EX/features/train" && run "$BIN/sherl-info" --verify "$EX/features/test"; }
step_consolidate() {
  run "$BIN/sherl-consolidate" --input "$EX/features/train" --out "$EX/consolidated" --tiers "$TIERS" \
    --val-fraction "$VAL_FRACTION" --quiet > "$EX/consolidated.json"
}
export -f step_extract_train step_extract_test step_verify step_consolidate

# The main job's grid (the same run names as pipelines/Makefile), then one more: SHERL,
# first seed, late layers in bf16 (sherl-train --precision bf16), reported beside it.
runs() {
  for m in $METHODS; do for s in $SEEDS; do for lr in $LRS; do echo "${m}_seed${s}_lr${lr}"; done; done; done
}
export -f runs
train_threads() { local t=$(( $(nproc) / PARALLEL )); echo $((t < 1 ? 1 : t)); }
export -f train_threads

# train_one NAME [EXTRA ARGS]: trains and evaluates one run into $EX/runs/NAME.
train_one() {
  local name=$1 method seed lr dir=$EX/runs/$1
  shift
  IFS=_ read -r method seed lr <<<"${name%%__*}"
  seed=${seed#seed} lr=${lr#lr}
  rm -rf "$dir"
  mkdir -p "$dir"
  {
    run "$BIN/sherl-train" --model "$REPO/$MODEL" --train "$EX/consolidated/train" --val "$EX/consolidated/val" \
      --out "$dir" --method "$method" --seed "$seed" --lr "$lr" --epochs "$EPOCHS" --device "$DEVICE" \
      --threads "$(train_threads)" --quiet "$@" > "$dir/best.json" &&
    run "$BIN/sherl-eval" --adapter "$dir" --model "$REPO/$MODEL" --data "$EX/features/test" --device "$DEVICE" \
      --threads "$(train_threads)" > "$dir/test.json"
  } > "$dir/log" 2>&1
  local rc=$?
  echo "--- $name: exit $rc"
  cat "$dir/log"
  return $rc
}
export -f train_one

step_train() {
  local names=() pids=() failed=0 i
  mapfile -t names < <(runs)
  if flag_supported "$BIN/sherl-train" --precision; then
    names+=("$(runs | head -1)__bf16")
  else
    note "sherl-train has no --precision: no bf16 run"
  fi
  for ((i = 0; i < ${#names[@]}; ++i)); do
    while (($(jobs -rp | wc -l) >= PARALLEL)); do wait -n; done
    if [[ ${names[i]} == *__bf16 ]]; then
      train_one "${names[i]}" --precision bf16 &
    else
      train_one "${names[i]}" &
    fi
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  ((failed)) && exit 1
  [ ! -s "$WORK/note" ] || exit "$INCOMPLETE"
}
export -f step_train

# The main job's summary table (pipelines/summarize.py) of the grid, its means against the
# CPU reference recorded in README.md, and the bf16 run beside its f32 twin.
step_compare() {
  local py
  py=$(command -v /usr/bin/python3 || command -v python3 || command -v /opt/torch/.venv/bin/python3) || { note "no python3"; exit 1; }
  run "$py" "$REPO/pipelines/summarize.py" "$EX" $(runs) || exit 1
  cp "$EX/summary.md" "$WORK/example-summary.md"
  local method gpu cpu diff bad=0
  for method in $METHODS; do
    gpu=$(sed -nE "s/^$method: mean test accuracy ([0-9.]+).*/\1/p" "$EX/summary.md")
    cpu=$(sed -nE "s/^$method: mean test accuracy ([0-9.]+).*/\1/p" "$REPO/README.md" | head -1)
    if [ -z "$gpu" ] || [ -z "$cpu" ]; then
      note "$method: no mean test accuracy (device '${gpu}', README '${cpu}')"
      bad=1
      continue
    fi
    diff=$(calc "$gpu - $cpu")
    result "accuracy_$method" "$DEVICE $gpu, CPU reference (README) $cpu, difference $(printf '%+.4f' "$diff")"
    if (( $(calc "($gpu - $cpu)^2 > $ACC_TOL^2") )); then
      note "$method: mean test accuracy $gpu on $DEVICE, $cpu on the CPU: more than $ACC_TOL apart"
      bad=1
    fi
  done
  local twin bf16
  twin=$(runs | head -1)
  if [ -f "$EX/runs/${twin}__bf16/test.json" ]; then
    bf16=$(grep -oE '"accuracy": *[0-9.]+' "$EX/runs/${twin}__bf16/test.json" | head -1 | grep -oE '[0-9.]+$')
    f32=$(grep -oE '"accuracy": *[0-9.]+' "$EX/runs/$twin/test.json" | head -1 | grep -oE '[0-9.]+$')
    result "accuracy_${twin}_bf16_late_layers" "$bf16 (f32: $f32)"
  fi
  # Memory and speed of the first run as sherl-train logged them.
  local done_line
  done_line=$(grep '"done"' "$EX/runs/$twin/train.jsonl" | tail -1)
  [ -n "$done_line" ] && result "train_${twin}_done" "$done_line"
  exit $bad
}
export -f step_compare

# --- 5. the benchmarks --------------------------------------------------------------------
# bench_args BINARY: --device / --precision where the bench takes them (noted otherwise).
bench_device_args() {
  local bin=$1 precision=${2:-}
  if flag_supported "$bin" --device; then echo "--device $DEVICE"; else note "$(basename "$bin") has no --device"; fi
  if [ -n "$precision" ]; then
    if flag_supported "$bin" --precision; then echo "--precision $precision"; else note "$(basename "$bin") has no --precision"; fi
  fi
}
export -f bench_device_args
step_bench_extract() {
  local bin=$BUILD/bench/extract_gflops_bench
  [ -x "$bin" ] || { note "not built"; exit 1; }
  local args
  args=$(bench_device_args "$bin" "$PRECISION")
  run "$bin" $args $EXTRACT_BENCH_ARGS --scratch "$WORK" || exit 1
  [ ! -s "$WORK/note" ] || exit "$INCOMPLETE"  # ran without a flag it lacks
}
step_bench_train() {
  local bin=$BUILD/bench/train_step_bench
  [ -x "$bin" ] || { note "not built"; exit 1; }
  [ -f "$EX/consolidated/train/manifest.json" ] || { note "no consolidated training set (the example failed)"; exit 1; }
  local args
  args=$(bench_device_args "$bin")
  run "$bin" --model "$REPO/$MODEL" --train "$EX/consolidated/train" $args $TRAIN_BENCH_ARGS || exit 1
  [ ! -s "$WORK/note" ] || exit "$INCOMPLETE"
}
export -f step_bench_extract step_bench_train

# --- the summary ------------------------------------------------------------------------
commit_line() {  # the tree's commit, where .git came along
  local c
  c=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null) || { echo "commit unknown (no .git)"; return; }
  git -C "$REPO" diff --quiet HEAD 2>/dev/null && echo "commit $c" || echo "commit $c with uncommitted changes"
}
json_string() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\t'/ }; printf '"%s"' "${s//$'\n'/\\n}"; }

write_summary() {
  local total=$(( $(date +%s) - T0 )) row name status secs note key value first=1
  {
    echo "# sherl GPU check: $( ((FAILED)) && echo FAILED || echo passed)"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(commit_line), device $DEVICE, extraction precision $PRECISION, ${total} s in all (budget ${BUDGET} s)."
    echo
    echo "| step | status | seconds | note |"
    echo "|---|---|---:|---|"
    for row in "${STEP_ROWS[@]}"; do
      IFS=$'\t' read -r name status secs note <<<"$row"
      echo "| $name | $status | $secs | ${note//|/\\|} |"
    done
    echo
    echo "## Results"
    echo
    while IFS=$'\t' read -r key value; do echo "* **$key**: $value"; done < "$RESULTS"
    if [ -f "$WORK/example-summary.md" ]; then
      echo
      echo "## The bundled example on $DEVICE (pipelines/summarize.py)"
      echo
      cat "$WORK/example-summary.md"
    fi
    for section in "extract_gflops_bench:bench-extract" "train_step_bench:bench-train"; do
      if grep -q "===== \[${section#*:}\]" "$LOG_BENCH" 2>/dev/null; then
        echo
        echo "## ${section%%:*} (last lines)"
        echo
        echo '```'
        awk -v s="===== [${section#*:}]" 'index($0, s) == 1 { on = !on; next } on' "$LOG_BENCH" | tail -n 40
        echo '```'
      fi
    done
  } > "$SUMMARY_MD"
  {
    printf '{\n  "passed": %s,\n  "device": %s,\n  "precision": %s,\n  "seconds": %s,\n  "budget_seconds": %s,\n  "steps": [' \
      "$( ((FAILED)) && echo false || echo true)" "$(json_string "$DEVICE")" "$(json_string "$PRECISION")" "$total" "$BUDGET"
    for row in "${STEP_ROWS[@]}"; do
      IFS=$'\t' read -r name status secs note <<<"$row"
      ((first)) || printf ','
      first=0
      printf '\n    {"name": %s, "status": %s, "seconds": %s, "note": %s}' \
        "$(json_string "$name")" "$(json_string "$status")" "$secs" "$(json_string "$note")"
    done
    printf '\n  ],\n  "results": {'
    first=1
    while IFS=$'\t' read -r key value; do
      ((first)) || printf ','
      first=0
      printf '\n    %s: %s' "$(json_string "$key")" "$(json_string "$value")"
    done < "$RESULTS"
    printf '\n  }\n}\n'
  } > "$SUMMARY_JSON"
}

# --- the run ------------------------------------------------------------------------------
echo "check: device $DEVICE, precision $PRECISION, budget ${BUDGET}s, build $BUILD, work $WORK, out $OUT"
step machine 90 "$LOG_ENV" step_machine
step deps 120 "$LOG_BUILD" step_deps
setup_env
{ echo "== environment"; env | grep -E '^(PATH|LD_LIBRARY_PATH|CPATH|HDF5_PLUGIN_PATH|TORCH_DIR|TORCH_CUDA_ARCH_LIST|CUDACXX|NVTX3_DIR)='; } >> "$LOG_ENV"
step configure 240 "$LOG_BUILD" step_configure
step build 480 "$LOG_BUILD" step_build configure
step ctest 300 "$LOG_CTEST" step_ctest build
step extract_train 180 "$LOG_EXAMPLE" step_extract_train build
step extract_test 180 "$LOG_EXAMPLE" step_extract_test build
step verify 120 "$LOG_EXAMPLE" step_verify extract_train extract_test
step consolidate 180 "$LOG_EXAMPLE" step_consolidate extract_train
step train 1800 "$LOG_EXAMPLE" step_train consolidate extract_test
step compare 60 "$LOG_EXAMPLE" step_compare consolidate
step bench-extract 240 "$LOG_BENCH" step_bench_extract build
step bench-train 180 "$LOG_BENCH" step_bench_train consolidate
write_summary
echo "check: $( ((FAILED)) && echo FAILED || echo passed) in $(( $(date +%s) - T0 ))s; summary in $SUMMARY_MD"
cat "$SUMMARY_MD"
exit $FAILED
