#!/usr/bin/env python3
"""Side-by-side throughput: covip-model (burn) vs transformers (PyTorch), f32, same weights, in one
session; on the CPU (same thread count) by default, or on a CUDA GPU with `--device cuda`.

    python scripts/bench_model.py [--layers 4] [--prefill 64] [--decode 16] [--threads 2]
    python scripts/bench_model.py --device cuda --layers 28 --burn-bin PATH
                                   # PATH: the decoder bench built with --features cuda

Builds a randomly initialised Qwen3-VL with Qwen3-VL-2B's text shape (hidden 2048, 16 heads,
8 kv heads, head_dim 128, MLP 6144, vocab 151936, tied head; `--layers` of the 28), saves it as a
checkpoint folder, times PyTorch prefill (one forward over the prompt, last-position logits) and
greedy decode with a KV cache, then runs `cargo bench -p covip-bench --bench decoder` on the same
folder and prints both and the ratio.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration
from transformers.cache_utils import DynamicCache


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--prefill", type=int, default=64)
    ap.add_argument("--decode", type=int, default=16)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (PyTorch side; burn side: the bench's features)")
    ap.add_argument("--burn-bin", default=None,
                    help="a prebuilt decoder bench binary to run instead of `cargo bench` (e.g. on a GPU machine)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed passes first (default: 0 on cpu, 1 on cuda)")
    args = ap.parse_args()
    dev = torch.device(args.device)
    warmup = args.warmup if args.warmup is not None else (0 if args.device == "cpu" else 1)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    text = dict(vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_hidden_layers=args.layers,
                num_attention_heads=16, num_key_value_heads=8, head_dim=128, rms_norm_eps=1e-6,
                rope_parameters={"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [24, 20, 20],
                                 "mrope_interleaved": True}, tie_word_embeddings=True)
    vision = dict(depth=1, hidden_size=64, intermediate_size=128, num_heads=2, out_hidden_size=2048,
                  deepstack_visual_indexes=[0])
    cfg = Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True)
    model = Qwen3VLForConditionalGeneration(cfg).eval().float()
    folder = args.dir or tempfile.mkdtemp(prefix="covip-bench-")
    model.save_pretrained(folder)
    model = model.to(dev)
    print(f"checkpoint {folder} ({sum(p.numel() for p in model.parameters())/1e6:.0f}M params)", flush=True)

    vocab = text["vocab_size"]
    ids = torch.tensor([[(i * 7919 + 13) % vocab for i in range(args.prefill)]], device=dev)
    lm = model.model.language_model
    pre, dec = [], []
    with torch.inference_mode():
        for rep in range(warmup + args.reps):
            cache = DynamicCache(config=model.config.text_config)
            sync()
            t0 = time.perf_counter()
            h = lm(input_ids=ids, past_key_values=cache, use_cache=True).last_hidden_state
            logits = model.lm_head(h[:, -1:])
            nxt = logits.argmax(-1)
            nxt.cpu()  # the burn side reads the logits back too
            t_pre = time.perf_counter() - t0
            t0 = time.perf_counter()
            for k in range(args.decode):
                pos = torch.tensor([[args.prefill + k]], device=dev)
                h = lm(input_ids=nxt, past_key_values=cache, use_cache=True,
                       position_ids=pos.expand(3, 1, 1)).last_hidden_state
                nxt = model.lm_head(h).argmax(-1)
                nxt.cpu()  # greedy decoding needs the token on the host, as burn's loop does
            t_dec = time.perf_counter() - t0
            if rep >= warmup:
                pre.append(args.prefill / t_pre)
                dec.append(args.decode / t_dec)
    torch_pre, torch_dec = statistics.median(pre), statistics.median(dec)
    print(f"torch {torch.__version__} {args.device} threads {args.threads}: prefill tok/s {torch_pre:.2f} decode tok/s {torch_dec:.2f}",
          flush=True)
    del model, lm

    env = dict(os.environ, COVIP_BENCH_MODEL=folder, COVIP_BENCH_PREFILL=str(args.prefill),
               COVIP_BENCH_DECODE=str(args.decode), COVIP_BENCH_REPS=str(args.reps),
               RAYON_NUM_THREADS=str(args.threads), COVIP_BENCH_WARMUP=str(warmup))
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    cmd = [args.burn_bin] if args.burn_bin else ["cargo", "bench", "-p", "covip-bench", "--bench", "decoder"]
    out = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    sys.stderr.write(out.stderr[-2000:])
    m_pre = re.search(r"burn prefill tok/s ([\d.]+)", out.stdout)
    m_dec = re.search(r"burn decode tok/s ([\d.]+)", out.stdout)
    if not (m_pre and m_dec):
        print(out.stdout)
        sys.exit("cargo bench did not print the expected lines")
    b_pre, b_dec = float(m_pre.group(1)), float(m_dec.group(1))
    print(f"burn {args.device} threads {args.threads}: prefill tok/s {b_pre:.2f} decode tok/s {b_dec:.2f}")
    print(f"ratio burn/torch: prefill {b_pre / torch_pre:.2f}x decode {b_dec / torch_dec:.2f}x")
    print(json.dumps({"device": args.device, "layers": args.layers, "prefill": args.prefill, "decode": args.decode, "threads": args.threads,
                      "torch": {"prefill": torch_pre, "decode": torch_dec},
                      "burn": {"prefill": b_pre, "decode": b_dec}}))


if __name__ == "__main__":
    main()
