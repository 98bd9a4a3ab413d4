"""Writes covip-eval/tests/fixtures/ptb_jar.json: raw lines and what the Stanford CoreNLP 3.4.1
PTBTokenizer jar bundled with pycocoevalcap prints for them with `-preserveLines -lowerCase`
(the exact invocation pycocoevalcap uses), over one joined file as pycocoevalcap writes it.

Usage: python scripts/metrics_ptb_fixture.py  (needs `pip install pycocoevalcap==1.2` and Java)
"""

import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from metrics_corpus import FRAGMENTS, random_caption  # noqa: E402

import pycocoevalcap.tokenizer.ptbtokenizer as ptb  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "covip-eval", "tests", "fixtures", "ptb_jar.json")


def run_jar(lines):
    jar_dir = os.path.dirname(os.path.abspath(ptb.__file__))
    text = "\n".join(lines)
    with tempfile.NamedTemporaryFile(delete=False, dir=jar_dir) as f:
        f.write(text.encode())
        name = f.name
    try:
        out = subprocess.run(
            ["java", "-cp", ptb.STANFORD_CORENLP_3_4_1_JAR, "edu.stanford.nlp.process.PTBTokenizer",
             "-preserveLines", "-lowerCase", os.path.basename(name)],
            cwd=jar_dir, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout
    finally:
        os.remove(name)
    return out.decode().split("\n")


def main():
    rng = random.Random(20240606)
    lines = list(FRAGMENTS)
    lines += [f"{a} {b}" for a, b in zip(FRAGMENTS, reversed(FRAGMENTS))]
    lines += [random_caption(rng) for _ in range(2500)]
    # Random character soup: ASCII punctuation heavy, plus Latin/Greek/Cyrillic letters, CP1252
    # controls, soft hyphens, fractions, dashes, quotes, spaces, symbols and astral characters.
    pool = [chr(c) for c in range(0x20, 0x7F)] * 6
    pool += [chr(c) for c in list(range(0xA0, 0x250)) + list(range(0x386, 0x3CF))
             + list(range(0x400, 0x460)) + list(range(0x2000, 0x2060))]
    pool += [chr(c) for c in (0x85, 0x91, 0x92, 0x93, 0x94, 0x96, 0x97, 0xAD, 0x2044, 0x2153,
                              0x215A, 0x3000, 0x4E2D, 0xFF01, 0x1F600, 0x1D400, 0x09, 0x7F)]
    for _ in range(1500):
        s = "".join(rng.choice(pool) for _ in range(rng.randint(0, 30)))
        lines.append("".join(c if c not in "\n\r\x0b\x0c\x85\u2028\u2029" else " " for c in s))
    lines = [l.replace("\n", " ") for l in lines]
    # Line breaks other than \n split lines inside the tokenizer (and shift pycocoevalcap's
    # pairing): keep one such line, last.
    lines.append("a\rb\u2028c\x0bd\x0ce\x85f\r\ng")
    out = run_jar(lines)
    assert len(out) >= len(lines), (len(out), len(lines))
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"jar": "stanford-corenlp-3.4.1 PTBTokenizer -preserveLines -lowerCase",
                   "input": lines, "output": out}, f, ensure_ascii=False, indent=0)
    print(f"wrote {OUT}: {len(lines)} input lines, {len(out)} output lines")


if __name__ == "__main__":
    main()
