#!/usr/bin/env bats
# The workflows of pipelines/ end to end with the real tools, on a tiny configuration.

load common

tiny_config() {  # $1 = output dir, $2 = learning rates, $3 = seeds
  cat <<CFG
MODEL        := examples/models/vit-tiny-fmnist5
TRAIN_INPUT  := $FMNIST/train-images-idx3-ubyte.gz
TRAIN_LABELS := $FMNIST/train-labels-idx1-ubyte.gz
TEST_INPUT   := $FMNIST/t10k-images-idx3-ubyte.gz
TEST_LABELS  := $FMNIST/t10k-labels-idx1-ubyte.gz
SELECT_LABELS := 5,6,7,8,9
PER_LABEL    := 40
TEST_PER_LABEL := 20
OUT          := $1
PARTS        := 2
TIERS        := all
VAL_FRACTION := 0.2
METHODS      := sherl
SEEDS        := $3
LRS          := $2
EPOCHS       := 1
CFG
}

@test "Makefile workflow: extract in parallel, consolidate, train grids, eval, summary; a new seed trains only its grid" {
  cd "$SHERL_ROOT"
  tiny_config "$WORK/out" "2e-3 1e-3" 0 > "$WORK/tiny.mk"
  run make -s -f pipelines/Makefile CONFIG="$WORK/tiny.mk" BIN="$SHERL_BUILD/bin" -j 2
  [ "$status" -eq 0 ]
  grid="$WORK/out/runs/sherl_seed0_lr2e-3+1e-3"
  [[ "$output" == *"sherl_seed0_lr2e-3+1e-3"* ]]
  [ -f "$WORK/out/summary.tsv" ]
  [ "$(wc -l < "$WORK/out/summary.tsv")" -eq 2 ]
  # One process trained both learning rates; the row gives the one selected on validation.
  [ "$(ls "$grid/points")" = "$(printf 'lr0.001\nlr0.002')" ]
  selected=$(awk -F'\t' '$14 == "yes" { print $6 }' "$grid/summary.tsv")
  [ "$(awk -F'\t' 'NR == 2 { print $4 }' "$WORK/out/summary.tsv")" = "$selected" ]
  sherl-info --verify "$WORK/out/features/train"
  touch -d '2 hours ago' "$grid/adapter.safetensors" "$WORK/out/features/train/shard-00000.h5"
  before_run=$(stat -c %Y "$grid/adapter.safetensors")
  before_features=$(stat -c %Y "$WORK/out/features/train/shard-00000.h5")

  tiny_config "$WORK/out" "2e-3 1e-3" "0 1" > "$WORK/tiny.mk"
  run make -s -f pipelines/Makefile CONFIG="$WORK/tiny.mk" BIN="$SHERL_BUILD/bin" -j 2
  [ "$status" -eq 0 ]
  [ "$(stat -c %Y "$grid/adapter.safetensors")" -eq "$before_run" ]
  [ "$(stat -c %Y "$WORK/out/features/train/shard-00000.h5")" -eq "$before_features" ]
  [ -f "$WORK/out/runs/sherl_seed1_lr2e-3+1e-3/test.json" ]
  [ "$(wc -l < "$WORK/out/summary.tsv")" -eq 3 ]

  # nothing left to do: make reports it and changes nothing
  run make -s -f pipelines/Makefile CONFIG="$WORK/tiny.mk" BIN="$SHERL_BUILD/bin"
  [ "$status" -eq 0 ]
  [ "$(stat -c %Y "$grid/adapter.safetensors")" -eq "$before_run" ]
}

snake_config() {
  cat <<CFG
model: examples/models/vit-tiny-fmnist5
out: $1
bin: $SHERL_BUILD/bin
train: {images: $FMNIST/train-images-idx3-ubyte.gz, labels: $FMNIST/train-labels-idx1-ubyte.gz, per_label: 30}
test: {images: $FMNIST/t10k-images-idx3-ubyte.gz, labels: $FMNIST/t10k-labels-idx1-ubyte.gz, per_label: 10}
select_labels: [5, 6, 7, 8, 9]
parts: 2
val_fraction: 0.2
methods: [sherl]
seeds: [0]
lrs: ["2e-3", "1e-3"]
epochs: 1
CFG
}

@test "Snakemake workflow: a dry run plans every step, and a small real run completes" {
  cd "$SHERL_ROOT"
  snake_config "$WORK/snk" > "$WORK/config.yaml"
  run snakemake -s pipelines/Snakefile --configfile "$WORK/config.yaml" -n --cores 2
  [ "$status" -eq 0 ]
  for rule in extract_part merge_parts consolidate train evaluate summary; do [[ "$output" == *"$rule"* ]]; done
  run snakemake -s pipelines/Snakefile --configfile "$WORK/config.yaml" --cores 2 -q
  [ "$status" -eq 0 ]
  [ -f "$WORK/snk/summary.md" ]
  grep -q "sherl_seed0_lr2e-3+1e-3" "$WORK/snk/summary.tsv"
  [ -d "$WORK/snk/runs/sherl_seed0_lr2e-3+1e-3/points/lr0.002" ]
}
