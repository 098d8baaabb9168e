#!/usr/bin/env bats
# Hostile inputs through the tools: a gigabyte-long line arriving through a pipe, deeply
# nested JSON, a safetensors header that claims a terabyte. Each is refused with one line
# naming the file, in bounded memory. (tests/fuzz/ fuzzes the same parsers; tests/unit/
# covers the readers' limits in detail.)
load common

# A text model directory that passes sherl-extract's checks up to reading the input.
text_model() {
  mkdir -p "$WORK/bert"
  echo '{"model_type": "bert", "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
    "intermediate_size": 16, "vocab_size": 8, "type_vocab_size": 2, "max_position_embeddings": 512}' \
    > "$WORK/bert/config.json"
  printf '%s\n' '[PAD]' '[UNK]' '[CLS]' '[SEP]' a b > "$WORK/bert/vocab.txt"
  # The weights are hashed before the input is read, and parsed only after it.
  printf 'not read' > "$WORK/bert/model.safetensors"
}

# Runs sherl-extract under /usr/bin/time; sets $status, $output and $rss_kb (peak RSS).
extract_with_peak_rss() {
  run /usr/bin/time -f 'peak_rss_kb=%M' sherl-extract --out "$WORK/out" --quiet "$@"
  echo "$output"
  rss_kb=$(sed -n 's/^peak_rss_kb=//p' <<< "$output")
}

@test "a 1 GB line through a pipe: refused at the line limit, in bounded memory" {
  text_model
  # Baseline: the same run refused on a short bad row.
  extract_with_peak_rss --model "$WORK/bert" --format tsv --input <(printf 'sentence\tlabel\na\tb\tc\n')
  [ "$status" -eq 1 ]
  [[ "$output" == *"sherl-extract: error: /dev/fd/"*":2: row has 3 columns, the header has 2"* ]]
  baseline_kb=$rss_kb
  extract_with_peak_rss --model "$WORK/bert" --format tsv \
    --input <(printf 'sentence\tlabel\n'; head -c 1G /dev/zero | tr '\0' x)
  [ "$status" -eq 1 ]
  [[ "$output" == *"sherl-extract: error: /dev/fd/"*":2: line longer than 16777216 bytes: not a text input?"* ]]
  echo "peak RSS ${rss_kb} KiB, baseline ${baseline_kb} KiB"
  # Reading the line whole would need over 1 GiB; the limit (16 MiB) costs at most ~64 MiB.
  [ "$rss_kb" -lt $((baseline_kb + 128 * 1024)) ]
  [ ! -e "$WORK/out/manifest.json" ]
}

@test "a 1 GB first line with format auto: refused while sniffing the format" {
  text_model
  extract_with_peak_rss --model "$WORK/bert" --input <(head -c 1G /dev/zero | tr '\0' x)
  [ "$status" -eq 1 ]
  [[ "$output" == *"sherl-extract: error: /dev/fd/"*":1: line longer than 16777216 bytes"* ]]
}

@test "deeply nested JSON in config.json and in a JSON Lines input: refused, naming the file" {
  text_model
  deep=$(head -c 100000 /dev/zero | tr '\0' '[')$(head -c 100000 /dev/zero | tr '\0' ']')
  echo '{"sentence": "a", "label": 0}' > "$WORK/in.jsonl"
  echo "{\"sentence\": \"a\", \"label\": $deep}" >> "$WORK/in.jsonl"
  run sherl-extract --model "$WORK/bert" --input "$WORK/in.jsonl" --out "$WORK/out" --quiet
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-extract: error: $WORK/in.jsonl:2: malformed JSON: nested deeper than 64 levels" ]]
  echo "{\"model_type\": \"bert\", \"vocab_size\": $deep}" > "$WORK/bert/config.json"
  run sherl-extract --model "$WORK/bert" --input "$WORK/in.jsonl" --out "$WORK/out" --quiet
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-extract: error: $WORK/bert/config.json: not valid JSON: nested deeper than 64 levels" ]]
}

@test "a safetensors header claiming a terabyte: refused, naming the file" {
  mkdir -p "$WORK/vit"
  cp "$SHERL_VIT/config.json" "$SHERL_VIT/preprocessor_config.json" "$WORK/vit/"
  # Header length 2^40 (little endian), then a 2-byte header.
  printf '\x00\x00\x00\x00\x00\x01\x00\x00{}' > "$WORK/vit/model.safetensors"
  run sherl-extract --model "$WORK/vit" --input "$FMNIST/t10k-images-idx3-ubyte.gz" \
    --labels "$FMNIST/t10k-labels-idx1-ubyte.gz" --limit 1 --out "$WORK/out" --quiet
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == "sherl-extract: error: $WORK/vit/model.safetensors: header length 1099511627776 exceeds the file size 10" ]]
}
