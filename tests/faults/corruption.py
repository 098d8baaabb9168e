#!/usr/bin/python3
"""Seeded corruption campaign against a sound shard set.

Each of N trials copies the set and damages one file in one way:
  chunk      flips one byte inside a stored chunk of a dataset (features, offsets,
             example_id, label), located with h5py's chunk index;
  metadata   flips one byte of a shard outside every chunk (superblock, object headers,
             B-trees, heaps, attributes, free space);
  manifest   flips one byte of manifest.json;
  truncate   cuts a shard at a random length;
  truncate-manifest  cuts manifest.json at a random length.
A flip XORs the byte with a random non-zero mask.

Then, for all trials at once (one process each, --json):
  sherl-info --verify SET    detected when it fails naming the damaged file;
  sherl-info --verify SHARD  the shard alone (Fletcher32 and structure, no manifest checksum).
For every corruption the set-level check misses, the damaged set is read back with h5py
(every dataset, every attribute, the chunk layout and filters) and compared with the sound
one: a miss that changes anything a reader reads is a failure ("silent"); the others are
counted as harmless (unused bytes or free space, or metadata no reader consults).
Finally `sherl-train` is run on a seeded sample of the detected corruptions (--train-checks,
"all" for every one): it must exit non-zero with a message naming the damaged file, unless
the damage changes nothing it reads (then training on intact data is no fault, and it is
counted apart).

Requirements (exit 1 otherwise): every chunk flip and every truncation is detected both at
set and at file level; every set-level detection names the file; no silent miss; sherl-train
refuses every sampled corruption that changes what it reads.

usage: corruption.py --bin BUILD/bin --set SOUND_SET --model MODEL --work DIR [-n 200]
           [--seed 1] [--train-checks 10|all] [--report FILE]
"""
import argparse
import collections
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys

# Attributes that describe how a set was made and that readers do not use (they may differ
# between the shards of a resumed extraction).
DESCRIPTIVE = ("/command_line", "/tool_version")
KINDS = (("chunk", 40), ("metadata", 35), ("manifest", 12), ("truncate", 9), ("truncate-manifest", 4))


def shards_of(set_dir):
    return sorted(f for f in os.listdir(set_dir) if f.startswith("shard-") and f.endswith(".h5"))


def chunk_map(path):
    """[(dataset, begin, end)] of every stored chunk."""
    import h5py
    out = []
    with h5py.File(path, "r") as f:
        for name in ("features", "offsets", "example_id", "label"):
            ds = f[name].id
            for i in range(ds.get_num_chunks()):
                info = ds.get_chunk_info(i)
                out.append((name, info.byte_offset, info.byte_offset + info.size))
    return out


def flatten(value, prefix, out):
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(v, prefix + "/" + str(k), out)
    else:
        out[prefix] = hashlib.sha1(repr(value).encode()).hexdigest()[:16]


def snapshot(set_dir):
    """{component: digest} of everything a reader can read of a set (manifest fields, every
    dataset's values, type, shape, chunking and filters, every attribute), for comparing a
    damaged copy with the sound one; "unreadable: ..." where reading fails."""
    import h5py
    import numpy as np
    out = {}
    try:
        flatten(json.load(open(os.path.join(set_dir, "manifest.json"))), "manifest.json", out)
    except (OSError, ValueError) as e:
        out["manifest.json"] = "unreadable: %s" % e
    for name in shards_of(set_dir):
        try:
            part = {}
            with h5py.File(os.path.join(set_dir, name), "r") as f:
                part["attrs"] = {k: np.asarray(v).tolist() for k, v in f.attrs.items()}
                for ds_name in sorted(f.keys()):
                    ds = f[ds_name]
                    part[ds_name] = {
                        "data": np.asarray(ds[()]).tobytes(), "dtype": str(ds.dtype), "shape": ds.shape,
                        "maxshape": ds.maxshape, "chunks": ds.chunks,
                        "filters": sorted((k, str(v)) for k, v in ds._filters.items()),
                        "attrs": {k: np.asarray(v).tolist() for k, v in ds.attrs.items()}}
            flatten(part, name, out)
        except Exception as e:  # noqa: BLE001 - any failure to read is a difference
            out[name] = "unreadable: %s" % str(e)[:200]
    return out


def snapshot_worker(dirs):
    """--snapshot mode: one JSON line per directory, flushed, so that a crash (HDF5 is not
    hardened against damaged metadata) loses only the directory being read."""
    for d in dirs:
        print(json.dumps({"dir": d, "snapshot": snapshot(d)}), flush=True)


def snapshots(dirs):
    """{dir: snapshot} read in worker processes; a directory whose reading crashes the
    worker gets {"crash": "<signal>"}."""
    results, todo = {}, list(dirs)
    while todo:
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--snapshot"] + todo,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in r.stdout.splitlines():
            j = json.loads(line)
            results[j["dir"]] = j["snapshot"]
        todo = [d for d in todo if d not in results]
        if todo:  # the worker died on todo[0]
            results[todo.pop(0)] = {"crash": "reader died with status %d" % r.returncode}
    return results


def differences(sound, damaged):
    return sorted(k for k in set(sound) | set(damaged) if sound.get(k) != damaged.get(k))


def flip(path, where, rng):
    with open(path, "r+b") as f:
        f.seek(where)
        old = f.read(1)[0]
        mask = rng.randrange(1, 256)
        f.seek(where)
        f.write(bytes([old ^ mask]))
    return "byte %d: 0x%02x -> 0x%02x" % (where, old, old ^ mask)


def corrupt(trial_dir, kind, rng, layouts):
    """Damages one file of trial_dir; returns (file, region, description)."""
    shards = shards_of(trial_dir)
    if kind in ("manifest", "truncate-manifest"):
        path = os.path.join(trial_dir, "manifest.json")
        size = os.path.getsize(path)
        if kind == "manifest":
            return path, "manifest", flip(path, rng.randrange(size), rng)
        cut = rng.randrange(size)
        os.truncate(path, cut)
        return path, "manifest", "truncated to %d of %d bytes" % (cut, size)
    name = rng.choice(shards)
    path = os.path.join(trial_dir, name)
    size = os.path.getsize(path)
    chunks = layouts[name]
    if kind == "truncate":
        cut = rng.randrange(size)
        os.truncate(path, cut)
        return path, "truncate", "truncated to %d of %d bytes" % (cut, size)
    if kind == "chunk":
        dataset = rng.choice(sorted({c[0] for c in chunks}))  # small datasets get their share
        _, begin, end = rng.choice([c for c in chunks if c[0] == dataset])
        return path, "chunk:" + dataset, flip(path, rng.randrange(begin, end), rng)
    while True:
        where = rng.randrange(size)
        if not any(begin <= where < end for _, begin, end in chunks):
            return path, "metadata", flip(path, where, rng)


def verify_all(bin_dir, paths):
    """{path: problems} from sherl-info --verify --json runs over many paths at once; a path
    on which the tool dies gets the problem "crash: ..." (no file named)."""
    results, todo = {}, list(paths)
    while todo:
        batch = todo[:200]
        r = subprocess.run([bin_dir + "/sherl-info", "--verify", "--json"] + batch, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, errors="replace")
        for line in r.stdout.splitlines():
            j = json.loads(line)
            results[j["path"]] = j["problems"]
        missing = [p for p in batch if p not in results]
        if missing:  # it stopped (crashed, or failed to report) on the first path it did not report
            results[missing[0]] = ["STOPPED: sherl-info exited with status %d: %s" %
                                   (r.returncode, r.stderr.strip()[-300:])]
        todo = [p for p in todo if p not in results]
    return results


def names_file(problems, path):
    """Whether a problem names the damaged file: its path, or for the manifest also
    "manifest.json" (as in "<shard>: attribute ... differs from manifest.json")."""
    if os.path.basename(path) == "manifest.json":
        return any("manifest.json" in p for p in problems)
    return any(path in p for p in problems)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--set", required=True, help="a sound shard set (left untouched)")
    p.add_argument("--model", required=True, help="the model the set was extracted with (for sherl-train)")
    p.add_argument("--work", required=True)
    p.add_argument("-n", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--train-checks", default="10")
    p.add_argument("--report", help="also write the summary as JSON here")
    if sys.argv[1:2] == ["--snapshot"]:
        return snapshot_worker(sys.argv[2:])
    a = p.parse_args()
    a.bin = os.path.abspath(a.bin)
    os.environ.setdefault("HDF5_PLUGIN_PATH", os.path.join(os.path.dirname(a.bin), "hdf5-plugins"))
    rng = random.Random(a.seed)
    os.makedirs(a.work, exist_ok=True)
    sound = snapshot(a.set)
    layouts = {name: chunk_map(os.path.join(a.set, name)) for name in shards_of(a.set)}

    trials = []
    kinds, weights = zip(*KINDS)
    for t in range(a.n):
        trial_dir = os.path.join(a.work, "t%04d" % t)
        shutil.rmtree(trial_dir, ignore_errors=True)
        shutil.copytree(a.set, trial_dir)
        kind = rng.choices(kinds, weights)[0]
        path, region, what = corrupt(trial_dir, kind, rng, layouts)
        trials.append({"dir": trial_dir, "kind": kind, "file": path, "region": region, "what": what})

    set_results = verify_all(a.bin, [t["dir"] for t in trials])
    file_results = verify_all(a.bin, [t["file"] for t in trials if t["file"].endswith(".h5")])
    damaged = snapshots([t["dir"] for t in trials])
    failures = []
    for t in trials:
        problems = set_results[t["dir"]]
        t["set_problems"] = problems
        t["file_problems"] = file_results.get(t["file"])
        t["stopped"] = any(p.startswith("STOPPED") for p in problems + (t["file_problems"] or []))
        t["set_detected"] = bool(problems)
        t["names_file"] = names_file(problems, t["file"])
        t["file_detected"] = bool(t["file_problems"]) if t["file"].endswith(".h5") else None
        if t["stopped"]:
            failures.append("%s (%s, %s): sherl-info --verify stopped instead of reporting: %s" %
                            (t["dir"], t["region"], t["what"], [p for p in problems + (t["file_problems"] or [])
                                                                 if p.startswith("STOPPED")]))
        elif t["set_detected"] and not t["names_file"]:
            failures.append("%s (%s, %s): --verify failed without naming the file: %s" %
                            (t["dir"], t["region"], t["what"], problems))
        if t["region"].startswith("chunk") or t["region"] == "truncate":
            if not t["set_detected"] or not t["file_detected"]:
                failures.append("%s: undetected %s damage (%s) of %s" % (t["dir"], t["region"], t["what"], t["file"]))
        t["changes"] = differences(sound, damaged[t["dir"]])
        t["material"] = [c for c in t["changes"] if not c.endswith(DESCRIPTIVE)]
        if not t["set_detected"] and t["material"]:
            failures.append("%s: SILENT: %s (%s) changes %s and --verify accepts it" %
                            (t["dir"], t["region"], t["what"], t["changes"][:5]))

    detected = [t for t in trials if t["set_detected"]]
    sample = detected if a.train_checks == "all" else \
        random.Random(a.seed + 1).sample(detected, min(int(a.train_checks), len(detected)))
    # Always: damage that the shard's own checks miss but that changes what a reader reads
    # (only the manifest's checksum would catch it; sherl-train does not hash the shards).
    sample += [t for t in detected if t not in sample and t["file_detected"] is False and t["material"]]
    trained_harmless = 0
    for t in sample:
        out = os.path.join(t["dir"], "train-run")
        r = subprocess.run([a.bin + "/sherl-train", "--model", a.model, "--train", t["dir"], "--out", out,
                            "--epochs", "1", "--threads", "1", "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
        t["train_refused"] = r.returncode == 1 and names_file([r.stderr], t["file"])  # 1: an error, not a crash
        t["train_message"] = r.stderr.strip()[-400:]
        if r.returncode == 0 and not t["material"]:
            trained_harmless += 1  # intact data: training on it is no fault
        elif not t["train_refused"]:
            failures.append("%s: sherl-train (status %d) did not refuse %s damage (%s) naming %s: %s" %
                            (t["dir"], r.returncode, t["region"], t["what"], t["file"], t["train_message"]))
        shutil.rmtree(out, ignore_errors=True)

    by_region = collections.OrderedDict()
    for t in sorted(trials, key=lambda t: t["region"]):
        r = by_region.setdefault(t["region"], {"n": 0, "set_detected": 0, "file_detected": 0,
                                               "file_missed_harmless": 0, "file_missed_material": 0})
        r["n"] += 1
        r["set_detected"] += t["set_detected"]
        r["file_detected"] += bool(t["file_detected"])
        r["file_missed_harmless"] += t["file_detected"] is False and not t["material"]
        r["file_missed_material"] += t["file_detected"] is False and bool(t["material"])
    summary = {
        "n": a.n, "seed": a.seed, "set_detected": len(detected), "undetected": a.n - len(detected),
        "undetected_silent": sum(1 for t in trials if not t["set_detected"] and t["material"]),
        "undetected_descriptive": sum(1 for t in trials if not t["set_detected"] and t["changes"] and not t["material"]),
        "verify_stopped": sum(1 for t in trials if t["stopped"]),
        "by_region": by_region,
        "train_checked": len(sample), "train_refused": sum(1 for t in sample if t.get("train_refused")),
        "train_accepted_harmless": trained_harmless,
    }
    print("corruptions: N=%d (seed %d): %d detected by sherl-info --verify (%d naming the file), %d undetected: "
          "%d change nothing a reader reads, %d only a descriptive field (command line, tool version), %d silent; "
          "verify stopped on %d" % (a.n, a.seed, summary["set_detected"], sum(t["names_file"] for t in trials),
                                   summary["undetected"], summary["undetected"] - summary["undetected_silent"] -
                                   summary["undetected_descriptive"], summary["undetected_descriptive"],
                                   summary["undetected_silent"], summary["verify_stopped"]))
    print("%-18s %4s %13s %14s %22s %23s" % ("region", "n", "set detected", "file detected",
                                            "file missed, harmless", "file missed, material"))
    for region, r in by_region.items():
        print("%-18s %4d %13d %14d %22d %23d" % (region, r["n"], r["set_detected"], r["file_detected"],
                                                 r["file_missed_harmless"], r["file_missed_material"]))
    print("sherl-train on %d detected corruptions: %d refused naming the file, %d trained on intact data" %
          (summary["train_checked"], summary["train_refused"], trained_harmless))
    if a.report:
        json.dump({"summary": summary, "trials": [{k: v for k, v in t.items() if k != "dir"} for t in trials]},
                  open(a.report, "w"), indent=1, default=str)
    for f in failures:
        print("FAIL: " + f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
