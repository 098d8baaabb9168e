#!/usr/bin/env bats
# Training memory depends on the batch and the trainable state, never on the size of the
# cache: a set six times larger, of about 600 MB, is trained in the same peak memory, up to
# the allocator's slack (measured: 10 to 25 MiB, from the order in which the loader's
# thread and the training thread free memory). Both sets hold more batches than the loader
# queues, so that both fill its queue.

load common

# Peak RSS in MiB of one sherl-train epoch on shard set $1 (run directory $2).
train_peak_mib() {
  /usr/bin/time -f 'peak_rss_kb %M' sherl-train --model "$SHERL_VIT" --train "$1" --out "$2" --epochs 1 \
    --batch-size 64 --warmup 1 --threads 1 --quiet > /dev/null 2> "$2.time"
  awk '$1 == "peak_rss_kb" { print int($2 / 1024) }' "$2.time"
}

@test "training a cache of 600 MB takes the peak memory of a cache six times smaller" {
  sherl-extract --model "$SHERL_VIT" --input "$FMNIST/train-images-idx3-ubyte.gz" \
    --labels "$FMNIST/train-labels-idx1-ubyte.gz" --limit 4000 --dtype f32 --batch-size 128 --out "$WORK/features" --quiet
  sherl-consolidate --input "$WORK/features" --out "$WORK/large" --dtype f32 --val-fraction 0 --quiet > /dev/null
  sherl-extract --model "$SHERL_VIT" --input "$FMNIST/train-images-idx3-ubyte.gz" \
    --labels "$FMNIST/train-labels-idx1-ubyte.gz" --limit 640 --dtype f32 --batch-size 128 --out "$WORK/small-features" --quiet
  sherl-consolidate --input "$WORK/small-features" --out "$WORK/small" --dtype f32 --val-fraction 0 --quiet > /dev/null
  local large_bytes small_mib large_mib
  large_bytes=$(du -bc "$WORK"/large/train/shard-*.h5 | tail -1 | cut -f1)
  echo "large cache: $((large_bytes >> 20)) MiB"
  [ "$large_bytes" -gt $((550 << 20)) ]
  small_mib=$(train_peak_mib "$WORK/small/train" "$WORK/run-small")
  large_mib=$(train_peak_mib "$WORK/large/train" "$WORK/run-large")
  echo "peak RSS: $small_mib MiB (small cache), $large_mib MiB (large cache)"
  [ "$small_mib" -gt 0 ]
  # Holding a tenth of the 500 MB more of cache would show.
  [ "$large_mib" -le $((small_mib + 48)) ]
}
