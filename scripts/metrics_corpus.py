"""Seeded synthetic caption corpus for covip's metric parity fixtures (shared by the
metrics_*_fixture.py scripts). Varied on purpose: contractions, possessives, brackets, quotes,
hyphens, numbers, abbreviations, URLs, e-mails, unicode punctuation and letters, odd spacing."""

import random

NOUNS = """man woman dog cat child bicycle car street table kitchen pizza plate cup laptop phone
train bus boat bird horse sheep cow elephant bear zebra giraffe umbrella bag tie suitcase frisbee
skis snowboard kite bat glove skateboard surfboard racket bottle glass fork knife spoon bowl banana
apple sandwich orange broccoli carrot hot dog donut cake chair couch plant bed toilet tv mouse
remote keyboard microwave oven toaster sink refrigerator book clock vase scissors teddy bear
hair drier toothbrush window door wall sky tree grass water beach mountain road building sign
shirt hat jacket person people boy girl player team field court park city room""".split()
ADJS = """red blue green yellow white black small large old young wooden shiny wet dry tall
short bright dark colorful colourful striped empty full busy quiet grey gray happy sleepy""".split()
VERBS = """sitting standing walking running riding holding eating playing looking lying
parked flying jumping carrying wearing watching crossing waiting cutting throwing""".split()
PREPS = "on in near next to under behind beside with at by over across along".split()
DETS = ["a", "an", "the", "two", "three", "some", "A", "The", "Two", "several", "many"]

FRAGMENTS = [
    "a man's hat", "the dogs' bowls", "it's raining", "they're here", "we've got it",
    "I'd say", "you'll see", "don't", "doesn't", "can't", "won't", "shouldn't", "isn't",
    "ain't", "y'all", "o'clock", "rock'n'roll", "'tis", "'twas", "cannot", "gonna", "wanna",
    "gotta", "lemme", "gimme", "(in the background)", "[blurry]", "{note}", "( spaced )",
    "\"quoted\"", "\" spaced quote \"", "'single'", "`backtick'", "``latex''", "“smart”",
    "‘curly’", "«guillemets»", "state-of-the-art", "well-known", "x-ray", "co-op",
    "e-mail", "--", "---", "----", "-", " - ", "—", "–", "...", "…", ". . .", "3.5", "1,000",
    "10:30", "12/25/2014", "1/2", "½", "¼", "3 1/2", "$5", "US$10", "£3", "€20", "¢", "¥100",
    "50%", "#1", "#hashtag", "@user", "foo@bar.com", "http://www.example.com/a?b=1",
    "https://x.org/path.", "www.google.com", "example.com", "Example.com", "U.S.", "U.S.A.",
    "Mr. Smith", "Dr. Who", "Inc.", "etc.", "e.g.", "i.e.", "a.m.", "p.m.", "No. 5", "vs.",
    "Jan. 5", "St. Louis", "Calif.", "fig. 3", "ca. 1900", "Co. Ltd", "Jones'", "James's",
    "Café", "naïve", "résumé", "Zürich", "İstanbul", "ΣΟΦΙΑ", "Ελλάδα", "北京", "東京タワー",
    "emoji 😀 here", "a\u00a0b", "tab\there", "multi   space", "C++", "C#", "F#", "AT&T",
    "S&P", "&amp;", "&quot;", "<b>bold</b>", "<br/>", "a < b", "c > d", ":)", ";-)", ":(",
    "^_^", "2x4", "4x4", "5km", "100m", "3rd", "21st", "1990s", "'90s", "A+", "B-", "x^2",
    "a/b", "and/or", "50/50", "file.txt", "photo.jpg", "n't", "'s", "'m", "O'Neil",
    "d'Artagnan", "l'amour", "c'mon", "cont'd", "li'l", "ev'ry", "Let's", "let's", "what's",
    "who'd", "hmm...", "wow!!!", "what?!", "really??", "yes;", "no:", "a, b", "*", "***",
    "+", "=", "~", "|", "\\", "^", "_", "__", "@", "°", "×", "±", "©", "®", "™", "§", "¶",
    "•", "·", "¿qué?", "¡hola!", "2,5", "1.000.000", "-5", "+3", "555-1234", "(555) 123-4567",
    "isn't it?", "THE END.", "I.", "A. The", "U.S. The", "etc. The", "Inc. And", "end.",
]


def random_caption(rng: random.Random) -> str:
    """One caption: a plain sentence, optionally salted with fragments and odd punctuation."""
    parts = [rng.choice(DETS)]
    if rng.random() < 0.6:
        parts.append(rng.choice(ADJS))
    parts.append(rng.choice(NOUNS))
    parts.append(rng.choice(["is", "are", ""]))
    parts.append(rng.choice(VERBS))
    parts.append(rng.choice(PREPS))
    parts.append(rng.choice(DETS).lower())
    if rng.random() < 0.5:
        parts.append(rng.choice(ADJS))
    parts.append(rng.choice(NOUNS))
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        pos = rng.randrange(len(parts) + 1)
        parts.insert(pos, rng.choice(FRAGMENTS))
    sep = rng.choice([" ", " ", " ", "  "])
    text = sep.join(p for p in parts if p)
    text += rng.choice([".", ".", "", "!", " .", "?", "...", " ,", ",", ";"])
    if rng.random() < 0.1:
        text = text.upper()
    if rng.random() < 0.05:
        text = "  " + text + "  "
    return text


def corpus(seed: int, n_images: int, refs_per_image=(1, 6)):
    """{image_id: {"refs": [...], "cand": "..."}} with a seeded RNG. Candidates are either
    fresh captions or perturbed references (so n-gram overlap is realistic)."""
    rng = random.Random(seed)
    out = {}
    for i in range(n_images):
        refs = [random_caption(rng) for _ in range(rng.randint(*refs_per_image))]
        r = rng.random()
        if r < 0.45:
            words = rng.choice(refs).split()
            if len(words) > 3 and rng.random() < 0.7:
                del words[rng.randrange(len(words))]
            if rng.random() < 0.5:
                words.insert(rng.randrange(len(words) + 1), rng.choice(NOUNS))
            cand = " ".join(words)
        elif r < 0.95:
            cand = random_caption(rng)
        elif r < 0.97:
            cand = ""
        else:
            cand = rng.choice(["a", "dog", "...", "the the the the", "A"])
        out[f"img{i:05d}" if rng.random() < 0.8 else str(100000 + i)] = {"refs": refs, "cand": cand}
    return out
