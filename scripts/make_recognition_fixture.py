#!/usr/bin/env python3
"""Writes the parity fixtures of the recognition reward r_vis (SPEC 4.1).

    python3 scripts/make_recognition_fixture.py \
        --released PATH/TO/released_rewards.py \
        --out covip-rl/tests/fixtures/recognition_released.jsonl

The released reward function, `yes_no_reward_multi_vis`, is imported from the file given with
--released (kept outside this repository) and run on a few thousand completions: hand-written
cases for every literal form that `ast.literal_eval` accepts or rejects, and seeded random
renderings and mutations of valid answers. Each line of --out is
`{"completion", "answer", "reward"}`; its first line records the Python version and seed.

A second file, --literals-out (default: recognition_literals.jsonl beside --out), records
`ast.literal_eval` itself on box-free sources (dicts, sets, braces in strings cannot occur in a
box, whose content stops at the first `}`): `{"source", "ok", "value", "distinct"}` where
`value` is the canonical description of `describe` below and `distinct` the size of the
released code's prediction set (null when an element is unhashable).

covip-rl/tests/recognition_parity.rs checks both files. The fixtures depend on the Python
version (3.11 limits: 4300 int digits, 200 nested brackets, a 6000-call parser stack).
"""
import argparse
import ast
import importlib.util
import json
import random
import struct
import sys
from pathlib import Path

SEED = 20261206


def load_released(path):
    spec = importlib.util.spec_from_file_location("released_rewards", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.yes_no_reward_multi_vis


def float_bits(x):
    return "%016x" % struct.unpack("<Q", struct.pack("<d", x))[0]


def describe(v):
    """A canonical text of a literal value that the Rust test rebuilds from its own value."""
    if isinstance(v, bool):
        return "b:%s" % v
    if isinstance(v, int):
        return "i:" + hex(v)
    if isinstance(v, float):
        return "f:" + float_bits(v)
    if isinstance(v, complex):
        return "c:%s,%s" % (float_bits(v.real), float_bits(v.imag))
    if isinstance(v, str):
        return "s:" + " ".join("%x" % ord(c) for c in v)
    if isinstance(v, bytes):
        return "y:" + v.hex()
    if v is None:
        return "None"
    if v is Ellipsis:
        return "..."
    if isinstance(v, tuple):
        return "(" + ";".join(describe(x) for x in v) + ")"
    if isinstance(v, list):
        return "[" + ";".join(describe(x) for x in v) + "]"
    if isinstance(v, set):
        # Python's iteration order is hash order; compare as sorted descriptions.
        return "{" + ";".join(sorted(describe(x) for x in v)) + "}"
    if isinstance(v, dict):
        return "{" + ";".join(describe(k) + ":" + describe(x) for k, x in v.items()) + "}"
    raise TypeError(type(v))


def literal_record(source):
    try:
        v = ast.literal_eval(source)
    except Exception:  # SyntaxError, ValueError, TypeError, MemoryError, OverflowError, ...
        return {"source": source, "ok": False, "value": None, "distinct": None}
    items = list(v) if isinstance(v, (list, tuple, set)) else [v]
    try:
        distinct = len(set(items))
    except TypeError:
        distinct = None
    return {"source": source, "ok": True, "value": describe(v), "distinct": distinct}


# ----------------------------------------------------------------------------------------------
# Hand-written box contents: every form literal_eval accepts, and near misses it rejects.
# ----------------------------------------------------------------------------------------------
HAND = [
    # integers, bases, underscores, leading zeros
    "1", "[1]", "[1, 2]", "(1, 2)", "1, 2", "1,", "(1,)", "()", "[]", "[1,]", "[1, 2,]",
    "0", "00", "0_0", "000_000", "01", "0_1", "007", "1_0", "1__0", "1_", "_1", "10_",
    "0x1", "0X1", "0x_1", "0x1_", "0x", "0xg", "0x1F", "0xaBc", "0o1", "0O7", "0o8", "0o_7",
    "0b1", "0B10", "0b2", "0b_1_0", "0b", "0b__1", "[0x1, 0o2, 0b11]", "0_x1", "0x1.5",
    "[0, 1, 2, 3, 4, 5, 6, 7]", "[7, 6, 5]", "[-1]", "-1", "+1", "- 1", "-(1)", "+ (2)",
    "--1", "+-1", "-+1", "- -1", "-(-1)", "~1", "not 1", "-[1]", "-(1,)",
    # floats
    "1.0", "[1.0, 2.0]", "1.", ".5", "0.5", "5e-1", "1e0", "10e-1", "0.1e1", "1E0", "1e+0",
    "1e-0", "1_0.0e-1", "1.0_0", "1_.0", "1._0", "1e_0", "1e0_0", "1e", "1e+", ".e1", "1..0",
    "1.5.5", "0.0", "-0.0", "[0.0, -0.0]", "1e999", "-1e999", "[1e999, 1e1000]", "1e-999",
    "09.5", "09e1", "00.", "0_0.5", "1.5", "2.5e0", "[2.0000000000000001]", "0.99999999999999999",
    "9007199254740993.0", "[9007199254740992, 9007199254740993.0]",
    # complex
    "1j", "1J", "0j", "[1+0j]", "(1+0j)", "1+0j", "1-0j", "1.0+0j", "-1+0j", "+1+0j",
    "1+1j", "1 + 1j", "(1)+(0j)", "(-1)+0j", "-(1)+0j", "1+-0j", "1+(0j)", "1+0j+0j", "1j+1",
    "1j-1j", "0j+1", "1+2", "1*1j", "1+True", "True+0j", "0x1+0j", "1e999+1j", "1e999-1e999j",
    "[-0j, 0j, 0.0, 0]", "1+0J", "09j", "0_0j", "1_0j", "1__0j", "1.5j", "1e1j", "1.j",
    "[2+0j, 2.0, 2]", "10" * 200 + "+0j", "1" * 309 + "+0j", "-" + "1" * 308 + "-0j",
    # bools, None, Ellipsis, names
    "True", "False", "[True, False]", "[True, 1]", "[False, 0, 0.0, -0.0, 0j]", "None",
    "[None]", "[None, 0]", "...", "[...]", "Ellipsis", "true", "TRUE", "null", "x", "[x]",
    "__debug__", "Ｔｒｕｅ", "-True", "+False",
    # strings and bytes
    "'1'", '"1"', "['1', 1]", "'a'", "'a' 'b'", "'a''b'", "'a' \"b\"", "b'1'", "B'1'",
    "[b'1', '1']", "'a' b'b'", "u'1'", "U'1'", "r'1'", "R'\\d'", "rb'1'", "bR'1'", "Rb'1'",
    "br'\\n'", "ur'1'", "f'1'", "F'1'", "rf'1'", "'a' f'b'", "'\\x41'", "'\\x4'", "'\\u0041'",
    "'\\U00000041'", "'\\U00110000'", "'\\u12'", "'\\101'", "'\\777'", "'\\0'", "'\\8'", "'\\d'",
    "b'\\777'", "b'\\400'", "b'\\u0041'", "b'\\x80'", "b'é'", "'é'", "'\\ud800'", "'\\\nx'",
    "'''a'''", '"""a\nb"""', "'''a'b'''", '"""a"b"""', "'''a''b'''", '"""a""b"""',
    "'''a\\'''b'''", "'''\n1'''", "'''a'''b", "[''' 1 ''', 1]", "'''é'''", "'''a''''", "'a\nb'",
    "'a", "'a\\'", "r'\\'", "r'\\''", "'\\''",
    "['a', 'a', 'b']", "[('a', 1), ('a', 1.0)]", "['1', '01']", "'\\a\\b\\f\\n\\r\\t\\v'",
    "x'a'", "'a'b", "'a'.upper()", "'a'[0]", "['\\N{DASH']", "'#'", "'a' # 'b'",
    # tuples, nesting, hashability
    "[(1, 2), (1, 2)]", "[(1, 2), (1.0, 2.0)]", "[(1, [2])]", "[[1]]", "[[1], 2]", "([1],)",
    "[(1,), 1]", "((1))", "(((1,)))", "[(), ()]", "[((), ())]", "[(1, (2, (3,)))]",
    "[1, [2]]", "[set()]", "set()", "set ()", "(set)()", "((set))()", "set(\n)", "set(1)",
    "set([])", "set()()", "set(),", "[set(), 1]", "frozenset()", "ｓｅｔ()", "ſet()",
    "𝐬𝐞𝐭()", "sᵉᵗ()", "Set()", "-set()", "set",
    # white space, comments, continuations
    " 1", "  [1]", "\t1", "\t [1]", "1 ", "1\n", "1\n\n", "\n1", "\n\n1", " \n1", "\n 1",
    "\n\t1", "\f1", "\f 1", " \f1", "\n\f1", "\n\f 1", "\n \f1", "1\f", "\v1", "1\v",
    "\u00a01", "1\u00a0", "\u30001", "\u20281", "\ufeff1", "1\x00", "[1,\n2]", "[1\n,2]",
    "(1\n,\n2\n)", "1,\n2", "1\n2", "1 # c", "1# c", "[1]  # final", "[1] # a } b", "# c\n1",
    "#c", "1 #c\n", "1 #c\n2", "[1, # one\n 2]", "[1 # x\n]", "1\n# c", "1\n  # c", "1\n  ",
    "1\n\t", "1\n \n", "1\n\f", "1 \\\n", "1 \\\n ", "\\\n1", "\\\n 1", " \\\n1", "1 \\\n+0j",
    "[1,\\\n2]", "1 \\ \n", "1\\", "\\\n#c\n1", "\\\n\f1", "\\\n\t1", "1\r\n", "\r\n1",
    "[1,\r2]", "1\r", "[1,\r\n2]", "'''a\r\nb'''", "'''a\rb'''", "'a\\\r\nb'", "\n\n1\n\n",
    "", " ", "\n", "\t", "\f", "#",
    # non-literals
    "1 if 1 else 2", "1if 1 else 2", "[i for i in (1,)]", "(x:=1)", "[*()]", "[*(1,)]", "1;",
    "1 ;", "1 == 1", "1<2", "lambda: 1", "[1][0]", "(1)(2)", "None()", "[1] + [2]",
    "{1: 2}", "1.real", "1..real", "1 .real", "[1 2]", "[1,,2]", "[,]", "(,)", "1,,", "(1",
    "1)", "[1)", "a.b", "print(1)", "10**2", "2*3", "1 and 2", "yield 1", "await x", "`1`",
    "$1", "1 @ 2", "@", "[1, 2]]", "[[1, 2]", "1 1",
]

BRACE_SOURCES = [
    "{}", "{1}", "{1, 2}", "{1, 1.0, True}", "{1: 2}", "{1: 2, 1.0: 3}", "{1: 2,}", "{1, 2,}",
    "{1: 2, 3}", "{1, 2: 3}", "{,}", "{1:}", "{:1}", "{**{}}", "{*()}", "{[1]}", "{[1]: 2}",
    "{(1, [2])}", "{(1, 2)}", "{1: [2]}", "[{1: 2}]", "({1: 2},)", "{1: {2: 3}}", "{{1}}",
    "{frozenset()}", "{set()}", "{()}", "[{}]", "[{1}]", "({1},)", "{'a': 1, 'a': 2}",
    "{1: 'a', True: 'b', 1.0: 'c'}", "{-0.0: 1, 0: 2}", "{'a', b'a'}", "'\\N{DASH}'",
    "'\\N{LATIN SMALL LETTER A}'", "b'\\N{DASH}'", "'}'", "['}']", "{'}': 1}",
    "{1: 2} # }", "{\n1\n:\n2\n}", "{1 : 2, 3 : 4, }", "{0x1: 0b1, 0o1: 1.0}", "{None: ...}",
    "{(1, 2): (3, 4)}", "{1j: 2}", "{1e999: 1, 1e1000: 2}", "{'x': set()}", "set({})",
]


def nested(rng, depth, leaf):
    """A value nested `depth` brackets deep, with random container kinds and positions."""
    pre, suf = "", ""
    for _ in range(depth):
        kind = rng.choice(["list", "tuple", "group", "list_after", "tuple_after"])
        if kind == "list":
            pre, suf = pre + "[", "]" + suf
        elif kind == "list_after":
            pre, suf = pre + "[0, ", "]" + suf
        elif kind == "tuple":
            pre, suf = pre + "(", ",)" + suf
        elif kind == "tuple_after":
            pre, suf = pre + "(0, ", ")" + suf
        else:
            pre, suf = pre + "(", ")" + suf
    return pre + leaf + suf


def nested_braces(rng, depth, leaf):
    pre, suf = "", ""
    for _ in range(depth):
        kind = rng.choice(["list", "set", "dictkey", "dictval", "dictval2", "tuple", "group"])
        o, c = {
            "list": ("[", "]"), "set": ("{", "}"), "dictkey": ("{", ": 0}"),
            "dictval": ("{0: ", "}"), "dictval2": ("{0: 0, 1: ", "}"), "tuple": ("(0, ", ")"),
            "group": ("(", ")"),
        }[kind]
        pre, suf = pre + o, c + suf
    return pre + leaf + suf


def render_int(rng, n):
    """An element equal to the int n, in one of Python's many spellings."""
    forms = ["dec", "dec", "hex", "oct", "bin", "float", "float_e", "complex", "under", "sign"]
    if n in (0, 1):
        forms += ["bool"]
    form = rng.choice(forms)
    if form == "dec":
        return str(n)
    if form == "hex":
        s = rng.choice(["0x", "0X"]) + ("%x" % n if rng.random() < 0.5 else "%X" % n)
        return s.replace("0x", "0x_", 1) if rng.random() < 0.2 else s
    if form == "oct":
        return rng.choice(["0o", "0O"]) + "%o" % n
    if form == "bin":
        return rng.choice(["0b", "0B"]) + bin(n)[2:]
    if form == "float":
        return rng.choice(["%d.0" % n, "%d." % n, "%d.00" % n, "%d.0_0" % n])
    if form == "float_e":
        return rng.choice(["%de0" % n, "%d0e-1" % n, "0.%de1" % n if n < 10 else "%de0" % n,
                           "%dE+0" % n, "%d00e-2" % n])
    if form == "complex":
        return rng.choice(["%d+0j" % n, "(%d+0j)" % n, "%d-0j" % n, "%d.0+0j" % n, "%d+0J" % n])
    if form == "under":
        s = str(n)
        return s if len(s) < 2 else s[0] + "_" + s[1:]
    if form == "sign":
        return rng.choice(["+%d" % n, "+ %d" % n, "-%d" % -n if n == 0 else "+(%d)" % n])
    return "True" if n == 1 else "False"


def render_junk(rng):
    return rng.choice([
        "'1'", '"2"', "None", "...", "1.5", "2.5", "-1", "(1, 2)", "(0,)", "()", "b'0'", "[1]",
        "set()", "1j", "2**64", "18446744073709551616", "0x10000000000000000", "1e20",
        "100000000000000000000", "1e999", "'a'", "x", "-0.0", "(1+1j)", "1e-5", "99",
        "9999999999999999999999999999999999", "(1, (2, 3))", "('a', 1)", "[[]]", "{1}",
    ])


def render_answer(rng, gold):
    """A box content for `gold`, with noise: wrong or missing elements, other spellings."""
    pred = list(gold)
    if rng.random() < 0.3 and pred:
        pred.remove(rng.choice(pred))
    if rng.random() < 0.3:
        pred.append(rng.randrange(0, 8))
    if rng.random() < 0.3 and pred:
        pred.append(rng.choice(pred))  # duplicate
    rng.shuffle(pred)
    items = [render_int(rng, n) for n in pred]
    if rng.random() < 0.15:
        items.insert(rng.randrange(len(items) + 1), render_junk(rng))
    sep = rng.choice([", ", ",", " , ", ",\n", ", # c\n"])
    body = sep.join(items)
    container = rng.choice(["list", "list", "tuple", "bare", "paren", "trailing"])
    if container == "list":
        s = "[" + body + "]"
    elif container == "tuple":
        s = "(" + body + ("," if len(items) == 1 else "") + ")"
    elif container == "paren":
        s = "(" + body + ")"
    elif container == "trailing":
        s = "[" + body + ",]" if items else "[]"
    else:
        s = body
    if rng.random() < 0.2:
        s = rng.choice([" ", "  ", "\t", "\n", " \n", "\f"]) + s
    if rng.random() < 0.2:
        s = s + rng.choice([" ", "\n", "  # final", " # indices", "\n\n", "\t"])
    return s


def mutate(rng, s):
    """A random small edit, mostly making the text invalid in some way."""
    alphabet = list("[](),:+-_.0123456789xobjeEJ'\"# \n\t\\")
    alphabet += ["True", "None", "set()", "...", "0x", "1e"]
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        i = rng.randrange(len(s) + 1)
        if op < 0.4 or not s:
            s = s[:i] + rng.choice(alphabet) + s[i:]
        elif op < 0.7:
            s = s[:i] + s[i + 1:]
        else:
            j = rng.randrange(len(s))
            s = s[:j] + rng.choice(alphabet) + s[j + 1:]
    return s.replace("}", "")


def wrap(rng, content):
    prefix = rng.choice(["", "Answer: ", "The people are 1 and 2.\n", "Final answer: $",
                         "I think {not this} ", "\\boxed no ", "Step 1 ... "])
    suffix = rng.choice(["", ".", "$", " and \\boxed{[9]}", "\n", " }"])
    return prefix + "\\boxed{" + content + "}" + suffix


def reward_cases(rng):
    golds = [[1], [0], [2], [1, 2], [0, 3], [1, 3, 5], [0, 1, 2, 3], [4, 2, 0], [7], [6, 1]]
    cases = []
    for content in HAND:
        if "}" in content:
            continue
        for gold in rng.sample(golds, 2):
            cases.append((wrap(rng, content), gold))
    # Extraction: no box, unclosed box, several boxes, braces.
    for text in [
        "no box", "\\boxed{", "\\boxed{[1]", "\\boxed{[1]}", "\\boxed{[1]} \\boxed{[2]}",
        "\\boxed{\\text{1}}", "\\boxed{{1}}", "\\boxed{}", "\\boxed{ }", "\\boxed {[1]}",
        "\\Boxed{[1]}", "\\boxed{[1,\n2]}", "\\boxed{\\boxed{1}}", "boxed{1}", "\\\\boxed{1}",
        "\\boxed{1} and \\boxed{", "\\boxed{[1, 2]} text } more", "$\\boxed{[0, 1]}$",
    ]:
        for gold in ([1], [1, 2], [0]):
            cases.append((text, gold))
    # Random renderings of answers and mutations of them.
    for _ in range(1800):
        gold = rng.sample(range(8), rng.randint(1, 4))
        content = render_answer(rng, gold)
        if rng.random() < 0.25:
            content = mutate(rng, content)
        cases.append((wrap(rng, content), gold))
    # Gold with duplicates, a bare int gold, an empty gold.
    for content in ["[1]", "[1, 2]", "1", "[]"]:
        for gold in ([1, 1], [], 1, [2, 2, 1]):
            cases.append(("\\boxed{" + content + "}", gold))
    # Big integers and their float twins.
    big = [2**53, 2**53 + 1, 2**64, 10**20, 10**30, 2**1023, 2**1024, 2**1024 - 2**970,
           2**1024 - 2**971, 2**1024 - 2**970 - 1, 10**308, 10**309]
    for n in big:
        try:
            twin = repr(float(n))
        except OverflowError:
            twin = "1e999"
        for form in [str(n), hex(n), twin, str(n) + "+0j", "[%d, %s]" % (n, twin),
                     "[%d, %d]" % (n, n + 1), "[%s, %d]" % (twin, n), "-" + twin]:
            cases.append(("\\boxed{" + form + "}", [1]))
    for digits in (4299, 4300, 4301, 5000):
        n = "1" + "0" * (digits - 1)
        for form in [n, "[" + n + ", 1]", "0" * digits, n[:-1] + "_0", "0x" + "f" * digits,
                     n + ".0", n + "j", "0o" + "7" * digits, n[:1000] + "+0j"]:
            cases.append(("\\boxed{" + form + "}", [1]))
    # Deep nesting near the 200-bracket and parser-stack limits.
    leaves = ["1", "-1", "'a'", "set()", "[]", "()", "1+0j", "True", "(1)"]
    for depth in (1, 2, 50, 150, 190, 194, 195, 196, 197, 198, 199, 200, 201, 250):
        for _ in range(6):
            cases.append(("\\boxed{" + nested(rng, depth, rng.choice(leaves)) + "}", [0, 1]))
        cases.append(("\\boxed{" + "[" * depth + "1" + "]" * depth + "}", [1]))
        cases.append(("\\boxed{" + "(" * depth + "1" + ")" * depth + "}", [1]))
        cases.append(("\\boxed{" + "(" * depth + "1," + ")" * depth + "}", [1]))
        cases.append(("\\boxed{" + "[0, " * depth + "1" + "]" * depth + "}", [1]))
    for _ in range(60):
        depth = rng.randint(185, 201)
        cases.append(("\\boxed{" + nested(rng, depth, rng.choice(leaves)) + "}", [0, 1]))
    cases.append(("\\boxed{" + "-" * 5000 + "1}", [1]))
    cases.append(("\\boxed{" + "1+" * 3000 + "0j}", [1]))
    return cases


def gen_literal(rng, depth=0):
    """A random literal in a random spelling, with random white space and comments."""
    def ws():
        return rng.choice(["", "", "", " ", "  ", "\t", "\n", " # c\n", "\\\n", "\f"])

    r = rng.random()
    if depth > 3 or r < 0.55:
        kind = rng.choice(["int", "int", "float", "complex", "str", "bytes", "const", "signed"])
        if kind == "int":
            n = rng.choice([0, 1, 2, 7, 10, 255, 2**31, 2**64, 10**25, rng.randrange(1000)])
            return rng.choice([str(n), hex(n), oct(n), bin(n), "0X%X" % n, "{:_}".format(n),
                               "0x_" + "%x" % n, "0" * rng.randint(1, 3) if n == 0 else str(n)])
        if kind == "float":
            return rng.choice(["1.0", "0.5", ".5", "5.", "1e3", "1E-3", "1_0.5", "1e1_0", "3.14",
                               "1e308", "1e309", "2.5e-324", "4.9e-324", "0.1", "1_000.000_1",
                               "00.5", "09.9", "123456789012345678901234567890.0"])
        if kind == "complex":
            return rng.choice(["1j", "0j", "2.5J", "1e3j", "1+2j", "1-2j", "-1+2j", "1.5-0j",
                               "(1)+(2j)", "0x10+1j", "1e309-1j", "-0.0+0j", "09j", "+1+1j"])
        if kind == "str":
            body = rng.choice(["", "a", "1", "é", "\\n", "\\x41", "\\u00e9", "\\101",
                               "\\d", "it\\'s", "\\\\", "\\U0001F642", "🙂", "a b",
                               "\\777", "\\t"])
            q = rng.choice(["'", '"', "'''", '"""'])
            p = rng.choice(["", "", "u", "r", "R", "U"])
            s = p + q + body + q
            if rng.random() < 0.2:
                s += ws() + rng.choice(["'x'", '"y"', "u'z'", "r'\\w'"])
            return s
        if kind == "bytes":
            body = rng.choice(["", "a", "\\x00", "\\377", "\\u0041", "\\n", "1"])
            q = rng.choice(["'", '"', "'''"])
            return rng.choice(["b", "B", "br", "rb", "Rb", "bR"]) + q + body + q
        if kind == "const":
            return rng.choice(["True", "False", "None", "...", "set()", "set( )", "(set)()"])
        pre, post = rng.choice([("-", ""), ("+", ""), ("- ", ""), ("-(", ")"), ("+ (", " )")])
        return pre + rng.choice(["1", "2.5", "0x1", "1j", "1e309", "True"]) + post
    items = [gen_literal(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    sep = "," + ws()
    kind = rng.choice(["list", "tuple", "set", "dict", "paren"])
    trailing = "," if items and rng.random() < 0.3 else ""
    if kind == "list":
        s = "[" + ws() + sep.join(items) + trailing + ws() + "]"
    elif kind == "tuple":
        s = "(" + ws() + sep.join(items) + ("," if len(items) == 1 else trailing) + ws() + ")"
    elif kind == "set":
        s = "{" + sep.join(items) + trailing + "}" if items else "set()"
    elif kind == "dict":
        keys = [gen_literal(rng, 4) for _ in items]
        s = "{" + sep.join(k + ws() + ":" + ws() + v for k, v in zip(keys, items)) + trailing + "}"
    else:
        s = "(" + (items[0] if items else "1") + ")"
    return s


def literal_sources(rng):
    sources = list(BRACE_SOURCES) + [c for c in HAND]
    leaves = ["1", "-1", "'a'", "set()", "[]", "{}", "()", "1+0j", "(1)", "{1}", "{1: 2}"]
    for depth in (150, 190, 195, 198, 199, 200, 201):
        for _ in range(8):
            sources.append(nested_braces(rng, depth, rng.choice(leaves)))
    for _ in range(400):
        items = [rng.choice(["1", "1.0", "True", "'1'", "2", "(1, 2)", "None", "0j", "-0.0",
                             "0", "b'1'", "(1,)", "[1]", "{1}", "{}", "{1: 2}", "1e999",
                             "0x1", "(2+0j)", "..."]) for _ in range(rng.randint(0, 4))]
        kind = rng.choice(["set", "dict", "list", "tuple"])
        if kind == "set":
            s = "{" + ", ".join(items) + "}" if items else "set()"
        elif kind == "dict":
            s = "{" + ", ".join("%s: %s" % (k, rng.choice(items)) for k in items) + "}"
        elif kind == "list":
            s = "[" + ", ".join(items) + "]"
        else:
            s = "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if rng.random() < 0.2:
            s = mutate(rng, s)
        sources.append(s)
    for _ in range(1500):
        s = gen_literal(rng)
        if rng.random() < 0.2:
            s = mutate(rng, s)
        sources.append(s)
    return sources


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--released", required=True, help="path to released_rewards.py")
    ap.add_argument("--out", required=True, type=Path, help="reward fixture (.jsonl)")
    ap.add_argument("--literals-out", type=Path, help="literal fixture (.jsonl)")
    args = ap.parse_args()
    reward = load_released(args.released)
    rng = random.Random(SEED)
    header = {"python": sys.version.split()[0], "seed": SEED,
              "released": "yes_no_reward_multi_vis"}

    cases = reward_cases(rng)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n")
        for completion, answer in cases:
            r = reward(completion, answer)
            f.write(json.dumps({"completion": completion, "answer": answer, "reward": r}) + "\n")

    literals_out = args.literals_out or args.out.with_name("recognition_literals.jsonl")
    with open(literals_out, "w", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n")
        for source in literal_sources(rng):
            f.write(json.dumps(literal_record(source)) + "\n")
    print(f"{len(cases)} reward cases -> {args.out}; literals -> {literals_out}")


if __name__ == "__main__":
    main()
