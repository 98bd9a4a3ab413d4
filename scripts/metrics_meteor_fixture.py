"""Writes the METEOR parity fixtures under covip-eval/tests/fixtures/meteor/:

  cases_refs.json / cases_cands.json   hand-made images exercising each module and edge case
  long_refs.json / long_cands.json     long multi-sentence captions (DOCCI-like, for the beam)
  scores.json   pycocoevalcap 1.2 `Meteor().compute_score` per corpus: the corpus score, the
                score per image (both as Python repr strings, to be read back exactly), and the
                jar's statistics line per image (the `SCORE` answer).
                Corpora: the caption fixtures of coco_parity (coco_refs.json / coco_cands.json)
                PTB-tokenised as COCOEvalCap does ("coco_tokenized") and raw ("coco_raw"),
                "cases" (raw) and "long" (tokenised).
  view.json     what the jar aligns, per corpus and image: the candidate and references after
                the stdio split, `-norm` and lower-casing, and the jar's Snowball stem of every
                word met (from scripts/java/MeteorProbe.java), so the aligner and scorer can be
                checked on their own.

Usage: python scripts/metrics_meteor_fixture.py
(needs `pip install pycocoevalcap==1.2`, java and javac; runs offline).
"""

import json
import os
import random
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from metrics_corpus import corpus, random_caption  # noqa: E402

from pycocoevalcap.meteor import meteor as meteor_module  # noqa: E402
from pycocoevalcap.meteor.meteor import Meteor  # noqa: E402
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "covip-eval", "tests", "fixtures")
OUT = os.path.join(FIX, "meteor")
JAR = os.path.join(os.path.dirname(meteor_module.__file__), "meteor-1.5.jar")

# Hand-made images: (id, references, candidate).
CASES = [
    ("identical", ["a man is riding a horse on the beach ."], "a man is riding a horse on the beach ."),
    ("stem_only", ["the dogs were running quickly"], "the dog runs quick"),
    ("synonym_only", ["a car parked on the road"], "an automobile parked on the route"),
    ("paraphrase_only", ["a cat is sitting next to the window"], "a cat is seated alongside the window"),
    ("paraphrase_multiword", ["people standing in front of a building"], "people standing before a building"),
    ("mixed_modules", ["two large dogs are playing with a red ball in the grassy field"],
     "a couple of big dog played with the red balls on a grass field"),
    ("best_of_three", ["a red car", "a small child eating an apple at the table",
                       "a child eats an apple"], "a small child is eating an apple"),
    ("tie_first_wins", ["a dog on grass", "a dog on grass"], "a dog on the grass"),
    ("empty_candidate", ["a bird on a wire"], ""),
    ("punctuation_candidate", ["a bird on a wire"], "..."),
    ("repeated_words", ["the dog and the cat and the bird"], "the the the the dog the cat"),
    ("no_overlap", ["a plate of food"], "zebras gallop"),
    ("pipes_in_candidate", ["a man with a hat"], "a man ||| with  a   hat"),
    ("pipes_in_reference", ["a man ||| a hat", "a woman"], "a man with a hat"),
    ("double_spaces", ["a  man   riding a bike"], "a  man  riding   a bike"),
    ("unicode", ["Café in Zürich with a naïve artist 😀"], "a naive artist at a café in zurich 😀"),
    ("no_break_space", ["a\u00a0b c"], "a\u00a0b c d"),
    ("case_and_punct", ["A DOG, running! (fast)"], "a dog running fast."),
    ("function_words_only", ["the of and a in"], "a the in of"),
    ("abbreviations", ["Mr. Smith lives in the U.S. with Dr. Who"], "mr smith lives in the us with dr who"),
    ("swapped_halves", ["the cat sat on the mat near the door"], "near the door the cat sat on the mat"),
    ("long_beam", [" ".join(["the man in the red shirt holds a cup of coffee while the woman in the blue dress reads a book"] * 4)],
     " ".join(["a woman in a blue dress reads the book and the man in a red shirt is holding the coffee cup"] * 4)),
]


def chunked(n_words: int, n_chunks: int):
    """A reference of distinct made-up words and a candidate holding the same words in
    `n_chunks` blocks in reverse order: every word matched once, `n_chunks` chunks."""
    words = [f"zx{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(n_words)]
    cuts = [round(i * n_words / n_chunks) for i in range(n_chunks + 1)]
    blocks = [words[a:b] for a, b in zip(cuts, cuts[1:])]
    return " ".join(words), " ".join(w for b in reversed(blocks) for w in b)


# Segments whose fragmentation penalty the JVM's Math.pow rounds away from the correctly
# rounded value (pairs of scripts/meteor_pow_table.py: matched words on both sides, chunks).
for _name, (_m, _c) in (("pow_rounded_down", (262, 44)), ("pow_rounded_up", (234, 110))):
    _ref, _cand = chunked(_m // 2, _c)
    CASES.append((_name, [_ref], _cand))


def long_corpus(seed: int, n_images: int):
    """Multi-sentence captions of 40-200 words: references are several random captions joined;
    candidates reorder, drop and substitute sentences of one of them."""
    rng = random.Random(seed)
    swaps = {"sitting": "seated", "next to": "alongside", "car": "automobile", "large": "big",
             "dog": "dogs", "in front of": "before", "walking": "walks", "small": "little"}
    out = {}
    for i in range(n_images):
        refs = []
        for _ in range(rng.randint(1, 3)):
            refs.append(" ".join(random_caption(rng) for _ in range(rng.randint(4, 14))))
        sents = [random_caption(rng) for _ in range(rng.randint(4, 12))]
        base = rng.choice(refs)
        words = base.split()
        if rng.random() < 0.8:
            # Perturb a reference: drop some words, substitute some, append a fresh sentence.
            words = [w for w in words if rng.random() > 0.1]
            text = " ".join(words)
            for a, b in swaps.items():
                if rng.random() < 0.5:
                    text = text.replace(a, b)
            cand = text + " " + sents[0]
        else:
            cand = " ".join(sents)
        out[f"long{i:04d}"] = {"refs": refs, "cand": cand}
    return out


def java_pieces(cand, refs):
    """The candidate and references meteor-1.5.jar reads from pycocoevalcap's SCORE line."""
    cand = cand.replace("|||", "").replace("  ", " ")
    line = " ||| ".join(("SCORE", " ||| ".join(refs), cand))
    parts = line.split("|||")
    while parts and parts[-1] == "":
        parts.pop()
    jtrim = "".join(chr(c) for c in range(33))
    return parts[-1].strip(jtrim), [p.strip(jtrim) for p in parts[1:-1]]


def probe(tmp, mode, lines):
    """Runs MeteorProbe over `lines` (one answer line each)."""
    for s in lines:
        assert "\n" not in s and "\r" not in s, repr(s)
    cp = os.pathsep.join([JAR, tmp])
    out = subprocess.run(["java", "-cp", cp, "MeteorProbe", mode], input="\n".join(lines) + "\n",
                         capture_output=True, check=True, encoding="utf-8").stdout
    got = out.split("\n")[:-1]
    assert len(got) == len(lines), (mode, len(got), len(lines))
    return got


def meteor_with_stats(m, gts, res):
    """`Meteor.compute_score`, keeping the statistics line of each image."""
    eval_line = "EVAL"
    stats = {}
    for i in gts:
        stats[i] = m._stat(res[i][0], gts[i])
        eval_line += " ||| {}".format(stats[i])
    m.meteor_p.stdin.write("{}\n".format(eval_line).encode())
    m.meteor_p.stdin.flush()
    per = [float(m.meteor_p.stdout.readline().strip()) for _ in gts]
    total = float(m.meteor_p.stdout.readline().strip())
    return total, per, stats


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(FIX, "coco_refs.json"), encoding="utf-8") as f:
        coco_refs = json.load(f)
    with open(os.path.join(FIX, "coco_cands.json"), encoding="utf-8") as f:
        coco_cands = json.load(f)
    cases_refs = {k: r for k, r, _ in CASES}
    cases_cands = {k: c for k, _, c in CASES}
    long = long_corpus(15, 120)
    long_refs = {k: v["refs"] for k, v in long.items()}
    long_cands = {k: v["cand"] for k, v in long.items()}
    for name, obj in (("cases_refs", cases_refs), ("cases_cands", cases_cands),
                      ("long_refs", long_refs), ("long_cands", long_cands)):
        with open(os.path.join(OUT, f"{name}.json"), "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=1)

    tok = PTBTokenizer()

    def tokenized(refs, cands):
        gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in refs.items()})
        res = tok.tokenize({k: [{"caption": c}] for k, c in cands.items()})
        return gts, res

    corpora = {
        "coco_tokenized": tokenized(coco_refs, coco_cands),
        "coco_raw": (coco_refs, {k: [c] for k, c in coco_cands.items()}),
        "cases": (cases_refs, {k: [c] for k, c in cases_cands.items()}),
        "long": tokenized(long_refs, long_cands),
    }
    m = Meteor()
    version = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    scores = {"pycocoevalcap": "1.2", "java": version.strip().splitlines()[0], "corpora": {}}
    for name, (gts, res) in corpora.items():
        total, per, stats = meteor_with_stats(m, gts, res)
        # The same process, through the public API: the statistics route must agree.
        check_total, check_per = m.compute_score(gts, res)
        assert (check_total, list(check_per)) == (total, per), name
        # Scores as repr strings: exact in any JSON reader (serde_json's default float parser
        # can be one ulp off).
        scores["corpora"][name] = {
            "n_images": len(gts),
            "corpus": repr(total),
            "per_image": {k: repr(v) for k, v in zip(gts.keys(), per)},
            "stats": {k: [int(float(x)) for x in s.split()] for k, s in stats.items()},
        }
        print(f"{name}: {len(gts)} images, METEOR {total}")

    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(HERE, "java", "MeteorProbe.java")
        subprocess.run(["javac", "-cp", JAR, "-d", tmp, src], check=True)
        view = {"stems": {}, "corpora": {}}
        words = set()
        for name, (gts, res) in corpora.items():
            pieces = {k: java_pieces(res[k][0], gts[k]) for k in gts}
            flat = []
            for test, refs in pieces.values():
                flat.append(test)
                flat.extend(refs)
            normed = iter(probe(tmp, "norm", flat))
            out = {}
            for k, (test, refs) in pieces.items():
                t = next(normed)
                rs = [next(normed) for _ in refs]
                out[k] = {"test": t, "refs": rs}
                for s in [t] + rs:
                    words.update(w for w in re.split("[ \t\n\r\f]+", s) if w)
            view["corpora"][name] = out
        words = sorted(words)
        view["stems"] = dict(zip(words, probe(tmp, "stem", words)))
    with open(os.path.join(OUT, "view.json"), "w", encoding="utf-8") as f:
        json.dump(view, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(OUT, "scores.json"), "w", encoding="utf-8") as f:
        json.dump(scores, f, ensure_ascii=False, separators=(",", ":"))
    print(f"{len(words)} distinct words stemmed -> {OUT}")


if __name__ == "__main__":
    main()
