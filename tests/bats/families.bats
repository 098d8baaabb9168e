#!/usr/bin/env bats
# Backbone families end to end through the tools, on small random models that the tests make
# (tests/python/make_text_task.py, make_image_task.py) and a task that can be learned, so that
# a broken tokenizer, image preprocessing, late route or pooling cannot pass.
load common

# A learnable task end to end from $WORK/train.$1, $WORK/test.$1 and $WORK/model (backbone
# model_type $2; $3: arguments for sherl-predict's input; the rest go to sherl-extract):
# extract, consolidate, train, eval (test accuracy at least 0.85; chance is 0.5), and predict
# on the raw input agrees with eval on all 100 test examples. The bar leaves room for the
# spread of training on these small random models: a rounding change anywhere (e.g. the
# order in which a weight gradient is summed) moves a run to another trajectory, and
# seeds 0-3 of the Qwen2 task validate between 0.91 and 1.0 (its test accuracy 0.88 at
# seed 0); a broken tokenizer, preprocessing or pooling stays near chance.
learns_task() {
  local ext="$1" type="$2" m="$WORK/model"
  local -a predict_args
  read -r -a predict_args <<< "$3"
  shift 3
  sherl-extract --model "$m" --input "$WORK/train.$ext" --out "$WORK/train" --quiet "$@"
  sherl-extract --model "$m" --input "$WORK/test.$ext" --out "$WORK/test" --quiet "$@"
  run sherl-info --json "$WORK/train"
  [[ "$output" == *"\"model_type\":\"$type\""* ]]
  [[ "$output" == *'"hidden_size":32'* ]]
  sherl-consolidate --input "$WORK/train" --out "$WORK/cons" --quiet
  sherl-train --model "$m" --train "$WORK/cons/train" --val "$WORK/cons/val" --out "$WORK/run" \
    --epochs 15 --warmup 5 --lr 1e-2 --threads 2 --quiet
  run sherl-eval --adapter "$WORK/run" --model "$m" --data "$WORK/test" --predictions "$WORK/eval.tsv"
  [ "$status" -eq 0 ]
  echo "$output" | $PY -c '
import json, sys
m = json.load(sys.stdin)
print(m["accuracy"])
assert m["accuracy"] >= 0.85, m
'
  sherl-predict --adapter "$WORK/run" --model "$m" --input "$WORK/test.$ext" "${predict_args[@]}" > "$WORK/predict.tsv"
  $PY - "$WORK/eval.tsv" "$WORK/predict.tsv" <<'PY'
import csv, sys
rows = [list(csv.DictReader(open(p), delimiter="\t")) for p in sys.argv[1:]]
assert len(rows[0]) == len(rows[1]) == 100, [len(r) for r in rows]
evals = {r["id"]: r["predicted"] for r in rows[0]}
same = sum(evals[r["id"]] == r["predicted"] for r in rows[1])
assert same == 100, same
PY
}

# The word-presence task (tests/python/make_text_task.py) for family $1, backbone model_type
# $2; more arguments go to sherl-extract.
learns_word_presence() {
  $PY "$SHERL_ROOT/tests/python/make_text_task.py" "$1" "$WORK"
  local type="$2"
  shift 2
  learns_task tsv "$type" "--max-length 24" --max-length 24 "$@"
}

@test "T5 (SentencePiece, </s> appended, mean pooling) learns a word-presence task through every tool" {
  learns_word_presence t5 t5
}

@test "Llama (SentencePiece, <s> prepended, causal, last-token pooling) learns a word-presence task through every tool" {
  learns_word_presence llama llama
}

@test "Qwen2 (byte-level BPE from tokenizer.json, q/k/v biases) learns a word-presence task through every tool" {
  learns_word_presence qwen2 qwen2
}

@test "CLIP's text tower of a CLIPModel (--tower text, CLIP's BPE, causal, end-of-text pooling) learns a word-presence task" {
  learns_word_presence clip clip_text_model --tower text
}

@test "CLIP's vision tower of a CLIPModel (--tower vision; shortest-edge bicubic resize, centre crop) learns a colour task from PNGs" {
  $PY "$SHERL_ROOT/tests/python/make_image_task.py" "$WORK"
  learns_task csv clip_vision_model "" --tower vision
}

# Sets the text_config eos_token_id of the CLIPModel in $WORK/model to $1.
set_clip_eos_token_id() {
  $PY - "$WORK/model/config.json" "$1" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["text_config"]["eos_token_id"] = int(sys.argv[2])
json.dump(c, open(sys.argv[1], "w"))
PY
}

@test "CLIP: a CLIPModel needs --tower; pairs and text after <|endoftext|> are refused; the towers are separate backbones" {
  $PY "$SHERL_ROOT/tests/python/make_text_task.py" clip "$WORK"
  run sherl-extract --model "$WORK/model" --input "$WORK/test.tsv" --out "$WORK/whole" --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == *"config.json: key 'model_type': 'clip' (a CLIPModel) holds a text and a vision tower: choose one with --tower text|vision"* ]]
  [ ! -e "$WORK/whole/shard-00000.h5" ]
  printf 'sentence1\tsentence2\tlabel\nthe cat\tsat on the mat\tnone\n' > "$WORK/pairs.tsv"
  run sherl-extract --model "$WORK/model" --tower text --input "$WORK/pairs.tsv" --out "$WORK/pairs" --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == *"pairs.tsv:2: CLIP's text tower takes one text"* ]]
  printf 'sentence\tlabel\nthe cat<|endoftext|> sat\tnone\n' > "$WORK/eot.tsv"
  run sherl-extract --model "$WORK/model" --tower text --input "$WORK/eot.tsv" --out "$WORK/eot" --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == *"eot.tsv:2: CLIP pools at token "*"(its end-of-text token, as Hugging Face picks it), which must be the last"* ]]
  run sherl-extract --model "$WORK/model" --tower vision --input "$WORK/test.tsv" --out "$WORK/vision" --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == *"a tsv input cannot feed an image model"* ]]
  sherl-extract --model "$WORK/model" --tower text --input "$WORK/test.tsv" --limit 4 --out "$WORK/text" --quiet
  run sherl-info --json "$WORK/text"
  [[ "$output" == *'"model_type":"clip_text_model"'* ]]
  # Pre-tokenised ids: Hugging Face pools at the first eos_token_id, or at the largest id
  # when eos_token_id is 2 (older configs); either must be the last token.
  eos=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["text_config"]["eos_token_id"])' "$WORK/model/config.json")
  printf '{"input_ids": [5, 6, %s], "label": "none"}\n{"input_ids": [5, %s, 6, %s], "label": "none"}\n' \
    "$eos" "$eos" "$eos" > "$WORK/ids.jsonl"
  run sherl-extract --model "$WORK/model" --tower text --input "$WORK/ids.jsonl" --out "$WORK/ids" --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == *"ids.jsonl:2: CLIP pools at token 1 of 4"* ]]
  printf '{"input_ids": [5, 6, %s], "label": "none"}\n{"input_ids": [5, 300, 6], "label": "none"}\n' "$eos" > "$WORK/argmax.jsonl"
  sherl-extract --model "$WORK/model" --tower text --input "$WORK/argmax.jsonl" --limit 1 --out "$WORK/argmax1" --quiet
  set_clip_eos_token_id 2
  run sherl-extract --model "$WORK/model" --tower text --input "$WORK/argmax.jsonl" --out "$WORK/argmax" --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == *"argmax.jsonl:2: CLIP pools at token 1 of 3"* ]]
  # Settings that would refuse every text are refused at start-up, naming the key or file.
  run sherl-extract --model "$WORK/model" --tower text --input "$WORK/test.tsv" --out "$WORK/short" --max-length 2 --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == *"vocab.json: max_length 2 leaves no room for the text"* ]]
  set_clip_eos_token_id 7
  run sherl-extract --model "$WORK/model" --tower text --input "$WORK/test.tsv" --out "$WORK/eos" --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == *"config.json: key 'eos_token_id': 7 is not $WORK/model/vocab.json's <|endoftext|>"* ]]
  [ ! -e "$WORK/eos/shard-00000.h5" ]
}

@test "T5: sentence pairs are joined by a template; a template without {b}, or a T5 without spiece.model, is refused" {
  $PY "$SHERL_ROOT/tests/python/make_text_task.py" t5 "$WORK"
  printf 'sentence1\tsentence2\tlabel\nthe cat\tsat on the mat\tnone\nriver bank\tthe road\triver\n' > "$WORK/pairs.tsv"
  sherl-extract --model "$WORK/model" --input "$WORK/pairs.tsv" --out "$WORK/pairs" --quiet
  run sherl-extract --model "$WORK/model" --input "$WORK/pairs.tsv" --out "$WORK/pairs2" --template 'premise: {a}' --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == *"--template 'premise: {a}': has no {b} for the second text column"* ]]
  sherl-extract --model "$WORK/model" --input "$WORK/pairs.tsv" --out "$WORK/pairs3" --quiet \
    --template 'sentence1: {a} sentence2: {b}'
  same_shard_data "$WORK/pairs" "$WORK/pairs3"  # the default template for T5 pairs
  sherl-extract --model "$WORK/model" --input "$WORK/pairs.tsv" --out "$WORK/pairs4" --quiet --template '{b} / {a}'
  ! same_shard_data "$WORK/pairs" "$WORK/pairs4"
  # Pre-tokenised ids that mark a second segment: refused at their line, before any shard.
  printf '{"input_ids": [5, 6, 1], "label": "none"}\n{"input_ids": [5, 6, 1], "token_type_ids": [0, 1, 1], "label": "river"}\n' \
    > "$WORK/types.jsonl"
  run sherl-extract --model "$WORK/model" --input "$WORK/types.jsonl" --out "$WORK/types" --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == *"types.jsonl:2: token_type_ids[1] = 1: the model has no token types"* ]]
  [ ! -e "$WORK/types/shard-00000.h5" ]
  rm "$WORK/model/spiece.model"
  run sherl-extract --model "$WORK/model" --input "$WORK/pairs.tsv" --out "$WORK/pairs5" --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == *"has no tokenizer that sherl reads (vocab.txt; spiece.model for T5;"* ]]
  mkdir "$WORK/model/spiece.model"
  run sherl-extract --model "$WORK/model" --input "$WORK/pairs.tsv" --out "$WORK/pairs6" --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == *"$WORK/model/spiece.model: not a regular file"* ]]
}

@test "Llama: add_bos_token false drops <s>; --max-length beyond Mistral's sliding window is refused at start-up" {
  $PY "$SHERL_ROOT/tests/python/make_text_task.py" llama "$WORK"
  sherl-extract --model "$WORK/model" --input "$WORK/test.tsv" --limit 3 --max-length 24 --out "$WORK/bos" --quiet
  echo '{"add_bos_token": false}' > "$WORK/model/tokenizer_config.json"
  sherl-extract --model "$WORK/model" --input "$WORK/test.tsv" --limit 3 --max-length 24 --out "$WORK/nobos" --quiet
  tokens() { sherl-info --json "$1" | $PY -c 'import json, sys; print(json.load(sys.stdin)["tokens"]["total"])'; }
  [ "$(tokens "$WORK/bos")" -eq $(($(tokens "$WORK/nobos") + 3)) ]  # one <s> per example
  $PY - "$WORK/model/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(model_type="mistral", sliding_window=8)
json.dump(c, open(sys.argv[1], "w"))
PY
  run sherl-extract --model "$WORK/model" --input "$WORK/test.tsv" --out "$WORK/window" --max-length 24 --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == *"config.json: max_length 24 must be between 2 and 8 (sliding_window)"* ]]
  [ ! -e "$WORK/window/shard-00000.h5" ]
}

@test "an example without tokens (an empty text, Qwen2 adds no <s>) is refused naming its line; nothing is written" {
  $PY "$SHERL_ROOT/tests/python/make_text_task.py" qwen2 "$WORK" > /dev/null
  { head -4 "$WORK/train.tsv"; printf '\triver\n'; tail -n +5 "$WORK/train.tsv" | head -20; } > "$WORK/empty.tsv"
  run sherl-extract --model "$WORK/model" --input "$WORK/empty.tsv" --max-length 24 --out "$WORK/features" --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-extract: error: $WORK/empty.tsv:5: the example has no tokens"* ]]
  run sherl-train --model "$WORK/model" --input "$WORK/empty.tsv" --max-length 24 --out "$WORK/run" --quiet
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-train: error: $WORK/empty.tsv:5: the example has no tokens"* ]]
  [ ! -e "$WORK/run" ]
}
