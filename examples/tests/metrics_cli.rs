//! `covip metrics ...` end to end: caption scores equal pycocoevalcap's (fixtures from
//! `scripts/metrics_coco_fixture.py`), POPE/CHAIR/MMHal print their JSON, bad input fails clearly.
use std::path::PathBuf;
use std::process::Command;

fn fx(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../covip-eval/tests/fixtures")
        .join(name)
}

fn covip(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_covip"))
        .args(args)
        .output()
        .expect("run covip");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn caption_matches_pycocoevalcap_fixture() {
    let exp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx("coco_scores.json")).unwrap()).unwrap();
    let (refs, cands) = (fx("coco_refs.json"), fx("coco_cands.json"));
    for (mode, extra) in [("tokenized", None), ("raw", Some("--no-tokenize"))] {
        let mut args = vec![
            "metrics",
            "caption",
            "--refs",
            refs.to_str().unwrap(),
            "--cands",
            cands.to_str().unwrap(),
        ];
        args.extend(extra);
        let (ok, out, err) = covip(&args);
        assert!(ok, "{err}");
        let got: serde_json::Value = serde_json::from_str(&out).unwrap();
        for k in ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L", "CIDEr"] {
            let (g, e) = (
                got[k].as_f64().unwrap(),
                exp[mode]["corpus"][k].as_f64().unwrap(),
            );
            assert!((g - e).abs() <= 1e-9, "{mode} {k}: {g} vs {e}");
            let (id, per) = exp[mode]["per_image"]
                .as_object()
                .unwrap()
                .iter()
                .next()
                .unwrap();
            let g = got["per_image"][id][k].as_f64().unwrap();
            assert!(
                (g - per[k].as_f64().unwrap()).abs() <= 1e-9,
                "{mode} {id} {k}"
            );
        }
    }
}

#[test]
fn caption_bad_input_names_file_and_record() {
    let dir = tempfile::tempdir().unwrap();
    let refs = dir.path().join("refs.json");
    let cands = dir.path().join("cands.json");
    std::fs::write(&refs, r#"{"1": ["a dog"], "2": "not a list"}"#).unwrap();
    std::fs::write(&cands, r#"{"1": "a dog", "2": "a cat"}"#).unwrap();
    let (ok, _, err) = covip(&[
        "metrics",
        "caption",
        "--refs",
        refs.to_str().unwrap(),
        "--cands",
        cands.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("refs.json") && err.contains("\"2\""), "{err}");
    let (ok, _, err) = covip(&[
        "metrics",
        "caption",
        "--refs",
        refs.to_str().unwrap(),
        "--cands",
        cands.to_str().unwrap(),
        "--metrics",
        "meteor",
    ]);
    assert!(!ok && err.contains("METEOR"), "{err}");
}

#[test]
fn pope_chair_mmhal_print_json() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str, s: &str| {
        let f = dir.path().join(n);
        std::fs::write(&f, s).unwrap();
        f.to_str().unwrap().to_string()
    };
    let ans = p(
        "a.jsonl",
        "{\"question_id\":1,\"text\":\"Yes, there is.\"}\n{\"question_id\":2,\"text\":\"No.\"}\n",
    );
    let lab = p(
        "l.jsonl",
        "{\"question_id\":1,\"label\":\"yes\"}\n{\"question_id\":2,\"label\":\"yes\"}\n",
    );
    let (ok, out, err) = covip(&["metrics", "pope", "--answers", &ans, "--labels", &lab]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["accuracy"], 0.5);
    assert_eq!(v["FN"], 1);

    let caps = p("c.json", r#"{"7": "A dog and a cat on a sofa."}"#);
    let gt = p("g.json", r#"{"7": ["dog", "couch"]}"#);
    let (ok, out, err) = covip(&["metrics", "chair", "--captions", &caps, "--gt", &gt]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["CHAIRs"], 1.0);
    assert!((v["CHAIRi"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-12);

    let recs = p(
        "r.json",
        r#"[{"question_type":"counting","image_content":["Cat"],"question":"How many?","gt_answer":"Two.","model_answer":"One."}]"#,
    );
    let outs = p("o.json", r#"["It is wrong. Rating: 1"]"#);
    let (ok, out, err) = covip(&[
        "metrics",
        "mmhal",
        "--responses",
        &recs,
        "--judge-outputs",
        &outs,
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["hallucination_rate"], 1.0);
    assert_eq!(v["per_type"]["counting"], 1.0);
}

#[test]
fn caption_bertscore_matches_bert_score_fixture() {
    let fxv: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx("bertscore.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut refs = serde_json::Map::new();
    let mut cands = serde_json::Map::new();
    for (i, (c, r)) in fxv["cands"]
        .as_array()
        .unwrap()
        .iter()
        .zip(fxv["refs"].as_array().unwrap())
        .enumerate()
    {
        cands.insert(format!("img{i}"), c.clone());
        refs.insert(format!("img{i}"), r.clone());
    }
    let (rp, cp) = (dir.path().join("refs.json"), dir.path().join("cands.json"));
    std::fs::write(&rp, serde_json::Value::Object(refs).to_string()).unwrap();
    std::fs::write(&cp, serde_json::Value::Object(cands).to_string()).unwrap();
    let model = fx("tiny_bert");
    let base = [
        "metrics",
        "caption",
        "--refs",
        rp.to_str().unwrap(),
        "--cands",
        cp.to_str().unwrap(),
        "--metrics",
        "bleu,bertscore",
    ];
    let mut args = base.to_vec();
    args.extend([
        "--bert-model",
        model.to_str().unwrap(),
        "--bert-layers",
        "2",
        "--bert-idf",
    ]);
    let (ok, out, err) = covip(&args);
    assert!(ok, "{err}");
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(got["Bleu_4"].is_number());
    let want = fxv["idf"]["F"].as_array().unwrap();
    let mut mean = 0.0;
    for (i, w) in want.iter().enumerate() {
        let g = got["per_image"][format!("img{i}")]["BERTScore_F1"]
            .as_f64()
            .unwrap();
        assert!((g - w.as_f64().unwrap()).abs() < 1e-4, "img{i}: {g} vs {w}");
        mean += w.as_f64().unwrap() / want.len() as f64;
    }
    assert!((got["BERTScore_F1"].as_f64().unwrap() - mean).abs() < 1e-4);
    // No model: a clear error.
    let (ok, _, err) = covip(&base);
    assert!(!ok && err.contains("--bert-model"), "{err}");
    // Rescaling another model without a baseline file: refused.
    let mut args = base.to_vec();
    args.extend([
        "--bert-model",
        model.to_str().unwrap(),
        "--bert-layers",
        "2",
        "--bert-rescale",
    ]);
    let (ok, _, err) = covip(&args);
    assert!(!ok && err.contains("baseline"), "{err}");
}

/// A one-shot OpenAI-compatible server on 127.0.0.1: answers `n` requests with `reply(body)`
/// and returns the request bodies it saw. Bounded: it stops after `n` connections.
fn judge_server(
    n: usize,
    reply: fn(&str) -> String,
) -> (String, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut bodies = Vec::new();
        for stream in listener.incoming().take(n) {
            let mut stream = stream.unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(30)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0u8; len];
            reader.read_exact(&mut body).unwrap();
            let body = String::from_utf8(body).unwrap();
            let answer = serde_json::json!({"choices": [{"message": {"content": reply(&body)}}]})
                .to_string();
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            )
            .unwrap();
            bodies.push(body);
        }
        bodies
    });
    (url, handle)
}

#[test]
fn mmhal_asks_a_live_judge() {
    let dir = tempfile::tempdir().unwrap();
    let recs = dir.path().join("r.json");
    std::fs::write(
        &recs,
        r#"[{"question_type":"counting","image_content":["Cat"],"question":"How many cats?","gt_answer":"Two.","model_answer":"One."},
            {"question_type":"attribute","image_content":["Dog"],"question":"What colour is the dog?","gt_answer":"Brown.","model_answer":"Brown."}]"#,
    )
    .unwrap();
    // The judge rates an answer that matches the human one 6, anything else 1.
    fn reply(body: &str) -> String {
        if body.contains("What colour") {
            "Correct and grounded. Rating: 6".into()
        } else {
            "The count is wrong. Rating: 1".into()
        }
    }
    let (url, server) = judge_server(2, reply);
    let (ok, out, err) = covip(&[
        "metrics",
        "mmhal",
        "--responses",
        recs.to_str().unwrap(),
        "--judge",
        &url,
        "--judge-concurrency",
        "1",
    ]);
    assert!(ok, "{err}");
    let bodies = server.join().unwrap();
    assert_eq!(bodies.len(), 2);
    assert!(
        bodies.iter().all(|b| b.contains("\"temperature\":0.0")),
        "{bodies:?}"
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["average_score"], 3.5);
    assert_eq!(v["hallucination_rate"], 0.5);
    assert_eq!(v["per_type"]["attribute"], 6.0);
    assert_eq!(v["judge_outputs"][0], "The count is wrong. Rating: 1");

    // A dead judge is an error naming the record, never a silent rating.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/v1", dead.local_addr().unwrap());
    drop(dead);
    let (ok, _, err) = covip(&[
        "metrics",
        "mmhal",
        "--responses",
        recs.to_str().unwrap(),
        "--judge",
        &dead_url,
    ]);
    assert!(!ok);
    assert!(err.contains("record 0: judge"), "{err}");
}
