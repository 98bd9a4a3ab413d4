#!/usr/bin/env python3
"""Checks that what `covip export-adapter` writes loads in transformers (+ PEFT) and gives the
logits covip-model gives.

Run from the repository root with a Python that has torch, transformers (Qwen3-VL) and peft:

    python scripts/check_lora_export.py [--covip target/debug/covip] [--keep DIR]

For each tiny fixture checkpoint (f32 with an untied head, so the LoRA covers lm_head too; bf16
with a tied head, so it does not) it

 1. makes a random PEFT adapter (rank 4, α 8, A and B random, so that it moves the logits well
    beyond float rounding) and trains a few GSPO steps from it with `covip train --init-adapter`
    (lexical judge; β 0.05, so the KL to the base moves the weights even where the tiny model
    earns no reward; on the bf16 fixture, whose tied head puts logits near 50, the sampled
    tokens have probability 1 under both and the weights barely move: there the check is of the
    export alone);
 2. exports the run with `covip export-adapter` as a PEFT adapter and, with `--merged`, as a full
    checkpoint in the base's dtype;
 3. computes covip-model's logits with `covip logits` over a prompt with an image: the base with
    the adapter (`--adapter`), the merged checkpoint, and the base alone;
 4. loads the adapter over the base with `PeftModel.from_pretrained` and the merged folder with
    `Qwen3VLForConditionalGeneration.from_pretrained` (both in float32, so the comparison is of
    the same numbers, not of bf16 arithmetic), runs them on covip's input ids and pixels, and
    compares.

It prints, per case, the largest logit difference and the largest logit, against the adapter's
effect (how far the adapted logits are from the base's), and fails when a difference is above
1e-4 of the largest logit or the adapter's effect is not at least 100 times the difference.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file
from transformers import Qwen3VLForConditionalGeneration

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURES = os.path.join(ROOT, "covip-model", "tests", "fixtures")
IMAGE = os.path.join(ROOT, "data", "sample", "images", "concepts", "01_oliver.png")
PROMPT = "Who is in this picture, and what is he doing?"
REL_TOL = 1e-4


def run(cmd):
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def covip_logits(covip, model, out, adapter=None):
    cmd = [covip, "logits", "--model", model, "--prompt", PROMPT, "--image", IMAGE, "--out", out]
    if adapter:
        cmd += ["--adapter", adapter]
    run(cmd)
    return load_file(out)


def hf_logits(model, ref):
    ids = ref["input_ids"][None, :].long()
    mm = (ids == model.config.image_token_id).long()
    with torch.no_grad():
        out = model(input_ids=ids, pixel_values=ref["pixel_values"].float(),
                    image_grid_thw=ref["image_grid_thw"].long(), mm_token_type_ids=mm)
    return out.logits[0].float()


def trained_distance(init, adapter):
    a = load_file(os.path.join(init, "adapter_model.safetensors"))
    b = load_file(os.path.join(adapter, "adapter_model.safetensors"))
    return max((a[k].float() - b[k].float()).abs().max().item() for k in b)


def compare(name, ours, theirs):
    d = (ours - theirs).abs().max().item()
    m = theirs.abs().max().item()
    print(f"  {name}: max |covip − transformers| = {d:.3e}, max |logit| = {m:.3f} "
          f"(relative {d / m:.2e})")
    return d, m


def random_adapter(base, out, head):
    """A PEFT adapter over `base` with A and B random (seeded)."""
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = Qwen3VLForConditionalGeneration.from_pretrained(base, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, bias="none",
                                             target_modules=targets + (["lm_head"] if head else []),
                                             task_type="CAUSAL_LM"))
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.requires_grad:
                p.normal_(0.0, 0.1 if ".lora_A." in n else 0.05, generator=gen)
    model.save_pretrained(out)


def case(covip, work, fixture, steps, head):
    base = os.path.join(FIXTURES, fixture)
    init = os.path.join(work, fixture, "init")
    random_adapter(base, init, head)
    run_dir = os.path.join(work, fixture, "run")
    adapter = os.path.join(work, fixture, "adapter")
    merged = os.path.join(work, fixture, "merged")
    run([covip, "train", "--model", base, "--data", os.path.join(ROOT, "data", "sample", "train.jsonl"),
         "--judge", "lexical", "--out", run_dir, "--max-steps", str(steps), "--learning-rate", "1e-3",
         "--beta", "0.05", "--init-adapter", init, "--lora-dropout", "0", "--group-size", "2",
         "--max-new-tokens", "6"])
    run([covip, "export-adapter", run_dir, "--out", adapter])
    run([covip, "export-adapter", run_dir, "--merged", "--out", merged])
    ours_adapter = covip_logits(covip, base, os.path.join(work, fixture, "adapter.safetensors"), adapter)
    ours_merged = covip_logits(covip, merged, os.path.join(work, fixture, "merged.safetensors"))
    ours_base = covip_logits(covip, base, os.path.join(work, fixture, "base.safetensors"))
    assert torch.equal(ours_adapter["input_ids"], ours_merged["input_ids"])

    print(f"{fixture}:")
    moved = trained_distance(init, adapter)
    print(f"  training moved the adapter: max |trained − initial| = {moved:.3e}")
    effect = (ours_adapter["logits"] - ours_base["logits"]).abs().max().item()
    print(f"  the adapter's effect: max |adapted − base| = {effect:.3e} (covip-model)")
    model = Qwen3VLForConditionalGeneration.from_pretrained(base, dtype=torch.float32)
    peft = PeftModel.from_pretrained(model, adapter).eval()
    results = [compare("adapter over the base (PEFT)", ours_adapter["logits"], hf_logits(peft, ours_adapter))]
    merged_model = Qwen3VLForConditionalGeneration.from_pretrained(merged, dtype=torch.float32).eval()
    results.append(compare("merged checkpoint", ours_merged["logits"], hf_logits(merged_model, ours_merged)))
    d_mm = (ours_adapter["logits"] - ours_merged["logits"]).abs().max().item()
    print(f"  covip-model, adapter vs merged: {d_mm:.3e}")
    ok = moved > 0
    for d, m in results:
        if d > REL_TOL * m or effect < 100 * d:
            ok = False
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--covip", default=None, help="the covip binary (default: cargo build -p covip)")
    ap.add_argument("--keep", default=None, help="work in this folder and keep it")
    args = ap.parse_args()
    covip = args.covip
    if covip is None:
        subprocess.run(["cargo", "build", "-q", "-p", "covip"], cwd=ROOT, check=True)
        covip = os.path.join(ROOT, "target", "debug", "covip")
    work = args.keep or tempfile.mkdtemp(prefix="covip-export-check-")
    if args.keep:
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
    ok = True
    for fixture, steps, head in [("tiny-qwen3-vl", 3, True), ("tiny-qwen3-vl-bf16-tied", 3, False)]:
        ok &= case(covip, work, fixture, steps, head)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
