//! Multimodal parity with transformers on the tiny f32 checkpoint: `get_rope_index`, logits and
//! greedy continuations of prompts with 1 and 3 images, batched generation, and the processor
//! turning the same messages into the same ids, and scoring groups of rows that share a prompt's
//! images with one vision-tower pass. Fixtures: scripts/make_multimodal_fixtures.py.
mod common;

use common::{f32_dir, fixtures, greedy, multimodal_reference, patches, u32s};

use covip_data::ImageRef;
use covip_data::prompt::{Message, Part, Role};
use covip_model::burn::backend::Flex;
use covip_model::multimodal::vision_images_encoded;
use covip_model::processor::image::PixelPatches;
use covip_model::rope_index::rope_index;
use covip_model::{GenerateOptions, Processor, Qwen3VlMultimodal, RenderOptions, WeightDtype};
use serde_json::Value;

type B = Flex;

fn bytes() -> Vec<u8> {
    std::fs::read(fixtures().join("multimodal.safetensors")).unwrap()
}
fn i64s(st: &safetensors::SafeTensors, name: &str) -> Vec<i64> {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    t.data()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}
fn ckpt() -> std::path::PathBuf {
    f32_dir()
}
fn reference() -> Value {
    multimodal_reference()
}
fn load() -> Qwen3VlMultimodal<B> {
    Qwen3VlMultimodal::<B>::load(&ckpt(), WeightDtype::F32, &Default::default())
        .unwrap()
        .0
}
fn opts(r: &Value, n: usize) -> GenerateOptions {
    greedy(r, n)
}

#[test]
fn rope_index_matches_transformers() {
    let r = reference();
    let bytes = bytes();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let img = r["image_token_id"].as_u64().unwrap() as u32;
    for (k, c) in r["rope_cases"].as_array().unwrap().iter().enumerate() {
        let ids: Vec<Vec<u32>> = c["ids"].as_array().unwrap().iter().map(u32s).collect();
        let valid: Vec<Vec<bool>> = c["valid"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| u32s(row).iter().map(|&v| v == 1).collect())
            .collect();
        let grids: Vec<[usize; 3]> = c["grids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                let g = u32s(g);
                [g[0] as usize, g[1] as usize, g[2] as usize]
            })
            .collect();
        let (pos, deltas) = rope_index(&ids, &valid, img, &grids, 2).unwrap();
        assert_eq!(
            pos,
            i64s(&st, &format!("rope_position_ids_{k}")),
            "case {k}"
        );
        // transformers' delta counts valid tokens; ours the padded length (decode positions
        // are cache index + delta): they differ by the row's padding.
        let want: Vec<i64> = i64s(&st, &format!("rope_deltas_{k}"))
            .iter()
            .zip(&valid)
            .map(|(d, v)| d - v.iter().filter(|x| !**x).count() as i64)
            .collect();
        assert_eq!(deltas, want, "case {k}");
    }
}

#[test]
fn processor_renders_the_reference_ids() {
    let r = reference();
    let cfg = covip_model::Qwen3VlConfig::from_file(&ckpt().join("config.json")).unwrap();
    let proc = Processor::from_dir(&ckpt(), &cfg).unwrap();
    for p in r["prompts"].as_array().unwrap() {
        let px = patches(p);
        let parts: Vec<Part> = p["messages"][0]["content"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, c)| match c["type"].as_str().unwrap() {
                "image" => Part::Image(ImageRef::path(format!("{i}.png"))),
                _ => Part::Text(c["text"].as_str().unwrap().to_string()),
            })
            .collect();
        let msg = Message {
            role: Role::User,
            parts,
        };
        let opts = RenderOptions {
            add_generation_prompt: true,
            add_vision_id: p["add_vision_id"].as_bool().unwrap(),
        };
        let ids = proc.encode_chat(&[msg], &px.image_tokens(), opts).unwrap();
        assert_eq!(ids, u32s(&p["input_ids"]));
    }
}

#[test]
fn logits_and_greedy_match_transformers_with_1_and_3_images() {
    common::check_multimodal_logits_and_greedy::<B>(&Default::default(), common::F32_REL_TOL);
}

#[test]
fn batched_greedy_with_images_matches_transformers() {
    let r = reference();
    let m = load();
    let prompts = r["prompts"].as_array().unwrap();
    let ids: Vec<Vec<u32>> = prompts.iter().map(|p| u32s(&p["input_ids"])).collect();
    let px: Vec<PixelPatches> = prompts.iter().map(patches).collect();
    let refs: Vec<&PixelPatches> = px.iter().collect();
    let g = m
        .generate(&ids, &refs, &opts(&r, 8), &Default::default(), |_, _| {})
        .unwrap();
    let want: Vec<Vec<u32>> = r["batched_greedy"]["new_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(u32s)
        .collect();
    for (row, w) in want.iter().enumerate() {
        assert_eq!(&g.tokens[row], &w[..g.tokens[row].len()], "row {row}");
    }
}

#[test]
fn placeholder_and_image_count_mismatch_is_an_error() {
    let r = reference();
    let m = load();
    let p = &r["prompts"][1];
    let px = patches(p);
    // Drop the last placeholder: 3 images, one token short.
    let mut ids = u32s(&p["input_ids"]);
    let img = r["image_token_id"].as_u64().unwrap() as u32;
    let last = ids.iter().rposition(|&t| t == img).unwrap();
    ids.remove(last);
    let e = m
        .prompt_logits(&ids, Some(&px), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("placeholder"), "{e}");
    let e = m
        .prompt_logits(&u32s(&p["input_ids"]), None, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no images were given"), "{e}");
}

/// Log-softmax of row `row` of `[T, V]` logits, at token `tok`.
fn log_prob(logits: &[f32], v: usize, row: usize, tok: u32) -> f32 {
    let r = &logits[row * v..(row + 1) * v];
    let m = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = m + r.iter().map(|x| (x - m).exp()).sum::<f32>().ln();
    r[tok as usize] - lse
}

#[test]
fn scoring_with_images_matches_full_logits_and_batches() {
    let r = reference();
    let m = load();
    let dev = Default::default();
    let prompts = r["prompts"].as_array().unwrap();
    let mut split = Vec::new();
    let mut singles = Vec::new();
    for p in prompts {
        let ids = u32s(&p["input_ids"]);
        let px = patches(p);
        // Score the last 5 tokens (the end of the chat turn, no image tokens) given the rest.
        let k = ids.len() - 5;
        let (prompt, cont) = (ids[..k].to_vec(), ids[k..].to_vec());
        let (logits, v) = m.prompt_logits(&ids, Some(&px), &dev).unwrap();
        let want: Vec<f32> = cont
            .iter()
            .enumerate()
            .map(|(j, &t)| log_prob(&logits, v, k - 1 + j, t))
            .collect();
        let s = m
            .score_continuations(
                std::slice::from_ref(&prompt),
                std::slice::from_ref(&cont),
                &[&px],
                0,
                &dev,
            )
            .unwrap();
        let got: Vec<f32> = s.logprobs.into_data().to_vec().unwrap();
        let d = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(d <= 1e-4, "log-probs differ by {d}");
        assert!(want.iter().all(|x| *x < 0.0));
        split.push((prompt, cont, px));
        singles.push(got);
    }
    // Both prompts in one left/right-padded batch give the same scores as one by one.
    let (ps, cs): (Vec<Vec<u32>>, Vec<Vec<u32>>) =
        split.iter().map(|(p, c, _)| (p.clone(), c.clone())).unzip();
    let px: Vec<&PixelPatches> = split.iter().map(|(_, _, x)| x).collect();
    let s = m.score_continuations(&ps, &cs, &px, 0, &dev).unwrap();
    let got: Vec<f32> = s.logprobs.into_data().to_vec().unwrap();
    let l = cs.iter().map(Vec::len).max().unwrap();
    for (row, single) in singles.iter().enumerate() {
        let d = single
            .iter()
            .zip(&got[row * l..row * l + single.len()])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(d <= 1e-4, "row {row}: batched log-probs differ by {d}");
    }
    let e = m
        .score_continuations(&ps, &cs, &px[..1], 0, &dev)
        .unwrap_err()
        .to_string();
    assert!(e.contains("2 prompts but 1 image lists"), "{e}");
}

/// Scores `rows` (prompt, continuation, images) in one batch; returns log-probs, mask (both
/// `[B, L]` flattened) and how many images the vision tower encoded for it.
fn score_rows(
    m: &Qwen3VlMultimodal<B>,
    rows: &[(Vec<u32>, Vec<u32>, &PixelPatches)],
) -> (Vec<f32>, Vec<f32>, usize) {
    let (ps, cs): (Vec<Vec<u32>>, Vec<Vec<u32>>) =
        rows.iter().map(|(p, c, _)| (p.clone(), c.clone())).unzip();
    let px: Vec<&PixelPatches> = rows.iter().map(|r| r.2).collect();
    let before = vision_images_encoded();
    let s = m
        .score_continuations(&ps, &cs, &px, 0, &Default::default())
        .unwrap();
    let encoded = vision_images_encoded() - before;
    let lp = s.logprobs.into_data().to_vec().unwrap();
    let mask = s.mask.into_data().to_vec().unwrap();
    (lp, mask, encoded)
}

/// The GSPO layout: G completions of one prompt pass the same `&PixelPatches`; the vision
/// tower must encode each prompt's images once and give the same scores as one encoding per
/// row (separate clones, which share nothing). Log-probs agree within 1e-6.
#[test]
fn rows_sharing_images_encode_them_once_and_score_the_same() {
    const TOL: f32 = 1e-6;
    let r = reference();
    let m = load();
    let prompts = r["prompts"].as_array().unwrap();
    // Prompt 0 has 1 image, prompt 1 has 3.
    let ids: Vec<Vec<u32>> = prompts.iter().map(|p| u32s(&p["input_ids"])).collect();
    let px: Vec<PixelPatches> = prompts.iter().map(patches).collect();
    assert_eq!((px[0].grid_thw.len(), px[1].grid_thw.len()), (1, 3));
    let conts: [Vec<u32>; 3] = [
        vec![64, 396, 323],
        vec![83, 198],
        vec![13, 422, 198, 421, 64],
    ];
    let clones: Vec<PixelPatches> = (0..6).map(|k| px[k / 3].clone()).collect();
    let shared: Vec<(Vec<u32>, Vec<u32>, &PixelPatches)> = (0..6)
        .map(|k| (ids[k / 3].clone(), conts[k % 3].clone(), &px[k / 3]))
        .collect();
    let separate: Vec<(Vec<u32>, Vec<u32>, &PixelPatches)> = (0..6)
        .map(|k| (ids[k / 3].clone(), conts[k % 3].clone(), &clones[k]))
        .collect();
    let (lp_s, mask_s, n_s) = score_rows(&m, &shared);
    let (lp_c, mask_c, n_c) = score_rows(&m, &separate);
    assert_eq!(n_c, 3 + 3 * 3, "one encoding per row's image");
    assert_eq!(n_s, 1 + 3, "one encoding per distinct image");
    assert_eq!(mask_s, mask_c);
    assert_eq!(mask_s.iter().sum::<f32>(), 2.0 * (3 + 2 + 5) as f32);
    let d = common::max_abs_diff(&lp_s, &lp_c);
    eprintln!("2 prompts x 3 rows: shared vs separate log-probs max|Δ| {d:e}");
    assert!(d <= TOL, "shared vs separate log-probs differ by {d}");
    assert!(lp_s.iter().zip(&mask_s).all(|(l, k)| *k == 0.0 || *l < 0.0));

    // A text-only row (empty patches) between image rows, and a prompt reused away from its
    // first rows: A, A, text, B, A.
    let empty = PixelPatches {
        pixel_values: Vec::new(),
        patch_dim: px[0].patch_dim,
        grid_thw: Vec::new(),
        merge_size: px[0].merge_size,
    };
    let text: Vec<u32> = ids[0][..5]
        .iter()
        .chain(&ids[0][ids[0].len() - 5..])
        .copied()
        .collect();
    assert!(!text.contains(&(r["image_token_id"].as_u64().unwrap() as u32)));
    // Per row: prompt ids, the shared images, and the row's own copy.
    let (a2, b2, a3) = (px[0].clone(), px[1].clone(), px[0].clone());
    let layout: [(&Vec<u32>, &PixelPatches, &PixelPatches); 5] = [
        (&ids[0], &px[0], &px[0]),
        (&ids[0], &px[0], &a2),
        (&text, &empty, &empty),
        (&ids[1], &px[1], &b2),
        (&ids[0], &px[0], &a3),
    ];
    let mixed: Vec<(Vec<u32>, Vec<u32>, &PixelPatches)> = layout
        .iter()
        .enumerate()
        .map(|(k, &(p, s, _))| (p.clone(), conts[k % 3].clone(), s))
        .collect();
    let unshared: Vec<(Vec<u32>, Vec<u32>, &PixelPatches)> = layout
        .iter()
        .enumerate()
        .map(|(k, &(p, _, o))| (p.clone(), conts[k % 3].clone(), o))
        .collect();
    let (lp_s, mask_s, n_s) = score_rows(&m, &mixed);
    let (lp_c, mask_c, n_c) = score_rows(&m, &unshared);
    assert_eq!((n_s, n_c), (1 + 3, 1 + 1 + 3 + 1));
    assert_eq!(mask_s, mask_c);
    let d = common::max_abs_diff(&lp_s, &lp_c);
    eprintln!("mixed batch: shared vs separate log-probs max|Δ| {d:e}");
    assert!(
        d <= TOL,
        "mixed batch: shared vs separate log-probs differ by {d}"
    );
}
