#!/usr/bin/env bats
# Grids: sherl-train with lists of settings trains every combination in one process over
# the same batches, writes one run directory per point, a summary and the selected adapter.

load common

# A small slice of the bundled example: 150 training images (30 of each class 5-9), a
# fifth of them split off to validate on.
setup_file() {
  export SMALL="$BATS_FILE_TMPDIR/small"
  extract_fmnist_slice "$SMALL/train" train 30
  "$SHERL_BUILD/bin/sherl-consolidate" --input "$SMALL/train" --out "$SMALL/cons" --val-fraction 0.2 --quiet > /dev/null
}

data_args() {
  echo --model "$SHERL_VIT" --train "$SMALL/cons/train" --val "$SMALL/cons/val"
}

@test "each point of a grid is the run of its settings alone, bit for bit, and the best one is selected" {
  # Two points side by side on two threads, one thread each: as two runs of one thread.
  sherl-train $(data_args) --out "$WORK/grid" --epochs 2 --threads 2 --threads-per-point 1 --lr 1e-3,4e-3 --seed 5 \
    --quiet > "$WORK/grid.json"
  for lr in 1e-3 4e-3; do
    sherl-train $(data_args) --out "$WORK/lr$lr" --epochs 2 --threads 1 --lr $lr --seed 5 --quiet > /dev/null
  done
  cmp "$WORK/grid/points/lr0.001/adapter.safetensors" "$WORK/lr1e-3/adapter.safetensors"
  cmp "$WORK/grid/points/lr0.004/adapter.safetensors" "$WORK/lr4e-3/adapter.safetensors"
  # The summary: a header and a row per point, the selected one marked and holding the best
  # validation accuracy; its adapter (and only its) is the grid's own.
  [ "$(wc -l < "$WORK/grid/summary.tsv")" -eq 3 ]
  [ "$(grep -c '^| lr0.00[14] |' "$WORK/grid/summary.md")" -eq 2 ]
  $PY - "$WORK/grid" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/summary.tsv"), delimiter="\t"))
chosen = [r for r in rows if r["selected"] == "yes"]
assert len(chosen) == 1, rows
assert float(chosen[0]["val_accuracy"]) == max(float(r["val_accuracy"]) for r in rows), rows
for r in rows:
    log = [json.loads(l) for l in open(f"{sys.argv[1]}/points/{r['point']}/train.jsonl")]
    assert log[-1]["done"] and int(r["best_epoch"]) == log[-1]["best_epoch"], (r, log[-1])
out = json.load(open(sys.argv[1] + "/../grid.json"))
assert out["point"] == chosen[0]["point"], out
PY
  chosen=$(awk -F'\t' '$14 == "yes" { print $1 }' "$WORK/grid/summary.tsv")
  cmp "$WORK/grid/adapter.safetensors" "$WORK/grid/points/$chosen/adapter.safetensors"
  grep -q "\"grid_point\": \"$chosen\"" "$WORK/grid/adapter.json"
  sherl-eval --adapter "$WORK/grid" --model "$SHERL_VIT" --data "$SMALL/cons/val" > "$WORK/eval.json"
}

@test "a grid shares the data order (--data-seed), each point keeps its own seed for the rest" {
  sherl-train $(data_args) --out "$WORK/grid" --epochs 1 --threads 1 --lr 2e-3 --seed 1,2 --data-seed 7 --quiet > /dev/null
  sherl-train $(data_args) --out "$WORK/alone" --epochs 1 --threads 1 --lr 2e-3 --seed 2 --data-seed 7 --quiet > /dev/null
  cmp "$WORK/grid/points/seed2/adapter.safetensors" "$WORK/alone/adapter.safetensors"
  ! cmp -s "$WORK/grid/points/seed1/adapter.safetensors" "$WORK/grid/points/seed2/adapter.safetensors"
  # Without --data-seed a one-point run orders its data by its own seed, as before grids.
  sherl-train $(data_args) --out "$WORK/own" --epochs 1 --threads 1 --lr 2e-3 --seed 2 --quiet > /dev/null
  ! cmp -s "$WORK/own/adapter.safetensors" "$WORK/alone/adapter.safetensors"
}

@test "a grid resumed after SIGKILL ends as an uninterrupted one, points stopped early included" {
  # Side by side (the fault test of kill_resume.py covers points one at a time).
  args=($(data_args) --epochs 4 --threads 2 --threads-per-point 1 --lr 1e-3,3e-3 --seed 0,1 --method sherl,linear
    --patience 1 --quiet)
  sherl-train "${args[@]}" --out "$WORK/full" > /dev/null
  sherl-train "${args[@]}" --out "$WORK/killed" > /dev/null &
  kill_after_first_checkpoint $! "$WORK/killed" 4
  sherl-train "${args[@]}" --out "$WORK/killed" --resume > /dev/null
  [ "$(ls "$WORK/full/points" | wc -l)" -eq 8 ]
  for point in $(ls "$WORK/full/points"); do
    cmp "$WORK/full/points/$point/adapter.safetensors" "$WORK/killed/points/$point/adapter.safetensors"
  done
  cmp "$WORK/full/adapter.safetensors" "$WORK/killed/adapter.safetensors"
  # The grid's own log is cut back to the checkpoint too: the same epochs, once each.
  $PY - "$WORK/full/train.jsonl" "$WORK/killed/train.jsonl" <<'PY'
import json, sys
epochs = lambda path: [{k: v for k, v in json.loads(l).items() if not k.endswith("seconds")}
                       for l in open(path) if '"epoch"' in l]
assert epochs(sys.argv[1]) == epochs(sys.argv[2]), (epochs(sys.argv[1]), epochs(sys.argv[2]))
PY
  cut -f1-10,13,14 "$WORK/full/summary.tsv" > "$WORK/a"; cut -f1-10,13,14 "$WORK/killed/summary.tsv" > "$WORK/b"
  cmp "$WORK/a" "$WORK/b"
  # Both kinds of point were there to resume: stopped early, and trained to the end.
  awk -F'\t' 'NR > 1 && $8 < 4 { early = 1 } NR > 1 && $8 == 4 { full = 1 } END { exit !(early && full) }' "$WORK/a"
  # Another grid in the same directory is refused, naming what differs.
  run sherl-train $(data_args) --epochs 4 --threads 2 --lr 1e-3,2e-3 --seed 0,1 --method sherl,linear --patience 1 \
    --out "$WORK/killed" --resume
  [ "$status" -eq 1 ]
  [[ "$output" == *"--lr [0.001,0.003], not [0.001,0.002]"* ]]
}

@test "with validation data and no --lr, the default grid of learning rates picks one on validation" {
  sherl-train $(data_args) --out "$WORK/default" --epochs 1 --threads 2 --quiet > "$WORK/out.json"
  [ "$(ls "$WORK/default/points")" = "$(printf 'lr0.002\nlr0.004\nlr0.008')" ]
  grep -q '"point": "lr0.00[248]"' "$WORK/out.json"
  # Without validation data: the one default learning rate, a run of one point.
  sherl-train --model "$SHERL_VIT" --train "$SMALL/cons/train" --out "$WORK/plain" --epochs 1 --threads 2 --quiet > /dev/null
  [ ! -e "$WORK/plain/points" ]
  grep -q '"lr": 0.002' "$WORK/plain/adapter.json"
}

@test "a point that diverges stops alone: the grid goes on, the summary says so, and the resume keeps it out" {
  args=($(data_args) --batch-size 8 --warmup 0 --clip-norm 0 --threads 1 --lr 2e-3,1e30)
  run sherl-train "${args[@]}" --epochs 2 --out "$WORK/grid"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"point lr1e+30: step "*" (epoch 1): the loss is not finite"*"the grid goes on without it"* ]]
  awk -F'\t' '$1 == "lr1e+30" && $13 == "yes" { d = 1 } $1 == "lr0.002" && $14 == "yes" && $8 == 2 { s = 1 }
               END { exit !(d && s) }' "$WORK/grid/summary.tsv"
  sherl-train "${args[@]}" --out "$WORK/grid" --epochs 3 --resume --quiet > /dev/null
  [ "$(awk -F'\t' '$1 == "lr0.002" { print $8 }' "$WORK/grid/summary.tsv")" -eq 3 ]
  # Every point diverging is an error.
  run sherl-train $(data_args) --epochs 1 --batch-size 8 --warmup 0 --clip-norm 0 --threads 1 --lr 1e30,1e31 \
    --out "$WORK/all"
  [ "$status" -eq 1 ]
  [[ "$output" == *"every point of the grid diverged"* ]]
}

@test "grid refusals: a value named twice, a bad value among good ones, a one-point checkpoint" {
  run sherl-train $(data_args) --out "$WORK/run" --lr 1e-3,0.001
  [ "$status" -eq 1 ]
  [[ "$output" == *"--lr names 0.001 twice"* ]]
  run sherl-train $(data_args) --out "$WORK/run" --lr 1e-3,-1e-3
  [ "$status" -eq 1 ]
  [[ "$output" == *"--lr must be positive (-0.001)"* ]]
  run sherl-train $(data_args) --out "$WORK/run" --downsample-factor 2,3
  [ "$status" -eq 1 ]
  [[ "$output" == *"downsample"* ]]
  [ ! -e "$WORK/run" ]
  run sherl-train $(data_args) --out "$WORK/run" --seed 1,,2
  [ "$status" -eq 2 ]
  sherl-train $(data_args) --out "$WORK/one" --epochs 1 --threads 1 --lr 2e-3 --quiet > /dev/null
  rm "$WORK/one/adapter.json"
  run sherl-train $(data_args) --out "$WORK/one" --epochs 1 --threads 1 --lr 2e-3 --seed 0,1 --resume
  [ "$status" -eq 1 ]
  [[ "$output" == *"is of a one-point run, not of this grid"* ]]
}
