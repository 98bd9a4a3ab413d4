//! `covip train` and `covip export-adapter` end to end on the tiny fixture checkpoint with the
//! bundled training list and the lexical judge: two steps write two metrics lines and two
//! checkpoints, a second run into the same folder is refused without --resume (nothing
//! changes), --resume of a finished run does nothing more, and the export writes the PEFT
//! files (and the merged checkpoint).
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn covip(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_covip"))
        .args(args)
        .output()
        .expect("covip runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn train_two_steps_refuse_existing_folder_resume_and_export() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let model = root().join("covip-model/tests/fixtures/tiny-qwen3-vl");
    let data = root().join("data/sample/train.jsonl");
    let (model, data, run_s) = (
        model.to_str().unwrap(),
        data.to_str().unwrap(),
        run.to_str().unwrap(),
    );
    let train = |extra: &[&str]| {
        let mut a = vec![
            "train",
            "--model",
            model,
            "--data",
            data,
            "--judge",
            "lexical",
            "--out",
            run_s,
            "--max-steps",
            "2",
            "--group-size",
            "2",
            "--max-new-tokens",
            "4",
            "--lora-rank",
            "4",
            "--lora-alpha",
            "8",
            "--save-every",
            "1",
        ];
        a.extend_from_slice(extra);
        covip(&a)
    };

    let out = train(&[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("trained 2 / 2 steps"),
        "{}",
        text(&out.stdout)
    );
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["step"], i + 1);
        assert!(l["reward_mean"].is_f64(), "{l}");
        for k in [
            "reward_std",
            "clip_fraction",
            "mean_ratio",
            "response_length",
        ] {
            assert!(l[k].is_number(), "{k} in {l}");
        }
    }
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("max_steps = 2"), "{config}");
    assert!(config.contains("rank = 4"), "{config}");
    for s in ["step-000001", "step-000002"] {
        assert!(run.join("checkpoints").join(s).join("state.json").is_file());
    }

    // The same folder again without --resume: refused, nothing touched.
    let out = train(&[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--resume"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(run.join("metrics.jsonl")).unwrap(),
        metrics
    );

    // --resume of a finished run: nothing more to do.
    let out = train(&["--resume"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(run.join("metrics.jsonl")).unwrap(),
        metrics
    );

    // The PEFT adapter.
    let adapter = tmp.path().join("adapter");
    let out = covip(&["export-adapter", run_s, "--out", adapter.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The fixture's head is not tied, so lm_head is trained by default: vLLM's note.
    assert!(text(&out.stderr).contains("vLLM"), "{}", text(&out.stderr));
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(adapter.join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["task_type"], "CAUSAL_LM");
    assert_eq!(cfg["r"], 4);
    assert_eq!(cfg["lora_alpha"], 8);
    assert!(cfg["target_modules"].as_array().unwrap().len() == 8);
    let weights = std::fs::read(adapter.join("adapter_model.safetensors")).unwrap();
    let st = covip_model::safetensors::SafeTensors::deserialize(&weights).unwrap();
    let key = "base_model.model.model.language_model.layers.0.self_attn.q_proj.lora_A.weight";
    assert_eq!(st.tensor(key).unwrap().shape()[0], 4);
    assert!(st.tensor("base_model.model.lm_head.lora_B.weight").is_ok());
    // Equal to the last checkpoint's.
    assert_eq!(
        weights,
        std::fs::read(run.join("checkpoints/step-000002/adapter_model.safetensors")).unwrap()
    );
    // A non-empty destination is refused.
    let out = covip(&["export-adapter", run_s, "--out", adapter.to_str().unwrap()]);
    assert!(!out.status.success());

    // The merged checkpoint.
    let merged = tmp.path().join("merged");
    let out = covip(&[
        "export-adapter",
        run_s,
        "--out",
        merged.to_str().unwrap(),
        "--merged",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(merged.join(f).is_file(), "{f}");
    }

    // `covip plot`: the curves of the two steps, as a PNG beside the metrics.
    let out = covip(&["plot", run_s]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("2 steps plotted"),
        "{}",
        text(&out.stdout)
    );
    let png = std::fs::read(run.join("curves.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let out = covip(&["plot", tmp.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("metrics.jsonl"),
        "{}",
        text(&out.stderr)
    );
}
