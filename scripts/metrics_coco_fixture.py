"""Writes the caption-metric parity fixtures under covip-eval/tests/fixtures/:

  coco_refs.json   image id -> list of reference captions (document order matters)
  coco_cands.json  image id -> candidate caption
  coco_scores.json pycocoevalcap 1.2 results: corpus and per-image Bleu_1..4, ROUGE_L, CIDEr,
                   with PTB tokenisation ("tokenized") and on the raw strings ("raw"), plus the
                   tokenised captions themselves.

Usage: python scripts/metrics_coco_fixture.py [N_IMAGES] [SEED] [OUT_PREFIX]
(needs `pip install pycocoevalcap==1.2` and Java; runs offline; SPICE/METEOR are not run).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from metrics_corpus import corpus  # noqa: E402

from pycocoevalcap.bleu.bleu import Bleu  # noqa: E402
from pycocoevalcap.cider.cider import Cider  # noqa: E402
from pycocoevalcap.rouge.rouge import Rouge  # noqa: E402
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer  # noqa: E402

FIX = os.path.join(os.path.dirname(__file__), "..", "covip-eval", "tests", "fixtures")


def score(gts, res):
    out = {"corpus": {}, "per_image": {k: {} for k in gts}}
    for scorer, names in ((Bleu(4), ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"]),
                          (Rouge(), ["ROUGE_L"]), (Cider(), ["CIDEr"])):
        if isinstance(scorer, Bleu):
            total, per = scorer.compute_score(gts, res, verbose=0)
        else:
            total, per = scorer.compute_score(gts, res)
        if len(names) == 1:
            total, per = [total], [per]
        for name, t, p in zip(names, total, per):
            out["corpus"][name] = float(t)
            for k, v in zip(gts.keys(), p):
                out["per_image"][k][name] = float(v)
    return out


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    prefix = sys.argv[3] if len(sys.argv) > 3 else os.path.join(FIX, "coco")
    data = corpus(seed, n)
    refs = {k: v["refs"] for k, v in data.items()}
    cands = {k: v["cand"] for k, v in data.items()}
    tok = PTBTokenizer()
    gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in refs.items()})
    res = tok.tokenize({k: [{"caption": c}] for k, c in cands.items()})
    scores = {
        "pycocoevalcap": "1.2",
        "n_images": len(refs),
        "n_captions": sum(len(v) for v in refs.values()) + len(cands),
        "tokenized": score(gts, res),
        "raw": score(refs, {k: [c] for k, c in cands.items()}),
        "tokenized_refs": gts,
        "tokenized_cands": {k: v[0] for k, v in res.items()},
    }
    for name, obj in (("refs", refs), ("cands", cands), ("scores", scores)):
        with open(f"{prefix}_{name}.json", "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=None if name == "scores" else 1)
    print(f"{n} images, {scores['n_captions']} captions; tokenized corpus:",
          json.dumps(scores["tokenized"]["corpus"]))


if __name__ == "__main__":
    main()
