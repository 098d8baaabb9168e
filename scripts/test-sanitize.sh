#!/usr/bin/env bash
# The whole test suite under AddressSanitizer and UBSan: builds with -DSHERL_SANITIZE=ON into
# build-asan (or $SHERL_ASAN_BUILD), then runs the GoogleTest binaries through CTest and the
# Bats tests against that build, with the runtime options of tests/sanitizer/env.sh and the
# suppressions beside it (LibTorch, OpenBLAS and HDF5 are not instrumented).
# Extra arguments go to cmake. Exits non-zero on any failure or sanitizer report.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${SHERL_ASAN_BUILD:-build-asan}"
# -O1, as usual for sanitized builds: much quicker to compile than -O3, and exact stacks.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG" \
  "-DCMAKE_C_FLAGS_RELEASE=-O1 -DNDEBUG" -DSHERL_BUILD_TESTS=ON -DSHERL_SANITIZE=ON "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
source tests/sanitizer/env.sh
status=0
(cd "$build" && ctest --output-on-failure -j 2) || status=1
SHERL_BUILD="$PWD/$build" bats --jobs 1 tests/bats || status=1
exit $status
