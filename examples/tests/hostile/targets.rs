//! The parsers a user's file reaches, each with valid seed inputs taken from the repository's
//! own data and fixtures, called through the libraries as the `covip` tool calls them.
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use covip_data::error::Loaded;
use covip_data::formats;
use covip_data::prompt::{Message, Part, Role};
use covip_data::{DataError, ImageRef, Letter};
use covip_model::config::Qwen3VlConfig;
use covip_model::device::Cpu;
use covip_model::loader::{Checkpoint, WeightDtype};
use covip_model::processor::ChatTemplate;
use covip_model::processor::image::{ImageProcessor, ImageProcessorConfig, RgbImage};
use covip_model::vision::config::VisionConfig;
use covip_model::{GenerationConfig, Processor, RenderOptions};
use covip_rl::DegenerationFilter;
use covip_rl::records::{RewardRecord, RewardSettings};
use covip_rl::rewards::recognition::{RecognitionParse, recognition_reward_with};
use serde_json::Value;

use super::harness::{Input, Outcome, Target};
use super::mutate::{Format, Seed};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> Vec<u8> {
    let p = repo().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("seed {}: {e}", p.display()))
}

fn read_text(rel: &str) -> String {
    String::from_utf8(read(rel)).expect("seed files are UTF-8")
}

fn tiny() -> PathBuf {
    repo().join("covip-model/tests/fixtures/tiny-qwen3-vl")
}

fn sharded() -> PathBuf {
    repo().join("covip-model/tests/fixtures/tiny-qwen3-vl-bf16-tied")
}

/// An error's message, or the empty string (flagged by the harness) when it says nothing:
/// blank, or ending in a bare `:` with nothing after it.
fn msg(e: impl Display) -> String {
    let s = e.to_string();
    if s.trim().is_empty() || s.trim_end().ends_with(':') {
        String::new()
    } else {
        s
    }
}

/// A reader's records and problems as one outcome: any problem is an error, and a problem
/// without a message makes the whole message empty.
fn loaded<T>(r: Result<Loaded<T>, DataError>) -> Outcome {
    let l = r.map_err(msg)?;
    if l.problems.iter().any(|p| p.message.trim().is_empty()) {
        return Err(String::new());
    }
    if l.problems.is_empty() {
        Ok(())
    } else {
        Err(l
            .problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

/// Non-blank lines of a file, in windows of `width` (seeds small enough to parse fast).
fn line_windows(text: &str, width: usize, max: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines
        .chunks(width)
        .take(max)
        .map(|c| c.join("\n") + "\n")
        .collect()
}

fn json_array_of(lines: &str) -> String {
    let items: Vec<&str> = lines.lines().filter(|l| !l.trim().is_empty()).collect();
    format!("[\n{}\n]\n", items.join(",\n"))
}

/// Keeps the first `n` entries of a JSON object (pretty-printed).
fn first_entries(json: &str, n: usize) -> String {
    let v: Value = serde_json::from_str(json).expect("seed JSON");
    let Value::Object(o) = v else {
        panic!("seed is not an object")
    };
    let kept: serde_json::Map<String, Value> = o.into_iter().take(n).collect();
    serde_json::to_string_pretty(&Value::Object(kept)).expect("serialises")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("harness: {e}"))?;
    let p = dir.join(name);
    std::fs::write(&p, bytes).map_err(|e| format!("harness: {e}"))?;
    Ok(p)
}

fn train_seeds(json: bool) -> Vec<Seed> {
    let text = read_text("data/sample/train.jsonl");
    let mut out: Vec<Seed> = line_windows(&text, 2, 8)
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            if json {
                Seed::new(format!("train[{i}].json"), json_array_of(&w), Format::Json)
            } else {
                Seed::new(format!("train[{i}].jsonl"), w, Format::Jsonl)
            }
        })
        .collect();
    if json {
        out.push(Seed::new("train.json", json_array_of(&text), Format::Json));
    } else {
        out.push(Seed::new("train.jsonl", text, Format::Jsonl));
    }
    out
}

fn train_target(name: &'static str, json: bool) -> Target {
    Target {
        name,
        seeds: train_seeds(json),
        run: Box::new(move |input: &Input| {
            let file = if json { "train.json" } else { "train.jsonl" };
            let path = write(input.scratch, file, input.bytes)?;
            formats::detect_file(&path).map_err(msg)?;
            loaded(formats::read_train(&path))?;
            loaded(formats::read_train_samples(&path))
        }),
    }
}

/// The test set: metadata JSONL and ground-truth JSON read and joined; `mutate_meta` says
/// which of the two is the mutated input (the other is its valid partner).
fn test_set_target(name: &'static str, mutate_meta: bool) -> Target {
    let meta = read_text("data/sample/test/meta.jsonl");
    let gt = read_text("data/sample/test/qas_gt.json");
    let meta3 = line_windows(&meta, 3, 1).remove(0);
    let gt3 = first_entries(&gt, 3);
    let seeds = if mutate_meta {
        let mut s = vec![Seed::new("meta[0..3]", meta3.clone(), Format::Jsonl); 3];
        s.extend(
            line_windows(&meta, 3, 4)
                .into_iter()
                .enumerate()
                .map(|(i, w)| Seed::new(format!("meta[window {i}]"), w, Format::Jsonl)),
        );
        s.push(Seed::new("meta.jsonl", meta, Format::Jsonl));
        s
    } else {
        vec![
            Seed::new("gt[0..3]", gt3.clone(), Format::Json),
            Seed::new("gt[0..3]", gt3.clone(), Format::Json),
            Seed::new("qas_gt.json", gt, Format::Json),
        ]
    };
    Target {
        name,
        seeds,
        run: Box::new(move |input: &Input| {
            let (m, g) = if mutate_meta {
                (input.bytes, gt3.as_bytes())
            } else {
                (meta3.as_bytes(), input.bytes)
            };
            let mp = write(input.scratch, "meta.jsonl", m)?;
            let gp = write(input.scratch, "qas_gt.json", g)?;
            formats::detect_file(if mutate_meta { &mp } else { &gp }).map_err(msg)?;
            loaded(formats::read_test_set(&mp, &gp))
        }),
    }
}

fn downstream_seeds(json: bool) -> Vec<Seed> {
    let mut out = Vec::new();
    for kind in ["lsd", "lar", "itr"] {
        let text = read_text(&format!("data/sample/diagnostics/{kind}.jsonl"));
        for (i, w) in line_windows(&text, 2, 3).into_iter().enumerate() {
            out.push(if json {
                Seed::new(format!("{kind}[{i}].json"), json_array_of(&w), Format::Json)
            } else {
                Seed::new(format!("{kind}[{i}].jsonl"), w, Format::Jsonl)
            });
        }
    }
    out
}

fn downstream_target(name: &'static str, json: bool) -> Target {
    Target {
        name,
        seeds: downstream_seeds(json),
        run: Box::new(move |input: &Input| {
            // The kind comes from the file name (lsd/lar/itr), as the reader expects.
            let kind = input.seed_name.get(..3).unwrap_or("lsd");
            let file = format!("{kind}.{}", if json { "json" } else { "jsonl" });
            let path = write(input.scratch, &file, input.bytes)?;
            formats::detect_file(&path).map_err(msg)?;
            loaded(formats::read_downstream_json(&path))
        }),
    }
}

fn parquet_target() -> Target {
    Target {
        name: "downstream-parquet",
        seeds: vec![
            Seed::new(
                "lsd_embedded.parquet",
                read("data/sample/diagnostics/lsd_embedded.parquet"),
                Format::Parquet,
            ),
            Seed::new(
                "hf_lar.parquet",
                read("covip-data/tests/fixtures/hf_lar.parquet"),
                Format::Parquet,
            ),
        ],
        run: Box::new(|input: &Input| {
            let kind = if input.seed_name.starts_with("hf_lar") {
                "lar"
            } else {
                "lsd"
            };
            let path = write(input.scratch, &format!("{kind}.parquet"), input.bytes)?;
            loaded(formats::read_downstream_parquet(&path))
        }),
    }
}

fn image_seeds(ext: &str) -> Vec<Seed> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = [
        "data/sample/images/concepts",
        "data/sample/images/people",
        "data/sample/images/queries",
    ]
    .iter()
    .map(|d| repo().join(d))
    .collect();
    dirs.push(repo().join("covip-model/tests/fixtures/vision/images"));
    for d in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .filter(|p| !p.ends_with("not_an_image.png"))
            .collect();
        files.sort();
        for p in files {
            let bytes = std::fs::read(&p).expect("image seed");
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let format = if ext == "png" {
                Format::Png
            } else {
                Format::Jpeg
            };
            out.push(Seed::new(name, bytes, format));
        }
    }
    assert!(!out.is_empty(), "no .{ext} seeds");
    out
}

/// The pixel cap of the image targets (1 MiP): small, so a hostile header is refused
/// before anything large is allocated.
pub const MAX_PIXELS: u64 = 1 << 20;

fn decode(bytes: &[u8]) -> Outcome {
    let limits = covip_data::image::DecodeLimits {
        max_pixels: MAX_PIXELS,
    };
    let img = covip_data::image::decode_rgb(bytes, "input", &limits).map_err(msg)?;
    // Over the cap is the decoder's bug, not the input's: fail loudly (recorded as a panic).
    assert!(
        img.width() as u64 * img.height() as u64 <= MAX_PIXELS,
        "decode_rgb returned {}x{}, over the {MAX_PIXELS}-pixel cap",
        img.width(),
        img.height()
    );
    Ok(())
}

fn image_target(name: &'static str, ext: &str) -> Target {
    Target {
        name,
        seeds: image_seeds(ext),
        run: Box::new(|input: &Input| decode(input.bytes)),
    }
}

fn config_target() -> Target {
    Target {
        name: "config-json",
        seeds: vec![
            Seed::new(
                "tiny config.json",
                read("covip-model/tests/fixtures/tiny-qwen3-vl/config.json"),
                Format::Json,
            ),
            Seed::new(
                "tied config.json",
                read("covip-model/tests/fixtures/tiny-qwen3-vl-bf16-tied/config.json"),
                Format::Json,
            ),
        ],
        run: Box::new(|input: &Input| {
            let text = std::str::from_utf8(input.bytes).map_err(|e| format!("not UTF-8: {e}"))?;
            let cfg = Qwen3VlConfig::from_json_str(text, "config.json").map_err(msg)?;
            // What loading does next with a parsed config: the derived sizes and the table of
            // tensor names it checks the checkpoint against.
            let _ = cfg.text.kv_groups();
            let _ = cfg.text.mrope_axis_of_slots();
            let _ = covip_model::model::expected_tensors(&cfg.text);
            if let Some(v) = &cfg.vision_config {
                let vc = VisionConfig::from_value(v, "config.json").map_err(msg)?;
                let _ = (vc.head_dim(), vc.grid_side(), vc.patch_dim());
            }
            Ok(())
        }),
    }
}

fn side_config_target() -> Target {
    let image = RgbImage::new(
        40,
        24,
        (0..40 * 24 * 3).map(|i| (i * 7 % 256) as u8).collect(),
    )
    .expect("a valid image");
    Target {
        name: "preprocessor-gen-cfg",
        seeds: vec![
            Seed::new(
                "preprocessor_config.json",
                read("covip-model/tests/fixtures/tiny-qwen3-vl/preprocessor_config.json"),
                Format::Json,
            ),
            Seed::new(
                "preprocessor_config.json (released)",
                read("covip-model/tests/fixtures/vision/preprocessor_released.json"),
                Format::Json,
            ),
            Seed::new(
                "generation_config.json",
                read("covip-model/tests/fixtures/tiny-qwen3-vl/generation_config.json"),
                Format::Json,
            ),
        ],
        run: Box::new(move |input: &Input| {
            if input.seed_name.starts_with("generation") {
                write(input.scratch, "generation_config.json", input.bytes)?;
                GenerationConfig::from_dir(input.scratch).map_err(msg)?;
                return Ok(());
            }
            let text = std::str::from_utf8(input.bytes).map_err(|e| format!("not UTF-8: {e}"))?;
            let cfg =
                ImageProcessorConfig::from_json(text, "preprocessor_config.json").map_err(msg)?;
            // A parsed configuration then sizes every image: run one small image through it.
            let p = ImageProcessor::new(cfg);
            p.process(std::slice::from_ref(&image)).map_err(msg)?;
            Ok(())
        }),
    }
}

/// A PEFT adapter folder (`covip train --init-adapter`, `covip logits --adapter`): the config
/// and the weights of the one PEFT's `save_pretrained` wrote for the step-parity fixture, each
/// mutated in turn beside the other intact, loaded over the tiny checkpoint.
fn peft_adapter_target() -> Target {
    let dir = "covip-rl/tests/fixtures/gspo_step/adapter";
    let config = read(&format!("{dir}/adapter_config.json"));
    let weights = read(&format!("{dir}/adapter_model.safetensors"));
    let (base, _, _) =
        covip_model::Qwen3Vl::<Cpu>::load(&tiny(), WeightDtype::AsStored, &Default::default())
            .expect("the tiny checkpoint");
    let base = Arc::new(base);
    let (config_seed, weights_seed) = (config.clone(), weights.clone());
    Target {
        name: "peft-adapter",
        seeds: vec![
            Seed::new("adapter_config.json", config_seed, Format::Json),
            Seed::new(
                "adapter_model.safetensors",
                weights_seed,
                Format::Safetensors,
            ),
        ],
        run: Box::new(move |input: &Input| {
            let dir = input.scratch.join("adapter");
            let (c, w): (&[u8], &[u8]) = if input.seed_name == "adapter_config.json" {
                (input.bytes, &weights)
            } else {
                (&config, input.bytes)
            };
            write(&dir, covip_model::lora::ADAPTER_CONFIG, c)?;
            write(&dir, covip_model::lora::ADAPTER_WEIGHTS, w)?;
            let mut model = (*base).clone();
            covip_model::lora::load_peft_adapter(&mut model, &dir).map_err(msg)?;
            Ok(())
        }),
    }
}

/// Reads every tensor of an opened checkpoint (the rank picks the tensor type).
fn read_all(ckpt: &Checkpoint) -> Outcome {
    let device = Default::default();
    let names: Vec<String> = ckpt.names().map(str::to_string).collect();
    for n in names {
        let rank = ckpt.shape(&n).map_or(0, <[usize]>::len);
        let dt = WeightDtype::AsStored;
        match rank {
            1 => drop(ckpt.tensor::<Cpu, 1>(&n, dt, &device).map_err(msg)?),
            2 => drop(ckpt.tensor::<Cpu, 2>(&n, dt, &device).map_err(msg)?),
            3 => drop(ckpt.tensor::<Cpu, 3>(&n, dt, &device).map_err(msg)?),
            4 => drop(ckpt.tensor::<Cpu, 4>(&n, dt, &device).map_err(msg)?),
            5 => drop(ckpt.tensor::<Cpu, 5>(&n, dt, &device).map_err(msg)?),
            _ => drop(ckpt.tensor::<Cpu, 6>(&n, dt, &device).map_err(msg)?),
        }
    }
    Ok(())
}

fn safetensors_target() -> Target {
    let mut seeds = vec![Seed::new(
        "tower.safetensors",
        read("covip-model/tests/fixtures/vision/tower.safetensors"),
        Format::Safetensors,
    )];
    for i in [1, 2] {
        let name = format!("model-0000{i}-of-00006.safetensors");
        seeds.push(Seed::new(
            name.clone(),
            std::fs::read(sharded().join(&name)).expect("shard"),
            Format::Safetensors,
        ));
    }
    Target {
        name: "safetensors",
        seeds,
        run: Box::new(|input: &Input| {
            let dir = input.scratch.join("single");
            write(&dir, "model.safetensors", input.bytes)?;
            let ckpt = Checkpoint::open(&dir).map_err(msg)?;
            read_all(&ckpt)
        }),
    }
}

fn shard_index_target() -> Target {
    let cfg = Qwen3VlConfig::from_file(&sharded().join("config.json")).expect("fixture config");
    Target {
        name: "shard-index",
        seeds: vec![Seed::new(
            "model.safetensors.index.json",
            std::fs::read(sharded().join("model.safetensors.index.json")).expect("index"),
            Format::Json,
        )],
        run: Box::new(move |input: &Input| {
            let dir = input.scratch.join("sharded");
            if !dir.join("model-00006-of-00006.safetensors").exists() {
                std::fs::create_dir_all(&dir).map_err(|e| format!("harness: {e}"))?;
                for i in 1..=6 {
                    let n = format!("model-0000{i}-of-00006.safetensors");
                    std::fs::copy(sharded().join(&n), dir.join(&n))
                        .map_err(|e| format!("harness: {e}"))?;
                }
            }
            write(&dir, "model.safetensors.index.json", input.bytes)?;
            let ckpt = Checkpoint::open(&dir).map_err(msg)?;
            let expected = covip_model::model::expected_tensors(&cfg.text);
            ckpt.check(&expected, &["model.visual.", "lm_head."])
                .map_err(msg)?;
            Ok(())
        }),
    }
}

fn qa(id: &str, q: &str, abc: [&str; 3], correct: &str) -> Value {
    serde_json::json!({"id": id, "question": q, "options": {"A": abc[0], "B": abc[1], "C": abc[2], "D": "cannot tell"}, "correct_answer": correct})
}

fn reward_seeds() -> Vec<Seed> {
    let caption = |completion: &str, answers: bool| {
        let mut v = serde_json::json!({
            "id": "cap",
            "task": "caption",
            "completion": completion,
            "pos_qas": [[qa("p1", "Who is there?", ["Mina", "Jun", "Ara"], "A"), qa("p2", "Where?", ["park", "beach", "home"], "B")], [qa("p3", "When?", ["May", "June", "July"], "C")]],
            "neg_qas": [qa("n1", "Who else?", ["Tomas", "Priya", "Luna"], "B"), qa("n2", "Which pet?", ["cat", "dog", "fish"], "A")],
        });
        if answers {
            v["judge_pos"] =
                serde_json::json!(["\\boxed{A}", "Answer: \\boxed{B}", "\\boxed{B or D}"]);
            v["judge_neg"] = serde_json::json!(["\\boxed{D}", "\\boxed{C}"]);
        }
        v.to_string()
    };
    vec![
        Seed::new("caption+answers", caption("Mina sits on a bench in the park in June.", true), Format::Jsonl),
        Seed::new("caption-degenerate", caption(&"Mina smiles. ".repeat(8), false), Format::Jsonl),
        Seed::new(
            "multi_vision",
            serde_json::json!({"id": "mv", "task": "multi_vision", "completion": "<think>two</think> Answer: \\boxed{[0, 1]}", "answer": [1, 2]}).to_string(),
            Format::Jsonl,
        ),
        Seed::new(
            "multi_vision-int",
            serde_json::json!({"id": 7, "task": "multi_vision", "completion": "\\boxed{[1e0, 0x2, True]}", "answer": 1}).to_string(),
            Format::Jsonl,
        ),
        Seed::new(
            "vision",
            serde_json::json!({"id": "v", "task": "vision", "completion": "No, it is not.", "answer": "no"}).to_string(),
            Format::Jsonl,
        ),
    ]
}

/// One `covip reward` input line through covip-rl's reward record, as the tool reads it.
fn reward_line(settings: &RewardSettings, line: &str) -> Outcome {
    let record = RewardRecord::from_json(line).map_err(msg)?;
    let reward = record.reward(settings).map_err(msg)?;
    serde_json::to_string(&reward.line(record.id())).map_err(msg)?;
    Ok(())
}

/// Every non-blank line of a JSONL input through `each`, as the tool's line loop does.
fn jsonl_lines(bytes: &[u8], mut each: impl FnMut(&str) -> Outcome) -> Outcome {
    let mut errors = Vec::new();
    for (no, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let r = match std::str::from_utf8(line) {
            Ok(s) if s.trim().is_empty() => continue,
            Ok(s) => each(s.trim_end_matches('\r')),
            Err(e) => Err(format!("not UTF-8: {e}")),
        };
        if let Err(m) = r {
            if m.trim().is_empty() {
                return Err(String::new());
            }
            errors.push(format!("line {}: {m}", no + 1));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

fn tokenized_filter() -> Arc<DegenerationFilter> {
    Arc::new(
        DegenerationFilter::default()
            .with_tokenizer_file(&tiny().join("tokenizer.json"))
            .expect("fixture tokenizer"),
    )
}

fn reward_target() -> Target {
    let settings = RewardSettings {
        filter: (*tokenized_filter()).clone(),
        ..Default::default()
    };
    Target {
        name: "reward-jsonl",
        seeds: reward_seeds(),
        run: Box::new(move |input: &Input| jsonl_lines(input.bytes, |l| reward_line(&settings, l))),
    }
}

fn degeneration_target() -> Target {
    let filter = tokenized_filter();
    let dialogues = read_text("data/sample/diagnostics/lar.jsonl");
    let mut seeds: Vec<Seed> = dialogues
        .lines()
        .take(4)
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["dialogues_context"][0].as_str().map(str::to_string))
        .enumerate()
        .map(|(i, t)| {
            Seed::new(
                format!("dialogue {i}"),
                serde_json::json!({"id": i, "text": t}).to_string(),
                Format::Jsonl,
            )
        })
        .collect();
    seeds.push(Seed::new(
        "looping",
        serde_json::json!({"id": "loop", "text": "The dog sleeps. ".repeat(12)}).to_string(),
        Format::Jsonl,
    ));
    seeds.push(Seed::new(
        "short",
        r#"{"id": {"k": [1]}, "text": "A calm lake."}"#,
        Format::Jsonl,
    ));
    Target {
        name: "degeneration-jsonl",
        seeds,
        run: Box::new(move |input: &Input| {
            jsonl_lines(input.bytes, |line| {
                let v: Value =
                    serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
                let obj = v.as_object().ok_or("expected a JSON object")?;
                obj.get("id").ok_or("missing field `id`")?;
                let text = match obj.get("text") {
                    Some(Value::String(s)) => s,
                    Some(other) => {
                        return Err(format!("field `text` must be a string, got {other}"));
                    }
                    None => return Err("missing field `text`".into()),
                };
                filter.report(text).map_err(msg)?;
                Ok(())
            })
        }),
    }
}

fn rvis_target() -> Target {
    let texts = [
        "Answer: \\boxed{[1, 3]}",
        "<think>The first and third.</think>\n\\boxed{[1, 3]}",
        "\\boxed{[1.0, 3]}",
        "\\boxed{(1, 0x3)}",
        "\\boxed{{1, 3}}  # final",
        "\\boxed{[True, 3]}",
        "\\boxed{[1e0, 0o3, 0b1]}",
        "I think \\boxed{[2]} or \\boxed{[1, 3]}",
        "\\boxed{['1', 3]}",
        "\\boxed{[1_0, -3, +1j]}",
        "Yes, \\boxed{A}",
    ];
    Target {
        name: "r_vis-completions",
        seeds: texts
            .iter()
            .enumerate()
            .map(|(i, t)| Seed::new(format!("completion {i}"), *t, Format::Text))
            .collect(),
        run: Box::new(|input: &Input| {
            let text = String::from_utf8_lossy(input.bytes);
            for parse in [RecognitionParse::Released, RecognitionParse::StrictIntegers] {
                let _ = recognition_reward_with(&text, &[1, 3], parse);
                let _ = recognition_reward_with(&text, &[], parse);
            }
            let _ = covip_rl::consistency_reward(&text, "yes");
            let _ = covip_rl::rewards::answer_contains(&text, Letter::A);
            let _ = covip_rl::rewards::boxed_content(&text);
            Ok(())
        }),
    }
}

fn caption_target(name: &'static str, mutate_refs: bool) -> Target {
    let refs = first_entries(&read_text("covip-eval/tests/fixtures/coco_refs.json"), 4);
    let cands = first_entries(&read_text("covip-eval/tests/fixtures/coco_cands.json"), 4);
    let seeds = if mutate_refs {
        vec![Seed::new("refs[0..4]", refs.clone(), Format::Json)]
    } else {
        vec![
            Seed::new("cands[0..4]", cands.clone(), Format::Json),
            Seed::new(
                "cands as lists",
                serde_json::to_string(
                    &serde_json::from_str::<serde_json::Map<String, Value>>(&cands)
                        .expect("cands")
                        .into_iter()
                        .map(|(k, v)| (k, Value::Array(vec![v])))
                        .collect::<serde_json::Map<_, _>>(),
                )
                .expect("serialises"),
                Format::Json,
            ),
        ]
    };
    Target {
        name,
        seeds,
        run: Box::new(move |input: &Input| {
            let (r, c) = if mutate_refs {
                (input.bytes, cands.as_bytes())
            } else {
                (refs.as_bytes(), input.bytes)
            };
            let rp = write(input.scratch, "refs.json", r)?;
            let cp = write(input.scratch, "cands.json", c)?;
            let corpus =
                covip_eval::metrics::caption::CaptionCorpus::load(&rp, &cp).map_err(msg)?;
            // The captions' next stop: the PTB tokenizer.
            let _ = corpus.tokenized();
            Ok(())
        }),
    }
}

/// The conversation the chat-template target renders (text, an image, a reply).
fn conversation(text: &str) -> Vec<Message> {
    let mut user = Message::new(Role::User);
    user.push_image(ImageRef::path("a.png"));
    user.push_text(text);
    vec![
        Message::text(Role::System, "You are a helpful assistant."),
        user,
        Message::text(Role::Assistant, "It is Mina."),
    ]
}

fn chat_template_target() -> Target {
    Target {
        name: "chat-template",
        seeds: vec![
            Seed::new(
                "chat_template.json",
                read("covip-model/tests/fixtures/tiny-qwen3-vl/chat_template.json"),
                Format::Json,
            ),
            Seed::new(
                "tokenizer_config.json",
                read("covip-model/tests/fixtures/tiny-qwen3-vl/tokenizer_config.json"),
                Format::Json,
            ),
        ],
        run: Box::new(|input: &Input| {
            let dir = input.scratch.join("template");
            let _ = std::fs::remove_dir_all(&dir);
            let file = if input.seed_name.starts_with("tokenizer") {
                "tokenizer_config.json"
            } else {
                "chat_template.json"
            };
            write(&dir, file, input.bytes)?;
            let Some(t) = ChatTemplate::from_dir(&dir).map_err(msg)? else {
                return Err("no chat template".into());
            };
            t.render(
                &conversation("Who is in the picture?"),
                RenderOptions::default(),
            )
            .map_err(msg)?;
            Ok(())
        }),
    }
}

fn chat_input_target() -> Target {
    let cfg = Qwen3VlConfig::from_file(&tiny().join("config.json")).expect("fixture config");
    let processor = Arc::new(Processor::from_dir(&tiny(), &cfg).expect("fixture processor"));
    let lar = read_text("data/sample/diagnostics/lar.jsonl");
    let mut seeds: Vec<Seed> = lar
        .lines()
        .take(3)
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["dialogues_context"][0].as_str().map(str::to_string))
        .enumerate()
        .map(|(i, t)| Seed::new(format!("dialogue {i}"), t, Format::Text))
        .collect();
    seeds.push(Seed::new(
        "question",
        "Who is in the picture? Answer with the name.\n\nUser: Mina.",
        Format::Text,
    ));
    Target {
        name: "chat-input",
        seeds,
        run: Box::new(move |input: &Input| {
            let text = String::from_utf8_lossy(input.bytes);
            // Paragraphs become alternating turns (at most 64, as in a long real dialogue; the
            // rest stays in the last turn); the first user turn carries the image.
            let mut messages: Vec<Message> = Vec::new();
            for (i, para) in text.splitn(64, "\n\n").enumerate() {
                let mut m = Message::new(if i % 2 == 0 {
                    Role::User
                } else {
                    Role::Assistant
                });
                if i == 0 {
                    m.parts.push(Part::Image(ImageRef::path("q.png")));
                }
                m.push_text(para);
                messages.push(m);
            }
            let opts = RenderOptions {
                add_generation_prompt: true,
                add_vision_id: input.bytes.len().is_multiple_of(2),
            };
            processor.encode_chat(&messages, &[4], opts).map_err(msg)?;
            Ok(())
        }),
    }
}

fn tokenizer_json_target() -> Target {
    Target {
        name: "tokenizer-json",
        seeds: vec![Seed::new(
            "tokenizer.json",
            read("covip-model/tests/fixtures/tiny-qwen3-vl/tokenizer.json"),
            Format::Json,
        )],
        run: Box::new(|input: &Input| {
            let p = write(input.scratch, "tokenizer.json", input.bytes)?;
            let t = covip_model::processor::QwenTokenizer::from_file(&p).map_err(msg)?;
            t.encode("<|im_start|>user\nWho is Mina?<|im_end|>")
                .map_err(msg)?;
            Ok(())
        }),
    }
}

/// CapEval's caption files (`{id: caption}` or `{id: {"caption": ...}}`).
fn capeval_captions_target() -> Target {
    Target {
        name: "capeval-captions",
        seeds: vec![
            Seed::new(
                "personalised.json",
                read("data/sample/captions/personalised.json"),
                Format::Json,
            ),
            Seed::new(
                "nested.json",
                br#"{"s1": {"caption": "Mina at the lake"}, "s2": {"caption": ""}}"#.to_vec(),
                Format::Json,
            ),
        ],
        run: Box::new(|input: &Input| {
            let p = write(input.scratch, "captions.json", input.bytes)?;
            covip_eval::capeval::read_captions(&p).map_err(msg)?;
            Ok(())
        }),
    }
}

/// A human-alignment sheet's exported choices.
fn pairwise_choices_target() -> Target {
    let seed = format!(
        r#"{{"format": "{}", "sheet_id": "0123456789abcdef", "rater": "r1",
"exported_at": "2026-12-07T00:00:00Z", "choices": [
{{"pair": 1, "context": "A", "description": "Tie"}},
{{"pair": 2, "context": null, "description": "B"}}]}}"#,
        covip_eval::pairwise::CHOICES_FORMAT
    );
    Target {
        name: "pairwise-choices",
        seeds: vec![Seed::new("choices.json", seed.into_bytes(), Format::Json)],
        run: Box::new(|input: &Input| {
            let p = write(input.scratch, "choices.json", input.bytes)?;
            covip_eval::pairwise::read_choices(&p).map_err(msg)?;
            Ok(())
        }),
    }
}

/// `covip diagnose --responses`: a JSON list of strings or of `{"response": ...}`.
fn diagnose_responses_target() -> Target {
    Target {
        name: "diagnose-responses",
        seeds: vec![
            Seed::new(
                "strings.json",
                br#"["At the lake. //boxed{lake}", "SKS was there", ""]"#.to_vec(),
                Format::Json,
            ),
            Seed::new(
                "objects.json",
                br#"[{"response": "cooking dinner"}, {"response": "//boxed{park}"}]"#.to_vec(),
                Format::Json,
            ),
        ],
        run: Box::new(|input: &Input| {
            let p = write(input.scratch, "responses.json", input.bytes)?;
            covip_eval::diagnose::read_responses(&p).map_err(msg)?;
            Ok(())
        }),
    }
}

/// `covip train --config`: the TOML configuration (the defaults as written to a run folder).
fn train_config_target() -> Target {
    let toml = covip_rl::trainer::TrainConfig::default().to_toml();
    Target {
        name: "train-config-toml",
        seeds: vec![Seed::new("train.toml", toml.into_bytes(), Format::Text)],
        run: Box::new(|input: &Input| {
            let p = write(input.scratch, "train.toml", input.bytes)?;
            let c = covip_rl::trainer::TrainConfig::from_file(&p).map_err(msg)?;
            c.validate().map_err(msg)?;
            Ok(())
        }),
    }
}

/// `covip plot`: a run's `metrics.jsonl`.
fn training_metrics_target() -> Target {
    let lines: String = (1..=6)
        .map(|s| {
            format!(
                "{{\"step\": {s}, \"reward_mean\": 0.{s}, \"reward_std\": 0.1, \"response_length\": {}}}\n",
                20 + s
            )
        })
        .collect();
    Target {
        name: "training-metrics",
        seeds: vec![Seed::new(
            "metrics.jsonl",
            lines.into_bytes(),
            Format::Jsonl,
        )],
        run: Box::new(|input: &Input| {
            let p = write(input.scratch, "metrics.jsonl", input.bytes)?;
            covip_eval::report::read_curves(&p).map_err(msg)?;
            Ok(())
        }),
    }
}

/// A client's request body as `covip serve` reads it (before any model work).
fn serve_request_target() -> Target {
    Target {
        name: "serve-chat-request",
        seeds: vec![Seed::new(
            "chat.json",
            br#"{"model": "tiny", "messages": [{"role": "system", "content": "Be brief."},
{"role": "user", "content": [{"type": "text", "text": "Who is this?"},
{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}],
"temperature": 0.7, "top_p": 0.8, "top_k": 20, "max_tokens": 16, "n": 2, "seed": 3,
"stop": ["

"], "logprobs": true, "top_logprobs": 2, "stream": true,
"stream_options": {"include_usage": true}}"#
                .to_vec(),
            Format::Json,
        )],
        run: Box::new(|input: &Input| {
            covip_model::server::errors::parse_json::<covip_model::server::protocol::ChatRequest>(
                input.bytes,
            )
            .map_err(|e| msg(e.body()))?;
            Ok(())
        }),
    }
}

/// A target's name and the function that builds it.
pub type NamedTarget = (&'static str, fn() -> Target);

/// Every target, in the order they run and the report lists them.
pub fn all() -> Vec<NamedTarget> {
    vec![
        // The slowest first, so that the two processes at a time finish close together.
        ("chat-input", chat_input_target),
        ("tokenizer-json", tokenizer_json_target),
        ("train-jsonl", || train_target("train-jsonl", false)),
        ("train-json", || train_target("train-json", true)),
        ("test-meta-jsonl", || {
            test_set_target("test-meta-jsonl", true)
        }),
        ("test-gt-json", || test_set_target("test-gt-json", false)),
        ("downstream-jsonl", || {
            downstream_target("downstream-jsonl", false)
        }),
        ("downstream-json", || {
            downstream_target("downstream-json", true)
        }),
        ("downstream-parquet", parquet_target),
        ("png", || image_target("png", "png")),
        ("jpeg", || image_target("jpeg", "jpg")),
        ("config-json", config_target),
        ("preprocessor-gen-cfg", side_config_target),
        ("safetensors", safetensors_target),
        ("shard-index", shard_index_target),
        ("peft-adapter", peft_adapter_target),
        ("reward-jsonl", reward_target),
        ("degeneration-jsonl", degeneration_target),
        ("r_vis-completions", rvis_target),
        ("caption-refs", || caption_target("caption-refs", true)),
        ("caption-cands", || caption_target("caption-cands", false)),
        ("chat-template", chat_template_target),
        ("capeval-captions", capeval_captions_target),
        ("pairwise-choices", pairwise_choices_target),
        ("diagnose-responses", diagnose_responses_target),
        ("train-config-toml", train_config_target),
        ("training-metrics", training_metrics_target),
        ("serve-chat-request", serve_request_target),
    ]
}
