#!/usr/bin/env python3
"""A straightforward Python implementation of the CoViP reward formulas as the released training
code computes them (SPEC section 4): the degeneration filter (sentence / 5-gram / chunk levels),
judge-answer parsing from the first \\boxed{...}, and the caption reward r_ret.

Used as the throughput and parity baseline of `covip-bench`'s `reward_compare`.

    python3 scripts/reward_reference.py --input records.jsonl --mode caption --output out.jsonl

Modes: `verdict` (degenerate or not, stopping at the first level that fires, as released),
`report` (every level's ratio), `caption` (the caption reward given `judge_pos` / `judge_neg`).
Timing covers the computation only (records are parsed before the clock starts); each of the
`--repeat` passes is timed on its own. Prints one JSON summary line on stdout (`pass_seconds` lists
the time of each pass).
"""
import argparse
import json
import re
import sys
import time
from collections import Counter

BOXED = re.compile(r"\\boxed\{(.*?)\}", flags=re.DOTALL)


def clean_text(text):
    return re.sub(r"\s+", " ", text.strip().lower())


def level_ratios(text, ngram_n=5, chunk_sizes=(10, 20, 30)):
    """Every level's ratio (None below the level's minimum size)."""
    clean = clean_text(text)
    sentences = [s.strip() for s in re.split(r"[.!?]+", clean) if s.strip()]
    sentence_ratio = None
    if len(sentences) >= 4:
        sentence_ratio = (len(sentences) - len(set(sentences))) / len(sentences)
    words = clean.split()
    ngram_ratio = None
    if len(words) >= ngram_n * 4:
        grams = [" ".join(words[i:i + ngram_n]) for i in range(len(words) - ngram_n + 1)]
        ngram_ratio = (len(grams) - len(set(grams))) / len(grams)
    chunks = {}
    for size in chunk_sizes:
        if len(words) < size * 2:
            chunks[str(size)] = None
            continue
        windows = [" ".join(words[i:i + size]) for i in range(len(words) - size + 1)]
        counts = Counter(windows)
        repeated = sum(c for c in counts.values() if c > 1)
        chunks[str(size)] = repeated / len(windows)
    return sentence_ratio, ngram_ratio, chunks


def is_degenerate(text, sent_thr=0.3, ngram_n=5, ngram_thr=0.3, chunk_sizes=(10, 20, 30), chunk_thr=0.2):
    """The released check: levels in order, stopping at the first that fires."""
    clean = clean_text(text)
    sentences = [s.strip() for s in re.split(r"[.!?]+", clean) if s.strip()]
    if len(sentences) >= 4:
        if (len(sentences) - len(set(sentences))) / len(sentences) >= sent_thr:
            return True
    words = clean.split()
    if len(words) >= ngram_n * 4:
        grams = [" ".join(words[i:i + ngram_n]) for i in range(len(words) - ngram_n + 1)]
        if (len(grams) - len(set(grams))) / len(grams) >= ngram_thr:
            return True
    for size in chunk_sizes:
        if len(words) < size * 2:
            continue
        windows = [" ".join(words[i:i + size]) for i in range(len(words) - size + 1)]
        counts = Counter(windows)
        repeated = sum(c for c in counts.values() if c > 1)
        if repeated and repeated / len(windows) >= chunk_thr:
            return True
    return False


def judge_answer(raw):
    """Content of the first box; 'D' when there is none."""
    found = BOXED.findall(raw)
    return found[0] if found else "D"


def caption_reward(rec, alpha=1.0):
    if is_degenerate(rec["completion"]):
        return {"reward": -1.0, "degenerate": True, "sigma_pos": None, "sigma_neg": None}
    pos = [qa for concept in rec["pos_qas"] for qa in concept]
    sigma_pos = sum(
        1 for qa, raw in zip(pos, rec["judge_pos"]) if qa["correct_answer"] in judge_answer(raw)
    )
    sigma_neg = sum(1 for raw in rec["judge_neg"] if "D" not in judge_answer(raw))
    n_neg = len(rec["neg_qas"])
    neg_term = alpha * sigma_neg / n_neg if n_neg else 0.0
    return {
        "reward": sigma_pos / 3 - neg_term,
        "degenerate": False,
        "sigma_pos": sigma_pos,
        "sigma_neg": sigma_neg,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", required=True)
    ap.add_argument("--mode", choices=["verdict", "report", "caption"], default="caption")
    ap.add_argument("--output", help="write one JSON result per record here")
    ap.add_argument("--repeat", type=int, default=1, help="time this many passes")
    args = ap.parse_args()
    with open(args.input, encoding="utf-8") as f:
        recs = [json.loads(line) for line in f if line.strip()]
    results = None
    pass_seconds = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        if args.mode == "verdict":
            results = [{"degenerate": is_degenerate(r["completion"])} for r in recs]
        elif args.mode == "report":
            results = []
            for r in recs:
                s, n, c = level_ratios(r["completion"])
                results.append({"sentence_ratio": s, "ngram_ratio": n, "chunk_ratios": c})
        else:
            results = [caption_reward(r) for r in recs]
        pass_seconds.append(time.perf_counter() - start)
    seconds = sum(pass_seconds)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")
    n = len(recs) * args.repeat
    print(json.dumps({"mode": args.mode, "captions": n, "seconds": seconds,
                      "captions_per_s": n / seconds if seconds > 0 else None,
                      "pass_seconds": pass_seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
