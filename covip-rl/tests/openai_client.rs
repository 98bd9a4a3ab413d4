//! The OpenAI-compatible chat client against a tiny HTTP server on 127.0.0.1 that records
//! what it is sent and answers canned JSON (no network).
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use covip_rl::openai::{
    ChatClient, ChatClientConfig, ChatMessage, ChatRequest, ChatRole, ContentPart, MessageContent,
    OpenAiError, image_data_url,
};
use serde_json::{Value, json};

/// One request as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    auth: Option<String>,
    body: Value,
}

/// An answer: status, extra headers, body.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    fn status(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }
}

/// What the server answers to the n-th request (0-based).
type Behaviour = dyn Fn(usize, &Seen) -> Reply + Send + Sync;

struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    hits: Arc<AtomicUsize>,
}

impl Server {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Seen> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut words = line.split_whitespace();
    let method = words.next()?.to_string();
    let path = words.next()?.to_string();
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
    let body = if len == 0 {
        Value::Null
    } else {
        serde_json::from_slice(&body).ok()?
    };
    Some(Seen {
        method,
        path,
        auth,
        body,
    })
}

fn serve(behaviour: impl Fn(usize, &Seen) -> Reply + Send + Sync + 'static) -> Server {
    let behaviour: Arc<Behaviour> = Arc::new(behaviour);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let hits = Arc::new(AtomicUsize::new(0));
    let (s, h) = (seen.clone(), hits.clone());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (s, h, behaviour) = (s.clone(), h.clone(), behaviour.clone());
            thread::spawn(move || {
                let Ok(read) = stream.try_clone() else { return };
                let mut reader = BufReader::new(read);
                while let Some(req) = read_request(&mut reader) {
                    let n = h.fetch_add(1, Ordering::SeqCst);
                    s.lock().unwrap().push(req.clone());
                    let reply = behaviour(n, &req);
                    let mut head = format!(
                        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
                        reply.status,
                        reply.body.len()
                    );
                    for (k, v) in &reply.headers {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    head.push_str("\r\n");
                    if stream.write_all(head.as_bytes()).is_err()
                        || stream.write_all(reply.body.as_bytes()).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    Server { url, seen, hits }
}

fn client(url: &str) -> ChatClient {
    ChatClient::new(ChatClientConfig {
        base_url: url.into(),
        model: "m".into(),
        timeout_secs: 5.0,
        retries: 2,
        backoff_secs: 0.01,
        ..Default::default()
    })
}

fn completion(texts: &[&str]) -> Value {
    let choices: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"index": i, "message": {"role": "assistant", "content": t},
                   "finish_reason": "stop", "logprobs": null})
        })
        .collect();
    json!({"id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "m",
           "choices": choices,
           "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}})
}

/// A 1×1 PNG (what the bytes are matters only for the sniffed MIME type).
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";

#[test]
fn sends_images_as_data_urls_sampling_at_the_top_level_and_nothing_unset() {
    let server = serve(|_, _| Reply::ok(completion(&["A cat."])));
    let dir = tempfile::tempdir().unwrap();
    let jpg = dir.path().join("photo.jpg");
    std::fs::write(&jpg, [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F']).unwrap();
    let mut kwargs = serde_json::Map::new();
    kwargs.insert("add_vision_id".into(), json!(true));
    let request = ChatRequest {
        messages: vec![
            ChatMessage::system("Be brief."),
            ChatMessage::user_parts(vec![
                ContentPart::text("First "),
                ContentPart::image_bytes(PNG).unwrap(),
                ContentPart::image_file(&jpg).unwrap(),
                ContentPart::text("describe."),
            ]),
        ],
        temperature: Some(0.7),
        top_k: Some(20),
        min_p: Some(0.05),
        repetition_penalty: Some(1.1),
        max_tokens: Some(32),
        seed: Some(7),
        stop: vec!["\n\n".into()],
        n: Some(1),
        chat_template_kwargs: Some(kwargs),
        ..Default::default()
    };
    let r = client(&server.url).chat(&request).unwrap();
    assert_eq!(r.text(), "A cat.");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(seen[0].auth, None);
    let b = &seen[0].body;
    let want = json!({
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "First "},
                {"type": "image_url", "image_url": {"url": image_data_url(PNG).unwrap()}},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkY="}},
                {"type": "text", "text": "describe."}
            ]}
        ],
        "temperature": 0.7,
        "top_k": 20,
        "min_p": 0.05,
        "repetition_penalty": 1.1,
        "max_tokens": 32,
        "seed": 7,
        "stop": ["\n\n"],
        "n": 1,
        "chat_template_kwargs": {"add_vision_id": true}
    });
    assert_eq!(b, &want);
    let png_url = b["messages"][1]["content"][1]["image_url"]["url"]
        .as_str()
        .unwrap();
    assert!(
        png_url.starts_with("data:image/png;base64,iVBORw0KGgo"),
        "{png_url}"
    );
    // Unset: top_p, penalties, logprobs are not in the JSON (server defaults apply).
    for k in [
        "top_p",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "stream",
    ] {
        assert!(b.get(k).is_none(), "{k} was sent: {b}");
    }
}

#[test]
fn parses_n_choices_with_logprobs_and_usage() {
    let server = serve(|_, _| {
        Reply::ok(json!({
            "id": "chatcmpl-7", "object": "chat.completion", "created": 99, "model": "served",
            "choices": [
                {"index": 1, "message": {"role": "assistant", "content": "No"},
                 "finish_reason": "length",
                 "logprobs": {"content": [{"token": "No", "logprob": -2.0, "bytes": [78, 111],
                                           "top_logprobs": []}]}},
                {"index": 0, "message": {"role": "assistant", "content": "Yes"},
                 "finish_reason": "stop",
                 "logprobs": {"content": [{"token": "Yes", "logprob": -0.125, "bytes": [89, 101, 115],
                                           "top_logprobs": [{"token": "Yes", "logprob": -0.125, "bytes": [89, 101, 115]},
                                                            {"token": "No", "logprob": -2.0, "bytes": [78, 111]}]}]}}
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}
        }))
    });
    let request = ChatRequest {
        messages: vec![ChatMessage::user("Same cup?")],
        n: Some(2),
        seed: Some(3),
        logprobs: Some(true),
        top_logprobs: Some(2),
        ..Default::default()
    };
    let r = client(&server.url).chat(&request).unwrap();
    let b = &server.seen()[0].body;
    assert_eq!(
        (
            b["n"].clone(),
            b["logprobs"].clone(),
            b["top_logprobs"].clone()
        ),
        (json!(2), json!(true), json!(2))
    );
    assert_eq!(
        (r.id.as_str(), r.model.as_str(), r.created),
        ("chatcmpl-7", "served", 99)
    );
    // Ordered by index whatever order the server sent them in.
    let texts: Vec<&str> = r.choices.iter().map(|c| c.text()).collect();
    assert_eq!(texts, ["Yes", "No"]);
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
    assert_eq!(r.choices[1].finish_reason.as_deref(), Some("length"));
    let lp = r.choices[0].logprobs.as_ref().unwrap();
    assert_eq!(lp.len(), 1);
    assert_eq!((lp[0].token.as_str(), lp[0].logprob), ("Yes", -0.125));
    assert_eq!(lp[0].bytes.as_deref(), Some(&b"Yes"[..]));
    assert_eq!(lp[0].top_logprobs[1].token, "No");
    let u = r.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (12, 2, 14)
    );
}

#[test]
fn retries_429_and_503_honouring_retry_after_then_succeeds() {
    let server = serve(|n, _| match n {
        0 => Reply {
            status: 429,
            headers: vec![("Retry-After", "0.3".into())],
            body: json!({"error": {"message": "slow down", "type": "rate_limit"}}).to_string(),
        },
        1 => Reply::status(503, json!({"error": {"message": "queue full"}})),
        _ => Reply::ok(completion(&["done"])),
    });
    let start = Instant::now();
    let r = client(&server.url)
        .chat(&ChatRequest::new(vec![ChatMessage::user("q")]))
        .unwrap();
    assert_eq!(r.text(), "done");
    assert_eq!(server.hits.load(Ordering::SeqCst), 3);
    // The Retry-After of 0.3 s was waited, not the 0.01 s backoff.
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn retry_after_is_capped() {
    let server = serve(|n, _| match n {
        0 => Reply {
            status: 503,
            headers: vec![("Retry-After", "3600".into())],
            body: "{}".into(),
        },
        _ => Reply::ok(completion(&["ok"])),
    });
    let c = ChatClient::new(ChatClientConfig {
        base_url: server.url.clone(),
        model: "m".into(),
        retries: 1,
        backoff_secs: 0.01,
        max_backoff_secs: 0.05,
        timeout_secs: 5.0,
        ..Default::default()
    });
    let start = Instant::now();
    assert_eq!(
        c.chat(&ChatRequest::new(vec![ChatMessage::user("q")]))
            .unwrap()
            .text(),
        "ok"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_401_is_not_retried_and_carries_the_server_message() {
    let server = serve(|_, _| {
        Reply::status(
            401,
            json!({"object": "error", "error": {"message": "invalid API key", "type": "authentication_error", "code": 401}}),
        )
    });
    let c = ChatClient::new(ChatClientConfig {
        base_url: server.url.clone(),
        model: "m".into(),
        api_key: Some("sk-wrong".into()),
        backoff_secs: 0.01,
        ..Default::default()
    });
    let e = c
        .chat(&ChatRequest::new(vec![ChatMessage::user("q")]))
        .unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert!(
        matches!(&e, OpenAiError::Status { attempts: 1, message, .. } if message == "invalid API key"),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("HTTP 401")
            && text.contains("invalid API key")
            && text.contains("/v1/chat/completions"),
        "{text}"
    );
    assert!(!text.contains("sk-wrong"), "{text}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    assert_eq!(server.seen()[0].auth.as_deref(), Some("Bearer sk-wrong"));
}

#[test]
fn a_400_names_the_field_and_persistent_5xx_gives_up() {
    let server = serve(|_, _| {
        Reply::status(
            400,
            json!({"error": {"message": "top_p must be in (0, 1], got 2.0", "param": "top_p"}}),
        )
    });
    let e = client(&server.url)
        .chat(&ChatRequest {
            top_p: Some(2.0),
            ..ChatRequest::new(vec![ChatMessage::user("q")])
        })
        .unwrap_err();
    assert!(e.to_string().contains("top_p must be in (0, 1]"), "{e}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);

    let server = serve(|_, _| Reply::status(500, json!({"error": "boom"})));
    let e = client(&server.url)
        .chat(&ChatRequest::new(vec![ChatMessage::user("q")]))
        .unwrap_err();
    assert!(
        matches!(
            e,
            OpenAiError::Status {
                status: 500,
                attempts: 3,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("after 3 attempt(s): HTTP 500: boom"),
        "{e}"
    );
    assert_eq!(server.hits.load(Ordering::SeqCst), 3);
}

#[test]
fn a_dead_server_is_a_transport_error_after_the_retries() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = client(&format!("http://127.0.0.1:{port}/v1"))
        .chat(&ChatRequest::new(vec![ChatMessage::user("q")]))
        .unwrap_err();
    assert!(
        matches!(e, OpenAiError::Transport { attempts: 3, .. }),
        "{e:?}"
    );
}

#[test]
fn malformed_and_oversized_answers_are_response_errors() {
    let server = serve(|_, _| Reply::ok(json!({"choices": []})));
    let e = client(&server.url)
        .chat(&ChatRequest::new(vec![ChatMessage::user("q")]))
        .unwrap_err();
    assert!(
        matches!(&e, OpenAiError::Response { message, .. } if message.contains("no choices")),
        "{e:?}"
    );
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        1,
        "a bad answer is not retried"
    );

    let server = serve(|_, _| Reply::ok(completion(&[&"x".repeat(10_000)])));
    let c = ChatClient::new(ChatClientConfig {
        base_url: server.url.clone(),
        model: "m".into(),
        max_response_bytes: 1000,
        ..Default::default()
    });
    let e = c
        .chat(&ChatRequest::new(vec![ChatMessage::user("q")]))
        .unwrap_err();
    assert!(e.to_string().contains("larger than 1000 bytes"), "{e}");
}

#[test]
fn lists_models_and_defaults_to_the_first_one_once() {
    let server = serve(|_, req| {
        if req.path == "/v1/models" {
            Reply::ok(json!({"object": "list", "data": [
                {"id": "covip-2b", "object": "model", "owned_by": "covip"},
                {"id": "other", "object": "model"}]}))
        } else {
            Reply::ok(completion(&["hi"]))
        }
    });
    // A base URL without a path gets /v1.
    let root = server.url.trim_end_matches("/v1").to_string();
    let c = ChatClient::new(ChatClientConfig {
        base_url: root,
        ..Default::default()
    });
    assert_eq!(c.models().unwrap(), ["covip-2b", "other"]);
    for _ in 0..2 {
        c.chat(&ChatRequest::new(vec![ChatMessage::user("q")]))
            .unwrap();
    }
    // A request naming its model keeps it.
    c.chat(&ChatRequest {
        model: Some("other".into()),
        ..ChatRequest::new(vec![ChatMessage::user("q")])
    })
    .unwrap();
    let seen = server.seen();
    let paths: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("GET", "/v1/models"),
            ("GET", "/v1/models"),
            ("POST", "/v1/chat/completions"),
            ("POST", "/v1/chat/completions"),
            ("POST", "/v1/chat/completions"),
        ]
    );
    let models: Vec<&Value> = seen[2..].iter().map(|s| &s.body["model"]).collect();
    assert_eq!(
        models,
        [&json!("covip-2b"), &json!("covip-2b"), &json!("other")]
    );
}

#[test]
fn chat_many_keeps_order_with_bounded_concurrency() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (f, p) = (in_flight.clone(), peak.clone());
    let server = serve(move |_, req| {
        let now = f.fetch_add(1, Ordering::SeqCst) + 1;
        p.fetch_max(now, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(30));
        f.fetch_sub(1, Ordering::SeqCst);
        let q = req.body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .to_string();
        Reply::ok(completion(&[&format!("answer to {q}")]))
    });
    let requests: Vec<ChatRequest> = (0..12)
        .map(|i| ChatRequest::new(vec![ChatMessage::user(format!("q{i}"))]))
        .collect();
    let out = client(&server.url).chat_many(&requests, 3);
    let texts: Vec<String> = out
        .into_iter()
        .map(|r| r.unwrap().text().to_string())
        .collect();
    let want: Vec<String> = (0..12).map(|i| format!("answer to q{i}")).collect();
    assert_eq!(texts, want);
    let peak = peak.load(Ordering::SeqCst);
    assert!((2..=3).contains(&peak), "peak concurrency {peak}");
}

#[test]
fn refuses_what_it_cannot_send_without_a_request() {
    let server = serve(|_, _| Reply::ok(completion(&["x"])));
    let c = client(&server.url);
    let e = c
        .chat(&ChatRequest {
            temperature: Some(f64::INFINITY),
            ..ChatRequest::new(vec![ChatMessage::user("q")])
        })
        .unwrap_err();
    assert!(
        matches!(&e, OpenAiError::Invalid(m) if m.contains("temperature")),
        "{e:?}"
    );
    let e = ContentPart::image_bytes(b"GIF8").unwrap_err();
    assert!(e.to_string().contains("not a PNG"), "{e}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
}

#[test]
fn messages_round_trip_through_serde() {
    let m = ChatMessage::user_parts(vec![
        ContentPart::image_url("data:image/png;base64,AA=="),
        ContentPart::text("x"),
    ]);
    let v = serde_json::to_value(&m).unwrap();
    let back: ChatMessage = serde_json::from_value(v).unwrap();
    assert_eq!(back, m);
    let plain: ChatMessage =
        serde_json::from_value(json!({"role": "assistant", "content": "ok"})).unwrap();
    assert_eq!(
        (plain.role, plain.content),
        (ChatRole::Assistant, MessageContent::Text("ok".into()))
    );
}
