#!/usr/bin/python3
"""Kills sherl-extract or sherl-train with SIGKILL at seeded random moments, reruns the same
command after every kill, and checks that nothing is lost or silently wrong:

extract  The final shard set equals that of an uninterrupted run (features, offsets, ids,
         labels, shard attributes and manifest.json, apart from the command line and the
         per-file checksums, which legitimately differ). After every kill, either the set is
         complete (manifest.json exists; then `sherl-info --verify` accepts it) or
         `sherl-info --verify` and `sherl-train` refuse it as incomplete; and every shard
         under its final name is sound on its own (no partial file under a final name).
train    `sherl-train --resume` after every kill; the final adapter.safetensors is
         byte-identical to an uninterrupted run's (CPU, --threads 1), and so are the
         per-epoch losses and validation metrics of train.jsonl. After every kill the
         checkpoint that state.json names is there.

The kill points are seeded and uniform over the start-up and the remaining work, counted in
shards or epochs and followed by polling the output, so that they land in model loading,
mid-shard / mid-epoch and in commits alike whatever the machine's speed.
Prints one line per kill and a summary; exits 1 on the first failed check.

usage: kill_resume.py extract|train --bin BUILD/bin --work DIR [--kills N] [--seed S]
           [--examples N] [--epochs N]
The default suite runs it with a few kills (tests/bats/faults.bats); the soak run with 10
kills and more examples is tests/faults/soak.sh.
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "examples/models/vit-tiny-fmnist5")
FMNIST = "/usr/share/datasets/fashion-mnist"


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def temporaries(directory):
    out = []
    for base, _, files in os.walk(directory):
        out += [os.path.join(base, f) for f in files if f.startswith(".") and ".tmp." in f]
    return sorted(out)


def timed(cmd):
    start = time.monotonic()
    r = run(cmd)
    if r.returncode != 0:
        fail("%s exited %d: %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    return time.monotonic() - start


def timed_with_progress(cmd, progress):
    """Runs cmd to the end, polling progress() (a count of completed units: shards, epochs);
    returns (seconds before work started, seconds per unit), estimated from when the units
    completed."""
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
    marks, last = [], 0
    while p.poll() is None:
        n = progress()
        if n > last:
            marks.append(time.monotonic() - start)
            last = n
        time.sleep(0.02)
    err = p.stderr.read()
    p.stderr.close()
    if p.returncode != 0:
        fail("%s exited %d: %s" % (" ".join(cmd), p.returncode, err.strip()))
    total = time.monotonic() - start
    if len(marks) < 2:
        return total / 2, total / 2
    per_unit = (marks[-1] - marks[0]) / (len(marks) - 1)
    return max(0.0, marks[0] - per_unit), per_unit


def kill_at(cmd, progress, started, point, startup, per_unit):
    """Starts cmd and SIGKILLs it at a point of its work given in units (shards, epochs)
    beyond what is already done: point in [-1, 0) is a moment of the start-up (model
    loading, planning; at the latest when started(pid) says the work has begun), point
    u >= 0 is the fraction frac(u) of a unit after the work has begun and floor(u) more units
    have been completed. Progress is polled, so the point is the same on a slow or loaded
    machine. Returns (killed, seconds after the start); killed is False when the command had
    already finished, successfully."""
    start = time.monotonic()
    base = progress()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
    whole = int(point // 1) if point >= 0 else -1
    deadline = start + (point + 1) * startup if point < 0 else None
    begun = False
    while p.poll() is None:
        now = time.monotonic()
        begun = begun or started(p.pid)
        if point < 0 and begun:
            deadline = min(deadline, now)
        if deadline is None and begun and progress() >= base + whole:
            deadline = now + (point - whole) * per_unit
        if deadline is not None and now >= deadline:
            p.send_signal(signal.SIGKILL)
            p.wait()
            p.stderr.close()
            return True, now - start
        time.sleep(0.01)
    err = p.stderr.read()
    p.stderr.close()
    if p.returncode != 0:
        fail("%s exited %d before the kill: %s" % (" ".join(cmd), p.returncode, err.strip()))
    return False, time.monotonic() - start


def kill_point(rng, remaining):
    """A kill point uniform over the start-up and the first remaining - 1/2 units."""
    return rng.uniform(-1.0, max(0.0, remaining - 0.5))


# ---- extract ----------------------------------------------------------------------------

def h5_contents(path):
    """Datasets and root attributes of a shard, read with h5py through the zstd plugin."""
    import h5py
    import numpy as np
    with h5py.File(path, "r") as f:
        data = {name: np.asarray(f[name][()]) for name in ("features", "offsets", "example_id", "label")}
        attrs = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in f.attrs.items()}
    return data, attrs


def same_shard_sets(ref, got):
    import numpy as np
    names = sorted(f for f in os.listdir(ref) if f.startswith("shard-") and f.endswith(".h5"))
    got_names = sorted(f for f in os.listdir(got) if f.startswith("shard-") and f.endswith(".h5"))
    if names != got_names:
        fail("shard files differ: %s vs %s" % (names, got_names))
    for name in names:
        (d1, a1), (d2, a2) = h5_contents(os.path.join(ref, name)), h5_contents(os.path.join(got, name))
        for key in d1:
            if d1[key].shape != d2[key].shape or not np.array_equal(d1[key], d2[key]):
                fail("%s: dataset '%s' differs from the uninterrupted run's" % (name, key))
        for attrs in (a1, a2):
            attrs.pop("command_line", None)  # names --out
        if a1 != a2:
            fail("%s: attributes differ: %s" % (name, sorted(k for k in a1 if a1.get(k) != a2.get(k))))
    m1, m2 = (json.load(open(os.path.join(d, "manifest.json"))) for d in (ref, got))
    for m in (m1, m2):
        m["info"].pop("command_line")
        for s in m["shards"]:  # checked against the files by sherl-info --verify
            s.pop("sha256")
            s.pop("bytes")
    if m1 != m2:
        fail("manifest.json differs from the uninterrupted run's (apart from command line and checksums)")
    return len(names)


def check_incomplete_refused(bin_dir, out, scratch):
    r = run([bin_dir + "/sherl-info", "--verify", out])
    if r.returncode != 1 or "incomplete shard set" not in r.stderr:
        fail("sherl-info --verify accepted an incomplete set (status %d): %s" % (r.returncode, r.stderr))
    r = run([bin_dir + "/sherl-train", "--model", MODEL, "--train", out, "--out", scratch, "--epochs", "1",
             "--threads", "1", "--quiet"])
    manifest = os.path.join(out, "manifest.json")
    if r.returncode == 0 or manifest not in r.stderr or "incomplete" not in r.stderr:
        fail("sherl-train did not refuse an incomplete set (status %d): %s" % (r.returncode, r.stderr))
    if os.path.exists(os.path.join(scratch, "adapter.safetensors")):
        fail("sherl-train wrote an adapter from an incomplete set")


def check_final_named_shards(bin_dir, out):
    shards = sorted(os.path.join(out, f) for f in os.listdir(out) if f.startswith("shard-") and f.endswith(".h5"))
    if shards:
        r = run([bin_dir + "/sherl-info", "--verify"] + shards)
        if r.returncode != 0:
            fail("a shard under its final name is not sound after a kill: " + r.stderr.strip())
    return len(shards)


def extract_faults(a):
    per_label = max(1, a.examples // 5)
    cmd = lambda out: [a.bin + "/sherl-extract", "--model", MODEL, "--input", FMNIST + "/train-images-idx3-ubyte.gz",
                       "--labels", FMNIST + "/train-labels-idx1-ubyte.gz", "--select-labels", "5,6,7,8,9",
                       "--per-label", str(per_label), "--examples-per-shard", str(a.examples_per_shard),
                       "--batch-size", str(a.batch_size), "--threads", "1", "--out", out, "--quiet"]
    ref, out, scratch = (os.path.join(a.work, d) for d in ("ref", "run", "train-scratch"))
    shards = lambda d: len([f for f in os.listdir(d) if f.startswith("shard-")]) if os.path.isdir(d) else 0
    startup, per_shard = timed_with_progress(cmd(ref), lambda: shards(ref))
    blocks = -(-per_label * 5 // a.examples_per_shard)
    print("uninterrupted: %d examples, %d shards, %.1f s to start, %.2f s per shard" %
          (per_label * 5, blocks, startup, per_shard), flush=True)
    rng = random.Random(a.seed)
    killed = mid_shard = 0
    for k in range(a.kills):
        point = kill_point(rng, blocks - shards(out))
        writing = lambda pid: os.path.isdir(out) and any(f.startswith(".shard-") and f.endswith(".tmp.%d" % pid)
                                                         for f in os.listdir(out))
        was_killed, delay = kill_at(cmd(out), lambda: shards(out), writing, point, startup, per_shard)
        temps = temporaries(out) if os.path.isdir(out) else []
        complete = os.path.exists(os.path.join(out, "manifest.json"))
        complete_shards = check_final_named_shards(a.bin, out) if os.path.isdir(out) else 0
        if complete:
            r = run([a.bin + "/sherl-info", "--verify", out])
            if r.returncode != 0 and not temps:
                fail("a set with manifest.json does not verify: " + r.stderr.strip())
        elif os.path.isdir(out):
            check_incomplete_refused(a.bin, out, scratch)
        killed += was_killed
        mid_shard += any(os.path.basename(t).startswith(".shard-") for t in temps)
        print("kill %d at %+.2f shards (%.2f s): %s; %d complete shards, temporaries: %s%s" %
              (k + 1, point, delay, "killed" if was_killed else "had finished", complete_shards,
               ", ".join(os.path.basename(t) for t in temps) or "none",
               "; manifest.json present" if complete else ""), flush=True)
        if not was_killed:
            break
    timed(cmd(out))  # the same command, to the end
    left = temporaries(out)
    if left:
        fail("temporaries left after the final run: %s" % left)
    r = run([a.bin + "/sherl-info", "--verify", out])
    if r.returncode != 0:
        fail("final set does not verify: " + r.stderr.strip())
    n = same_shard_sets(ref, out)
    print("extract: %d kills (%d mid-shard), final set of %d shards equals the uninterrupted one" %
          (killed, mid_shard, n), flush=True)
    if a.require_mid_shard and killed and not mid_shard:
        fail("no kill landed while a shard was being written; choose other --seed/--examples")


# ---- train ------------------------------------------------------------------------------

def has_open(pid, path):
    """Whether process pid has the file open (Linux /proc)."""
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == path:
                return True
        except OSError:
            pass
    return False


def point_states(out):
    """(checkpoint directory, epochs done) of each point of the run's checkpoint: a one-point
    run's (version 1) or a grid's (version 2, points in points/NAME/)."""
    state = json.load(open(os.path.join(out, "checkpoint", "state.json")))
    if state["version"] == 1:
        return [(os.path.join(out, "checkpoint"), state["state"]["epochs_done"])]
    return [(os.path.join(out, "points", p["name"], "checkpoint"), p["state"]["epochs_done"])
            for p in state["points"]]


def epochs_done(out):
    try:
        return max(e for _, e in point_states(out))
    except (OSError, ValueError, KeyError):
        return 0


def check_checkpoint(out):
    state = os.path.join(out, "checkpoint", "state.json")
    if not os.path.exists(state):
        return 0
    try:
        points = point_states(out)
    except (ValueError, KeyError) as err:
        fail("%s is not a readable checkpoint after a kill: %s" % (state, err))
    for directory, e in points:
        for name in ("model-%d.pt" % e, "optimizer-%d.pt" % e):
            if not os.path.exists(os.path.join(directory, name)):
                fail("state.json names epoch %d but %s/%s is missing" % (e, directory, name))
    return max(e for _, e in points)


def epoch_lines(out):
    """The per-epoch log lines without the timings."""
    rows = []
    for line in open(os.path.join(out, "train.jsonl")):
        j = json.loads(line)
        if "epoch" in j:
            rows.append({k: v for k, v in j.items() if not k.endswith("seconds") and k != "examples_per_s"})
    return rows


def prepare_train_sets(a):
    data = os.path.join(a.work, "data")
    if not os.path.exists(os.path.join(data, "cons", "consolidate.json")):
        subprocess.run([a.bin + "/sherl-extract", "--model", MODEL, "--input", FMNIST + "/train-images-idx3-ubyte.gz",
                        "--labels", FMNIST + "/train-labels-idx1-ubyte.gz", "--select-labels", "5,6,7,8,9",
                        "--per-label", str(max(2, a.examples // 5)), "--examples-per-shard", "64",
                        "--out", data + "/feats", "--quiet"], check=True)
        subprocess.run([a.bin + "/sherl-consolidate", "--input", data + "/feats", "--out", data + "/cons",
                        "--val-fraction", "0.2", "--quiet"], check=True, stdout=subprocess.DEVNULL)
    return data + "/cons/train", data + "/cons/val"


def train_faults(a):
    train, val = (a.train, a.val) if a.train else prepare_train_sets(a)
    cmd = lambda out: [a.bin + "/sherl-train", "--model", MODEL, "--train", train] + (["--val", val] if val else []) + \
        ["--epochs", str(a.epochs), "--batch-size", str(a.batch_size), "--threads", "1", "--seed", str(a.seed),
         "--resume", "--quiet", "--out", out]
    ref, out = os.path.join(a.work, "train-ref"), os.path.join(a.work, "train-run")
    log = os.path.join(out, "train.jsonl")  # opened once the model is loaded and the checkpoint read
    startup, per_epoch = timed_with_progress(cmd(ref), lambda: epochs_done(ref))
    print("uninterrupted: %d epochs, %.1f s to start, %.2f s per epoch" % (a.epochs, startup, per_epoch), flush=True)
    rng = random.Random(a.seed)
    killed = mid_epoch = 0
    for k in range(a.kills):
        before = epochs_done(out)
        point = kill_point(rng, a.epochs - before)
        was_killed, delay = kill_at(cmd(out), lambda: epochs_done(out), lambda pid: has_open(pid, log), point,
                                    startup, per_epoch)
        after = check_checkpoint(out)
        killed += was_killed
        mid_epoch += was_killed and after < a.epochs
        print("kill %d at %+.2f epochs (%.2f s): %s; checkpoint after epoch %d (was %d)" %
              (k + 1, point, delay, "killed" if was_killed else "had finished", after, before), flush=True)
        if not was_killed:
            break
    timed(cmd(out))
    # The run, and each point of a grid (the default with validation data).
    points = sorted(os.listdir(os.path.join(ref, "points"))) if os.path.isdir(os.path.join(ref, "points")) else []
    for sub in [""] + [os.path.join("points", p) for p in points]:
        a_ref, a_run = (open(os.path.join(d, sub, "adapter.safetensors"), "rb").read() for d in (ref, out))
        if a_ref != a_run:
            fail("%s differs from the uninterrupted run's" % os.path.join(sub, "adapter.safetensors"))
        if epoch_lines(os.path.join(ref, sub)) != epoch_lines(os.path.join(out, sub)):
            fail("%s: per-epoch losses or metrics differ from the uninterrupted run's" % os.path.join(sub, "train.jsonl"))
    left = temporaries(out)
    if left:
        fail("temporaries of the killed runs left after the final --resume: %s" % left)
    print("train: %d kills (%d before the last checkpoint), adapter byte-identical, per-epoch log identical "
          "(%d grid points)" % (killed, mid_epoch, len(points)), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("extract", "train"))
    p.add_argument("--bin", required=True, help="directory of the sherl tools")
    p.add_argument("--work", required=True, help="scratch directory (created)")
    p.add_argument("--kills", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--examples", type=int, default=1000, help="extract: examples (a multiple of 5)")
    p.add_argument("--examples-per-shard", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--train", help="train: training shard set (default: made from --examples images)")
    p.add_argument("--val", help="train: validation shard set")
    p.add_argument("--require-mid-shard", action="store_true",
                   help="extract: fail unless at least one kill landed while a shard was being written")
    a = p.parse_args()
    a.bin = os.path.abspath(a.bin)
    os.makedirs(a.work, exist_ok=True)
    os.environ.setdefault("HDF5_PLUGIN_PATH", os.path.join(os.path.dirname(a.bin), "hdf5-plugins"))
    (extract_faults if a.what == "extract" else train_faults)(a)


if __name__ == "__main__":
    main()
