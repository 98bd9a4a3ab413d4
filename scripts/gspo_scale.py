#!/usr/bin/env python3
"""GSPO training at Qwen3-VL-2B's shape: covip (`covip train`) against the released trainer's engine
(transformers `generate` + PEFT, bf16, gradient checkpointing), same random checkpoint, same LoRA,
same G, same lengths, in one run; then the exported adapter's logits in transformers against
covip-model's.

Run from the repository root with a Python that has torch, transformers (Qwen3-VL), peft and
Pillow. On a CUDA GPU (covip built with `--features cuda`):

    cargo build --release -p covip --features cuda
    python scripts/gspo_scale.py --device cuda --covip target/release/covip

and on the CPU, smaller (the defaults of `--device cpu`: 2 decoder layers, a 2-block vision tower,
32 new tokens):

    cargo build --release -p covip
    python scripts/gspo_scale.py --device cpu --covip target/release/covip

The checkpoint is random, with Qwen3-VL-2B's text shape (hidden 2048, 16 heads, 8 key-value heads,
head_dim 128, MLP 6144, vocab 151936, tied head; `--layers`, 28 by default on cuda) and vision
tower (depth 24, hidden 1024, MLP 4096, 16 heads, deepstack after blocks 5, 11, 17; `--vision-depth`),
in bf16, with the tiny fixture's tokenizer and chat template (a random model's tokens beyond the
tokenizer's 448 decode to nothing, which changes no timing) and the released sampling
(temperature 0.7, top-k 20, top-p 0.8). A random model almost never stops early, so every
completion has `--max-new-tokens` tokens on both sides.

Both sides: LoRA rank 64, α 128, dropout 0.05 on q/k/v/o/gate/up/down (the head is tied, so not
on lm_head), G = `--group` completions of one prompt per step, the same prompt at every step (the
first record of data/sample/train.jsonl, `--record`: a caption record, its context images with
their dialogues and the query image; the torch side renders them in the same order with an
instruction of its own, covip with its training prompt, so the prompt lengths differ by a few
words), μ = 1, the GSPO loss, global-norm clipping at 1.0, AdamW. Rewards: covip uses its lexical
judge; the torch side random numbers (a reward costs nothing next to the model). Reported per side,
as the median over the steps after the first: seconds per step, rollout tokens/s (generated tokens /
rollout time), training tokens/s (prompt + completion tokens of the forward and backward passes /
their time), and peak memory (CUDA: torch's max_memory_allocated for torch, the largest
`nvidia-smi` reading while covip ran minus the reading before; CPU: peak RSS of each process).

Finally the run's adapter is exported (`covip export-adapter`) and loaded over the checkpoint with
PEFT in float32; its logits over an image prompt are compared with `covip logits --adapter`.
"""
import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from PIL import Image
from safetensors.torch import load_file
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast, Qwen3VLConfig, Qwen3VLForConditionalGeneration
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURE = os.path.join(ROOT, "covip-model", "tests", "fixtures", "tiny-qwen3-vl")
DATA = os.path.join(ROOT, "data", "sample", "train.jsonl")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
IMAGE_TOKEN, VIDEO_TOKEN, VISION_START, VISION_END, IM_END, PAD = 432, 433, 429, 430, 422, 420


def make_checkpoint(folder, layers, vision_depth, max_pixels):
    torch.manual_seed(0)
    text = dict(vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_hidden_layers=layers,
                num_attention_heads=16, num_key_value_heads=8, head_dim=128, rms_norm_eps=1e-6,
                max_position_embeddings=32768, bos_token_id=PAD, eos_token_id=IM_END,
                rope_parameters={"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [24, 20, 20],
                                 "mrope_interleaved": True}, tie_word_embeddings=True)
    deepstack = [i for i in (5, 11, 17) if i < vision_depth] or [0]
    vision = dict(depth=vision_depth, hidden_size=1024, intermediate_size=4096, num_heads=16, out_hidden_size=2048,
                  patch_size=16, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=2304,
                  deepstack_visual_indexes=deepstack)
    cfg = Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True,
                        image_token_id=IMAGE_TOKEN, video_token_id=VIDEO_TOKEN,
                        vision_start_token_id=VISION_START, vision_end_token_id=VISION_END)
    model = Qwen3VLForConditionalGeneration(cfg).to(torch.bfloat16)
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.json"):
        shutil.copy(os.path.join(FIXTURE, name), folder)
    pre = json.load(open(os.path.join(FIXTURE, "preprocessor_config.json")))
    pre.update(min_pixels=3136, max_pixels=max_pixels)
    json.dump(pre, open(os.path.join(folder, "preprocessor_config.json"), "w"), indent=2)
    json.dump({"bos_token_id": PAD, "eos_token_id": [IM_END, PAD], "pad_token_id": PAD, "do_sample": True,
               "temperature": 0.7, "top_k": 20, "top_p": 0.8},
              open(os.path.join(folder, "generation_config.json"), "w"), indent=2)
    n = sum(p.numel() for p in model.parameters())
    del model
    return n


class GpuMemory:
    """Polls nvidia-smi's used memory while a child runs (the peak minus the reading before)."""

    def __init__(self):
        self.base = self.read()
        self.peak = self.base
        self.stop = False
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.thread.start()

    @staticmethod
    def read():
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
                             capture_output=True, text=True)
        return int(out.stdout.strip().splitlines()[0]) * 2**20 if out.returncode == 0 else 0

    def poll(self):
        while not self.stop:
            self.peak = max(self.peak, self.read())
            time.sleep(0.2)

    def finish(self):
        self.stop = True
        self.thread.join()
        return self.peak - self.base


def one_record_data(args, work):
    """`--steps` copies of one training record, its image paths made absolute."""
    rec = [json.loads(line) for line in open(DATA)][args.record]
    rec["images"] = [os.path.join(ROOT, "data", "sample", p) for p in rec["images"]]
    path = os.path.join(work, "train.jsonl")
    with open(path, "w") as f:
        for i in range(args.steps):
            f.write(json.dumps(rec) + "\n")
    return path, rec


def covip_side(args, ckpt, run_dir, data):
    cmd = [args.covip, "train", "--model", ckpt, "--data", data, "--judge", "lexical", "--out", run_dir,
           "--device", args.device, "--max-steps", str(args.steps), "--group-size", str(args.group),
           "--max-new-tokens", str(args.max_new_tokens), "--lora-rank", "64", "--lora-alpha", "128",
           "--lora-targets", ",".join(TARGETS), "--save-every", str(args.steps)] + (["--f32"] if args.f32 else [])
    print("$", " ".join(cmd), flush=True)
    gpu = GpuMemory() if args.device == "cuda" else None
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    gpu_peak = gpu.finish() if gpu else None
    rows = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    later = rows[1:] or rows
    med = lambda k: statistics.median(r[k] for r in later)
    return {
        "step_seconds": med("step_seconds"),
        "rollout_tokens_per_s": med("rollout_tokens_per_s"),
        "train_tokens_per_s": med("train_tokens_per_s"),
        "response_length": med("response_length"),
        "peak_memory_bytes": gpu_peak if gpu else max(r["peak_memory_bytes"] or 0 for r in rows),
        "wall_seconds": wall,
    }


def torch_side(args, ckpt, rec):
    dev = torch.device(args.device)
    dtype = torch.bfloat16
    torch.manual_seed(0)
    tok = Tokenizer.from_file(os.path.join(ckpt, "tokenizer.json"))
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    hf_tok.chat_template = json.load(open(os.path.join(ckpt, "chat_template.json")))["chat_template"]
    pre = json.load(open(os.path.join(ckpt, "preprocessor_config.json")))
    improc = Qwen2VLImageProcessorPil(**{k: v for k, v in pre.items() if k != "image_processor_type"})
    model = Qwen3VLForConditionalGeneration.from_pretrained(ckpt, dtype=dtype).to(dev)
    model.gradient_checkpointing_enable()
    model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=64, lora_alpha=128, lora_dropout=0.05, target_modules=TARGETS,
                                             bias="none", task_type="CAUSAL_LM"))
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=5e-6, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    rng = random.Random(0)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    steps = []
    for s in range(args.steps):
        images = [Image.open(p).convert("RGB") for p in rec["images"]]
        # Each context image with its dialogue, then the query image and the instruction: the
        # structure of covip's caption prompt (SPEC §3), in other words.
        content = []
        for i in range(len(images) - 1):
            content += [{"type": "image"}, {"type": "text", "text": (rec.get("dialogues") or [""] * 99)[i]}]
        content += [{"type": "image"}, {"type": "text", "text": "Describe the last image, naming the "
                                                                 "people and things you remember."}]
        text = hf_tok.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                          add_generation_prompt=True)
        proc = improc(images, return_tensors="pt")
        grid = proc["image_grid_thw"]
        for g in grid.tolist():
            text = text.replace("<|image_pad|>", "<|placeholder|>" * (g[0] * g[1] * g[2] // 4), 1)
        text = text.replace("<|placeholder|>", "<|image_pad|>")
        ids = torch.tensor([tok.encode(text, add_special_tokens=False).ids] * args.group, device=dev)
        pv = proc["pixel_values"].to(dev, dtype).repeat(args.group, 1)
        grid_g = grid.repeat(args.group, 1).to(dev)
        mm = (ids == IMAGE_TOKEN).long()
        sync()
        t0 = time.perf_counter()
        model.eval()
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pv,
                                 image_grid_thw=grid_g, mm_token_type_ids=mm, do_sample=True, temperature=0.7,
                                 top_k=20, top_p=0.8, max_new_tokens=args.max_new_tokens,
                                 min_new_tokens=args.max_new_tokens, eos_token_id=[IM_END, PAD], pad_token_id=PAD)
        sync()
        t_roll = time.perf_counter() - t0
        completion = out[:, ids.shape[1]:]
        rewards = torch.tensor([rng.random() for _ in range(args.group)], device=dev)
        adv = (rewards - rewards.mean()) / (rewards.std() + 1e-4)
        model.train()
        t1 = time.perf_counter()
        full = torch.cat([ids, completion], dim=1)
        mm_full = (full == IMAGE_TOKEN).long()
        logits = model(input_ids=full, attention_mask=torch.ones_like(full), pixel_values=pv,
                       image_grid_thw=grid_g, mm_token_type_ids=mm_full).logits
        logits = logits[:, ids.shape[1] - 1:-1].float()
        logp = torch.log_softmax(logits, dim=-1).gather(2, completion[:, :, None])[:, :, 0]
        ratio = torch.exp((logp - logp.detach()).mean(dim=1))
        loss = -torch.min(ratio * adv, torch.clamp(ratio, 1 - 3e-4, 1 + 4e-4) * adv).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        optim.zero_grad()
        sync()
        t_train = time.perf_counter() - t1
        generated = completion.numel()
        steps.append({"step_seconds": time.perf_counter() - t0, "rollout_tokens_per_s": generated / t_roll,
                      "train_tokens_per_s": full.numel() / t_train, "response_length": completion.shape[1],
                      "prompt_tokens": ids.shape[1]})
        print(f"  torch step {s + 1}: {steps[-1]['step_seconds']:.2f} s", flush=True)
    later = steps[1:] or steps
    med = lambda k: statistics.median(r[k] for r in later)
    peak = torch.cuda.max_memory_allocated() if dev.type == "cuda" else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {k: med(k) for k in ("step_seconds", "rollout_tokens_per_s", "train_tokens_per_s", "response_length",
                                  "prompt_tokens")}
    result["peak_memory_bytes"] = peak
    del model, optim
    return result


def export_check(args, ckpt, run_dir, work):
    adapter = os.path.join(work, "adapter")
    subprocess.run([args.covip, "export-adapter", run_dir, "--out", adapter], check=True, stdout=subprocess.DEVNULL)
    out = os.path.join(work, "logits.safetensors")
    image = os.path.join(ROOT, "data", "sample", "images", "concepts", "01_oliver.png")
    subprocess.run([args.covip, "logits", "--model", ckpt, "--adapter", adapter, "--device", args.device,
                    "--prompt", "Who is this?", "--image", image, "--out", out], check=True, stdout=subprocess.DEVNULL)
    ours = load_file(out)
    model = Qwen3VLForConditionalGeneration.from_pretrained(ckpt, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, adapter).eval()
    ids = ours["input_ids"][None, :].long()
    with torch.no_grad():
        theirs = model(input_ids=ids, pixel_values=ours["pixel_values"].float(),
                       image_grid_thw=ours["image_grid_thw"].long(),
                       mm_token_type_ids=(ids == IMAGE_TOKEN).long()).logits[0].float()
    d = (ours["logits"] - theirs).abs().max().item()
    m = theirs.abs().max().item()
    return d, m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--covip", default=os.path.join(ROOT, "target", "release", "covip"))
    ap.add_argument("--layers", type=int, default=None, help="decoder layers (default: 28 on cuda, 2 on cpu)")
    ap.add_argument("--vision-depth", type=int, default=None, help="vision blocks (default: 24 on cuda, 2 on cpu)")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="default: 512 on cuda, 32 on cpu")
    ap.add_argument("--max-pixels", type=int, default=None, help="image bound (default: 401408 on cuda, 50176 on cpu)")
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--record", type=int, default=0, help="which record of data/sample/train.jsonl")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--keep", default=None, help="work in this folder and keep it")
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--f32", action="store_true", help="covip computes in f32 (`covip train --f32`; faster on the CPU)")
    args = ap.parse_args()
    cuda = args.device == "cuda"
    args.layers = args.layers or (28 if cuda else 2)
    args.vision_depth = args.vision_depth or (24 if cuda else 2)
    args.max_new_tokens = args.max_new_tokens or (512 if cuda else 32)
    args.max_pixels = args.max_pixels or (401408 if cuda else 50176)
    torch.set_num_threads(args.threads)
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)

    work = args.keep or tempfile.mkdtemp(prefix="covip-scale-")
    if args.keep:
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
    ckpt = os.path.join(work, "checkpoint")
    n = make_checkpoint(ckpt, args.layers, args.vision_depth, args.max_pixels)
    device_name = torch.cuda.get_device_name(0) if cuda else f"CPU, {args.threads} threads"
    print(f"checkpoint: {n / 1e6:.0f}M parameters, {args.layers} decoder layers, vision depth {args.vision_depth}, "
          f"bf16; {device_name}", flush=True)

    results = {"device": device_name, "layers": args.layers, "vision_depth": args.vision_depth, "group": args.group,
               "max_new_tokens": args.max_new_tokens, "steps": args.steps}
    data, rec = one_record_data(args, work)
    results["covip"] = covip_side(args, ckpt, os.path.join(work, "run"), data)
    if not args.skip_torch:
        results["torch"] = torch_side(args, ckpt, rec)
    d, m = export_check(args, ckpt, os.path.join(work, "run"), work)
    results["export_logits"] = {"max_abs_diff": d, "max_abs_logit": m}

    print(f"\n{device_name}; G = {args.group}, {args.max_new_tokens} new tokens, median of steps 2..{args.steps}")
    print("| side | s / step | rollout tok/s | training tok/s | peak memory (GiB) |")
    print("|---|---:|---:|---:|---:|")
    for side in ("covip", "torch"):
        r = results.get(side)
        if r:
            name = "covip (f32)" if side == "covip" and args.f32 else side
            print(f"| {name} | {r['step_seconds']:.2f} | {r['rollout_tokens_per_s']:.1f} | "
                  f"{r['train_tokens_per_s']:.1f} | {r['peak_memory_bytes'] / 2**30:.2f} |")
    print(f"exported adapter, transformers + PEFT (f32) vs covip logits: max |diff| {d:.3e}, "
          f"max |logit| {m:.3f} (relative {d / m:.2e})")
    print(json.dumps(results))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    tol = 1e-3 if cuda else 1e-4
    if d > tol * m:
        sys.exit(f"the exported adapter's logits differ by more than {tol} of the largest logit")


if __name__ == "__main__":
    main()
