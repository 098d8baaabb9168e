#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs the GoogleTest unit tests
# through CTest and the Bats tests of the command-line tools. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
status=0
(cd build && ctest --output-on-failure -j "$(nproc)") || status=1
export SHERL_BUILD="$PWD/build"
bats --timing --jobs 1 tests/bats || status=1
exit $status
