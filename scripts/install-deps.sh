#!/usr/bin/env bash
# Installs the Debian 12 packages that sherl builds, tests and runs with. Idempotent: does
# nothing when everything is already installed. Needs root (or sudo) and the Debian archive.
set -euo pipefail
packages=(
  build-essential cmake pkg-config ccache     # ccache: rebuilds and clean-clone CI builds
  libtorch-dev libopenblas0-pthread          # LibTorch; its matmuls need OpenBLAS (bench/README.md)
  libhdf5-dev hdf5-tools libzstd-dev zstd    # shard format; h5dump for the plugin test
  libcli11-dev nlohmann-json3-dev libssl-dev # CLI, JSON, SHA-256
  libpng-dev libjpeg-dev zlib1g-dev          # image inputs
  libicu-dev                                 # text inputs: Unicode normalisation (WordPiece)
  libsentencepiece-dev sentencepiece python3-sentencepiece  # T5's tokenizer; spm_train and the reference in tests
  libgtest-dev bats strace                   # tests (strace: which tools re-exec themselves)
  python3-torch python3-h5py python3-numpy   # independent reference implementations in tests
  python3-regex                              # the byte-level BPE reference (Unicode classes in patterns)
  python3-pil                                # the image preprocessing reference (Pillow, as Hugging Face resizes)
  dataset-fashion-mnist                      # the bundled example's data
  snakemake make                             # pipelines/
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
