//! LoRA on the tiny fixture checkpoints: the adapter's effect on logits, merging, the PEFT
//! files (round trip, content, damaged files), the merged checkpoint, gradients that reach only
//! the adapters, and deterministic initialisation and parameter ids.
mod common;

use std::path::Path;

use burn::backend::{Autodiff, Flex};
use burn::tensor::{DType, Tensor, TensorData, backend::Backend};
use common::{f32_dir, fixtures, max_abs_diff};
use covip_data::rng::SeededRng;
use covip_model::lora::{
    ADAPTER_CONFIG, ADAPTER_WEIGHTS, LoraConfig, PEFT_HEAD_BASE_KEY, VLLM_LM_HEAD_NOTE,
    export_peft_adapter, load_peft_adapter,
};
use covip_model::{ModelError, Qwen3Vl, WeightDtype, score_continuations};

const PROMPT: [u32; 6] = [1, 5, 9, 20, 33, 101];

fn load<B: Backend>(dir: &Path) -> Qwen3Vl<B> {
    Qwen3Vl::<B>::load(dir, WeightDtype::AsStored, &Default::default())
        .unwrap()
        .0
}

fn tied_dir() -> std::path::PathBuf {
    fixtures().join("tiny-qwen3-vl-bf16-tied")
}

fn logits<B: Backend>(m: &Qwen3Vl<B>) -> Vec<f32> {
    m.prompt_logits(&PROMPT, &Default::default()).unwrap().0
}

/// Replaces every B (and A) by seeded random values of about ±`amp`, so the adapters change
/// the output (fresh adapters have B = 0).
fn randomise<B: Backend>(m: &mut Qwen3Vl<B>, seed: u64, amp: f64) {
    let mut rng = SeededRng::new(seed);
    let state = m
        .lora_state()
        .into_iter()
        .map(|(k, t)| {
            let dims = t.dims();
            if k.ends_with("lora_B.weight") {
                let v: Vec<f32> = (0..dims[0] * dims[1])
                    .map(|_| ((rng.uniform() * 2.0 - 1.0) * amp) as f32)
                    .collect();
                let t = Tensor::<B, 2>::from_data(
                    TensorData::new(v, dims),
                    (&Default::default(), DType::F32),
                );
                (k, t)
            } else {
                (k, t)
            }
        })
        .collect();
    m.load_lora_state(state).unwrap();
}

fn f32_bits(t: Tensor<impl Backend, 2>) -> Vec<u32> {
    t.into_data()
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|x| x.to_bits())
        .collect()
}

#[test]
fn zero_b_adapter_leaves_logits_unchanged() {
    let base = load::<Flex>(&f32_dir());
    let want = logits(&base);
    let mut m = base.clone();
    m.apply_lora(&LoraConfig::default(), 42).unwrap();
    assert!(m.has_lora());
    // 3 layers × (q 64→64, k 64→32, v 64→32, o 64→64, gate 64→128, up 64→128, down 128→64)
    // + lm_head 64→448, each r·(in + out) with r = 64.
    let per_layer: usize = [
        (64, 64),
        (64, 32),
        (64, 32),
        (64, 64),
        (64, 128),
        (64, 128),
        (128, 64),
    ]
    .iter()
    .map(|(i, o)| 64 * (i + o))
    .sum();
    assert_eq!(m.lora_parameters_count(), 3 * per_layer + 64 * (64 + 448));
    let cfg = covip_model::Qwen3VlConfig::from_file(&f32_dir().join("config.json")).unwrap();
    assert_eq!(
        LoraConfig::default().parameters_for(&cfg.text).unwrap(),
        m.lora_parameters_count()
    );
    // B = 0: the update is an exact zero, so the logits are the same bits.
    assert_eq!(logits(&m), want);
}

#[test]
fn merged_logits_equal_the_adapted_model() {
    let base = load::<Flex>(&f32_dir());
    let before = logits(&base);
    let mut m = base.clone();
    m.apply_lora(&LoraConfig::default(), 1).unwrap();
    randomise(&mut m, 2, 0.05);
    let adapted = logits(&m);
    // The adapters must actually move the logits, or the comparison below proves nothing.
    assert!(max_abs_diff(&adapted, &before) > 1e-2);
    let mut merged = m.clone();
    assert_eq!(merged.merge_lora(), 3 * 7 + 1);
    assert!(!merged.has_lora());
    // f32 throughout: W·x + s·B·(A·x) and (W + s·B·A)·x differ by rounding only; the logits
    // are O(1), so 1e-4 is ~1000 ulps of room and far below the 1e-2 effect above.
    let d = max_abs_diff(&logits(&merged), &adapted);
    assert!(d < 1e-4, "merged vs adapted: {d}");
}

#[test]
fn peft_round_trip_is_bit_exact_and_config_is_peft_s() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LoraConfig {
        rank: 8,
        alpha: 16.0,
        ..LoraConfig::default()
    };
    let mut m = load::<Flex>(&f32_dir());
    m.apply_lora(&cfg, 3).unwrap();
    randomise(&mut m, 4, 0.1);
    export_peft_adapter(&m, &cfg, "Qwen/Qwen3-VL-2B-Instruct", dir.path()).unwrap();

    let text = std::fs::read_to_string(dir.path().join(ADAPTER_CONFIG)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["peft_type"], "LORA");
    assert_eq!(v["task_type"], "CAUSAL_LM");
    assert_eq!(v["r"], 8);
    assert_eq!(v["lora_alpha"], 16);
    assert_eq!(v["lora_dropout"], 0.05);
    assert_eq!(v["bias"], "none");
    assert_eq!(v["base_model_name_or_path"], "Qwen/Qwen3-VL-2B-Instruct");
    assert_eq!(
        v["target_modules"],
        serde_json::json!([
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
            "lm_head"
        ])
    );

    let bytes = std::fs::read(dir.path().join(ADAPTER_WEIGHTS)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let names = st.names();
    assert_eq!(names.len(), 2 * (3 * 7 + 1));
    let q = st
        .tensor("base_model.model.model.language_model.layers.0.self_attn.q_proj.lora_A.weight")
        .unwrap();
    assert_eq!(
        (q.dtype(), q.shape()),
        (safetensors::Dtype::F32, &[8, 64][..])
    );
    let k = st
        .tensor("base_model.model.model.language_model.layers.2.self_attn.k_proj.lora_B.weight")
        .unwrap();
    assert_eq!(k.shape(), &[32, 8]);
    let h = st.tensor("base_model.model.lm_head.lora_B.weight").unwrap();
    assert_eq!(h.shape(), &[448, 8]);
    assert!(
        st.tensor("base_model.model.model.language_model.layers.1.mlp.down_proj.lora_A.weight")
            .is_ok()
    );

    let mut back = load::<Flex>(&f32_dir());
    let got = load_peft_adapter(&mut back, dir.path()).unwrap();
    assert_eq!(got, cfg);
    let (a, b) = (m.lora_state(), back.lora_state());
    assert_eq!(a.len(), b.len());
    for ((ka, ta), (kb, tb)) in a.into_iter().zip(b) {
        assert_eq!(ka, kb);
        assert_eq!(f32_bits(ta), f32_bits(tb), "{ka}");
    }
    assert_eq!(logits(&back), logits(&m));
    // The loaded adapters carry the ids a fresh application gives: optimiser state saved
    // against one is found by the other.
    let ids = |m: &Qwen3Vl<Flex>| -> Vec<u64> {
        m.lora_sites()
            .iter()
            .filter_map(|(_, _, l)| l.lora.as_ref())
            .flat_map(|l| [l.lora_a.id.val(), l.lora_b.id.val()])
            .collect()
    };
    assert_eq!(ids(&back), ids(&m));
    assert!(VLLM_LM_HEAD_NOTE.contains("vLLM") && VLLM_LM_HEAD_NOTE.contains("merged"));
}

/// Writes `tensors` (f32) as the adapter weights of `dir`.
fn write_weights(dir: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)]) {
    let bufs: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(k, s, v)| {
            (
                k.clone(),
                s.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bufs
        .iter()
        .map(|(k, s, b)| {
            (
                k.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.join(ADAPTER_WEIGHTS)).unwrap();
}

fn read_weights(dir: &Path) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(dir.join(ADAPTER_WEIGHTS)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out = Vec::new();
    for (k, v) in st.tensors() {
        let vals = v
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        out.push((k, v.shape().to_vec(), vals));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn load_err(dir: &Path) -> String {
    let mut m = load::<Flex>(&f32_dir());
    let e = load_peft_adapter(&mut m, dir).unwrap_err().to_string();
    // A failed load leaves the base as it was.
    assert!(!m.has_lora(), "{e}");
    e
}

#[test]
fn damaged_adapters_are_refused_with_the_file_and_key() {
    let cfg = LoraConfig {
        rank: 4,
        alpha: 8.0,
        dropout: 0.0,
        targets: vec!["q_proj".into(), "v_proj".into()],
    };
    let mut m = load::<Flex>(&f32_dir());
    m.apply_lora(&cfg, 5).unwrap();
    let good = tempfile::tempdir().unwrap();
    export_peft_adapter(&m, &cfg, "base", good.path()).unwrap();
    let tensors = read_weights(good.path());
    assert_eq!(tensors.len(), 3 * 2 * 2);
    let config_text = std::fs::read_to_string(good.path().join(ADAPTER_CONFIG)).unwrap();
    let copy = |weights: &[(String, Vec<usize>, Vec<f32>)], config: &str| {
        let d = tempfile::tempdir().unwrap();
        write_weights(d.path(), weights);
        std::fs::write(d.path().join(ADAPTER_CONFIG), config).unwrap();
        d
    };
    let v_a = "base_model.model.model.language_model.layers.1.self_attn.v_proj.lora_A.weight";

    // A missing key.
    let missing: Vec<_> = tensors.iter().filter(|t| t.0 != v_a).cloned().collect();
    let d = copy(&missing, &config_text);
    let e = load_err(d.path());
    assert!(
        e.contains(ADAPTER_WEIGHTS) && e.contains("missing") && e.contains(v_a),
        "{e}"
    );

    // A wrong shape (not a rank change: the input dimension).
    let bad: Vec<_> = tensors
        .iter()
        .map(|t| {
            if t.0 == v_a {
                (t.0.clone(), vec![4, 63], vec![0.0; 4 * 63])
            } else {
                t.clone()
            }
        })
        .collect();
    let d = copy(&bad, &config_text);
    let e = load_err(d.path());
    assert!(
        e.contains("wrong shape") && e.contains(v_a) && e.contains("[4, 63]"),
        "{e}"
    );

    // r in the configuration differs from the tensors'.
    let d = copy(&tensors, &config_text.replace("\"r\": 4", "\"r\": 8"));
    let e = load_err(d.path());
    assert!(e.contains("r mismatch") && e.contains("r = 8"), "{e}");

    // An unexpected key.
    let mut extra = tensors.clone();
    extra.push((
        "base_model.model.model.visual.blocks.0.attn.qkv.lora_A.weight".into(),
        vec![4, 64],
        vec![0.0; 256],
    ));
    let d = copy(&extra, &config_text);
    let e = load_err(d.path());
    assert!(
        e.contains("unexpected") && e.contains("visual.blocks.0"),
        "{e}"
    );

    // An unknown target module.
    let d = copy(&tensors, &config_text.replace("\"v_proj\"", "\"qkv\""));
    let e = load_err(d.path());
    assert!(
        e.contains(ADAPTER_CONFIG) && e.contains("unknown target module \"qkv\""),
        "{e}"
    );

    // A regular expression for target_modules, and DoRA: refused, not misread.
    let d = copy(
        &tensors,
        &config_text.replace(
            "\"target_modules\": [",
            "\"target_modules\": \".*_proj\", \"x\": [",
        ),
    );
    let e = load_err(d.path());
    assert!(e.contains("only a list"), "{e}");
    let d = copy(
        &tensors,
        &config_text.replace("\"use_dora\": false", "\"use_dora\": true"),
    );
    assert!(load_err(d.path()).contains("use_dora"));

    // No weights file at all.
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join(ADAPTER_CONFIG), &config_text).unwrap();
    assert!(load_err(d.path()).contains(ADAPTER_WEIGHTS));

    // Garbage instead of a safetensors file.
    std::fs::write(d.path().join(ADAPTER_WEIGHTS), b"not a safetensors file").unwrap();
    assert!(load_err(d.path()).contains(ADAPTER_WEIGHTS));

    // A file far larger than the adapter's tensors can take is refused before it is read
    // (sparse, so the test writes nothing).
    let f = std::fs::File::create(d.path().join(ADAPTER_WEIGHTS)).unwrap();
    f.set_len(1 << 30).unwrap();
    let e = load_err(d.path());
    assert!(
        e.contains(ADAPTER_WEIGHTS) && e.contains("more than"),
        "{e}"
    );
}

#[test]
fn lm_head_on_a_tied_model_is_refused() {
    let mut m = load::<Flex>(&tied_dir());
    assert!(m.lm_head.is_none());
    let e = m.apply_lora(&LoraConfig::default(), 0).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ModelError::Input(_)));
    assert!(msg.contains("lm_head") && msg.contains("tied"), "{msg}");
    assert!(!m.has_lora());
    // The same configuration without the head works; so would its PEFT file, and one that
    // targets the head is refused at load naming the config file.
    let cfg = LoraConfig {
        rank: 4,
        ..LoraConfig::default().without_lm_head()
    };
    m.apply_lora(&cfg, 0).unwrap();
    let d = tempfile::tempdir().unwrap();
    export_peft_adapter(&m, &cfg, "tied", d.path()).unwrap();
    let path = d.path().join(ADAPTER_CONFIG);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("\"down_proj\"", "\"down_proj\", \"lm_head\""),
    )
    .unwrap();
    let mut base = load::<Flex>(&tied_dir());
    let e = load_peft_adapter(&mut base, d.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(ADAPTER_CONFIG) && e.contains("lm_head") && e.contains("tied"),
        "{e}"
    );
}

#[test]
fn bf16_base_with_f32_adapter_and_merged_export() {
    // The tied bf16 fixture, sharded: adapters stay f32 beside the bf16 weights; the merged
    // export keeps the base's dtype and shards.
    let mut m = load::<Flex>(&tied_dir());
    assert_eq!(m.dtype(), DType::BF16);
    let cfg = LoraConfig {
        rank: 8,
        ..LoraConfig::default().without_lm_head()
    };
    m.apply_lora(&cfg, 9).unwrap();
    randomise(&mut m, 10, 0.01);
    let (_, t) = &m.lora_state()[0];
    assert_eq!(t.dtype(), DType::F32);
    let adapted = logits(&m);
    let base = logits(&load::<Flex>(&tied_dir()));
    assert!(max_abs_diff(&adapted, &base) > 1e-2);

    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().join("merged");
    covip_model::export::export_merged(&tied_dir(), &m, &out_dir).unwrap();
    for f in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.json",
        "generation_config.json",
        "model.safetensors.index.json",
        "model-00001-of-00006.safetensors",
        "model-00006-of-00006.safetensors",
    ] {
        assert!(out_dir.join(f).is_file(), "{f}");
    }
    assert_eq!(
        std::fs::read(out_dir.join("config.json")).unwrap(),
        std::fs::read(tied_dir().join("config.json")).unwrap()
    );
    let merged = load::<Flex>(&out_dir);
    assert_eq!(merged.dtype(), DType::BF16);
    let mut expect = m.clone();
    expect.merge_lora();
    // Reading the written checkpoint gives exactly the in-memory merge (bf16 round trip).
    assert_eq!(logits(&merged), logits(&expect));
    // Against the unmerged adapter: the merged weights and every activation are rounded to
    // bf16 (8 bits of mantissa, relative step 2^-8 ≈ 0.4%), so the logits may differ by a few
    // bf16 steps of the largest logit: at most 2% of it, and a tenth of the adapters' effect.
    let d = max_abs_diff(&logits(&merged), &adapted);
    let effect = max_abs_diff(&adapted, &base);
    let top = adapted.iter().fold(0f32, |a, x| a.max(x.abs()));
    assert!(
        d <= 0.02 * top && d * 10.0 < effect,
        "merged vs adapted (bf16): {d}, largest logit {top}, adapters' effect {effect}"
    );

    // A base folder that does not match the model (one decoder weight, of another shape):
    // refused, naming the weights, before anything is written.
    let fake = out.path().join("fake-base");
    std::fs::create_dir(&fake).unwrap();
    std::fs::copy(tied_dir().join("config.json"), fake.join("config.json")).unwrap();
    let q0 = "model.language_model.layers.0.self_attn.q_proj.weight";
    let zeros = vec![0u8; 4 * 4];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 2], &zeros).unwrap();
    safetensors::serialize_to_file([(q0, view)], None, &fake.join("model.safetensors")).unwrap();
    let other = out.path().join("other");
    let e = covip_model::export::export_merged(&fake, &m, &other)
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("wrong shape {q0}")), "{e}");
    assert!(
        e.contains("missing     model.language_model.layers.2.mlp.down_proj.weight"),
        "{e}"
    );
    assert!(!other.join("model.safetensors").exists());

    // Nothing is overwritten.
    let e = covip_model::export::export_merged(&tied_dir(), &m, &out_dir).unwrap_err();
    assert!(e.to_string().contains("not empty"), "{e}");
}

#[test]
fn merged_export_of_the_f32_fixture_loads_and_matches() {
    let mut m = load::<Flex>(&f32_dir());
    m.apply_lora(
        &LoraConfig {
            rank: 4,
            ..LoraConfig::default()
        },
        11,
    )
    .unwrap();
    randomise(&mut m, 12, 0.05);
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().join("merged");
    covip_model::export::export_merged(&f32_dir(), &m, &out_dir).unwrap();
    assert!(out_dir.join("preprocessor_config.json").is_file());
    // The vision tower is copied untouched.
    let read = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    let (a, b) = (read(&f32_dir()), read(&out_dir));
    let (sa, sb) = (
        safetensors::SafeTensors::deserialize(&a).unwrap(),
        safetensors::SafeTensors::deserialize(&b).unwrap(),
    );
    assert_eq!(sa.len(), sb.len());
    for (name, v) in sa.tensors() {
        let w = sb.tensor(&name).unwrap();
        assert_eq!((v.dtype(), v.shape()), (w.dtype(), w.shape()), "{name}");
        let changed = v.data() != w.data();
        let adapted = name.ends_with("_proj.weight") && name.contains("language_model")
            || name == "lm_head.weight";
        assert_eq!(changed, adapted, "{name}");
    }
    let merged = load::<Flex>(&out_dir);
    let d = max_abs_diff(&logits(&merged), &logits(&m));
    assert!(d < 1e-4, "{d}");
}

#[test]
fn gradients_reach_only_the_adapters() {
    type A = Autodiff<Flex>;
    let dev = Default::default();
    let mut m = load::<A>(&f32_dir());
    m.apply_lora(&LoraConfig::default(), 7).unwrap();
    randomise(&mut m, 8, 0.05);
    let prompts = vec![PROMPT.to_vec(), vec![3, 4]];
    let conts = vec![vec![7, 8, 9], vec![10, 11]];
    let s = score_continuations(&m, &prompts, &conts, 420, &dev).unwrap();
    let grads = s.logprobs.sum().neg().backward();
    let lm = &m.language_model;
    assert!(
        lm.embed_tokens.grad(&grads).is_none(),
        "embedding is frozen"
    );
    assert!(
        lm.norm.weight.grad(&grads).is_none(),
        "final norm is frozen"
    );
    let head = m.lm_head.as_ref().unwrap();
    assert!(head.weight.grad(&grads).is_none(), "head weight is frozen");
    for (path, _, lin) in m.lora_sites() {
        assert!(
            lin.weight.grad(&grads).is_none(),
            "{path}: base weight is frozen"
        );
        let l = lin.lora.as_ref().unwrap();
        for (name, p) in [("A", &l.lora_a), ("B", &l.lora_b)] {
            let g = p
                .grad(&grads)
                .unwrap_or_else(|| panic!("{path}: no gradient for {name}"));
            let g: Vec<f32> = g.into_data().to_vec().unwrap();
            assert!(
                g.iter().all(|x| x.is_finite()) && g.iter().any(|x| x.abs() > 0.0),
                "{path}: {name} gradient is zero or not finite"
            );
        }
    }
    for l in &lm.layers {
        assert!(l.input_layernorm.weight.grad(&grads).is_none());
        assert!(l.self_attn.q_norm.weight.grad(&grads).is_none());
    }
}

#[test]
fn gradients_cross_the_bf16_boundary() {
    // A bf16 base (the GPU setting): the f32 adapters still get finite, non-zero gradients
    // through the casts, and the base none.
    type A = Autodiff<Flex>;
    let dev = Default::default();
    let mut m = load::<A>(&tied_dir());
    assert_eq!(m.dtype(), DType::BF16);
    let cfg = LoraConfig {
        rank: 4,
        dropout: 0.0,
        ..LoraConfig::default().without_lm_head()
    };
    m.apply_lora(&cfg, 1).unwrap();
    randomise(&mut m, 2, 0.05);
    let s = score_continuations(&m, &[PROMPT.to_vec()], &[vec![7, 8, 9]], 420, &dev).unwrap();
    let grads = s.logprobs.sum().neg().backward();
    assert!(m.language_model.embed_tokens.grad(&grads).is_none());
    for (path, _, lin) in m.lora_sites() {
        assert!(lin.weight.grad(&grads).is_none(), "{path}");
        let l = lin.lora.as_ref().unwrap();
        for p in [&l.lora_a, &l.lora_b] {
            let g = p
                .grad(&grads)
                .unwrap_or_else(|| panic!("{path}: no gradient"));
            assert_eq!(g.dtype(), DType::F32, "{path}");
            let g: Vec<f32> = g.into_data().to_vec().unwrap();
            assert!(
                g.iter().all(|x| x.is_finite()) && g.iter().any(|x| *x != 0.0),
                "{path}"
            );
        }
    }
}

#[test]
fn same_seed_same_adapters_and_param_ids() {
    let base = load::<Flex>(&f32_dir());
    let cfg = LoraConfig {
        rank: 4,
        ..LoraConfig::default()
    };
    let (mut a, mut b, mut c) = (base.clone(), base.clone(), base);
    a.apply_lora(&cfg, 42).unwrap();
    b.apply_lora(&cfg, 42).unwrap();
    c.apply_lora(&cfg, 43).unwrap();
    let ids = |m: &Qwen3Vl<Flex>| -> Vec<(u64, u64)> {
        m.lora_sites()
            .iter()
            .map(|(_, _, l)| {
                let l = l.lora.as_ref().unwrap();
                (l.lora_a.id.val(), l.lora_b.id.val())
            })
            .collect()
    };
    assert_eq!(ids(&a), ids(&b));
    // Ids depend on the module path only, so a resumed run with any seed finds its state.
    assert_eq!(ids(&a), ids(&c));
    let all: std::collections::HashSet<u64> = ids(&a).iter().flat_map(|(x, y)| [*x, *y]).collect();
    assert_eq!(all.len(), 2 * ids(&a).len(), "ids are distinct");
    let (sa, sb, sc) = (a.lora_state(), b.lora_state(), c.lora_state());
    let mut differs = false;
    for (((k, ta), (_, tb)), (_, tc)) in sa.into_iter().zip(sb).zip(sc) {
        let (ba, bc) = (f32_bits(ta), f32_bits(tc));
        assert_eq!(ba, f32_bits(tb), "{k}");
        if k.ends_with("lora_A.weight") {
            differs |= ba != bc;
            // Two modules of the same shape get different draws.
        }
    }
    assert!(differs, "another seed gives other A matrices");
    let st = a.lora_state();
    let q0 = f32_bits(st[0].1.clone());
    let q1 = f32_bits(st[14].1.clone());
    assert!(st[0].0.contains("layers.0.self_attn.q_proj.lora_A"));
    assert!(st[14].0.contains("layers.1.self_attn.q_proj.lora_A"));
    assert_ne!(q0, q1);
}

/// PEFT's `save_pretrained` also stores the head's base weight when `lm_head` is a target
/// (`base_model.model.lm_head.base_layer.weight`); loading puts it in the base head, as PEFT
/// does, and a wrong shape there is refused by name.
#[test]
fn peft_head_base_weight_is_loaded_into_the_head() {
    let cfg = LoraConfig {
        rank: 2,
        alpha: 4.0,
        dropout: 0.0,
        targets: vec!["q_proj".into(), "lm_head".into()],
    };
    let mut m = load::<Flex>(&f32_dir());
    m.apply_lora(&cfg, 3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    export_peft_adapter(&m, &cfg, "base", dir.path()).unwrap();
    let mut tensors = read_weights(dir.path());
    let head = m.lm_head.as_ref().unwrap().weight.val();
    let [vocab, hidden] = head.dims();
    let mut changed: Vec<f32> = head.into_data().to_vec().unwrap();
    for (i, v) in changed.iter_mut().enumerate() {
        *v += 0.01 * ((i % 7) as f32 - 3.0);
    }
    tensors.push((
        PEFT_HEAD_BASE_KEY.to_string(),
        vec![vocab, hidden],
        changed.clone(),
    ));
    write_weights(dir.path(), &tensors);
    let mut loaded = load::<Flex>(&f32_dir());
    load_peft_adapter(&mut loaded, dir.path()).unwrap();
    let got: Vec<f32> = loaded
        .lm_head
        .as_ref()
        .unwrap()
        .weight
        .val()
        .into_data()
        .to_vec()
        .unwrap();
    assert_eq!(got, changed);
    // The adapters came along too.
    assert_eq!(loaded.lora_state().len(), 3 * 2 + 2);

    // A head of the wrong shape.
    let last = tensors.len() - 1;
    tensors[last] = (
        PEFT_HEAD_BASE_KEY.to_string(),
        vec![vocab - 1, hidden],
        vec![0.0; (vocab - 1) * hidden],
    );
    write_weights(dir.path(), &tensors);
    let e = load_err(dir.path());
    assert!(
        e.contains(PEFT_HEAD_BASE_KEY) && e.contains("wrong shape"),
        "{e}"
    );
}
