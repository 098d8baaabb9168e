#!/usr/bin/env bash
# Configures and builds sherl into ./build (Release). With --tools first, only what the
# tools need (the tools, their library, the HDF5 and SentencePiece plugins): the unit tests
# take most of a clean build and the main job needs none of them. Other arguments go to cmake, e.g.
# -DTorch_DIR=/path/to/libtorch/share/cmake/Torch for a CUDA LibTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=()
if [ "${1:-}" = --tools ]; then
  shift
  targets=(--target sherl-extract sherl-consolidate sherl-train sherl-eval sherl-info sherl-predict h5zstd sherl_sentencepiece)
fi
launcher=()
# ccache (installed by install-deps.sh) makes rebuilds and clean-clone builds far cheaper.
if command -v ccache >/dev/null; then
  # LibTorch's precompiled header is used through -include: ccache caches such compiles
  # only with this sloppiness; the base dir lets clones in other folders share the cache.
  export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
  export CCACHE_BASEDIR="$PWD" CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" "$@" >/dev/null
cmake --build build -j "$(nproc)" "${targets[@]}"
