#!/usr/bin/python3
"""Summary table of a sherl workflow: one row per training grid (a method and a seed, its
learning rates side by side, one selected on validation) with the selected settings, test
metrics, training time and peak memory. Writes <out>/summary.tsv and <out>/summary.md.

usage: summarize.py OUT RUN...   (RUN = <method>_seed<S>_lr<LR>[+<LR>...], a directory in OUT/runs)
"""
import json
import math
import os
import statistics
import sys


def run_row(out, name):
    run = os.path.join(out, "runs", name)
    test = json.load(open(os.path.join(run, "test.json")))
    adapter = json.load(open(os.path.join(run, "adapter.json")))
    done = {}
    with open(os.path.join(run, "train.jsonl")) as log:
        for line in log:
            entry = json.loads(line)
            if entry.get("done"):
                done = entry
    method, seed, _ = name.split("_", 2)
    val = adapter.get("metrics", {}).get("validation", {})
    return {
        "run": name,
        "method": method,
        "seed": seed[len("seed"):],
        "lr": f'{adapter["training"]["lr"]:g}',  # the selected one
        "best_epoch": adapter.get("metrics", {}).get("epoch", ""),
        "val_accuracy": val.get("accuracy", ""),
        "test_accuracy": test.get("accuracy", test.get("pearson", test.get("micro_f1", ""))),
        "test_macro_f1": test.get("macro_f1", ""),
        "s_per_epoch": done.get("seconds_per_epoch", ""),
        "peak_rss_mib": done.get("peak_rss_bytes", 0) / 2**20,
    }


def fmt(value):
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.0f}"
    return str(value)


def main():
    out, runs = sys.argv[1], sys.argv[2:]
    rows = [run_row(out, r) for r in runs]
    columns = list(rows[0].keys())
    with open(os.path.join(out, "summary.tsv.tmp"), "w") as tsv:
        tsv.write("\t".join(columns) + "\n")
        for row in rows:
            tsv.write("\t".join(fmt(row[c]) for c in columns) + "\n")
    md = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    md += ["| " + " | ".join(fmt(row[c]) for c in columns) + " |" for row in rows]
    md.append("")
    for method in sorted({r["method"] for r in rows}):
        accs = [r["test_accuracy"] for r in rows if r["method"] == method and isinstance(r["test_accuracy"], float)]
        if accs:
            spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
            md.append(f"{method}: mean test accuracy {statistics.mean(accs):.4f} "
                      f"(sd {spread:.4f}, min {min(accs):.4f}, max {max(accs):.4f}, {len(accs)} runs)  ")
    with open(os.path.join(out, "summary.md.tmp"), "w") as f:
        f.write("\n".join(md) + "\n")
    os.replace(os.path.join(out, "summary.tsv.tmp"), os.path.join(out, "summary.tsv"))
    os.replace(os.path.join(out, "summary.md.tmp"), os.path.join(out, "summary.md"))


if __name__ == "__main__":
    main()
