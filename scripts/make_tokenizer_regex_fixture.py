#!/usr/bin/env python3
"""Writes covip-model/tests/fixtures/tokenizer_regex.json: how Python `tokenizers` (the
Oniguruma regex backend) pre-tokenises and encodes a varied corpus with the parity fixture's
tokenizer, whose pre-tokenizer is the Qwen2/Qwen3 split regex.

covip-model/tests/tokenizer_regex.rs checks that the Rust `tokenizers` crate, built with its
pure-Rust `fancy-regex` backend, gives the same pieces and ids.

Run from the repository root with a Python that has `tokenizers` (pip install tokenizers):

    python scripts/make_tokenizer_regex_fixture.py

The random part of the corpus is seeded; rerunning gives the same file.
"""
import argparse
import json
import os
import random

import tokenizers
from tokenizers import Tokenizer

HANDWRITTEN = [
    # Contractions, in every case, and look-alikes the regex must not take.
    "It's John's dog; they're sure we've met, I'm told you'll see he'd left.",
    "IT'S JOHN'S; THEY'RE; WE'VE; I'M; YOU'LL; HE'D; iT's; 'S 'T 'Re 'vE",
    "don't can't won't isn't o'clock rock'n'roll ''s '' 's' 'sss 'd'd",
    "curly apostrophes: it’s John’s they’re ‘quoted’ “double”",
    # Numbers: ASCII, separators, other scripts, superscripts, fractions, full width.
    "1 12 123 1234 3.14159 -42 +7 1,000,000 1_000 0x1F 1e-9 2024-12-06 10:35",
    "٠١٢٣٤٥٦٧٨٩ ०१२३४५ ௧௨௩ 一二三 ①②③ ²³¹ ½ ¾ Ⅻ ⅰⅱ １２３ 𝟘𝟙𝟚",
    "abc123def 4ever H2O CO₂ x²+y² v1.2.3-beta",
    # White space runs of every kind.
    "two  spaces   three    four     five",
    "tab\there\t\tdouble\t \t mixed",
    "line\nbreak\n\nblank\n\n\nthree\r\nwindows\rold mac",
    "trailing spaces   \nleading\n   indented\n\t\ttabs\n",
    "   starts with spaces",
    "ends with spaces   ",
    "\n\n\nstarts with newlines",
    "nbsp\u00a0here, em\u2003space, ideographic\u3000space, thin\u2009space",
    "zero\u200bwidth\u200cnon\u200djoiner\u2060word\ufeffbom",
    "next line\u0085nel, line sep\u2028para sep\u2029end",
    "file\u001cgroup\u001drecord\u001eunit\u001fsep\u000bvt\u000cff",
    "mongolian\u180evowel separator, ogham\u1680space",
    " \n \n \t\n  \r\n",
    # Unicode letters and marks.
    "Café, naïve, résumé, jalapeño — accented words appear in captions too.",
    "Cafe\u0301 nai\u0308ve decomposed accents and e\u0301\u0301\u0301 stacked marks",
    "Ελληνικά κείμενα, русский текст, українська мова, български",
    "中文句子，没有空格。日本語の文章です。한국어 문장입니다.",
    "العربية نص مع أرقام ١٢٣ وكلمات עברית גם כן",
    "हिन्दी पाठ, தமிழ் உரை, ภาษาไทย, ລາວ, ខ្មែរ, မြန်မာ",
    "ǅungla ǈudi ǋ ß ẞ ŉ ﬁ ﬂ İstanbul ıi Σίσυφος ΣΑΣ",
    "modifier letters: ʰʲʷ ˈstress ˌsecondary ꜝ ꞉ ʼapostrophe ˀ",
    # Letters added in recent Unicode versions (14, 15, 15.1).
    "kawi 𑼄𑼅𑼆 nag mundari 𞓐𞓑𞓒 cyrillic ext-D 𞀰𞀱 cjk ext-H 𱍐𱍑 ext-I 𮯰𮯱",
    "toto 𞊐𞊑 tangsa 𖩰𖩱 vithkuqi 𐕰𐕱 cypro-minoan 𒾐𒾑 old uyghur 𐽰𐽱",
    # Emoji and symbols.
    "I love it 😍👍🏽 family 👨‍👩‍👧‍👦 flags 🇰🇷🇫🇷 heart ❤️ keycap 1️⃣ #️⃣",
    "emoji🙂glued😀to🎉words and 🤖🤖🤖 runs",
    "math ∑∫∂√∞ ≤≥≠ arrows →←↔ ⇒ box ┌─┐ │ └─┘ braille ⠁⠃⠉",
    "currency $5 €10 £3 ¥100 ₩1000 ₹50 ₿0.1 ¢ and %, ‰",
    # Punctuation runs and code.
    "Wait... what?!?! No—really -- yes. (Maybe) [sure] {ok} <tag/>",
    "\"quoted\" 'single' `tick` «guillemets» „low“ ‚low‘",
    "fn main() {\n    println!(\"{}\", x + 1);\n}\n\n// comment\r\n",
    "path/to/file.txt C:\\Windows\\System32 https://example.com/a?b=c&d=e#f",
    "email@example.com @handle #hashtag $var %p ^caret &amp; *star* _under_ ~tilde~",
    "!!!\n\n???\r\n...\n  ;;\n",
    "\\boxed{[1, 2]} Answer: \\boxed{A} \\(x^2\\) $$\\frac{a}{b}$$",
    # Mixed scripts and numbers in one word.
    "abcабв123αβγ中文x٣y",
    "",
    " ",
    "a",
    "\n",
]

# Code points the random strings draw from: every class the split regex distinguishes.
POOLS = {
    "ascii_letters": [chr(c) for c in range(0x41, 0x5B)] + [chr(c) for c in range(0x61, 0x7B)],
    "ascii_digits": [chr(c) for c in range(0x30, 0x3A)],
    "ascii_punct": list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "apostrophe_words": ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'RE", "'Ll"],
    "spaces": [" ", " ", " ", "\t", "\n", "\r", "\r\n", "\u000b", "\u000c"],
    "unicode_spaces": ["\u00a0", "\u1680", "\u2000", "\u2003", "\u2009", "\u200a", "\u2028",
                       "\u2029", "\u202f", "\u205f", "\u3000", "\u0085", "\u180e", "\u200b",
                       "\u001c", "\u001d", "\u001e", "\u001f", "\ufeff"],
    "latin_ext": [chr(c) for c in range(0xC0, 0x250) if c not in (0xD7, 0xF7)],
    "combining": [chr(c) for c in range(0x300, 0x370)],
    "greek_cyrillic": [chr(c) for c in range(0x391, 0x3CA)] + [chr(c) for c in range(0x410, 0x450)],
    "cjk": [chr(c) for c in range(0x4E00, 0x4E80)] + [chr(c) for c in range(0x3040, 0x30A0)]
           + [chr(c) for c in range(0xAC00, 0xAC40)],
    "other_digits": [chr(c) for c in range(0x660, 0x66A)] + [chr(c) for c in range(0x966, 0x970)]
                    + [chr(c) for c in range(0xFF10, 0xFF1A)] + list("²³¹½¾①②Ⅻⅰⅱ𝟘𝟙"),
    "symbols": list("€£¥₩₹₿¢‰∑∫∂√∞≤≥≠→←↔⇒┌─┐│└┘⠁⠃⠉«»„“‚‘’—–…•·¡¿§¶©®™°±×÷"),
    "emoji": ["😍", "👍", "🏽", "👨", "\u200d", "👩", "🇰", "🇷", "❤", "\ufe0f", "\u20e3", "🎉", "🤖"],
    "astral_letters": ["𑼄", "𞓐", "𞀰", "𱍐", "𮯰", "𞊐", "𖩰", "𐕰", "𒾐", "𐽰", "𐐀", "𝔄", "𠀀"],
    "controls": ["\u0000", "\u0001", "\u0007", "\u001b", "\u007f", "\u0080", "\u009f"],
}
WEIGHTS = {
    "ascii_letters": 30, "ascii_digits": 8, "ascii_punct": 8, "apostrophe_words": 4, "spaces": 12,
    "unicode_spaces": 4, "latin_ext": 4, "combining": 2, "greek_cyrillic": 3, "cjk": 3,
    "other_digits": 3, "symbols": 3, "emoji": 3, "astral_letters": 2, "controls": 1,
}


def random_texts(n, seed):
    rng = random.Random(seed)
    names = list(WEIGHTS)
    weights = [WEIGHTS[k] for k in names]
    out = []
    for _ in range(n):
        length = rng.randint(1, 48)
        pieces = []
        while len(pieces) < length:
            pool = POOLS[rng.choices(names, weights)[0]]
            # Runs of one class, so that the regex's greedy parts get work.
            pieces.extend(rng.choice(pool) for _ in range(rng.randint(1, 4)))
        out.append("".join(pieces[:length]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokenizer", default="covip-model/tests/fixtures/tiny-qwen3-vl/tokenizer.json")
    ap.add_argument("--out", default="covip-model/tests/fixtures/tokenizer_regex.json")
    ap.add_argument("--random", type=int, default=2000, help="number of random strings")
    args = ap.parse_args()
    tok = Tokenizer.from_file(args.tokenizer)
    texts = HANDWRITTEN + random_texts(args.random, seed=20261206)
    cases = []
    for text in texts:
        # The split alone (before normalisation, as `pre_tokenize_str` does) and the ids.
        pieces = [p for p, _ in tok.pre_tokenizer.pre_tokenize_str(text)]
        ids = tok.encode(text, add_special_tokens=False).ids
        cases.append({"text": text, "pieces": pieces, "ids": ids})
    head = {"tokenizers_version": tokenizers.__version__,
            "tokenizer": os.path.relpath(args.tokenizer, os.path.dirname(args.out))}
    with open(args.out, "w", encoding="utf-8") as f:
        # One case per line, so that a regenerated file diffs by case.
        f.write(json.dumps(head)[:-1] + ', "cases": [\n')
        f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]}\n")
    print(f"{len(cases)} cases -> {args.out}")


if __name__ == "__main__":
    main()
