#!/usr/bin/env python3
"""Reference for one GSPO optimisation step, computed with PyTorch, transformers and PEFT the way
the released trainer computes it (SPEC §5); `covip-rl/tests/trainer_step_parity.rs` matches it.

Run from the repository root with a Python that has torch, transformers (Qwen3-VL) and peft:

    python scripts/make_gspo_step_fixture.py [--out covip-rl/tests/fixtures/gspo_step]

On the tiny fixture checkpoint (f32, untied head) with a LoRA of rank 4, α 8, no dropout on
q/k/v/o/gate/up/down and lm_head, whose A and B are both random (B not zero, so A's gradient is
exercised), it takes two prompts (text only; one image before the text), four fixed completions
each (some ending in <|im_end|> with tokens after it that the mask drops, some without one) and
fixed rewards, and runs μ = 2 optimisation passes of the released GSPO loss:

  - old log-probs from a no-grad forward before the first pass (the trainer's μ > 1 path);
  - log-probs = log-softmax of the raw logits (no temperature); completion mask up to and
    including the first <|im_end|>;
  - s_i = exp(Σ mask·(logp − old) / Σ mask), loss = mean_i −min(s_i A_i, clip(s_i) A_i) with
    ε_low 3e-4, ε_high 4e-4, advantages (r − mean) / (std + 1e-4) in float32, std unbiased;
  - torch's clip_grad_norm_ over every LoRA tensor together, AdamW (0.9, 0.999, ε 1e-8, no
    weight decay) and transformers' linear schedule (no warm-up) over the two updates.

Each row is its own forward pass (batch 1, no padding), as the release runs one completion per
GPU; the mean over rows is the batch loss. The learning rate and the clipping norm are chosen so
that the second pass's ratio clips some sequences and not others, and the first pass's gradient
norm is above the limit (the script checks both).

It writes into --out:
  adapter/                 the initial adapter, as PEFT's save_pretrained writes it
  step.json                ids, completions (as the trainer holds them: cut after the first
                           <|im_end|>), rewards, advantages, settings, and per pass the loss, the
                           ratios, the clip fraction, the gradient norm and the learning rate
  pixels.safetensors       the image prompt's pixel_values and image_grid_thw
  passes.safetensors       per pass k (0, 1) and LoRA key K: `grad.{k}.{K}` (the gradient before
                           clipping) and `weight.{k}.{K}` (the weight after update k)

Everything is seeded; rerunning gives the same files.
"""
import argparse
import json
import os
import shutil

import torch
from peft import LoraConfig, get_peft_model
from PIL import Image
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast, Qwen3VLForConditionalGeneration, get_linear_schedule_with_warmup
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODEL = os.path.join(ROOT, "covip-model", "tests", "fixtures", "tiny-qwen3-vl")
IMAGE = "data/sample/images/concepts/00_mina.png"
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]
IM_END = 422
PAD = 420

# Settings of the step (the test reads them from step.json).
RANK, ALPHA = 4, 8.0
EPS_LOW, EPS_HIGH = 3e-4, 4e-4
LEARNING_RATE = 5e-6
MAX_GRAD_NORM = 0.7
MU = 2
GROUP = 4
REWARDS = [[0.9, 0.1, 0.5, 0.3], [1.0, 0.0, 0.0, 0.6]]


def completions(gen):
    """Four completions per prompt: ordinary tokens (< 420), lengths 3..9; the first and third of
    each group end in <|im_end|> followed by two more tokens (outside the mask), the second ends
    in <|im_end|> exactly, the fourth has none."""
    out = []
    for _ in range(2):
        group = []
        for j in range(GROUP):
            n = int(torch.randint(3, 9, (1,), generator=gen))
            body = torch.randint(0, 400, (n,), generator=gen).tolist()
            if j in (0, 2):
                body = body + [IM_END] + torch.randint(0, 400, (2,), generator=gen).tolist()
            elif j == 1:
                body = body + [IM_END]
            group.append(body)
        out.append(group)
    return out


def masked_len(c):
    return c.index(IM_END) + 1 if IM_END in c else len(c)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "covip-rl", "tests", "fixtures", "gspo_step"))
    args = ap.parse_args()
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)

    tok = Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    hf_tok.chat_template = json.load(open(os.path.join(MODEL, "chat_template.json")))["chat_template"]
    pre = json.load(open(os.path.join(MODEL, "preprocessor_config.json")))
    improc = Qwen2VLImageProcessorPil(**{k: v for k, v in pre.items() if k != "image_processor_type"})
    model = Qwen3VLForConditionalGeneration.from_pretrained(MODEL, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(
        r=RANK, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=TARGETS, bias="none",
        task_type="CAUSAL_LM"))
    model.train()
    lora = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert lora and all(".lora_A." in n or ".lora_B." in n for n, _ in lora), [n for n, _ in lora]
    with torch.no_grad():
        for n, p in lora:
            if ".lora_A." in n:
                p.uniform_(-1.0 / p.shape[1] ** 0.5, 1.0 / p.shape[1] ** 0.5, generator=gen)
            else:
                p.normal_(0.0, 0.05, generator=gen)

    os.makedirs(args.out, exist_ok=True)
    adapter_dir = os.path.join(args.out, "adapter")
    shutil.rmtree(adapter_dir, ignore_errors=True)
    model.save_pretrained(adapter_dir)
    # The saved config names the base by this machine's path: name the fixture instead.
    cfg_path = os.path.join(adapter_dir, "adapter_config.json")
    cfg = json.load(open(cfg_path))
    cfg["base_model_name_or_path"] = "covip-model/tests/fixtures/tiny-qwen3-vl"
    cfg["target_modules"] = sorted(cfg["target_modules"])  # saved from a set: order varies
    json.dump(cfg, open(cfg_path, "w"), indent=2, sort_keys=True)
    for f in os.listdir(adapter_dir):
        if f not in ("adapter_config.json", "adapter_model.safetensors"):
            os.remove(os.path.join(adapter_dir, f))

    # PEFT key of each trainable parameter ("...q_proj.lora_A.default.weight" → saved key).
    def peft_key(n):
        return n.replace(".default.", ".")

    # Prompts: text only, and one image before the text.
    text_messages = [{"role": "user", "content": [{"type": "text", "text": "Who is in the photo of Rex?"}]}]
    image_messages = [{"role": "user", "content": [
        {"type": "image"}, {"type": "text", "text": "Describe Mina in this picture."}]}]
    def render(messages):
        return hf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    proc = improc([Image.open(os.path.join(ROOT, IMAGE)).convert("RGB")], return_tensors="pt")
    pixel_values, grid = proc["pixel_values"].float(), proc["image_grid_thw"]
    merge = model.config.vision_config.spatial_merge_size
    n_pad = int(grid[0].prod()) // merge**2
    t1 = render(image_messages).replace("<|image_pad|>", "<|image_pad|>" * n_pad, 1)
    prompts = [tok.encode(render(text_messages), add_special_tokens=False).ids,
               tok.encode(t1, add_special_tokens=False).ids]

    comps = completions(gen)
    rows = [(g, c) for g in range(2) for c in comps[g]]
    rewards = torch.tensor(REWARDS, dtype=torch.float32)
    mean = rewards.mean(dim=1, keepdim=True)
    std = rewards.std(dim=1, keepdim=True)
    advantages = ((rewards - mean) / (std + 1e-4)).reshape(-1)

    def row_logps(g, c):
        ids = torch.tensor([prompts[g] + c])
        kw = {}
        if g == 1:
            mm = (ids == model.config.image_token_id).long()
            kw = {"pixel_values": pixel_values, "image_grid_thw": grid, "mm_token_type_ids": mm}
        logits = model(input_ids=ids, **kw).logits[0].float()
        p = len(prompts[g])
        logp = torch.log_softmax(logits[p - 1:-1], dim=-1)
        return logp.gather(1, torch.tensor(c)[:, None])[:, 0]

    with torch.no_grad():
        old = [row_logps(g, c) for g, c in rows]

    params = [p for _, p in lora]
    optim = torch.optim.AdamW(params, lr=LEARNING_RATE, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                              foreach=False)
    sched = get_linear_schedule_with_warmup(optim, 0, MU)
    passes, tensors = [], {}
    for k in range(MU):
        lr = optim.param_groups[0]["lr"]
        seq_losses, ratios = [], []
        for i, (g, c) in enumerate(rows):
            logp = row_logps(g, c)
            mask = torch.zeros(len(c))
            mask[:masked_len(c)] = 1.0
            seq_len = mask.sum()
            log_ratio = ((logp * mask).sum() - (old[i] * mask).sum()) / seq_len
            ratio = torch.exp(log_ratio)
            clipped = torch.clamp(ratio, 1 - EPS_LOW, 1 + EPS_HIGH)
            seq_losses.append(-torch.min(ratio * advantages[i], clipped * advantages[i]))
            ratios.append(ratio)
        loss = torch.stack(seq_losses).mean()
        optim.zero_grad()
        loss.backward()
        for n, p in lora:
            tensors[f"grad.{k}.{peft_key(n)}"] = p.grad.detach().clone()
        norm = torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
        optim.step()
        sched.step()
        for n, p in lora:
            tensors[f"weight.{k}.{peft_key(n)}"] = p.detach().clone()
        r = torch.stack(ratios).detach()
        clipped = ((r < 1 - EPS_LOW) | (r > 1 + EPS_HIGH)).float()
        passes.append({
            "loss": loss.item(),
            "ratios": r.tolist(),
            "clip_fraction": clipped.mean().item(),
            "mean_ratio": r.mean().item(),
            "grad_norm": norm.item(),
            "learning_rate": lr,
        })
        print(f"pass {k}: loss {loss.item():.9g}  grad norm {norm.item():.6g}  lr {lr:g}  "
              f"clip fraction {clipped.mean().item():g}  ratios {[round(x, 6) for x in r.tolist()]}")
    assert passes[0]["grad_norm"] > MAX_GRAD_NORM > passes[1]["grad_norm"], "the first pass alone must be clipped"
    assert 0.0 < passes[1]["clip_fraction"] < 1.0, "the second pass must clip some rows and not others"

    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(args.out, "passes.safetensors"))
    save_file({"pixel_values": pixel_values.contiguous(), "image_grid_thw": grid.contiguous()},
              os.path.join(args.out, "pixels.safetensors"))
    step = {
        "model": "covip-model/tests/fixtures/tiny-qwen3-vl",
        "image": IMAGE,
        "prompts": prompts,
        "completions": [c[:masked_len(c)] for _, c in rows],
        "completions_as_generated": [c for _, c in rows],
        "rewards": [r for g in REWARDS for r in g],
        "group_size": GROUP,
        "advantages": advantages.tolist(),
        "rank": RANK,
        "alpha": ALPHA,
        "epsilon_low": EPS_LOW,
        "epsilon_high": EPS_HIGH,
        "learning_rate": LEARNING_RATE,
        "max_grad_norm": MAX_GRAD_NORM,
        "mu": MU,
        "passes": passes,
        "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__,
                     "peft": __import__("peft").__version__},
    }
    with open(os.path.join(args.out, "step.json"), "w") as f:
        json.dump(step, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
