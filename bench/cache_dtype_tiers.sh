#!/usr/bin/env bash
# Bytes per example against test accuracy for the cache's stored dtype and tier subset, on
# the bundled example (issue 18): each setting runs the real pipeline (pipelines/Makefile:
# extract, consolidate, SHERL with 3 seeds, evaluate) in its own directory, then one
# Markdown table is printed. Each setting is a full main job without the linear probe
# (about 2-3 minutes on 2 cores).
#
#   bench/cache_dtype_tiers.sh [OUT_ROOT] [SETTING...]     SETTING = <dtype>:<tiers>
#
# Default settings: f16 and i8, each with all tiers, every second tier (1,3,5; the last
# tier is always kept) and auto. Run from the repository root after scripts/build.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-runs/bench-cache}
shift || true
settings=("$@")
((${#settings[@]})) || settings=(f16:all i8:all f16:1,3,5 i8:1,3,5 f16:auto i8:auto)
for s in "${settings[@]}"; do
  dtype=${s%%:*} tiers=${s#*:}
  out="$root/${dtype}_tiers-${tiers//,/-}"
  echo "cache_dtype_tiers: $s -> $out" >&2
  make -s -f pipelines/Makefile -j 2 OUT="$out" DTYPE="$dtype" TIERS="$tiers" METHODS=sherl >/dev/null
done
/usr/bin/python3 - "$root" "${settings[@]}" <<'PY'
import json, os, statistics, sys

root, settings = sys.argv[1], sys.argv[2:]

def set_bytes(d):
    """Bytes of a shard set's files and its examples."""
    m = json.load(open(os.path.join(d, "manifest.json")))
    return sum(s["bytes"] for s in m["shards"]), m["total_examples"], m["info"]["tiers"]

rows = []
for s in settings:
    dtype, tiers = s.split(":", 1)
    out = os.path.join(root, "%s_tiers-%s" % (dtype, tiers.replace(",", "-")))
    ext_bytes, ext_n, _ = set_bytes(os.path.join(out, "features", "train"))
    tr_bytes, tr_n, kept = set_bytes(os.path.join(out, "consolidated", "train"))
    acc = []
    with open(os.path.join(out, "summary.tsv")) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            acc.append(float(row["test_accuracy"]))
    rows.append((s, kept, tr_bytes / tr_n, ext_bytes / ext_n, acc))
base = rows[0][2]
print("| dtype:tiers | tiers kept | training cache bytes/example | ratio to %s | extracted (zstd, all tiers) bytes/example "
      "| test accuracy, 3 seeds | mean |" % settings[0])
print("|---|---|---:|---:|---:|---|---:|")
for s, kept, tr, ext, acc in rows:
    print("| %s | %s | %.0f | %.3f | %.0f | %s | %.4f |" % (
        s, ",".join(map(str, kept)), tr, tr / base, ext, " / ".join("%.4f" % a for a in acc), statistics.mean(acc)))
PY
