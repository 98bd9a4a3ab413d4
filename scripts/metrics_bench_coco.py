"""Speed comparison: the same caption corpus scored by pycocoevalcap 1.2 (PTB tokenizer jar,
Bleu(4), Rouge(), Cider()) and by `covip metrics caption`, each as a whole process, one run each.
Prints both wall times, the ratio and the largest score difference.

Usage: python scripts/metrics_bench_coco.py [--images 5000] [--covip target/release/covip]
(needs `pip install pycocoevalcap==1.2` and Java.)
"""

import argparse
import json
import os
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
out = {}
b, _ = Bleu(4).compute_score(gts, res, verbose=0)
for i, v in enumerate(b): out["Bleu_%d" % (i + 1)] = v
out["ROUGE_L"], _ = Rouge().compute_score(gts, res)
out["CIDEr"], _ = Cider().compute_score(gts, res)
print(json.dumps({k: float(v) for k, v in out.items()}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=5000)
    ap.add_argument("--covip", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "covip"))
    args = ap.parse_args()
    data = corpus(args.seed, args.images)
    with tempfile.TemporaryDirectory() as d:
        refs, cands = os.path.join(d, "refs.json"), os.path.join(d, "cands.json")
        json.dump({k: v["refs"] for k, v in data.items()}, open(refs, "w"))
        json.dump({k: v["cand"] for k, v in data.items()}, open(cands, "w"))
        n_refs = sum(len(v["refs"]) for v in data.values())
        t0 = time.perf_counter()
        py = subprocess.run([sys.executable, "-c", PYCOCO, refs, cands], check=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
        t_py = time.perf_counter() - t0
        t0 = time.perf_counter()
        # `caption_score` (covip-eval example) runs the same pipeline with positional arguments.
        cmd = ([args.covip, refs, cands] if os.path.basename(args.covip).startswith("caption_score")
               else [args.covip, "metrics", "caption", "--refs", refs, "--cands", cands])
        rs = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
        t_rs = time.perf_counter() - t0
    py, rs = json.loads(py), json.loads(rs)
    delta = max(abs(py[k] - rs[k]) for k in py)
    print(f"corpus: {args.images} candidate captions, {n_refs} references")
    print(f"pycocoevalcap 1.2 (tokenize+BLEU+ROUGE-L+CIDEr-D): {t_py:.3f} s")
    print(f"covip metrics caption ({args.covip}): {t_rs:.3f} s")
    print(f"speed-up: {t_py / t_rs:.1f}x; max |corpus score difference|: {delta:.3e}")
    print("pycocoevalcap:", json.dumps(py))


if __name__ == "__main__":
    main()
