//! `covip data inspect|convert|make-sample` as a user runs them.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn covip(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_covip"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("covip runs")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn inspect_prints_counts_for_the_sample_set() {
    let o = covip(&["data", "inspect", "data/sample"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("data/sample/test/meta.jsonl (test): 4 samples"),
        "{out}"
    );
    assert!(
        out.contains("present concepts: 1: 1, 2: 1, 3: 1, 4: 1"),
        "{out}"
    );
    assert!(
        out.contains("tasks: caption: 4, multi_vision: 4, vision: 2"),
        "{out}"
    );
    assert!(out.contains("diagnostic sets: lar: 8"), "{out}");
    assert!(!out.contains("problems: 1"), "{out}");
}

#[test]
fn inspect_json_is_machine_readable() {
    let o = covip(&["data", "inspect", "data/sample", "--json", "--check-images"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["problems"], 0);
    let datasets = v["datasets"].as_array().unwrap();
    assert_eq!(datasets.len(), 6);
    let train = datasets.iter().find(|d| d["kind"] == "train").unwrap();
    assert_eq!(train["by_task"]["vision"], 2);
    assert_eq!(train["by_present_concepts"]["4"], 2);
}

#[test]
fn inspect_reports_problems_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("lsd.jsonl");
    std::fs::write(
        &p,
        "{\"images_context\": [\"a.png\"], \"dialogues_context\": [\"d\"], \"query_image\": \"q.png\", \"answer\": \"\"}\n",
    )
    .unwrap();
    let o = covip(&["data", "inspect", p.to_str().unwrap()]);
    assert!(!o.status.success());
    let out = text(&o);
    assert!(out.contains("problems: 1"), "{out}");
    assert!(
        out.contains("lsd.jsonl: line 1: answer: empty answer"),
        "{out}"
    );
}

#[test]
fn convert_round_trips_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("lar.parquet");
    let o = covip(&[
        "data",
        "convert",
        "data/sample/diagnostics/lar.jsonl",
        pq.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("wrote 8 records"));
    let back = dir.path().join("lar.jsonl");
    let o = covip(&[
        "data",
        "convert",
        pq.to_str().unwrap(),
        back.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let a: Vec<serde_json::Value> = std::fs::read_to_string(&back)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let b: Vec<serde_json::Value> =
        std::fs::read_to_string(repo().join("data/sample/diagnostics/lar.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["answer"], y["answer"]);
        assert_eq!(x["last_action"], y["last_action"]);
        assert_eq!(x["dialogues_context"], y["dialogues_context"]);
    }
    // Training lists convert JSONL → JSON.
    let tj = dir.path().join("train.json");
    let o = covip(&[
        "data",
        "convert",
        "data/sample/train.jsonl",
        tj.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // A file with a bad record: nothing is written without --skip-invalid.
    let bad = dir.path().join("bad_lsd.jsonl");
    let good_line = std::fs::read_to_string(repo().join("data/sample/diagnostics/lsd.jsonl"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(&bad, format!("{good_line}\n{{\"answer\": 1}}\n")).unwrap();
    let out = dir.path().join("out.parquet");
    let o = covip(&[
        "data",
        "convert",
        bad.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains(
            "bad_lsd.jsonl: line 2: answer: invalid type: integer `1`, expected a string"
        ),
        "{}",
        text(&o)
    );
    assert!(!out.exists());
    let o = covip(&[
        "data",
        "convert",
        bad.to_str().unwrap(),
        out.to_str().unwrap(),
        "--skip-invalid",
    ]);
    assert!(!o.status.success(), "still non-zero: a record was dropped");
    assert!(text(&o).contains("wrote 1 records"), "{}", text(&o));
    assert!(out.exists());
}

#[test]
fn make_sample_writes_a_loadable_set() {
    let dir = tempfile::tempdir().unwrap();
    let o = covip(&["data", "make-sample", "--out", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = covip(&["data", "inspect", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn threads_is_a_global_option() {
    for args in [
        &["--threads", "2", "data", "inspect", "data/sample"][..],
        &["data", "inspect", "data/sample", "--threads", "1"][..],
    ] {
        let o = covip(args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    }
    let o = covip(&["--threads", "0", "data", "inspect", "data/sample"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--threads"), "{}", text(&o));
}

#[test]
fn library_logs_follow_rust_log_on_stderr() {
    let run = |filter: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_covip"));
        c.args(["data", "inspect", "data/sample"])
            .current_dir(repo())
            .env_remove("RUST_LOG");
        if let Some(f) = filter {
            c.env("RUST_LOG", f);
        }
        c.output().expect("covip runs")
    };
    // Default level warn: a clean run prints no log lines.
    let quiet = run(None);
    assert!(quiet.status.success(), "{}", text(&quiet));
    assert!(quiet.stderr.is_empty(), "{}", text(&quiet));
    // Debug for covip-data: the detection of each file, on stderr only.
    let o = run(Some("covip_data=debug"));
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("DEBUG") && err.contains("train.jsonl: TrainList"),
        "{err}"
    );
    assert_eq!(o.stdout, quiet.stdout, "logs never go to stdout");
}
