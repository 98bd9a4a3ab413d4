#!/usr/bin/env python3
"""Builds the covip-model parity fixtures: tiny random Qwen3-VL checkpoints + reference outputs.

Run from the repository root with a Python that has torch and transformers (>= 4.57, Qwen3-VL):

    python scripts/make_fixtures.py [--out covip-model/tests/fixtures]

It writes
  tiny-qwen3-vl/            f32, untied LM head, single model.safetensors, older rope key style
                            (`rope_theta` + `rope_scaling`), tokenizer + Qwen3-VL chat template
  tiny-qwen3-vl-bf16-tied/  bf16, tied LM head, sharded (index.json), newer `rope_parameters`
  reference.safetensors     logits of the prompts below (f32 model, and bf16 model in f32)
  reference.json            prompts, input ids, greedy continuations, chat-template renderings

Everything is seeded; rerunning gives the same files. Tests never run Python.
"""
import argparse
import json
import os
import shutil
import unicodedata

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen3VLConfig, Qwen3VLForConditionalGeneration

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = open(os.path.join(HERE, "qwen3_vl_chat_template.jinja")).read()

# The 14 Qwen special tokens, in the order Qwen numbers them (151643..151656 in released models).
SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
]
# Qwen2/Qwen3 pre-tokenisation regex.
QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
CORPUS = [
    "A photo of my dog Rex sitting on the red sofa in the living room.",
    "The person in the picture is my sister Anna; she is holding a cup of coffee.",
    "Describe the image in detail. Mention who is in it and what they are doing.",
    "There are two cats on the windowsill, one black and one white, looking at the garden.",
    "My grandfather built this wooden boat in 1972 and we still sail it every summer.",
    "Question: what colour is the car? Answer: the car is blue with a white stripe.",
    "You are a helpful assistant. Answer briefly and mention names when you know them.",
    "Café, naïve, résumé, jalapeño — accented words appear in captions too.",
    "Numbers like 12, 345 and 6789 are split into single digits by the tokenizer.",
    "Hello world! How are you today? I am fine, thank you very much.",
] * 20


def build_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(pattern=__import__("tokenizers").Regex(QWEN_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420, min_frequency=2, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    base = tok.get_vocab_size()
    tok.add_special_tokens(SPECIALS)
    ids = {s: tok.token_to_id(s) for s in SPECIALS}
    assert ids[SPECIALS[0]] == base and ids[SPECIALS[-1]] == base + 13, ids
    return tok, ids


def randomize_(model, seed):
    """Replaces HF's 0.02-std init by O(1) weights so the logits are large and tests sensitive."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or ".norm" in name and name.endswith("weight") and p.ndim == 1:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif p.ndim == 1:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name or "pos_embed" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in**0.5)


def make_config(ids, vocab_size, tied):
    text = dict(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, hidden_act="silu",
        max_position_embeddings=4096, rms_norm_eps=1e-6, attention_bias=False,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 2, 2],
                         "mrope_interleaved": True},
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], tie_word_embeddings=tied,
    )
    vision = dict(
        depth=2, hidden_size=32, intermediate_size=64, num_heads=2, in_channels=3, patch_size=16,
        spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=64, num_position_embeddings=64,
        deepstack_visual_indexes=[0, 1], hidden_act="gelu_pytorch_tanh",
    )
    return Qwen3VLConfig(
        text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=tied,
    )


def write_tokenizer_files(tok, ids, folder):
    tok.save(os.path.join(folder, "tokenizer.json"))
    with open(os.path.join(folder, "chat_template.json"), "w") as f:
        json.dump({"chat_template": TEMPLATE}, f, indent=2)
    added = {str(i): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False, "special": True} for s, i in ids.items()}
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "Qwen2Tokenizer", "eos_token": "<|im_end|>",
                   "pad_token": "<|endoftext|>", "added_tokens_decoder": added,
                   "model_max_length": 4096}, f, indent=2)


def to_old_rope_style(folder):
    path = os.path.join(folder, "config.json")
    cfg = json.load(open(path))
    tc = cfg["text_config"]
    rp = tc.pop("rope_parameters")
    tc["rope_theta"] = rp["rope_theta"]
    tc["rope_scaling"] = {"rope_type": "default", "mrope_section": rp["mrope_section"],
                          "mrope_interleaved": rp["mrope_interleaved"]}
    json.dump(cfg, open(path, "w"), indent=2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "covip-model", "tests", "fixtures"))
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)

    tok, ids = build_tokenizer()
    vocab_size = 448  # the config's vocabulary exceeds the tokenizer's (as in released models)
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    hf_tok.chat_template = TEMPLATE

    def render(messages, gen=True, vision_id=False):
        return hf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen,
                                          add_vision_id=vision_id)

    def encode(text):
        return tok.encode(text, add_special_tokens=False).ids

    # ---- models -------------------------------------------------------------------------------
    folders = {"f32": os.path.join(out, "tiny-qwen3-vl"), "bf16": os.path.join(out, "tiny-qwen3-vl-bf16-tied")}
    models_ = {}
    for kind, folder in folders.items():
        tied = kind == "bf16"
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        torch.manual_seed(1 if kind == "f32" else 2)
        model = Qwen3VLForConditionalGeneration(make_config(ids, vocab_size, tied)).eval()
        randomize_(model, seed=10 if kind == "f32" else 20)
        if tied:
            model.tie_weights()
            model = model.to(torch.bfloat16)
            model.save_pretrained(folder, max_shard_size="100KB")
        else:
            model.save_pretrained(folder)
            to_old_rope_style(folder)
        model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
        model.generation_config.pad_token_id = ids["<|endoftext|>"]
        model.generation_config.save_pretrained(folder)
        write_tokenizer_files(tok, ids, folder)
        # The reference is the model as reloaded from its folder (checks the files, key styles).
        reloaded = Qwen3VLForConditionalGeneration.from_pretrained(
            folder, dtype=torch.float32 if kind == "f32" else torch.bfloat16).eval()
        models_[kind] = reloaded

    # ---- prompts ------------------------------------------------------------------------------
    chat_prompts = [
        [{"role": "user", "content": "Describe the image in detail."}],
        [{"role": "system", "content": "You are a helpful assistant."},
         {"role": "user", "content": [{"type": "text", "text": "Who is in the picture? Rex or Anna?"}]}],
        [{"role": "user", "content": "Hello world!"}, {"role": "assistant", "content": "Hello! How are you?"},
         {"role": "user", "content": "Caf\u0065\u0301 na\u00efve: 12 cats."}],
    ]
    prompts = []
    for msgs in chat_prompts:
        text = render(msgs)
        prompts.append({"messages": msgs, "text": text, "input_ids": encode(text)})
    raw = "The person in the picture is"
    prompts.append({"messages": None, "text": raw, "input_ids": encode(raw)})

    tensors = {}
    eos = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    for i, p in enumerate(prompts):
        x = torch.tensor([p["input_ids"]])
        with torch.no_grad():
            tensors[f"logits_f32_{i}"] = models_["f32"](input_ids=x).logits[0].float().contiguous()
            tensors[f"logits_bf16_{i}"] = models_["bf16"](input_ids=x).logits[0].float().contiguous()
            for kind in ("f32", "bf16"):
                g = models_[kind].generate(input_ids=x, max_new_tokens=12, do_sample=False,
                                           eos_token_id=eos, pad_token_id=eos[1])
                p[f"greedy_{kind}"] = g[0, x.shape[1]:].tolist()

    # Batched greedy with left padding (HF) for the f32 model.
    batch = [prompts[0]["input_ids"], prompts[3]["input_ids"]]
    T = max(map(len, batch))
    ids_b = torch.tensor([[eos[1]] * (T - len(b)) + b for b in batch])
    mask_b = torch.tensor([[0] * (T - len(b)) + [1] * len(b) for b in batch])
    with torch.no_grad():
        gb = models_["f32"].generate(input_ids=ids_b, attention_mask=mask_b, max_new_tokens=8,
                                     do_sample=False, eos_token_id=eos, pad_token_id=eos[1])
    batched = {"prompts": [0, 3], "new_tokens": gb[:, T:].tolist()}

    # ---- chat template cases ------------------------------------------------------------------
    cases = []
    img_msgs = [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "This is Rex."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Nice dog."}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Who is here?"}]},
    ]
    image_tokens = [4, 6, 2]
    for msgs, gen, vid, n_img in [
        (chat_prompts[0], True, False, []), (chat_prompts[1], True, False, []),
        (chat_prompts[2], False, False, []), (img_msgs, True, False, image_tokens),
        (img_msgs, True, True, image_tokens),
    ]:
        text = render(msgs, gen, vid)
        expanded = text
        for n in n_img:  # as the HF processor does: each placeholder becomes n copies, in order
            expanded = expanded.replace("<|image_pad|>", "<|placeholder|>" * n, 1)
        expanded = expanded.replace("<|placeholder|>", "<|image_pad|>")
        cases.append({"messages": msgs, "add_generation_prompt": gen, "add_vision_id": vid,
                      "image_tokens": n_img, "text": text, "input_ids": encode(expanded)})

    ref = {
        "special_ids": ids, "vocab_size": vocab_size, "stop_ids": eos,
        "nfc_check": {"text": "Cafe\u0301", "input_ids": encode("Cafe\u0301"),
                      "nfc_input_ids": encode(unicodedata.normalize("NFC", "Cafe\u0301"))},
        "prompts": prompts, "batched_greedy_f32": batched, "chat_cases": cases,
        "transformers_version": __import__("transformers").__version__,
        "torch_version": torch.__version__,
    }
    save_file(tensors, os.path.join(out, "reference.safetensors"))
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1, ensure_ascii=False)
    print("wrote", out)
    for i, p in enumerate(prompts):
        print(i, len(p["input_ids"]), "greedy f32", p["greedy_f32"], "bf16", p["greedy_bf16"])
    print("batched", batched)


if __name__ == "__main__":
    main()
