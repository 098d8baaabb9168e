# Shared by scripts/gpu/prepare.sh (run on the Debian 12 development machine) and
# scripts/gpu/check.sh (run on the borrowed GPU machine). Sourced from the repository root.

# Everything prepare.sh makes, git-ignored, carried to the GPU machine with the tree.
GPU_DIR=.gpu
GPU_DEBS="$GPU_DIR/debs"            # the .deb files (never installed, unpacked with dpkg -x)
GPU_DATA="$GPU_DIR/data/fashion-mnist"  # the bundled example's images, IDX subset

# The main job's settings (scripts/setup.sh -> pipelines/Makefile -> this config), read
# from the file itself so that the GPU check runs what the main job runs.
MAIN_JOB_CONFIG=pipelines/fmnist-transfer.mk

# mk_value NAME: the value of `NAME := value` (or `=`) in $MAIN_JOB_CONFIG, empty if unset.
# The config is plain assignments, so no make is needed (the GPU machine may lack it).
mk_value() {
  awk -v k="$1" '
    $0 ~ "^" k "[ \t]*:?=" { sub(/^[^=]*=[ \t]*/, ""); sub(/[ \t]+$/, ""); print; found = 1; exit }
    END { if (!found) exit 0 }' "$MAIN_JOB_CONFIG"
}
