"""Speed comparison: the same caption corpus scored by pycocoevalcap 1.2 (PTB tokenizer jar,
Bleu(4), Rouge(), Cider()) and by `covip metrics caption`, each as a whole process (start-up,
reading the JSON files, tokenising, scoring, printing corpus and per-image scores).

The two sides run alternately `--repeat` times (after `--warmup` untimed runs of each, so that
both start from a warm file cache); per-run wall times, the median and the minimum of each side
and the speed-ups are printed, with the largest difference between the two sides' scores (corpus
and per image).

Usage: python scripts/metrics_bench_coco.py [--images 5000] [--repeat 5] [--meteor] [--covip target/release/covip]
(needs `pip install pycocoevalcap==1.2` and Java.)
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from metrics_corpus import corpus  # noqa: E402

PYCOCO = r"""
import json, sys
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.cider.cider import Cider
refs = json.load(open(sys.argv[1])); cands = json.load(open(sys.argv[2]))
tok = PTBTokenizer()
gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in refs.items()})
res = tok.tokenize({k: [{"caption": cands[k]}] for k in refs})
ids = list(gts.keys())
out, per = {}, {k: {} for k in ids}
b, bs = Bleu(4).compute_score(gts, res, verbose=0)
for i, v in enumerate(b):
    out["Bleu_%d" % (i + 1)] = v
    for k, s in zip(ids, bs[i]):
        per[k]["Bleu_%d" % (i + 1)] = s
scorers = [("ROUGE_L", Rouge()), ("CIDEr", Cider())]
if "--meteor" in sys.argv:
    from pycocoevalcap.meteor.meteor import Meteor
    scorers.insert(0, ("METEOR", Meteor()))
for name, scorer in scorers:
    out[name], s = scorer.compute_score(gts, res)
    for k, x in zip(ids, s):
        per[k][name] = x
out = {k: float(v) for k, v in out.items()}
out["per_image"] = {k: {m: float(x) for m, x in v.items()} for k, v in per.items()}
print(json.dumps(out))
"""


def timed(cmd):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    return time.perf_counter() - t0, out


def max_delta(py, rs):
    """Largest |difference| over the corpus scores and every per-image score."""
    d = max(abs(py[k] - rs[k]) for k in py if k != "per_image")
    for img, scores in py["per_image"].items():
        for k, v in scores.items():
            d = max(d, abs(v - rs["per_image"][img][k]))
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of each side, alternating")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs of each side first")
    ap.add_argument("--meteor", action="store_true",
                    help="METEOR too (pycocoevalcap's jar; covip needs `covip metrics setup-meteor` first)")
    ap.add_argument("--covip", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "covip"))
    args = ap.parse_args()
    data = corpus(args.seed, args.images)
    with tempfile.TemporaryDirectory() as d:
        refs, cands = os.path.join(d, "refs.json"), os.path.join(d, "cands.json")
        json.dump({k: v["refs"] for k, v in data.items()}, open(refs, "w"))
        json.dump({k: v["cand"] for k, v in data.items()}, open(cands, "w"))
        n_refs = sum(len(v["refs"]) for v in data.values())
        py_cmd = [sys.executable, "-c", PYCOCO, refs, cands] + (["--meteor"] if args.meteor else [])
        # `caption_score` (covip-eval example) runs the same pipeline with positional arguments.
        rs_cmd = ([args.covip, refs, cands] if os.path.basename(args.covip).startswith("caption_score")
                  else [args.covip, "metrics", "caption", "--refs", refs, "--cands", cands]
                  + (["--metrics", "bleu,meteor,rouge,cider"] if args.meteor else []))
        for _ in range(args.warmup):
            timed(py_cmd)
            timed(rs_cmd)
        t_py, t_rs, delta = [], [], 0.0
        for _ in range(args.repeat):
            t, py = timed(py_cmd)
            t_py.append(t)
            t, rs = timed(rs_cmd)
            t_rs.append(t)
            py, rs = json.loads(py), json.loads(rs)
            delta = max(delta, max_delta(py, rs))
    print(f"corpus: {args.images} candidate captions, {n_refs} references; "
          f"{args.repeat} alternating runs of each side after {args.warmup} warm-up run(s)")
    print("pycocoevalcap 1.2: PTBTokenizer + Bleu(4) + " + ("Meteor() + " if args.meteor else "") + "Rouge() + Cider(), whole process")
    print(f"covip: {' '.join(os.path.basename(c) if i == 0 else c for i, c in enumerate(rs_cmd[:3]))} ..., whole process")
    print(f"{'run':>4} {'pycocoevalcap':>14} {'covip':>9} {'speed-up':>9}")
    for i, (a, b) in enumerate(zip(t_py, t_rs)):
        print(f"{i + 1:>4} {a:>12.3f} s {b:>7.3f} s {a / b:>8.1f}x")
    mp, mr = statistics.median(t_py), statistics.median(t_rs)
    print(f"{'med':>4} {mp:>12.3f} s {mr:>7.3f} s {mp / mr:>8.1f}x  (median / median)")
    print(f"{'min':>4} {min(t_py):>12.3f} s {min(t_rs):>7.3f} s {min(t_py) / min(t_rs):>8.1f}x  (min / min)")
    ratios = [a / b for a, b in zip(t_py, t_rs)]
    print(f"per-run speed-up: median {statistics.median(ratios):.1f}x, lowest {min(ratios):.1f}x")
    print(f"max |score difference| (corpus and per image, {7 if args.meteor else 6} metrics): {delta:.3e}")
    print("pycocoevalcap corpus scores:", json.dumps({k: v for k, v in py.items() if k != "per_image"}))


if __name__ == "__main__":
    main()
