"""Writes the METEOR text-processing parity fixtures under covip-eval/tests/fixtures/meteor_text/:

  stems.json         [word, stem] pairs: org.tartarus.snowball.ext.englishStemmer as METEOR 1.5
                     calls it (through its SnowballStemmerWrapper)
  normalize.json     [line, keep_punct, no_punct] triples: what MeteorScorer hands its aligner
                     under `-l en -norm` (Normalizer.normalizeLine(line, LANG_EN, keepPunct) and
                     then toLowerCase()), for keepPunctuation true (what `-norm` alone uses) and
                     false (`-norm -noPunct`)
  english.prefixes   the jar's nonbreaking/english.prefixes, verbatim

The oracle is the meteor-1.5.jar that pycocoevalcap 1.2 bundles, driven by the small Java
program in scripts/java/MeteorTextOracle.java (compiled here against the jar).

Usage: python scripts/meteor_text_fixture.py
(needs Java 8+ with javac; finds the jar in an installed pycocoevalcap==1.2, or else fetches that
package with `pip download` into a temporary folder.)
"""

import base64
import glob
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from metrics_corpus import FRAGMENTS, corpus, random_caption  # noqa: E402

ROOT = os.path.join(HERE, "..")
OUT = os.path.join(ROOT, "covip-eval", "tests", "fixtures", "meteor_text")
JAVA_SRC = os.path.join(HERE, "java", "MeteorTextOracle.java")


# --------------------------------------------------------------------------------------------
# Locating the oracle


def find_jar(tmp):
    """Path of pycocoevalcap 1.2's meteor-1.5.jar: the installed package's, or a downloaded one."""
    try:
        import pycocoevalcap.meteor.meteor as meteor_py  # a namespace package: no __file__

        jar = os.path.join(os.path.dirname(os.path.abspath(meteor_py.__file__)), "meteor-1.5.jar")
        if os.path.exists(jar):
            return jar
    except ImportError:
        pass
    dl = os.path.join(tmp, "dl")
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", dl,
                    "pycocoevalcap==1.2"], check=True)
    for pkg in glob.glob(os.path.join(dl, "pycocoevalcap-1.2*")):
        if pkg.endswith(".whl") or pkg.endswith(".zip"):
            with zipfile.ZipFile(pkg) as z:
                name = next(n for n in z.namelist() if n.endswith("meteor/meteor-1.5.jar"))
                z.extract(name, tmp)
                return os.path.join(tmp, name)
        import tarfile

        with tarfile.open(pkg) as t:
            member = next(m for m in t.getmembers() if m.name.endswith("meteor/meteor-1.5.jar"))
            t.extract(member, tmp)
            return os.path.join(tmp, member.name)
    raise SystemExit("could not find or download pycocoevalcap 1.2's meteor-1.5.jar")


def compile_oracle(jar, tmp):
    classes = os.path.join(tmp, "classes")
    os.makedirs(classes, exist_ok=True)
    subprocess.run(["javac", "-encoding", "UTF-8", "-cp", jar, "-d", classes, JAVA_SRC], check=True)
    return classes


def run_oracle(jar, classes, mode, items):
    """One list of output fields per item."""
    data = "".join(base64.b64encode(s.encode("utf-8")).decode("ascii") + "\n" for s in items)
    # An English default locale: String.toLowerCase() is locale-sensitive (Turkish i).
    out = subprocess.run(["java", "-Duser.language=en", "-Duser.country=US", "-cp",
                          jar + os.pathsep + classes, "MeteorTextOracle", mode],
                         input=data.encode("ascii"), stdout=subprocess.PIPE, check=True).stdout
    rows = [[base64.b64decode(f).decode("utf-8") for f in line.split("\t")]
            for line in out.decode("ascii").splitlines()]
    assert len(rows) == len(items), (mode, len(rows), len(items))
    return rows


def jar_text(jar, name):
    with zipfile.ZipFile(jar) as z:
        return z.read(name).decode("utf-8")


# --------------------------------------------------------------------------------------------
# Lines to normalise

HARD_LINES = [
    # contractions and possessives, raw and PTB-tokenised
    "don't", "Don't do that", "can't", "won't", "it's", "It's a dog's life", "o'clock",
    "rock 'n' roll", "rock'n'roll", "the dogs' bowls", "James's hat", "Jones' car", "'tis",
    "'twas the night", "y'all", "I'm", "we'd've", "1990's", "the '90s", "90's kids", "5's",
    "a dog 's bone", "do n't", "ca n't", "it 's", "they 're", "the dogs ' bowls", "' quoted '",
    "'", "''", "'''", "a'", "'a", "a'b'c", "l'amour", "d'Artagnan", "O'Neil's", "x'1", "1'x",
    "1'2", "é'é", "ж'ж", "a ' b", "3'S", "3's", "3'st",
    # quotes
    "“smart quotes”", "‘single curly’", "``latex''", "`backtick'", "\"plain\"", "''a''",
    "he said ''hi'' to me", "'''x'''", "‘’", "“”", "a“b”c", "`", "``", "```",
    # dashes
    "a – b", "a—b", "a -- b", "a---b", "a----b", "state-of-the-art", "U.S.-based", "x-ray",
    "-5", "5-", "--", "-", "– –", "a–b", "a––b", "1-2", "a.-b", "a.-.b", "-a-", "a - b",
    "well-known—really", "e-mail", "a-b-c-d", "ж-ж", "é-é",
    # numbers and commas
    "1,000.5", "1,000", "a,b", "a,b,c", "1,a", "a,1", "1,2,3", "a, b", ",", ",,", "a,,b",
    "1,,2", ",1", "1,", "3.14", "0.5.", "v1.2.3", "10:30", "$5,000,000", "5,000 people, 3 dogs",
    # abbreviations and periods
    "Mr. Smith", "Dr. Who", "DR. No", "U.S.", "U.S.A.", "the U.S. army", "e.g. this", "i.e. that",
    "e.g.", "No. 5", "No. five", "No.", "the No. 5 bus", "Art. 3", "Art. three", "pp. 12",
    "pp. a", "Nos. 5", "vs. them", "v. them", "St. Louis", "Inc. And", "Inc. and", "etc. The",
    "end.", "The end.", "THE END.", "I. The", "A. The", "a. the", "A.", "a.", ".", "x.y.",
    "3.", "3. 4", "Fig. 3", "fig. 3", "Mrs. X", "MRS. X", "Prof. Émile", "Prof. émile",
    "Col. 5", "Jan. 5", "1. a", "A.B. c", "a.b.", "ab.cd.", "ab.cd. The", "5.a.", "..a.",
    "Mr. .", "Mr.", "Mr. Mr.", "Gen. 9", "x. y", "x. Y", "x. 9", "x. é", "x. ж",
    # ellipses and dots
    "...", "..", ".", "....", "a...b", "a... b", "a ...b", "wait...", "hmm.. ok", "a..b..c",
    "...a", "a.", "a..", "a...", "a. . .", ". . .", "…", "a…", "1...2", "1..2", "x.....y",
    "...'", "'...", "..,", ",..", "a....", "Mr...", "Mr.. X", "DOTMULTI", "DOTMULTI. x",
    "DOTDOTMULTI", "x DOTMULTI.. y", "DOTMULTIDOTMULTI..", "aDOTMULTI.b", "DOTMULTI.",
    # URLs, e-mail, code-ish
    "http://www.example.com/a?b=1", "https://x.org/path.", "www.google.com", "foo@bar.com",
    "example.com", "file.txt", "C++", "C#", "AT&T", "a/b", "and/or", "50%", "#1", "@user",
    # brackets and other punctuation
    "(in the background)", "[blurry]", "{note}", "( spaced )", "a(b)c", "!?", "what?!",
    "wow!!!", "a;b:c", "«guillemets»", "¿qué?", "¡hola!", "a_b", "a*b", "x^2", "~", "|", "\\",
    # white space
    "tab\there", "multi   space", "  leading and trailing  ", "a\u00a0b", "a\u2003b",
    "a\u3000b", "a\u202fb", "a\u205fb", "a\x0bb", "\x0ba\x0b", "a\x0cb", "a\rb", "a\nb",
    "a\r\nb", "\t", " ", "", "   ", "\u00a0", "a\u2028b", "a\x85b", "a\x01b", "\x01", "a\x7fb",
    # non-ASCII letters and scripts
    "Café naïve résumé", "Zürich", "İstanbul", "ΣΟΦΙΑ", "Ελλάδα", "ΟΔΟΣ.", "Москва.",
    "Ёж, ёжик", "北京", "東京タワー", "emoji 😀 here", "😀😀", "ŠŽšžŸ", "ÀÖØöøž", "ǅ ǈ",
    "ß ẞ", "ﬁ ﬂ", "Ω Å K", "ᴀᴁᵿ", "Ꙁꙮ꙾ꚗ", "Ԁԧ", "×÷", "½ ¼", "°C", "™", "©2014", "a\u0301b",
    "ǰ", "ΐ", "Σ.", "ΑΣ ΑΣ.", "x\u0130y", "IJ ĳ",
    # mixed caption-like
    "A man riding a wave on top of a surfboard.", "Two dogs, playing in the snow...",
    "a BLACK-and-white cat's toy.", "The U.S. flag -- waving", "10 a.m. to 5 p.m.",
    "The man's hat is red.", "It's 5 o'clock somewhere!", "Mr. and Mrs. Smith's house.",
]


def soup_lines(rng, n):
    """Random character soup, heavy on the characters the normaliser's rules look at."""
    special = list(".,'`-‘’“”–—\"") * 8 + list(" ") * 10
    letters = list("abcxyzABCXYZ") * 3 + list("0123456789") * 2 + list("éÉšŸжЖßΣσ😀")
    other = list("!?;:()[]&/\\#$%*+=<>@^_{}|~") + ["\t", "\u00a0", "\u2003", "\x0b", "…"]
    words = ["DOTMULTI", "Mr", "No", "Art", "pp", "U.S", "e.g", "St", "Dr", "Inc", "vs"]
    pool = special + letters + other
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(0, 24)):
            parts.append(rng.choice(words) if rng.random() < 0.05 else rng.choice(pool))
        out.append("".join(parts))
    return out


def lines_to_normalise():
    rng = random.Random(1515)
    lines = list(HARD_LINES)
    lines += FRAGMENTS
    lines += [f"{a} {b}" for a, b in zip(FRAGMENTS, reversed(FRAGMENTS))]
    data = corpus(6, 300)  # the raw captions and references of the caption-metric fixtures
    for v in data.values():
        lines += v["refs"]
        lines.append(v["cand"])
    lines += [random_caption(rng) for _ in range(300)]
    # PTB-tokenised, lower-cased captions: what pycocoevalcap actually feeds METEOR.
    scores = os.path.join(ROOT, "covip-eval", "tests", "fixtures", "coco_scores.json")
    if os.path.exists(scores):
        with open(scores, encoding="utf-8") as f:
            sc = json.load(f)
        for k in list(sc["tokenized_refs"])[:120]:
            lines += sc["tokenized_refs"][k]
            lines.append(sc["tokenized_cands"][k])
    lines += soup_lines(rng, 1200)
    seen, uniq = set(), []
    for line in lines:
        if line not in seen:
            seen.add(line)
            uniq.append(line)
    return uniq


# --------------------------------------------------------------------------------------------
# Words to stem

SPECIAL_WORDS = """
generously generally general generate generation generous communication community communal
communism arsenal arsenic arsenate news skies skis ski sky skying dying lying tying idly gently
ugly early only singly howe atlas cosmos bias andes inning innings outing outings canning
cannings herring herrings earring earrings proceed proceeds proceeded proceeding exceed exceeds
exceeded exceeding succeed succeeds succeeded succeeding ied ies sses tied ties cries cried
flies flied dies died lies lied pies spied spies kiwis gas gaps us bus kiss kisses caress
caresses ponies pony toy toys boy boys boyish say saying says said play played player playing
player's players' enjoy enjoyed joy joyful yes yellow yesterday yyy yy ayy ayay yay yayy eyes
eye eyed buy buying by bye cry crying cryer happy happily happiness hopefully hopeful
beautifully beautiful nationality national nationalization rationalization relational
conditional operational sensational organization organizational organizer generalization
hopefulness carefulness usefulness helplessness homelessness restlessness effectiveness
decisiveness callousness gracefully fearlessly consciously continuously actively sensitivity
responsibility probability ability visibility liability possibility electricity electrical
electric criticism criticize critical critic logically analogically ecology biology apology
geology psychology logical analogous fully hardly evidently differently recently frequently
easily lovely lonely lovingly lastly happily fitly bly ably abli abbli bli li blissfully
fatally finally totally formally normally vitally radically magically basically
dramatically replacement management agreement government movement adjustment statement
settlement excitement measurement argument cement ment element elemental moment momentum
adoption adaption abortion position condition question session vision television decision
confusion lion onion union million pinion champion dominion occasion ion tion sion
irritant dependent independent different excellent president ancient patient
ocean cancel carol dial feel fell fill full wall well will null bull hall roll travel
travelling traveling labelled labeling control controlled controlling rebel rebelled
hope hoping hoped hop hopping hopped hoper hopes tape taping tap tapping fail failing
file filing fil filling fizz fizzed fizzing fuss fussed hiss hissed hiss luxuriate luxuriating
conflate conflated conflating trouble troubled troubling size sized sizing rate rating rated
agreed feed feeding fed need needed needing bleed bleeding speed speedily greed greedy
deed indeed reed breed breeding seed seeded seeding weed weeding heed heeding
sing singing sings sang singly singles single bring bringing string stringing spring
king kingly thing things nothing something everything evening morning during ring ringing
bed bedding red reddish shed shredded sled wed wedding hundred kindred sacred
fly flying flies flew fled ply plying reply replied replying apply applied
tree trees free freed freeing see seeing agree agreeing
ing ed s y ly 's s' ' '' ''' 's' 'x xs' aa ab abc ab' 'ab 'abc a'b
"""

NON_ASCII_WORDS = [
    "café", "cafés", "naïve", "naïvely", "résumé", "résumés", "über", "niño", "niños", "zürich",
    "éing", "aéing", "aéed", "ñy", "aéy", "éy", "ées", "aée", "москва", "ёжики", "ελλάδα",
    "straße", "İstanbul", "𝔸ies", "𝔸y", "a𝔸ing", "𝔸𝔸y", "😀", "😀s", "a😀s", "😀ing", "x😀y",
    "ﬁsh", "ﬂying", "ǅemal", "ß", "ŠŽš", "bañy", "é", "éé", "ééé", "\u00a0x", "tab\tx",
]

UPPER_WORDS = [
    "RUNNING", "Running", "RuNNing", "Flying", "FLYING", "Y", "YY", "YOU", "Yes", "YES", "sKY",
    "SKY", "Skies", "SKIES", "News", "NEWS", "Only", "ONLY", "Dying", "BOY", "BoY", "bOy", "sAY",
    "SaYing", "PLAYED", "ED", "ING", "LY", "Generously", "GENERAL", "X's", "DOG'S", "Dogs'",
    "caRES", "HopeFUL", "NATIONAL", "Nationalization", "TIES", "Ties", "yEs", "aYe", "aYy",
]

DIGIT_WORDS = [
    "1", "12", "123", "1990s", "3rd", "21st", "2x4", "4x4", "5km", "100m", "12ing", "12ed",
    "1ies", "1sses", "9ly", "0y", "00y", "a1y", "1a2", "'90s", "90's", "3.5", "1,000", "-5",
    "x-ray", "co-op", "e-mail", "u.s.", "e.g.", "a.m.", "...", "--", "-", ".", ",", "(", ")",
]

SUFFIXES = """s es ed ing ly edly ingly eed eedly ied ies sses ss us 's s' ' ness ful fulness
ational tional ization ation ator alism aliti iviti biliti ousli ousness iveness entli fulli
lessli enci anci abli alli ogi li bli icate ative alize iciti ical ance ence able ible ate ive
ize iti al ism ion sion tion er ous ant ent ment ement e l ll y ys ying yed ies ier iest est
""".split()


def synonym_words(jar):
    """Single-word lemmas and irregular inflections from the jar's WordNet resources."""
    words = set()
    for line in jar_text(jar, "synonym/english.synsets").splitlines():
        if re.fullmatch(r"[a-z][a-z'\-]*", line):
            words.add(line)
    exceptions = set()
    for line in jar_text(jar, "synonym/english.exceptions").splitlines():
        if re.fullmatch(r"[a-z][a-z'\-]*", line):
            exceptions.add(line)
    return sorted(words), sorted(exceptions)


def words_to_stem(jar, normalised_lines):
    rng = random.Random(2014)
    words = []
    words += SPECIAL_WORDS.split()
    words += ["", " ", "a", "y", "'"]
    words += NON_ASCII_WORDS + UPPER_WORDS + DIGIT_WORDS
    # Every token METEOR's normaliser produced for the fixture lines (what the stemmer sees).
    for row in normalised_lines:
        for field in row[1:]:
            words += field.split(" ")
    # Every raw word of the caption corpus, as typed and lower-cased.
    for v in corpus(6, 600).values():
        for cap in v["refs"] + [v["cand"]]:
            for w in cap.split():
                words += [w, w.lower()]
    lemmas, exceptions = synonym_words(jar)
    words += rng.sample(lemmas, 3200)
    words += rng.sample(exceptions, 800)
    for base in rng.sample(lemmas, 500):
        for suf in rng.sample(SUFFIXES, 3):
            words.append(base + suf)
    for base in rng.sample(lemmas, 150):
        words.append(base.upper())
        words.append(base.capitalize())
    # Letter soup: short random strings over vowels, y/Y, consonants and the suffix letters,
    # to reach rule combinations real words rarely hit.
    soup = "aeiouy" * 3 + "bcdlnstgrmpwx" * 2 + "yY'éz1"
    for _ in range(1500):
        words.append("".join(rng.choice(soup) for _ in range(rng.randint(1, 9))))
    for _ in range(300):
        words.append(rng.choice(["", "'", "y", "Y"]) + "".join(rng.choice(soup) for _ in range(
            rng.randint(1, 5))) + rng.choice(SUFFIXES))
    seen, uniq = set(), []
    for w in words:
        if w not in seen:
            seen.add(w)
            uniq.append(w)
    return uniq


# --------------------------------------------------------------------------------------------


def write_rows(path, header, rows):
    """JSON with one row per line (readable diffs)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("{\n")
        for k, v in header.items():
            f.write(f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},\n")
        f.write('"rows": [\n')
        f.write(",\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
        f.write("\n]\n}\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        jar = find_jar(tmp)
        classes = compile_oracle(jar, tmp)
        prefixes = jar_text(jar, "nonbreaking/english.prefixes")
        with open(os.path.join(OUT, "english.prefixes"), "w", encoding="utf-8", newline="") as f:
            f.write(prefixes)

        lines = lines_to_normalise()
        norm = run_oracle(jar, classes, "norm", lines)
        norm_rows = [[line, keep, strip] for line, (keep, strip) in zip(lines, norm)]
        write_rows(os.path.join(OUT, "normalize.json"), {
            "oracle": "pycocoevalcap 1.2 meteor-1.5.jar: Normalizer.normalizeLine(line, "
                      "LANG_EN, keepPunctuation).toLowerCase()",
            "columns": ["line", "keep_punctuation=true", "keep_punctuation=false"],
        }, norm_rows)

        words = words_to_stem(jar, norm_rows)
        stems = run_oracle(jar, classes, "stem", words)
        stem_rows = [[w, s[0]] for w, s in zip(words, stems)]
        write_rows(os.path.join(OUT, "stems.json"), {
            "oracle": "pycocoevalcap 1.2 meteor-1.5.jar: SnowballStemmerWrapper(englishStemmer)",
            "columns": ["word", "stem"],
        }, stem_rows)
    changed = sum(1 for w, s in stem_rows if w != s)
    print(f"{len(norm_rows)} lines, {len(stem_rows)} words ({changed} changed by stemming) "
          f"written to {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()
