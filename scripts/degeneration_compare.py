#!/usr/bin/env python3
"""Whole-process throughput of `covip degeneration` against the released degeneration filter.

Both sides read the same JSONL file on stdin (one `{"id": ..., "text": ...}` per line) and write
one JSON line per input line on stdout, in order; they run as whole processes (interpreter or
binary start-up, parsing, filtering, output), pinned to one core with `taskset`, alternating, each
`--repeat` times. The Python side is a small runner (written into the work folder) that imports
`has_heavy_repetition` from the authors' released reward code at `--released` (a local copy kept
outside the repository, by default ../shared/reference/released_rewards.py) and calls it on each
text: none of that code is copied here. The verdicts of the two sides must agree line by line.

    python3 scripts/degeneration_compare.py --covip target/release/covip
        [--n 20000] [--words 320] [--share 0.25] [--seed 7] [--repeat 5] [--cpu 0]
        [--released ../shared/reference/released_rewards.py] [--callgrind 1000]

Prints the median and best wall time of each side, its CPU time (user + system, from the kernel),
captions/s and MB/s of input, the ratios, and the load average before and after. `--callgrind N`
also counts the instructions of both processes on the first N captions under
`valgrind --tool=callgrind` (exact and immune to other load; the Python side is slow there).

The corpus is seeded: captions of about `--words` words (half to one and a half times that) made
of sentences of common words, names, places (some with non-ASCII letters) and rare made-up words,
joined by spaces or line breaks; about `--share` of them degenerate (a looping sentence, or a
chunk of two sentences repeated through the caption), as a policy model's failures look.
"""
import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_RELEASED = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "reference",
                                                 "released_rewards.py"))

# The Python side: the same JSONL contract as `covip degeneration` (errors per line on stderr as
# `line N: ...`, exit status 1 if any line failed), with the released filter as the computation.
RUNNER = r'''
import importlib.util
import json
import sys


def main():
    spec = importlib.util.spec_from_file_location("released_rewards", sys.argv[1])
    released = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(released)
    has_heavy_repetition = released.has_heavy_repetition
    out = sys.stdout
    failed = 0
    for no, line in enumerate(sys.stdin.buffer, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("expected a JSON object")
            if "text" not in rec:
                raise ValueError("missing field `text`")
            if "id" not in rec:
                raise ValueError("missing field `id`")
            text = rec["text"]
            if not isinstance(text, str):
                raise ValueError("field `text` must be a string")
        except ValueError as e:
            failed += 1
            print(f"line {no}: {e}", file=sys.stderr)
            continue
        out.write(json.dumps({"id": rec["id"], "degenerate": has_heavy_repetition(text)}))
        out.write("\n")
    out.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
'''

COMMON = (
    "the a in on of and with is near at her his their soft light afternoon kitchen window table "
    "smiles sits stands looks warm quiet morning park bench dog cat mug sofa garden again "
    "remember last time we talked about trip seems happy wearing jacket blue red green beside "
    "behind holding photo"
).split()
NAMES = ["Pino", "Mina", "Jun", "Ara", "Coco", "Haru", "Seo-yeon", "Bori", "Luca", "Inès",
         "Dae-ho", "Zoë", "Σοφία"]
PLACES = ["Busan Station", "Jeju", "Seoul Forest", "Gwangalli Beach", "the Han River", "Incheon",
          "Café Nérée", "부산역"]


def word(rng):
    k = rng.randrange(20)
    if k == 0:
        return rng.choice(NAMES)
    if k == 1:
        return rng.choice(PLACES)
    if k <= 4:
        return "".join(chr(ord("a") + rng.randrange(26)) for _ in range(4 + rng.randrange(7)))
    return rng.choice(COMMON)


def sentence(rng):
    words = [word(rng) for _ in range(8 + rng.randrange(13))]
    words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words) + rng.choice([".", ".", ".", "!", "?"])


def caption(rng, target, mode):
    parts, n = [], 0
    if mode == 1:  # a looping sentence after a short head
        for _ in range(1 + rng.randrange(3)):
            parts.append(sentence(rng))
            n += len(parts[-1].split())
        loop = sentence(rng)
        while n < target:
            parts.append(loop)
            n += len(loop.split())
    elif mode == 2:  # a chunk of two sentences repeated through the caption
        chunk = sentence(rng) + " " + sentence(rng)
        while n < target:
            parts.append(chunk if rng.random() < 0.55 else sentence(rng))
            n += len(parts[-1].split())
    else:
        while n < target:
            parts.append(sentence(rng))
            n += len(parts[-1].split())
    return ("\n" if rng.random() < 0.2 else " ").join(parts)


def corpus(n, words, share, seed):
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        target = words // 2 + rng.randrange(words + 1)
        mode = 1 + rng.randrange(2) if rng.random() < share else 0
        lines.append(json.dumps({"id": i, "text": caption(rng, target, mode)}))
    return "\n".join(lines) + "\n"


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run_timed(cmd, stdin_path, stdout_path):
    """Runs `cmd` with the file on stdin and stdout to a file: (wall seconds, CPU seconds)."""
    before = os.times()
    with open(stdin_path, "rb") as fin, open(stdout_path, "wb") as fout:
        start = time.perf_counter()
        proc = subprocess.run(cmd, stdin=fin, stdout=fout, stderr=subprocess.PIPE)
        wall = time.perf_counter() - start
    after = os.times()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu


def verdicts(path):
    with open(path, encoding="utf-8") as f:
        return [(r["id"], r["degenerate"]) for r in map(json.loads, f)]


def callgrind_instructions(cmd, stdin_path, workdir, name):
    """Instructions the whole process executes (callgrind's `Collected` total)."""
    out_file = os.path.join(workdir, f"callgrind.{name}.out")
    with open(stdin_path, "rb") as fin:
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}"] + cmd,
            stdin=fin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    found = re.findall(rb"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or not found:
        sys.exit(f"callgrind on {name} failed: {proc.stderr.decode()[-2000:]}")
    return int(found[-1])


def summary(name, times, cpus, n, mb):
    med, best, cpu = statistics.median(times), min(times), statistics.median(cpus)
    print(f"{name:>8}: wall median {med:.4f} s, min {best:.4f} s; CPU median {cpu:.4f} s; "
          f"{n / med:,.0f} captions/s, {mb / med:.1f} MB/s (median wall)")
    return med, best, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--covip", required=True, help="the covip binary (target/release/covip)")
    ap.add_argument("--released", default=DEFAULT_RELEASED,
                    help="the released reward code defining has_heavy_repetition")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the released side")
    ap.add_argument("--n", type=int, default=20000, help="captions")
    ap.add_argument("--words", type=int, default=320, help="mean words per caption")
    ap.add_argument("--share", type=float, default=0.25, help="share of degenerate captions")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=5, help="runs of each side (alternating)")
    ap.add_argument("--cpu", default="0", help="the core both sides are pinned to")
    ap.add_argument("--callgrind", type=int, default=0, metavar="N",
                    help="also count instructions of both processes on N captions")
    ap.add_argument("--workdir", help="keep the corpus, runner and outputs here")
    args = ap.parse_args()
    if not os.path.isfile(args.released):
        sys.exit(f"--released: {args.released} not found (the released reward code is kept "
                 "outside the repository; pass its path)")
    if not os.access(args.covip, os.X_OK):
        sys.exit(f"--covip: {args.covip} is not an executable (cargo build --release -p covip)")

    workdir = args.workdir or tempfile.mkdtemp(prefix="degeneration_compare.")
    os.makedirs(workdir, exist_ok=True)
    data = os.path.join(workdir, "captions.jsonl")
    with open(data, "w", encoding="utf-8") as f:
        f.write(corpus(args.n, args.words, args.share, args.seed))
    runner = os.path.join(workdir, "released_runner.py")
    with open(runner, "w", encoding="utf-8") as f:
        f.write(RUNNER)
    mb = os.path.getsize(data) / 1e6
    words = 0
    with open(data, encoding="utf-8") as f:
        for line in f:
            words += len(json.loads(line)["text"].split())
    print(f"corpus: {args.n} captions, {words / args.n:.0f} words each on average, {mb:.1f} MB "
          f"(seed {args.seed}, share {args.share}); work folder {workdir}")

    pin = ["taskset", "-c", args.cpu]
    sides = {
        "covip": pin + [os.path.abspath(args.covip), "degeneration"],
        "released": pin + [args.python, runner, os.path.abspath(args.released)],
    }
    outs = {name: os.path.join(workdir, f"out.{name}.jsonl") for name in sides}
    times = {name: [] for name in sides}
    cpus = {name: [] for name in sides}
    load_before = load_average()
    for _ in range(args.repeat):
        for name, cmd in sides.items():
            wall, cpu = run_timed(cmd, data, outs[name])
            times[name].append(wall)
            cpus[name].append(cpu)
    load_after = load_average()

    ours, theirs = verdicts(outs["covip"]), verdicts(outs["released"])
    if len(ours) != args.n or len(theirs) != args.n:
        sys.exit(f"line counts differ: covip {len(ours)}, released {len(theirs)}, input {args.n}")
    bad = [k for k, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    if bad:
        k = bad[0]
        sys.exit(f"{len(bad)} verdicts differ; first at line {k + 1}: covip {ours[k]}, "
                 f"released {theirs[k]}")
    degenerate = sum(d for _, d in ours)
    print(f"verdicts agree on all {args.n} lines ({degenerate} degenerate)")
    print(f"{args.repeat} runs each, alternating, pinned to CPU {args.cpu}; load average "
          f"{load_before} before, {load_after} after")
    c_med, c_min, c_cpu = summary("covip", times["covip"], cpus["covip"], args.n, mb)
    r_med, r_min, r_cpu = summary("released", times["released"], cpus["released"], args.n, mb)
    print(f"ratio (released / covip): {r_med / c_med:.1f}x median wall, {r_min / c_min:.1f}x "
          f"min wall, {r_cpu / c_cpu:.1f}x median CPU")

    if args.callgrind:
        small = os.path.join(workdir, f"captions.{args.callgrind}.jsonl")
        with open(data, encoding="utf-8") as f, open(small, "w", encoding="utf-8") as g:
            for _, line in zip(range(args.callgrind), f):
                g.write(line)
        ci = callgrind_instructions(sides["covip"][3:], small, workdir, "covip")
        ri = callgrind_instructions(sides["released"][3:], small, workdir, "released")
        print(f"callgrind, {args.callgrind} captions: covip {ci:,} instructions, released "
              f"{ri:,}; ratio {ri / ci:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
