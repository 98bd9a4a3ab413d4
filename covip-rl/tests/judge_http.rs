//! The OpenAI-compatible judge against a tiny HTTP server on 127.0.0.1 (no network), and the
//! persistent cache around it.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use covip_data::{Letter, Qa};
use covip_rl::judge::{
    CachedJudge, Judge, JudgeError, JudgePrompt, JudgeRequest, OpenAiJudge, OpenAiJudgeConfig,
    score_caption,
};
use covip_rl::{DegenerationFilter, RetrievalConfig};

/// What the server does with the n-th request (0-based).
type Behaviour = dyn Fn(usize, &serde_json::Value) -> Reply + Send + Sync;

enum Reply {
    Ok(String),
    Status(u16, &'static str),
    Hang(Duration),
}

struct Server {
    url: String,
    hits: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    auth: Arc<Mutex<Vec<Option<String>>>>,
}

fn read_request(stream: &mut TcpStream) -> Option<(serde_json::Value, Option<String>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    if line.is_empty() {
        return None;
    }
    let mut len = 0usize;
    let mut auth = None;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
        if lower.starts_with("authorization:") {
            auth = Some(h["authorization:".len()..].trim().to_string());
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some((serde_json::from_slice(&body).ok()?, auth))
}

fn completion(content: &str) -> String {
    serde_json::json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})
        .to_string()
}

fn serve(behaviour: Arc<Behaviour>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let auth = Arc::new(Mutex::new(Vec::new()));
    let (h, b, a) = (hits.clone(), bodies.clone(), auth.clone());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (h, b, a, behaviour) = (h.clone(), b.clone(), a.clone(), behaviour.clone());
            thread::spawn(move || {
                // One request per connection is enough; keep-alive connections are re-read.
                while let Some((body, auth)) = read_request(&mut stream) {
                    let n = h.fetch_add(1, Ordering::SeqCst);
                    b.lock().unwrap().push(body.clone());
                    a.lock().unwrap().push(auth);
                    let (code, reason, text) = match behaviour(n, &body) {
                        Reply::Ok(t) => (200, "OK", t),
                        Reply::Status(c, r) => (c, r, format!("{{\"error\":\"{r}\"}}")),
                        Reply::Hang(d) => {
                            thread::sleep(d);
                            return;
                        }
                    };
                    let resp = format!(
                        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                        text.len()
                    );
                    if stream.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Server {
        url,
        hits,
        bodies,
        auth,
    }
}

fn config(url: &str) -> OpenAiJudgeConfig {
    OpenAiJudgeConfig {
        base_url: url.to_string(),
        model: "judge-model".into(),
        timeout_secs: 2.0,
        retries: 2,
        backoff_secs: 0.01,
        concurrency: 4,
        ..Default::default()
    }
}

fn qas() -> (Vec<Qa>, Vec<Qa>) {
    let pos = vec![
        Qa::new(
            "p0",
            "What is the dog called?",
            ["Pino", "Coco", "Max"],
            "cannot tell",
            Letter::A,
        ),
        Qa::new(
            "p1",
            "Where was it?",
            ["Jeju", "Busan", "Seoul"],
            "cannot tell",
            Letter::B,
        ),
        Qa::new(
            "p2",
            "When?",
            ["2019", "2020", "2021"],
            "cannot tell",
            Letter::C,
        ),
    ];
    let neg = vec![
        Qa::new(
            "n0",
            "Who is the cat?",
            ["Ari", "Bo", "Cho"],
            "cannot tell",
            Letter::A,
        ),
        Qa::new(
            "n1",
            "Which park?",
            ["North", "South", "East"],
            "cannot tell",
            Letter::B,
        ),
    ];
    (pos, neg)
}

/// Answers from the question id embedded in the prompt, so answers line up with questions
/// whatever order the concurrent requests arrive in.
fn answer_by_question(body: &serde_json::Value) -> String {
    let prompt = body["messages"][0]["content"].as_str().unwrap();
    // p1 ("Where was it?") is answered A, which is wrong on purpose.
    let letter = if prompt.contains("What is the dog called?") || prompt.contains("Where was it?") {
        "A"
    } else if prompt.contains("When?") {
        "C"
    } else if prompt.contains("Who is the cat?") {
        "D"
    } else {
        "B or D"
    };
    completion(&format!("Reasoning.\nAnswer: \\boxed{{{letter}}}"))
}

#[test]
fn scores_a_caption_through_the_server() {
    let server = serve(Arc::new(|_, body| Reply::Ok(answer_by_question(body))));
    let mut cfg = config(&server.url);
    cfg.api_key = Some("sk-test".into());
    let judge = OpenAiJudge::new(cfg, JudgePrompt::default());
    let (pos, neg) = qas();
    let out = score_caption(
        &DegenerationFilter::default(),
        &judge,
        "Pino naps in the sun.",
        &pos,
        &neg,
        &RetrievalConfig::default(),
    )
    .unwrap();
    let s = out.reward.retrieval.unwrap();
    // σ+ = 2 (p0, p2), σ− = 0 (n0 answers D, n1 "B or D" contains D).
    assert_eq!((s.sigma_pos, s.sigma_neg), (2, 0));
    assert!((out.reward.reward - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(out.judge_pos.len(), 3);
    assert_eq!(out.judge_pos[0], "Reasoning.\nAnswer: \\boxed{A}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 5);
    let bodies = server.bodies.lock().unwrap();
    for b in bodies.iter() {
        assert_eq!(b["model"], "judge-model");
        assert_eq!(b["temperature"], 0.7);
        assert_eq!(b["top_p"], 0.8);
        assert_eq!(b["top_k"], 20);
        let p = b["messages"][0]["content"].as_str().unwrap();
        assert!(p.contains("Pino naps in the sun."));
    }
    assert!(
        server
            .auth
            .lock()
            .unwrap()
            .iter()
            .all(|a| a.as_deref() == Some("Bearer sk-test"))
    );
}

#[test]
fn degenerate_caption_makes_no_request() {
    let server = serve(Arc::new(|_, body| Reply::Ok(answer_by_question(body))));
    let judge = OpenAiJudge::new(config(&server.url), JudgePrompt::default());
    let (pos, neg) = qas();
    let out = score_caption(
        &DegenerationFilter::default(),
        &judge,
        &"Pino naps in the sun. ".repeat(10),
        &pos,
        &neg,
        &RetrievalConfig::default(),
    )
    .unwrap();
    assert_eq!(out.reward.reward, -1.0);
    assert!(out.reward.degenerate && out.judge_pos.is_empty());
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
}

#[test]
fn retries_after_server_errors_then_succeeds() {
    // The first two requests fail with 503 and 429; the third succeeds.
    let server = serve(Arc::new(|n, _| match n {
        0 => Reply::Status(503, "Service Unavailable"),
        1 => Reply::Status(429, "Too Many Requests"),
        _ => Reply::Ok(completion("\\boxed{B}")),
    }));
    let judge = OpenAiJudge::new(config(&server.url), JudgePrompt::default());
    assert_eq!(judge.ask("q").unwrap(), "\\boxed{B}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 3);
}

#[test]
fn gives_up_after_retries_with_an_error_not_a_d() {
    let server = serve(Arc::new(|_, _| Reply::Status(500, "Internal Server Error")));
    let judge = OpenAiJudge::new(config(&server.url), JudgePrompt::default());
    let (pos, neg) = qas();
    let err = score_caption(
        &DegenerationFilter::default(),
        &judge,
        "Pino naps.",
        &pos,
        &neg,
        &RetrievalConfig::default(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("after 3 attempt(s)") && msg.contains("HTTP 500"),
        "{msg}"
    );
    // 5 questions × 3 attempts.
    assert_eq!(server.hits.load(Ordering::SeqCst), 15);
}

#[test]
fn client_errors_are_not_retried() {
    let server = serve(Arc::new(|_, _| Reply::Status(400, "Bad Request")));
    let judge = OpenAiJudge::new(config(&server.url), JudgePrompt::default());
    let err = judge.ask("q").unwrap_err();
    assert!(
        matches!(err, JudgeError::Request { attempts: 1, .. }),
        "{err}"
    );
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[test]
fn malformed_completion_is_an_error() {
    let server = serve(Arc::new(|_, _| Reply::Ok("{\"choices\": []}".into())));
    let judge = OpenAiJudge::new(config(&server.url), JudgePrompt::default());
    let err = judge.ask("q").unwrap_err();
    assert!(matches!(err, JudgeError::Response { .. }), "{err}");
}

#[test]
fn timeout_is_retried_then_reported() {
    let server = serve(Arc::new(|_, _| Reply::Hang(Duration::from_secs(3))));
    let mut cfg = config(&server.url);
    cfg.timeout_secs = 0.3;
    cfg.retries = 1;
    let judge = OpenAiJudge::new(cfg, JudgePrompt::default());
    let start = Instant::now();
    let err = judge.ask("q").unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(
        matches!(err, JudgeError::Request { attempts: 2, .. }),
        "{err}"
    );
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
}

#[test]
fn dead_server_is_an_error() {
    // Bind and drop: nothing listens on this port any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let judge = OpenAiJudge::new(
        config(&format!("http://127.0.0.1:{port}/v1")),
        JudgePrompt::default(),
    );
    let (pos, _) = qas();
    let answers = judge.answer_batch(&[JudgeRequest {
        description: "x",
        qa: &pos[0],
    }]);
    let err = answers[0].as_ref().unwrap_err();
    assert!(
        matches!(err, JudgeError::Request { attempts: 3, .. }),
        "{err}"
    );
}

#[test]
fn cache_persists_so_a_rerun_asks_nothing() {
    let server = serve(Arc::new(|_, body| Reply::Ok(answer_by_question(body))));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache").join("judge.jsonl");
    let (pos, neg) = qas();
    let run = || {
        let judge = CachedJudge::open(
            OpenAiJudge::new(config(&server.url), JudgePrompt::default()),
            &path,
        )
        .unwrap();
        let out = score_caption(
            &DegenerationFilter::default(),
            &judge,
            "Pino naps in the sun.",
            &pos,
            &neg,
            &RetrievalConfig::default(),
        )
        .unwrap();
        (out, judge.hits(), judge.misses())
    };
    let (first, hits, misses) = run();
    assert_eq!((hits, misses), (0, 5));
    assert_eq!(server.hits.load(Ordering::SeqCst), 5);
    let (second, hits, misses) = run();
    assert_eq!((hits, misses), (5, 0));
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        5,
        "the re-run asked again"
    );
    assert_eq!(first, second);
    let lines = std::fs::read_to_string(&path).unwrap();
    assert_eq!(lines.lines().count(), 5);
    // A different judge identity (another model) is a different key.
    let mut other = config(&server.url);
    other.model = "another".into();
    let judge = CachedJudge::open(OpenAiJudge::new(other, JudgePrompt::default()), &path).unwrap();
    let _ = judge.answer_batch(&[JudgeRequest {
        description: "Pino naps in the sun.",
        qa: &pos[0],
    }]);
    assert_eq!(judge.misses(), 1);
}

#[test]
fn cache_tolerates_a_torn_last_line_and_rejects_a_broken_middle_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let good = r#"{"judge":"j","prompt":"p","answer":"\\boxed{A}"}"#;
    std::fs::write(&path, format!("{good}\n{{\"judge\":\"j\",\"pro")).unwrap();
    let judge = CachedJudge::open(covip_rl::judge::LexicalJudge::default(), &path).unwrap();
    assert_eq!(judge.len(), 1);
    let (pos, _) = qas();
    let _ = judge.answer_batch(&[JudgeRequest {
        description: "Pino",
        qa: &pos[0],
    }]);
    // The new entry starts on its own line and the file reloads.
    let again = CachedJudge::open(covip_rl::judge::LexicalJudge::default(), &path).unwrap();
    assert_eq!(again.len(), 2);

    std::fs::write(&path, format!("{good}\nnot json\n{good}\n")).unwrap();
    let err = CachedJudge::open(covip_rl::judge::LexicalJudge::default(), &path)
        .err()
        .unwrap();
    assert!(err.to_string().contains("line 2"), "{err}");
}
