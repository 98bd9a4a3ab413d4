#!/usr/bin/env python3
"""Builds the covip-model vision fixtures: test images, image-processor and vision-tower references.

Run from the repository root with a Python that has torch, transformers (>= 5, Qwen3-VL) and Pillow:

    python scripts/make_vision_fixtures.py [--out covip-model/tests/fixtures/vision]

It writes, under --out:
  images/                    small PNG / JPEG test images (RGB, L, P with transparency, RGBA, grey JPEG)
  preprocessor_small.json    `min_pixels` / `max_pixels` key style, small bounds (keeps fixtures small)
  preprocessor_released.json `size: {shortest_edge, longest_edge}` key style, released Qwen3-VL bounds
  processor.json             one case per (image, config): file names and the reference grid
  processor.safetensors      `pixel_values.<case>` [patches, 1536] f32, `image_grid_thw.<case>` [1, 3] i64,
                             `decoded.<case>` [h, w, 3] u8 (Pillow's RGB pixels before resizing)
  tower.safetensors          vision-tower outputs of the tiny checkpoint (../tiny-qwen3-vl) for one
                             image and for three images (inputs: the processor cases listed under
                             `tower_runs` in processor.json): `<run>.grid_thw`,
                             `<run>.embeds` [tokens, out_hidden], `<run>.deepstack.<k>` [tokens, out_hidden];
                             run `bf16`: the three images through ../tiny-qwen3-vl-bf16-tied in bf16

The references come from transformers' slow, Pillow-based `Qwen2VLImageProcessorPil` (bicubic via
`PIL.Image.resize`), fed images opened with `Image.open(path).convert("RGB")` as the CoViP image
loader does (with `info["transparency"]` removed, see below). Everything is deterministic; rerunning gives the same files. Tests never run Python.
"""
import argparse
import json
import os

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import Qwen3VLConfig
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLVisionModel
from safetensors import safe_open

SMALL = {
    "min_pixels": 32 * 32 * 4,
    "max_pixels": 32 * 32 * 12,
    "patch_size": 16,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "image_processor_type": "Qwen2VLImageProcessor",
}
RELEASED = {
    "size": {"longest_edge": 16777216, "shortest_edge": 65536},
    "patch_size": 16,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "processor_class": "Qwen3VLProcessor",
    "image_processor_type": "Qwen2VLImageProcessorFast",
}


def pattern(h, w, seed):
    """A smooth-plus-noise RGB test pattern (uint8 HxWx3): edges, gradients and texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 127.5 + 127.5 * np.sin(x / max(w, 1) * 6.0 + y / max(h, 1) * 2.0)
    g = 255.0 * ((x // 7 + y // 5) % 2)
    b = 255.0 * y / max(h - 1, 1)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 18, size=(h, w, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def make_images(d):
    os.makedirs(d, exist_ok=True)
    out = {}
    # RGB PNG, upscaled (min_pixels branch).
    Image.fromarray(pattern(45, 77, 1), "RGB").save(os.path.join(d, "rgb_45x77.png"))
    out["rgb_45x77.png"] = "RGB"
    # RGB JPEG (4:2:0, quality 90), shrunk with antialiasing (max_pixels branch).
    Image.fromarray(pattern(300, 200, 2), "RGB").save(os.path.join(d, "rgb_300x200.jpg"), quality=90)
    out["rgb_300x200.jpg"] = "RGB"
    # Round half to even: 80/32 = 2.5 -> 2, 48/32 = 1.5 -> 2.
    Image.fromarray(pattern(80, 48, 3), "RGB").save(os.path.join(d, "rgb_80x48.png"))
    out["rgb_80x48.png"] = "RGB"
    # Greyscale PNG, tall.
    Image.fromarray(pattern(120, 37, 4)[:, :, 0], "L").save(os.path.join(d, "gray_120x37.png"))
    out["gray_120x37.png"] = "L"
    # Palette PNG with a transparent palette entry.
    p = Image.fromarray(pattern(90, 140, 5), "RGB").quantize(colors=32, method=Image.Quantize.MEDIANCUT)
    p.info["transparency"] = 3
    p.save(os.path.join(d, "palette_90x140.png"), transparency=3)
    out["palette_90x140.png"] = "P"
    # RGBA PNG with varying alpha, already a multiple of 32 (no resize).
    rgba = np.concatenate([pattern(64, 64, 6), pattern(64, 64, 7)[:, :, :1]], axis=-1)
    Image.fromarray(rgba, "RGBA").save(os.path.join(d, "rgba_64x64.png"))
    out["rgba_64x64.png"] = "RGBA"
    # Greyscale JPEG, wide, shrunk.
    Image.fromarray(pattern(70, 260, 8)[:, :, 1], "L").save(os.path.join(d, "gray_70x260.jpg"), quality=85)
    out["gray_70x260.jpg"] = "L"
    # JPEG variants: 4:4:4, 4:2:2 with restart markers, a 3-pixel-wide 4:2:0 (plain chroma
    # replication in libjpeg-turbo), progressive colour (successive approximation) and grey.
    Image.fromarray(pattern(97, 61, 10), "RGB").save(
        os.path.join(d, "rgb_97x61_444.jpg"), quality=95, subsampling=0)
    out["rgb_97x61_444.jpg"] = "RGB"
    Image.fromarray(pattern(61, 97, 11), "RGB").save(
        os.path.join(d, "rgb_61x97_422.jpg"), quality=80, subsampling=1, restart_marker_blocks=3)
    out["rgb_61x97_422.jpg"] = "RGB"
    Image.fromarray(pattern(40, 3, 12), "RGB").save(
        os.path.join(d, "rgb_40x3_420.jpg"), quality=90, subsampling=2)
    out["rgb_40x3_420.jpg"] = "RGB"
    Image.fromarray(pattern(53, 75, 13), "RGB").save(
        os.path.join(d, "rgb_53x75_prog.jpg"), quality=85, progressive=True)
    out["rgb_53x75_prog.jpg"] = "RGB"
    Image.fromarray(pattern(33, 47, 14)[:, :, 2], "L").save(
        os.path.join(d, "gray_33x47_prog.jpg"), quality=75, progressive=True)
    out["gray_33x47_prog.jpg"] = "L"
    # Tiny image under the released bounds: upscaled a lot.
    Image.fromarray(pattern(20, 30, 9), "RGB").save(os.path.join(d, "rgb_20x30.png"))
    out["rgb_20x30.png"] = "RGB"
    # Not an image.
    with open(os.path.join(d, "not_an_image.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\nthis is not a png")
    return out


def processor(cfg):
    kw = {k: v for k, v in cfg.items() if k not in ("image_processor_type", "processor_class")}
    return Qwen2VLImageProcessorPil(**kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="covip-model/tests/fixtures/vision")
    ap.add_argument("--checkpoint", default="covip-model/tests/fixtures/tiny-qwen3-vl")
    args = ap.parse_args()
    out = args.out
    img_dir = os.path.join(out, "images")
    modes = make_images(img_dir)
    for name, cfg in (("preprocessor_small.json", SMALL), ("preprocessor_released.json", RELEASED)):
        with open(os.path.join(out, name), "w") as f:
            json.dump(cfg, f, indent=2)

    cases = []
    tensors = {}
    plan = [(n, "preprocessor_small.json", SMALL) for n in modes if n != "rgb_20x30.png"]
    plan += [("rgb_20x30.png", "preprocessor_released.json", RELEASED)]
    for name, cfg_name, cfg in plan:
        im = Image.open(os.path.join(img_dir, name))
        assert im.mode == modes[name], (name, im.mode)
        rgb = im.convert("RGB")
        # Pillow keeps a palette/colour-key transparency as `info["transparency"]` on the RGB image,
        # and transformers' convert_to_rgb then composites that colour onto white. CoViP's Rust
        # processor follows plain `convert("RGB")` (no compositing), so the reference drops the key.
        rgb.info.pop("transparency", None)
        res = processor(cfg)(images=[rgb], return_tensors="np")
        pv = np.asarray(res["pixel_values"], dtype=np.float32)
        grid = np.asarray(res["image_grid_thw"], dtype=np.int64)
        # Sanity: the processor's resize is plain Pillow BICUBIC on the RGB image.
        h, w = int(grid[0, 1]) * 16, int(grid[0, 2]) * 16
        direct = np.asarray(rgb.resize((w, h), Image.Resampling.BICUBIC) if (w, h) != rgb.size else rgb)
        first = pv.reshape(grid[0, 1] // 2, grid[0, 2] // 2, 2, 2, 3, 2, 16, 16)[:, :, :, :, :, 0]
        first = first.transpose(4, 0, 2, 5, 1, 3, 6).reshape(3, h, w)
        back = np.rint((first * 0.5 + 0.5) * 255.0).transpose(1, 2, 0)
        assert np.array_equal(back, direct.astype(np.float64)), name
        key = f"{os.path.splitext(name)[0]}.{os.path.splitext(cfg_name)[0].split('_')[1]}"
        tensors[f"pixel_values.{key}"] = torch.from_numpy(pv.copy())
        tensors[f"image_grid_thw.{key}"] = torch.from_numpy(grid.copy())
        # Pillow's decoded RGB pixels (libjpeg-turbo for JPEG), to test resizing apart from decoding.
        tensors[f"decoded.{key}"] = torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy())
        cases.append({"case": key, "image": name, "mode": modes[name], "config": cfg_name,
                      "size_hw": [im.size[1], im.size[0]], "grid_thw": grid[0].tolist()})
    save_file(tensors, os.path.join(out, "processor.safetensors"))
    with open(os.path.join(out, "processor.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=2)

    # Vision tower of the tiny checkpoint, f32, eager attention.
    config = Qwen3VLConfig.from_pretrained(args.checkpoint)
    vcfg = config.vision_config
    vcfg._attn_implementation = "eager"
    model = Qwen3VLVisionModel(vcfg)
    state = {}
    with safe_open(os.path.join(args.checkpoint, "model.safetensors"), "pt") as f:
        for k in f.keys():
            if k.startswith("model.visual."):
                state[k[len("model.visual."):]] = f.get_tensor(k)
    model.load_state_dict(state, strict=True)
    model = model.float().eval()
    runs = {
        "one": ["rgb_45x77.small"],
        "three": ["rgb_300x200.small", "gray_120x37.small", "rgba_64x64.small"],
    }
    tower = {}
    with torch.no_grad():
        for run, keys in runs.items():
            pv = torch.cat([tensors[f"pixel_values.{k}"] for k in keys])
            grid = torch.cat([tensors[f"image_grid_thw.{k}"] for k in keys])
            o = model(pv, grid_thw=grid)
            tower[f"{run}.grid_thw"] = grid.contiguous()
            tower[f"{run}.embeds"] = o.pooler_output.float().contiguous()
            for i, feat in enumerate(o.deepstack_features):
                tower[f"{run}.deepstack.{i}"] = feat.float().contiguous()
    # The bf16, sharded checkpoint: the tower run in bf16 by transformers, outputs stored in f32.
    bf16_dir = os.path.join(os.path.dirname(args.checkpoint.rstrip("/")), "tiny-qwen3-vl-bf16-tied")
    if os.path.isdir(bf16_dir):
        bcfg = Qwen3VLConfig.from_pretrained(bf16_dir).vision_config
        bcfg._attn_implementation = "eager"
        bmodel = Qwen3VLVisionModel(bcfg)
        index = json.load(open(os.path.join(bf16_dir, "model.safetensors.index.json")))["weight_map"]
        bstate = {}
        for shard in sorted(set(index.values())):
            with safe_open(os.path.join(bf16_dir, shard), "pt") as f:
                for k in f.keys():
                    if k.startswith("model.visual."):
                        bstate[k[len("model.visual."):]] = f.get_tensor(k)
        bmodel = bmodel.to(torch.bfloat16).eval()
        bmodel.load_state_dict(bstate, strict=True)
        keys = runs["three"]
        pv = torch.cat([tensors[f"pixel_values.{k}"] for k in keys])
        grid = torch.cat([tensors[f"image_grid_thw.{k}"] for k in keys])
        with torch.no_grad():
            o = bmodel(pv, grid_thw=grid)
        tower["bf16.grid_thw"] = grid.contiguous()
        tower["bf16.embeds"] = o.pooler_output.float().contiguous()
        for i, feat in enumerate(o.deepstack_features):
            tower[f"bf16.deepstack.{i}"] = feat.float().contiguous()
    save_file(tower, os.path.join(out, "tower.safetensors"))
    with open(os.path.join(out, "processor.json"), "w") as f:
        json.dump({"cases": cases, "tower_runs": runs}, f, indent=2)
    print("cases:", [c["case"] + str(c["grid_thw"]) for c in cases])
    print("tower:", {k: list(v.shape) for k, v in tower.items()})


if __name__ == "__main__":
    main()
