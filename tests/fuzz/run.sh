#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for a bounded time.
#
#   tests/fuzz/run.sh [-t SECONDS] [-b BUILD_DIR] [-j JOBS] [--merge] [--no-build] [TARGET ...]
#
#   -t SECONDS   fuzzing time per target (default 60, or $SHERL_FUZZ_SECONDS)
#   -b DIR       the clang build directory (default build-fuzz; configured when absent)
#   -j JOBS      compile jobs (default 2)
#   --merge      afterwards, add the inputs that reached new code to the committed corpus
#                tests/fuzz/corpus/<target>/ (libFuzzer -merge=1: only coverage gains)
#   --no-build   use the fuzzers already built
#   TARGET       any of: safetensors model_config idx tsv jsonl wordpiece shard shard_file
#                (default all but shard_file, which mostly finds crashes inside Debian's
#                HDF5 1.10 itself: see README.md)
#
# Each target starts from its committed corpus and regression inputs; new inputs go to
# <build>/fuzz-work/<target>/corpus. A crash, leak, timeout or out-of-memory input is copied
# to tests/fuzz/regressions/<target>/ (commit it with the fix: the CTest test fuzz_replay
# replays it in every build). Extra libFuzzer flags: $SHERL_FUZZ_FLAGS. Exits 1 when a
# target found something.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
fuzz_dir="$root/tests/fuzz"
seconds=${SHERL_FUZZ_SECONDS:-60}
build="$root/build-fuzz"
jobs=2
merge=0
do_build=1
all_targets=(safetensors model_config idx tsv jsonl wordpiece shard shard_file)
default_targets=(safetensors model_config idx tsv jsonl wordpiece shard)
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    -t) seconds="$2"; shift 2 ;;
    -b) build="$2"; shift 2 ;;
    -j) jobs="$2"; shift 2 ;;
    --merge) merge=1; shift ;;
    --no-build) do_build=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *)
      [[ " ${all_targets[*]} " == *" $1 "* ]] || { echo "run.sh: unknown target $1" >&2; exit 2; }
      targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${default_targets[@]}")

if [ $do_build = 1 ]; then
  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSHERL_BUILD_FUZZ=ON -DSHERL_BUILD_TESTS=OFF \
      -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
  fi
  cmake --build "$build" -j "$jobs" --target "${targets[@]/#/fuzz_}"
fi

# Leaks are findings; LibTorch's and HDF5's one-time allocations are not (tests/sanitizer/).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/tests/sanitizer/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

found=0
summary=()
for t in "${targets[@]}"; do
  work="$build/fuzz-work/$t"
  mkdir -p "$work/corpus" "$work/artifacts" "$work/tmp" "$fuzz_dir/corpus/$t"
  rm -f "$work/artifacts"/*
  dict=()
  case "$t" in
    safetensors|model_config|jsonl) dict=(-dict="$fuzz_dir/dict/json.dict") ;;
    tsv) dict=(-dict="$fuzz_dir/dict/tsv.dict") ;;
    wordpiece) dict=(-dict="$fuzz_dir/dict/wordpiece.dict") ;;
  esac
  seeds=("$fuzz_dir/corpus/$t")
  [ -d "$fuzz_dir/regressions/$t" ] && seeds+=("$fuzz_dir/regressions/$t")
  echo "== $t: fuzzing for ${seconds}s"
  status=0
  # shellcheck disable=SC2086
  TMPDIR="$work/tmp" "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "${dict[@]}" ${SHERL_FUZZ_FLAGS:-} \
    "$work/corpus" "${seeds[@]}" > "$work/log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -n 1 | cut -d' ' -f2)
  # slow-unit-* files are reports, not failures (a unit over 10 s; -timeout decides).
  artifacts=$(find "$work/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) | wc -l)
  result="ok"
  if [ "$status" -ne 0 ] || [ "$artifacts" -gt 0 ]; then
    found=1
    result="FOUND (exit $status)"
    mkdir -p "$fuzz_dir/regressions/$t"
    for a in "$work/artifacts"/{crash,leak,timeout,oom}-*; do
      [ -f "$a" ] && cp "$a" "$fuzz_dir/regressions/$t/" && echo "   saved tests/fuzz/regressions/$t/$(basename "$a")"
    done
    grep -m 1 -A 12 -E '^==[0-9]+==ERROR|runtime error|fuzz invariant broken|deadly signal|uncaught exception|terminate called' \
      "$work/log" || tail -n 20 "$work/log"
  fi
  if [ $merge = 1 ]; then
    TMPDIR="$work/tmp" "$build/fuzz/fuzz_$t" -merge=1 -timeout=20 -rss_limit_mb=2048 "$fuzz_dir/corpus/$t" \
      "$work/corpus" >> "$work/log" 2>&1 || true
  fi
  summary+=("$(printf '%-13s %12s execs %8s/s  cov %6s  corpus %5s  %s' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
    "$(find "$work/corpus" -type f | wc -l)" "$result")")
done
echo "== summary (${seconds}s per target; logs in $build/fuzz-work/<target>/log)"
printf '%s\n' "${summary[@]}"
exit $found
