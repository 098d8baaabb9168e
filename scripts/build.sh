#!/usr/bin/env bash
# Configures and builds sherl into ./build (Release). Extra arguments go to cmake, e.g.
# -DTorch_DIR=/path/to/libtorch/share/cmake/Torch for a CUDA LibTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j "$(nproc)"
