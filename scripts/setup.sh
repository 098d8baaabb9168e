#!/usr/bin/env bash
# Installs everything sherl needs (Debian 12 packages), builds it, and runs the main job:
# the bundled example (the shipped ViT transferred to Fashion-MNIST classes 5-9) through
# the real pipeline (extract, consolidate, train, eval), printing the summary table.
# Idempotent: a second run reuses the build and every finished step.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh --tools   # the tests are built by scripts/test.sh
make -f pipelines/Makefile -j "$(nproc)"
echo "setup: results in runs/fmnist-transfer (summary.md, consolidated/redundancy.svg, runs/*/curve.svg)"
