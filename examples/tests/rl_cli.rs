//! `covip degeneration` and `covip reward` against their output contracts, through the built
//! binary.
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

fn covip(args: &[&str], stdin: &str) -> (i32, Vec<Value>, String) {
    let (code, lines, err, _) = covip_raw(args, stdin);
    (code, lines, err)
}

fn covip_raw(args: &[&str], stdin: &str) -> (i32, Vec<Value>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_covip"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        out.status.code().unwrap(),
        lines,
        String::from_utf8(out.stderr).unwrap(),
        stdout,
    )
}

fn tokenizer() -> String {
    format!(
        "{}/../covip-rl/tests/fixtures/tokenizer_wordlevel.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The keys of a raw JSON object line, in the order they are written.
fn raw_keys(line: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(line).unwrap();
    let mut keys: Vec<(usize, String)> = v
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (line.find(&format!("\"{k}\":")).unwrap(), k.clone()))
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, k)| k).collect()
}

#[test]
fn degeneration_contract() {
    let words: Vec<String> = (0..10).map(|i| format!("w{i}")).collect();
    let twenty = format!("{} {}", words.join(" "), words.join(" "));
    let input = [
        json!({"id": 1, "text": "The dog sleeps. The dog sleeps. The dog sleeps. The dog sleeps."}),
        json!({"id": {"k": [1]}, "text": twenty}),
        json!({"id": "short", "text": "A calm lake."}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let (code, out, err) = covip(&["degeneration"], &input);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.len(), 3);
    // Key order is part of the contract (serialised from a struct, not a map).
    let raw = {
        let o = Command::new(env!("CARGO_BIN_EXE_covip"))
            .args(["degeneration"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut o = o;
        o.stdin
            .take()
            .unwrap()
            .write_all(b"{\"id\":\"short\",\"text\":\"A calm lake.\"}\n")
            .unwrap();
        String::from_utf8(o.wait_with_output().unwrap().stdout).unwrap()
    };
    assert_eq!(
        raw.trim(),
        r#"{"id":"short","degenerate":false,"sentence_ratio":null,"ngram_ratio":null,"chunk_ratios":{"10":null,"20":null,"30":null},"token_count":null,"too_long":false}"#
    );
    assert_eq!(out[0]["id"], 1);
    assert_eq!(out[0]["degenerate"], true);
    assert_eq!(out[0]["sentence_ratio"], 0.75);
    assert_eq!(out[0]["ngram_ratio"], Value::Null);
    assert_eq!(out[1]["id"], json!({"k": [1]}));
    assert_eq!(out[1]["ngram_ratio"], 6.0 / 16.0);
    let c10 = out[1]["chunk_ratios"]["10"].as_f64().unwrap();
    assert!((c10 - 2.0 / 11.0).abs() < 1e-15, "{c10}");
    assert_eq!(out[1]["chunk_ratios"]["20"], Value::Null);
    assert_eq!(out[1]["chunk_ratios"]["30"], Value::Null);
    assert_eq!(out[1]["degenerate"], true);
    assert_eq!(out[2]["degenerate"], false);
    assert!(
        out.iter()
            .all(|o| o["token_count"].is_null() && o["too_long"] == false)
    );
    assert_eq!(
        raw_keys(&raw),
        [
            "id",
            "degenerate",
            "sentence_ratio",
            "ngram_ratio",
            "chunk_ratios",
            "token_count",
            "too_long"
        ]
    );
}

#[test]
fn degeneration_tokenizer_and_line_errors() {
    let input = "{\"id\": 1, \"text\": \"the dog sleeps. the dog\"}\nnot json\n\n{\"id\": 2}\n{\"text\": \"x\"}\n{\"id\": 3, \"text\": \"the dog sleeps.\"}\n";
    let tok = tokenizer();
    let (code, out, err) = covip(
        &["degeneration", "--tokenizer", &tok, "--max-tokens", "5"],
        input,
    );
    assert_ne!(code, 0);
    assert_eq!(out.len(), 2, "the good lines are still processed");
    assert_eq!(out[0]["id"], 1);
    assert_eq!(out[0]["token_count"], 6);
    assert_eq!(out[0]["too_long"], true);
    assert_eq!(out[0]["degenerate"], true);
    assert_eq!(out[1]["id"], 3);
    assert_eq!(out[1]["token_count"], 4);
    assert_eq!(out[1]["too_long"], false);
    assert!(err.contains("line 2: invalid JSON"), "{err}");
    assert!(err.contains("line 4: missing field `text`"), "{err}");
    assert!(err.contains("line 5: missing field `id`"), "{err}");
    assert!(
        !err.contains("line 3"),
        "a blank line is not an error: {err}"
    );
}

#[test]
fn degeneration_reads_a_file_and_reports_a_bad_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\": 7, \"text\": \"ok.\"}\n").unwrap();
    let (code, out, _) = covip(&["degeneration", "--input", input.to_str().unwrap()], "");
    assert_eq!((code, out.len()), (0, 1));
    assert_eq!(out[0]["id"], 7);
    let (code, _, err) = covip(
        &[
            "degeneration",
            "--input",
            input.to_str().unwrap(),
            "--tokenizer",
            "/nonexistent/tokenizer.json",
        ],
        "",
    );
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent/tokenizer.json"), "{err}");
}

fn qa(id: &str, q: &str, abc: [&str; 3], correct: &str) -> Value {
    json!({"id": id, "question": q, "options": {"A": abc[0], "B": abc[1], "C": abc[2], "D": "cannot tell"}, "correct_answer": correct})
}

fn caption_record(id: &str, completion: &str, with_answers: bool) -> Value {
    let mut v = json!({
        "id": id,
        "task": "caption",
        "completion": completion,
        "pos_qas": [[
            qa("p0", "What is the dog called?", ["Pino", "Coco", "Max"], "A"),
            qa("p1", "Where does the dog nap?", ["sofa", "garden", "car"], "A"),
            qa("p2", "What colour is the sofa?", ["blue", "red", "green"], "B"),
        ]],
        "neg_qas": [
            qa("n0", "What is the cat called?", ["Ari", "Bo", "Cho"], "A"),
            qa("n1", "Where did the cat hide?", ["box", "bed", "tree"], "C"),
        ],
    });
    if with_answers {
        v["judge_pos"] = json!(["\\boxed{A}", "Answer: \\boxed{B}", "\\boxed{B or D}"]);
        v["judge_neg"] = json!(["\\boxed{D}", "\\boxed{C}"]);
    }
    v
}

#[test]
fn reward_contract_with_given_judge_outputs() {
    let input = [
        json!({"id": "mv", "task": "multi_vision", "completion": "Answer: \\boxed{[0, 1]}", "answer": [1, 2]}),
        json!({"id": "v", "task": "vision", "completion": "No, it is not.", "answer": "no"}),
        caption_record("cap", "Pino naps on the red sofa.", true),
        caption_record("loop", &"Pino naps. ".repeat(8), false),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let (code, out, err, raw) = covip_raw(&["reward"], &input);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.len(), 4);
    assert_eq!(
        out[0],
        json!({"id": "mv", "reward": 0.5, "degenerate": null, "sigma_pos": null, "sigma_neg": null})
    );
    assert_eq!(
        out[1],
        json!({"id": "v", "reward": 1.0, "degenerate": null, "sigma_pos": null, "sigma_neg": null})
    );
    // σ+ = 2 (p0 A, p2 "B or D"), σ− = 1 (n1 answered C): 2/3 − 1/2.
    assert_eq!(out[2]["sigma_pos"], 2);
    assert_eq!(out[2]["sigma_neg"], 1);
    assert_eq!(out[2]["degenerate"], false);
    assert!((out[2]["reward"].as_f64().unwrap() - (2.0 / 3.0 - 0.5)).abs() < 1e-12);
    assert_eq!(
        out[3],
        json!({"id": "loop", "reward": -1.0, "degenerate": true, "sigma_pos": null, "sigma_neg": null})
    );
    for line in raw.lines() {
        assert_eq!(
            raw_keys(line),
            ["id", "reward", "degenerate", "sigma_pos", "sigma_neg"]
        );
    }
}

#[test]
fn reward_line_errors_and_alpha() {
    let mut short = caption_record("short", "Pino naps.", true);
    short["judge_pos"] = json!(["\\boxed{A}"]);
    let input = [
        caption_record("nojudge", "Pino naps.", false).to_string(),
        "{\"id\": 1, \"task\": \"dance\", \"completion\": \"x\"}".to_string(),
        short.to_string(),
        "{\"id\": 2, \"task\": \"vision\", \"completion\": \"yes\"}".to_string(),
        caption_record("ok", "Pino naps.", true).to_string(),
    ]
    .join("\n");
    let (code, out, err) = covip(&["reward", "--alpha", "0.5"], &input);
    assert_ne!(code, 0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["id"], "ok");
    assert!((out[0]["reward"].as_f64().unwrap() - (2.0 / 3.0 - 0.25)).abs() < 1e-12);
    assert!(err.contains("line 1: caption is not degenerate"), "{err}");
    assert!(err.contains("line 2: unknown task \"dance\""), "{err}");
    assert!(
        err.contains("line 3: judge_pos: 1 answers for 3 positive QAs"),
        "{err}"
    );
    assert!(err.contains("line 4: missing field `answer`"), "{err}");
}

#[test]
fn reward_with_the_lexical_judge_and_a_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("judge.jsonl");
    // The lexical judge: "Pino" → A, "sofa" → A, "red" → B; the cat questions find nothing → D.
    let input = caption_record("cap", "Pino naps on the red sofa.", false).to_string();
    let args = [
        "reward",
        "--judge",
        "lexical",
        "--judge-cache",
        cache.to_str().unwrap(),
    ];
    let (code, out, err) = covip(&args, &input);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out[0],
        json!({"id": "cap", "reward": 1.0, "degenerate": false, "sigma_pos": 3, "sigma_neg": 0})
    );
    let cached = std::fs::read_to_string(&cache).unwrap();
    assert_eq!(cached.lines().count(), 5);
    let (code, again, _) = covip(&args, &input);
    assert_eq!(code, 0);
    assert_eq!(again, out);
    assert_eq!(
        std::fs::read_to_string(&cache).unwrap(),
        cached,
        "nothing asked twice"
    );
}

#[test]
fn reward_with_a_dead_judge_fails_the_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let input = [
        caption_record("cap", "Pino naps on the red sofa.", false).to_string(),
        json!({"id": "v", "task": "vision", "completion": "yes", "answer": "yes"}).to_string(),
    ]
    .join("\n");
    let (code, out, err) = covip(
        &[
            "reward",
            "--judge",
            &url,
            "--judge-retries",
            "0",
            "--judge-timeout",
            "2",
        ],
        &input,
    );
    assert_ne!(code, 0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["id"], "v");
    assert!(err.contains("line 1: judge: request to"), "{err}");
}
