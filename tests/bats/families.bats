#!/usr/bin/env bats
# Backbone families end to end through the tools, on small random models that the tests make
# (tests/python/make_*_task.py) and a task that can be learned, so that a broken tokenizer,
# late route or pooling cannot pass.
load common

@test "T5: SentencePiece text through extract, consolidate, train, eval and predict learns a word-presence task" {
  $PY "$SHERL_ROOT/tests/python/make_t5_task.py" "$WORK"
  sherl-extract --model "$WORK/t5" --input "$WORK/train.tsv" --out "$WORK/train" --max-length 24 --quiet
  sherl-extract --model "$WORK/t5" --input "$WORK/test.tsv" --out "$WORK/test" --max-length 24 --quiet
  run sherl-info --json "$WORK/train"
  [[ "$output" == *'"model_type":"t5"'* ]]
  [[ "$output" == *'"hidden_size":32'* ]]
  sherl-consolidate --input "$WORK/train" --out "$WORK/cons" --quiet
  sherl-train --model "$WORK/t5" --train "$WORK/cons/train" --val "$WORK/cons/val" --out "$WORK/run" \
    --epochs 15 --warmup 5 --lr 1e-2 --threads 2 --quiet
  run sherl-eval --adapter "$WORK/run" --model "$WORK/t5" --data "$WORK/test" --predictions "$WORK/eval.tsv"
  [ "$status" -eq 0 ]
  echo "$output" | $PY -c '
import json, sys
m = json.load(sys.stdin)
print(m["accuracy"])
assert m["accuracy"] >= 0.9, m  # chance is 0.5
'
  # The raw text gives what the shards give.
  sherl-predict --adapter "$WORK/run" --model "$WORK/t5" --input "$WORK/test.tsv" --max-length 24 > "$WORK/predict.tsv"
  $PY - "$WORK/eval.tsv" "$WORK/predict.tsv" <<'PY'
import csv, sys
rows = [list(csv.DictReader(open(p), delimiter="\t")) for p in sys.argv[1:]]
assert len(rows[0]) == len(rows[1]) == 100, [len(r) for r in rows]
key = lambda r: r.get("id") or r.get("example_id")
evals = {key(r): r for r in rows[0]}
same = sum(evals[key(r)]["predicted"] == r["predicted"] for r in rows[1])
assert same == 100, same
PY
}

@test "T5: sentence pairs are joined by a template; a template without {b}, or a T5 without spiece.model, is refused" {
  $PY "$SHERL_ROOT/tests/python/make_t5_task.py" "$WORK"
  printf 'sentence1\tsentence2\tlabel\nthe cat\tsat on the mat\tnone\nriver bank\tthe road\triver\n' > "$WORK/pairs.tsv"
  sherl-extract --model "$WORK/t5" --input "$WORK/pairs.tsv" --out "$WORK/pairs" --quiet
  run sherl-extract --model "$WORK/t5" --input "$WORK/pairs.tsv" --out "$WORK/pairs2" --template 'premise: {a}' --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == *"--template 'premise: {a}': has no {b} for the second text column"* ]]
  sherl-extract --model "$WORK/t5" --input "$WORK/pairs.tsv" --out "$WORK/pairs3" --quiet \
    --template 'sentence1: {a} sentence2: {b}'
  same_shard_data "$WORK/pairs" "$WORK/pairs3"  # the default template for T5 pairs
  sherl-extract --model "$WORK/t5" --input "$WORK/pairs.tsv" --out "$WORK/pairs4" --quiet --template '{b} / {a}'
  ! same_shard_data "$WORK/pairs" "$WORK/pairs4"
  rm "$WORK/t5/spiece.model"
  run sherl-extract --model "$WORK/t5" --input "$WORK/pairs.tsv" --out "$WORK/pairs5" --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == *"has no tokenizer that sherl reads (vocab.txt; spiece.model for T5)"* ]]
}
