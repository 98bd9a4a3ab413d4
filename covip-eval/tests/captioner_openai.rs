//! The OpenAI-compatible captioner against a tiny HTTP server on 127.0.0.1 (no network): the
//! requests it sends for the bundled sample set, and captioning runs through it.
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use covip_data::Sample;
use covip_data::prompt::{Part, QueryHeader, Templates, caption_prompt};
use covip_eval::captioner::{
    CaptionError, Captioner, OpenAiCaptionOptions, OpenAiCaptioner, run_captioning, test_samples,
};
use covip_rl::openai::{ChatClient, ChatClientConfig, image_data_url};
use serde_json::{Value, json};

type Behaviour = dyn Fn(&Value) -> (u16, String) + Send + Sync;

struct Server {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    peak: Arc<AtomicUsize>,
}

fn read_body(reader: &mut BufReader<TcpStream>) -> Option<Value> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    if line.is_empty() {
        return None;
    }
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// Records every request body and the peak number of requests in flight.
fn serve(behaviour: impl Fn(&Value) -> (u16, String) + Send + Sync + 'static) -> Server {
    let behaviour: Arc<Behaviour> = Arc::new(behaviour);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (b, f, p) = (bodies.clone(), in_flight.clone(), peak.clone());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (b, f, p, behaviour) = (b.clone(), f.clone(), p.clone(), behaviour.clone());
            thread::spawn(move || {
                let Ok(read) = stream.try_clone() else { return };
                let mut reader = BufReader::new(read);
                while let Some(body) = read_body(&mut reader) {
                    let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(now, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(20));
                    b.lock().unwrap().push(body.clone());
                    let (status, text) = behaviour(&body);
                    f.fetch_sub(1, Ordering::SeqCst);
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                        text.len()
                    );
                    if stream.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Server { url, bodies, peak }
}

fn samples() -> Vec<Sample> {
    test_samples(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample/test")).unwrap()
}

/// The URL of the last image part of a request: the query image.
fn query_url(body: &Value) -> String {
    body["messages"][0]["content"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|p| p["type"] == "image_url")
        .map(|p| p["image_url"]["url"].as_str().unwrap().to_string())
        .unwrap()
}

/// A caption that names the query image, so answers can be matched to samples whatever
/// order the concurrent requests arrive in.
fn caption_for(url: &str) -> String {
    let tail: String = url.chars().rev().take(24).collect();
    format!("A photo {tail}")
}

fn answer(body: &Value) -> (u16, String) {
    let text = format!("  {}\n", caption_for(&query_url(body)));
    let reply = json!({"id": "c", "object": "chat.completion", "model": "served",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105}});
    (200, reply.to_string())
}

fn captioner(url: &str, options: OpenAiCaptionOptions) -> OpenAiCaptioner {
    let client = ChatClient::new(ChatClientConfig {
        base_url: url.into(),
        model: "covip-test".into(),
        timeout_secs: 10.0,
        retries: 1,
        backoff_secs: 0.01,
        ..Default::default()
    });
    OpenAiCaptioner::new(client, options).unwrap()
}

#[test]
fn sends_the_local_captioners_conversation_with_images_as_data_urls() {
    let server = serve(answer);
    let samples = samples();
    assert!(samples.len() >= 3, "{}", samples.len());
    let mut c = captioner(&server.url, OpenAiCaptionOptions::default());
    assert_eq!(c.batch_size(), 8);
    let refs: Vec<&Sample> = samples.iter().collect();
    let captions = c.caption(&refs).unwrap();
    let bodies = server.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), samples.len());
    let instruction = Templates::default().caption_instruction;
    assert!(!instruction.is_empty());
    for (s, caption) in samples.iter().zip(&captions) {
        // The request of this sample (matched by its query image).
        let query = image_data_url(&s.query.read_bytes().unwrap()).unwrap();
        let body = bodies
            .iter()
            .find(|b| query_url(b) == query)
            .unwrap_or_else(|| panic!("no request for {}", s.id));
        // The caption is the server's text, trimmed, for the right sample.
        assert_eq!(caption, &caption_for(&query), "{}", s.id);
        assert_eq!(body["model"], "covip-test");
        assert_eq!(body["temperature"], 0.0);
        assert_eq!(body["max_tokens"], 512);
        assert_eq!(body["chat_template_kwargs"], json!({"add_vision_id": true}));
        for unset in ["top_p", "top_k", "seed", "n", "stop", "logprobs", "stream"] {
            assert!(body.get(unset).is_none(), "{unset} sent for {}", s.id);
        }
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0]["role"], "user");
        let parts = messages[0]["content"].as_array().unwrap();
        // One image part per context image plus the query, each a data URL.
        let images: Vec<&str> = parts
            .iter()
            .filter(|p| p["type"] == "image_url")
            .map(|p| p["image_url"]["url"].as_str().unwrap())
            .collect();
        assert_eq!(images.len(), s.context.len() + 1, "{}", s.id);
        assert!(images.iter().all(|u| u.starts_with("data:image/")));
        let text: String = parts.iter().filter_map(|p| p["text"].as_str()).collect();
        assert!(text.contains(&instruction), "{}: {text}", s.id);
        // Part for part, the conversation LocalCaptioner encodes.
        let want = caption_prompt(
            &s.context,
            &s.query,
            QueryHeader::NewImage,
            &Templates::default(),
        );
        assert_eq!(want.len(), 1);
        assert_eq!(parts.len(), want[0].parts.len(), "{}", s.id);
        for (got, want) in parts.iter().zip(&want[0].parts) {
            match want {
                Part::Text(t) => assert_eq!(got, &json!({"type": "text", "text": t})),
                Part::Image(r) => {
                    let url = image_data_url(&r.read_bytes().unwrap()).unwrap();
                    assert_eq!(
                        got,
                        &json!({"type": "image_url", "image_url": {"url": url}})
                    );
                }
            }
        }
    }
}

#[test]
fn a_batch_is_sent_concurrently_within_the_bound() {
    let server = serve(answer);
    let samples = samples();
    // Repeat the set so a batch has more requests than the bound.
    let many: Vec<&Sample> = samples.iter().cycle().take(10).collect();
    let mut c = captioner(
        &server.url,
        OpenAiCaptionOptions {
            concurrency: 3,
            max_tokens: 64,
            seed: Some(5),
            add_vision_id: false,
            ..Default::default()
        },
    );
    assert_eq!(c.batch_size(), 3);
    let captions = c.caption(&many).unwrap();
    assert_eq!(captions.len(), 10);
    let peak = server.peak.load(Ordering::SeqCst);
    assert!((2..=3).contains(&peak), "peak in flight {peak}");
    let bodies = server.bodies.lock().unwrap();
    assert!(bodies.iter().all(|b| b["max_tokens"] == 64
        && b["seed"] == 5
        && b.get("chat_template_kwargs").is_none()));
}

#[test]
fn a_captioning_run_writes_every_caption() {
    let server = serve(answer);
    let samples = samples();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("caps.json");
    let mut c = captioner(
        &server.url,
        OpenAiCaptionOptions {
            concurrency: 2,
            ..Default::default()
        },
    );
    let report = run_captioning(&mut c, &samples, &out, None, &mut |_| {}).unwrap();
    assert!(report.written && report.remaining == 0);
    let got: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(got.len(), samples.len());
    for s in &samples {
        let query = image_data_url(&s.query.read_bytes().unwrap()).unwrap();
        assert_eq!(got[&s.id], caption_for(&query));
    }
}

#[test]
fn a_server_error_names_the_sample_and_the_status() {
    let server = serve(|_| {
        (
            400,
            json!({"error": {"message": "prompt is longer than the context"}}).to_string(),
        )
    });
    let samples = samples();
    let mut c = captioner(&server.url, OpenAiCaptionOptions::default());
    let e = c.caption(&[&samples[0]]).unwrap_err();
    assert!(matches!(e, CaptionError::Remote { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&samples[0].id)
            && text.contains("HTTP 400")
            && text.contains("prompt is longer than the context"),
        "{text}"
    );
}

#[test]
fn bad_options_and_unreadable_images_are_errors() {
    let client = || ChatClient::new(ChatClientConfig::default());
    for (options, what) in [
        (
            OpenAiCaptionOptions {
                concurrency: 0,
                ..Default::default()
            },
            "concurrency",
        ),
        (
            OpenAiCaptionOptions {
                max_tokens: 0,
                ..Default::default()
            },
            "max_tokens",
        ),
        (
            OpenAiCaptionOptions {
                temperature: f64::NAN,
                ..Default::default()
            },
            "temperature",
        ),
    ] {
        let e = OpenAiCaptioner::new(client(), options).unwrap_err();
        assert!(e.to_string().contains(what), "{e}");
    }
    // A sample whose image is not an image: an error naming it, before any request.
    let server = serve(answer);
    let mut s = samples().remove(0);
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("not_an_image.png");
    std::fs::write(&bogus, b"<html>nope</html>").unwrap();
    s.query = covip_data::ImageRef::path(&bogus);
    let c = captioner(&server.url, OpenAiCaptionOptions::default());
    let e = c.request(&s).unwrap_err().to_string();
    assert!(e.contains("not_an_image.png") && e.contains(&s.id), "{e}");
    assert!(server.bodies.lock().unwrap().is_empty());
}
