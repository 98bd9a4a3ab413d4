#!/usr/bin/env python3
"""Builds covip-model's multimodal parity fixtures on the tiny f32 checkpoint.

Run from the repository root after `scripts/make_fixtures.py` (which creates the checkpoint):

    .venv/bin/python scripts/make_multimodal_fixtures.py [--out covip-model/tests/fixtures]

It writes
  tiny-qwen3-vl/preprocessor_config.json   small pixel bounds (keeps the fixtures small)
  multimodal.safetensors                   per prompt: logits, pixel_values, image_grid_thw;
                                           per rope case: position_ids, rope_deltas
  multimodal.json                          prompts (messages, ids, images), greedy continuations,
                                           batched greedy, rope cases

Inputs are built without the torchvision-backed Qwen3-VL processor: the slow Pillow
`Qwen2VLImageProcessorPil` makes `pixel_values` / `image_grid_thw`, the checkpoint's chat template
renders the messages, each `<|image_pad|>` is expanded to t*h*w/merge^2 copies, and
`mm_token_type_ids` is 1 at image placeholders. Images are those of the vision fixtures.
"""
import argparse
import json
import os

import torch
from PIL import Image
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast, Qwen3VLForConditionalGeneration
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

HERE = os.path.dirname(os.path.abspath(__file__))
PREPROCESSOR = {
    "min_pixels": 4096, "max_pixels": 12288, "patch_size": 16, "temporal_patch_size": 2,
    "merge_size": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
    "image_processor_type": "Qwen2VLImageProcessor",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "covip-model", "tests", "fixtures"))
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    ckpt = os.path.join(out, "tiny-qwen3-vl")
    img_dir = os.path.join(out, "vision", "images")
    with open(os.path.join(ckpt, "preprocessor_config.json"), "w") as f:
        json.dump(PREPROCESSOR, f, indent=2)

    model = Qwen3VLForConditionalGeneration.from_pretrained(ckpt, dtype=torch.float32).eval()
    cfg = model.config
    tok = Tokenizer.from_file(os.path.join(ckpt, "tokenizer.json"))
    template = json.load(open(os.path.join(ckpt, "chat_template.json")))["chat_template"]
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    hf_tok.chat_template = template
    improc = Qwen2VLImageProcessorPil(**{k: v for k, v in PREPROCESSOR.items() if k != "image_processor_type"})
    merge = cfg.vision_config.spatial_merge_size
    eos = [tok.token_to_id("<|im_end|>"), tok.token_to_id("<|endoftext|>")]

    def build(messages, images, vision_id):
        text = hf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                          add_vision_id=vision_id)
        pil = [Image.open(os.path.join(img_dir, n)).convert("RGB") for n in images]
        proc = improc(pil, return_tensors="pt")
        grid = proc["image_grid_thw"]
        for g in grid.tolist():
            n = g[0] * g[1] * g[2] // merge**2
            text = text.replace("<|image_pad|>", "<|placeholder|>" * n, 1)
        text = text.replace("<|placeholder|>", "<|image_pad|>")
        ids = tok.encode(text, add_special_tokens=False).ids
        return ids, proc["pixel_values"].float(), grid

    prompts = [
        {"messages": [{"role": "user", "content": [
            {"type": "image"}, {"type": "text", "text": "Describe the image in detail."}]}],
         "images": ["rgb_80x48.png"], "add_vision_id": False},
        {"messages": [{"role": "user", "content": [
            {"type": "text", "text": "This is Rex."}, {"type": "image"},
            {"type": "text", "text": "This is my sister Anna."}, {"type": "image"},
            {"type": "text", "text": "Who is in the picture?"}, {"type": "image"}]}],
         "images": ["rgb_45x77.png", "gray_120x37.png", "rgb_97x61_444.jpg"], "add_vision_id": True},
    ]
    tensors = {}
    built = []
    for i, p in enumerate(prompts):
        ids, pv, grid = build(p["messages"], p["images"], p["add_vision_id"])
        x = torch.tensor([ids])
        mm = (x == cfg.image_token_id).int()
        kw = dict(pixel_values=pv, image_grid_thw=grid, mm_token_type_ids=mm)
        with torch.no_grad():
            tensors[f"logits_{i}"] = model(input_ids=x, **kw).logits[0].float().contiguous()
            g = model.generate(input_ids=x, **kw, max_new_tokens=10, do_sample=False,
                               eos_token_id=eos, pad_token_id=eos[1])
        tensors[f"pixel_values_{i}"] = pv.contiguous()
        tensors[f"image_grid_thw_{i}"] = grid.long().contiguous()
        p["input_ids"] = ids
        p["greedy"] = g[0, x.shape[1]:].tolist()
        built.append((ids, pv, grid))

    # Both prompts as one left-padded batch.
    T = max(len(b[0]) for b in built)
    ids_b = torch.tensor([[eos[1]] * (T - len(b[0])) + b[0] for b in built])
    mask_b = torch.tensor([[0] * (T - len(b[0])) + [1] * len(b[0]) for b in built])
    mm_b = ((ids_b == cfg.image_token_id) & (mask_b == 1)).int()
    with torch.no_grad():
        gb = model.generate(input_ids=ids_b, attention_mask=mask_b, mm_token_type_ids=mm_b,
                            pixel_values=torch.cat([b[1] for b in built]),
                            image_grid_thw=torch.cat([b[2] for b in built]),
                            max_new_tokens=8, do_sample=False, eos_token_id=eos, pad_token_id=eos[1])
    batched = {"prompts": [0, 1], "new_tokens": gb[:, T:].tolist()}

    # get_rope_index on synthetic inputs (token values other than the image id do not matter).
    I = cfg.image_token_id
    rope_cases = [
        {"ids": [[1, 2] + [I] * 6 + [3, 4]], "valid": [[1] * 10], "grids": [[1, 4, 6]]},
        {"ids": [[0, 0, 5] + [I] * 4 + [6] + [I] * 2 + [7, 8],
                 [0, 5, 6, 7] + [I] * 6 + [8, 9]],
         "valid": [[0, 0] + [1] * 10, [0] + [1] * 11],
         "grids": [[1, 4, 4], [1, 2, 4], [1, 6, 4]]},
        {"ids": [[9] + [I] * 12 + [10] * 3 + [I] * 2], "valid": [[1] * 18], "grids": [[1, 8, 6], [1, 2, 4]]},
    ]
    for k, c in enumerate(rope_cases):
        ids = torch.tensor(c["ids"])
        valid = torch.tensor(c["valid"])
        mm = ((ids == I) & (valid == 1)).int()
        pos, deltas = model.model.get_rope_index(ids, mm_token_type_ids=mm,
                                                 image_grid_thw=torch.tensor(c["grids"]),
                                                 attention_mask=valid)
        tensors[f"rope_position_ids_{k}"] = pos.long().contiguous()
        tensors[f"rope_deltas_{k}"] = deltas.reshape(-1).long().contiguous()

    ref = {"image_token_id": I, "stop_ids": eos, "pad_id": eos[1], "prompts": prompts,
           "batched_greedy": batched, "rope_cases": rope_cases,
           "transformers_version": __import__("transformers").__version__,
           "torch_version": torch.__version__}
    save_file(tensors, os.path.join(out, "multimodal.safetensors"))
    with open(os.path.join(out, "multimodal.json"), "w") as f:
        json.dump(ref, f, indent=1, ensure_ascii=False)
    for i, p in enumerate(prompts):
        print(i, len(p["input_ids"]), "grids", tensors[f"image_grid_thw_{i}"].tolist(), "greedy", p["greedy"])
    print("batched", batched)


if __name__ == "__main__":
    main()
