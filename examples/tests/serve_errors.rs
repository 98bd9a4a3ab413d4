//! `covip serve` on the fixture checkpoint: the endpoints answer in vLLM's shapes, and every
//! bad input gets the OpenAI error object with its status and a message naming the field.
mod serve_common;

use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use serde_json::{Value, json};
use serve_common::{Serve, data_url, fixture_png};

const CHAT: &str = "/v1/chat/completions";
const COMPLETIONS: &str = "/v1/completions";

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn greedy_chat(text: &str, max_tokens: u64) -> Value {
    json!({"messages": user(text), "temperature": 0, "max_tokens": max_tokens})
}

#[test]
fn endpoints_answer_in_vllm_shapes() {
    let s = Serve::start(&["--served-model-name", "tiny"]);
    assert_eq!(s.get("/health").status, 200);

    let m = s.get("/v1/models");
    assert_eq!(m.status, 200, "{}", m.body);
    let m = m.json();
    assert_eq!(m["object"], "list");
    assert_eq!(m["data"][0]["id"], "tiny");
    assert_eq!(m["data"][0]["object"], "model");

    // Chat: text and an image, greedy; the same request answers the same.
    let body = json!({
        "model": "tiny",
        "messages": [
            {"role": "system", "content": "You describe pictures."},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": data_url(&fixture_png())}},
                {"type": "text", "text": "What is in the picture?"}
            ]}
        ],
        "temperature": 0,
        "max_tokens": 8,
        "logprobs": true,
        "top_logprobs": 3
    });
    let r = s.post(CHAT, &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "tiny");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(v["created"].as_u64().unwrap() > 0);
    let c = &v["choices"][0];
    assert_eq!(c["index"], 0);
    assert_eq!(c["message"]["role"], "assistant");
    assert!(c["message"]["content"].is_string());
    let fr = c["finish_reason"].as_str().unwrap();
    assert!(fr == "stop" || fr == "length", "{fr}");
    let u = &v["usage"];
    let (p, k) = (
        u["prompt_tokens"].as_u64().unwrap(),
        u["completion_tokens"].as_u64().unwrap(),
    );
    assert!(p > 10 && (1..=8).contains(&k), "{u}");
    assert_eq!(u["total_tokens"].as_u64().unwrap(), p + k);
    let lps = c["logprobs"]["content"].as_array().unwrap();
    assert_eq!(lps.len() as u64, k);
    for e in lps {
        assert!(e["logprob"].as_f64().unwrap() <= 0.0);
        assert!(e["token"].is_string() && e["bytes"].is_array());
        let top = e["top_logprobs"].as_array().unwrap();
        assert_eq!(top.len(), 3);
        // Greedy: the sampled token is the most likely one.
        assert!(
            (top[0]["logprob"].as_f64().unwrap() - e["logprob"].as_f64().unwrap()).abs() < 1e-5
        );
    }
    // chat_template_kwargs.add_vision_id: the "Picture 1: " label lengthens the prompt.
    let mut labelled = body.clone();
    labelled["chat_template_kwargs"] = json!({"add_vision_id": true});
    let l = s.post(CHAT, &labelled).json();
    assert!(l["usage"]["prompt_tokens"].as_u64().unwrap() > p, "{l}");
    let again = s.post(CHAT, &body).json();
    assert_eq!(again["choices"][0]["message"], c["message"]);

    // Streaming: chunks concatenate to the same text; usage comes last.
    let mut sbody = greedy_chat("Say something.", 12);
    let plain = s.chat_text(&sbody);
    sbody["stream"] = json!(true);
    sbody["stream_options"] = json!({"include_usage": true});
    let r = s.post(CHAT, &sbody);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    let data = r.sse_data();
    assert_eq!(
        data.last().map(String::as_str),
        Some("[DONE]"),
        "{}",
        r.body
    );
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(streamed, plain);
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"].as_array().unwrap().len(), 0);
    assert!(last["usage"]["completion_tokens"].as_u64().unwrap() >= 1);
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"].is_string())
    );

    // Streamed log-probs are the non-streamed ones, entry for entry.
    let mut lb = greedy_chat("Say something.", 12);
    lb["logprobs"] = json!(true);
    lb["top_logprobs"] = json!(2);
    let whole = s.post(CHAT, &lb).json()["choices"][0]["logprobs"]["content"].clone();
    lb["stream"] = json!(true);
    let mut pieces = Vec::new();
    for d in s.post(CHAT, &lb).sse_data() {
        if d == "[DONE]" {
            break;
        }
        let v: Value = serde_json::from_str(&d).unwrap();
        if let Some(a) = v["choices"][0]["logprobs"]["content"].as_array() {
            pieces.extend(a.iter().cloned());
        }
    }
    assert_eq!(Value::Array(pieces), whole);

    // n samples with a seed reproduce.
    let nb =
        json!({"messages": user("Hello"), "n": 3, "seed": 7, "temperature": 1.0, "max_tokens": 6});
    let a = s.post(CHAT, &nb).json();
    let b = s.post(CHAT, &nb).json();
    assert_eq!(a["choices"].as_array().unwrap().len(), 3);
    assert_eq!(a["choices"], b["choices"]);

    // Completions: a string prompt and token ids.
    let r = s.post(
        COMPLETIONS,
        &json!({"prompt": "Once upon", "temperature": 0, "max_tokens": 5, "logprobs": 2}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["object"], "text_completion");
    assert!(v["choices"][0]["text"].is_string());
    assert_eq!(
        v["choices"][0]["logprobs"]["top_logprobs"][0]
            .as_object()
            .unwrap()
            .len(),
        2
    );
    let r = s.post(
        COMPLETIONS,
        &json!({"prompt": [1, 2, 3], "temperature": 0, "max_tokens": 4}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["usage"]["prompt_tokens"], 3);
    // max_tokens omitted: the rest of the context; a completion stream ends with [DONE].
    let r = s.post(
        COMPLETIONS,
        &json!({"prompt": [1, 2, 3], "temperature": 0, "max_tokens": 3, "stream": true}),
    );
    assert_eq!(r.sse_data().last().map(String::as_str), Some("[DONE]"));

    // A stop string cuts the text before it and ends the choice with "stop".
    let long = s.post(
        COMPLETIONS,
        &json!({"prompt": [5, 6, 7], "temperature": 0, "max_tokens": 40, "ignore_eos": true}),
    );
    let text = long.json()["choices"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    let chars: Vec<char> = text.chars().collect();
    assert!(chars.len() >= 6, "{text:?}");
    let stop: String = chars[3..5].iter().collect();
    let cut = text.find(&stop).unwrap();
    let r = s.post(COMPLETIONS, &json!({"prompt": [5, 6, 7], "temperature": 0, "max_tokens": 40, "ignore_eos": true, "stop": [stop]}));
    let v = r.json();
    assert_eq!(
        v["choices"][0]["text"].as_str().unwrap(),
        &text[..cut],
        "stop {stop:?}"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    // Streamed, the same cut.
    let r = s.post(COMPLETIONS, &json!({"prompt": [5, 6, 7], "temperature": 0, "max_tokens": 40, "ignore_eos": true, "stop": stop, "stream": true}));
    let streamed: String = r
        .sse_data()
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| {
            serde_json::from_str::<Value>(d).unwrap()["choices"][0]["text"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(streamed, &text[..cut]);

    s.terminate();
}

#[test]
fn bad_inputs_get_their_status_and_name_their_field() {
    let media = tempfile::tempdir().unwrap();
    let allowed = media.path().join("allowed");
    std::fs::create_dir(&allowed).unwrap();
    std::fs::write(allowed.join("ok.png"), fixture_png()).unwrap();
    std::fs::write(media.path().join("secret.png"), fixture_png()).unwrap();
    let s = Serve::start(&[
        "--max-batch",
        "4",
        "--allowed-media-dir",
        allowed.to_str().unwrap(),
    ]);
    let ctx = s.get("/v1/models").json()["data"][0]["max_model_len"]
        .as_u64()
        .unwrap();

    // Malformed JSON.
    s.post_raw(CHAT, b"{\"messages\": [")
        .assert_error(400, "JSON");
    s.post_raw(CHAT, b"not json").assert_error(400, "JSON");
    // Missing and mistyped fields.
    s.post(CHAT, &json!({"temperature": 0}))
        .assert_error(400, "messages");
    s.post(CHAT, &json!({"messages": user("hi"), "temperature": "hot"}))
        .assert_error(400, "temperature");
    s.post(CHAT, &json!({"messages": []}))
        .assert_error(400, "messages");
    // Unknown role, unknown part type.
    s.post(
        CHAT,
        &json!({"messages": [{"role": "wizard", "content": "hi"}]}),
    )
    .assert_error(400, "messages[0].role");
    s.post(
        CHAT,
        &json!({"messages": [{"role": "user", "content": [{"type": "video", "video": "x"}]}]}),
    )
    .assert_error(400, "messages[0].content[0].type");
    // Out-of-range parameters.
    let bad: &[(&str, Value)] = &[
        ("temperature", json!(-0.1)),
        ("top_p", json!(0)),
        ("top_p", json!(1.5)),
        ("top_k", json!(-2)),
        ("min_p", json!(1.5)),
        ("presence_penalty", json!(2.5)),
        ("frequency_penalty", json!(-3)),
        ("repetition_penalty", json!(0)),
        ("n", json!(0)),
        ("n", json!(5)),
        ("max_tokens", json!(-1)),
        ("max_tokens", json!(0)),
        ("max_completion_tokens", json!(-5)),
        ("top_logprobs", json!(21)),
        ("seed", json!("x")),
        ("stop", json!(5)),
    ];
    for (field, value) in bad {
        let mut body = json!({"messages": user("hi"), "logprobs": true});
        body[*field] = value.clone();
        s.post(CHAT, &body).assert_error(400, field);
    }
    s.post(COMPLETIONS, &json!({"prompt": "hi", "logprobs": 21}))
        .assert_error(400, "logprobs");
    s.post(COMPLETIONS, &json!({"prompt": [1, 999999]}))
        .assert_error(400, "prompt[1]");
    s.post(COMPLETIONS, &json!({"prompt": {"a": 1}}))
        .assert_error(400, "prompt");
    s.post(
        CHAT,
        &json!({"messages": user("hi"), "chat_template_kwargs": {"add_vision_id": 1}}),
    )
    .assert_error(400, "chat_template_kwargs.add_vision_id");
    // Image placeholders typed into text: only the server places them.
    s.post(COMPLETIONS, &json!({"prompt": "look <|image_pad|> here"}))
        .assert_error(400, "prompt");
    s.post(CHAT, &json!({"messages": user("look <|image_pad|> here")}))
        .assert_error(400, "messages");
    // A prompt longer than the context, and a completion past it.
    let long: Vec<u64> = vec![5; ctx as usize + 1];
    s.post(COMPLETIONS, &json!({"prompt": long}))
        .assert_error(400, "prompt");
    s.post(COMPLETIONS, &json!({"prompt": [5, 6], "max_tokens": ctx}))
        .assert_error(400, "max_tokens");
    let words = "word ".repeat(ctx as usize + 10);
    s.post(CHAT, &json!({"messages": user(&words)}))
        .assert_error(400, "messages");
    // Images: undecodable, refused URLs, paths outside the allowed folder.
    let img = |url: &str| {
        json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": url}}
        ]}], "max_tokens": 2})
    };
    let field = "messages[0].content[1].image_url";
    let e = s
        .post(CHAT, &img(&data_url(b"definitely not a png")))
        .assert_error(400, field);
    assert!(e["message"].as_str().unwrap().contains("decode"), "{e}");
    s.post(CHAT, &img("data:image/png;base64,!!!"))
        .assert_error(400, field);
    let e = s
        .post(CHAT, &img("https://example.com/cat.png"))
        .assert_error(400, field);
    assert!(e["message"].as_str().unwrap().contains("http"), "{e}");
    s.post(CHAT, &img("/etc/passwd")).assert_error(400, field);
    s.post(CHAT, &img("../secret.png")).assert_error(400, field);
    let outside = format!("file://{}", media.path().join("secret.png").display());
    s.post(CHAT, &img(&outside)).assert_error(400, field);
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(media.path().join("secret.png"), allowed.join("link.png"))
            .unwrap();
        s.post(CHAT, &img("link.png")).assert_error(400, field);
    }
    // A file under the allowed folder is taken.
    let r = s.post(CHAT, &img("ok.png"));
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.post(
        CHAT,
        &img(&format!("file://{}", allowed.join("ok.png").display())),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Unknown model: 404.
    s.post(CHAT, &json!({"model": "gpt-5", "messages": user("hi")}))
        .assert_error(404, "gpt-5");
    s.post(COMPLETIONS, &json!({"model": "gpt-5", "prompt": "hi"}))
        .assert_error(404, "gpt-5");
    // Still healthy after all of that.
    assert_eq!(s.get("/health").status, 200);
    assert_eq!(
        s.chat_text(&greedy_chat("hi", 3)),
        s.chat_text(&greedy_chat("hi", 3))
    );
    s.terminate();
}

#[test]
fn api_key_body_limit_and_full_queue() {
    let mut s = Serve::start(&[
        "--api-key",
        "sekrit",
        "--max-body-bytes",
        "4000",
        "--max-batch",
        "1",
        "--max-queue",
        "1",
    ]);
    // 401 without the key, with a wrong one; /health stays open.
    s.get("/v1/models").assert_error(401, "API key");
    s.post(CHAT, &greedy_chat("hi", 2))
        .assert_error(401, "API key");
    s.post_with_headers(
        CHAT,
        &greedy_chat("hi", 2),
        &[("Authorization", "Bearer wrong")],
    )
    .assert_error(401, "API key");
    assert_eq!(s.get("/health").status, 200);
    s.key = Some("sekrit".into());
    assert_eq!(s.get("/v1/models").status, 200);
    // 413 past --max-body-bytes.
    let big = json!({"messages": user(&"x".repeat(5000))});
    s.post(CHAT, &big).assert_error(413, "max-body-bytes");
    // 503 with Retry-After when the queue is full: one request running (batch of 1), one
    // waiting (queue of 1), the third refused.
    let long = json!({"prompt": [5, 6, 7], "temperature": 0, "max_tokens": 4000, "ignore_eos": true, "stream": true});
    let running = s.post_stream(COMPLETIONS, &long);
    let mut running = BufReader::new(running.into_reader());
    let mut line = String::new();
    running.read_line(&mut line).unwrap();
    assert!(line.starts_with("data: "), "{line}");
    // The second one is queued once its answer's headers arrive (the server has submitted it).
    let waiting = s.post_stream(COMPLETIONS, &long);
    let r = s.post(COMPLETIONS, &json!({"prompt": [5], "max_tokens": 1}));
    let e = r.assert_error(503, "queue");
    assert!(e["message"].as_str().unwrap().contains("queue"));
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
    // (The gauges follow the engine's steps: poll rather than read once.)
    let start = std::time::Instant::now();
    while s.load() != (1, 1) {
        assert!(start.elapsed() < Duration::from_secs(10), "{:?}", s.load());
        std::thread::sleep(Duration::from_millis(10));
    }
    // Clients that go away have their requests cancelled: both leave the engine within a few
    // decode steps (run out, they would take thousands).
    drop(running);
    drop(waiting);
    let start = std::time::Instant::now();
    while s.load() != (0, 0) {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "requests of gone clients still in the engine: {:?}",
            s.load()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = s.post(
        COMPLETIONS,
        &json!({"prompt": [5], "temperature": 0, "max_tokens": 1}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // A non-streamed request whose client hangs up is cancelled as well.
    let mut quiet = long.clone();
    quiet["stream"] = json!(false);
    let body = quiet.to_string();
    let mut conn = std::net::TcpStream::connect(s.addr).unwrap();
    write!(
        conn,
        "POST {COMPLETIONS} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer sekrit\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        s.addr,
        body.len()
    )
    .unwrap();
    let start = std::time::Instant::now();
    while s.load() != (1, 0) {
        assert!(start.elapsed() < Duration::from_secs(10), "{:?}", s.load());
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(conn);
    let start = std::time::Instant::now();
    while s.load() != (0, 0) {
        assert!(start.elapsed() < Duration::from_secs(3), "{:?}", s.load());
        std::thread::sleep(Duration::from_millis(20));
    }
    s.terminate();
}

#[test]
fn sigterm_finishes_requests_in_flight() {
    let s = Serve::start(&[]);
    let body = json!({"prompt": [5, 6, 7], "temperature": 0, "max_tokens": 1500, "ignore_eos": true, "stream": true});
    let mut reader = BufReader::new(s.post_stream(COMPLETIONS, &body).into_reader());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(first.starts_with("data: "), "{first}");
    // The request is decoding: SIGTERM now, then read the rest of its answer.
    let pid_done = std::thread::spawn(move || s.terminate_within(Duration::from_secs(120)));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    let status = pid_done.join().unwrap();
    assert!(status.success(), "{status:?}");
    let data: Vec<&str> = first
        .lines()
        .chain(rest.lines())
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "the stream was cut short");
    let finish: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter(|v| v["choices"][0]["finish_reason"].is_string())
        .collect();
    assert_eq!(finish.len(), 1);
    assert_eq!(finish[0]["choices"][0]["finish_reason"], "length");
}

/// Hundreds of broken requests (truncated, bytes flipped, fields of every JSON type, deep
/// nesting): each gets a 200 or an OpenAI error object, never a dropped connection, and the
/// server stays healthy. A short context keeps any generation they start short.
#[test]
fn mangled_requests_never_break_the_server() {
    let s = Serve::start(&["--max-model-len", "300", "--max-batch", "4"]);
    let chat = json!({
        "model": "tiny-qwen3-vl",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": data_url(&fixture_png())}}
            ]}
        ],
        "temperature": 0.5, "top_p": 0.9, "top_k": 5, "max_tokens": 3, "n": 2, "seed": 1,
        "stop": ["x"], "logprobs": true, "top_logprobs": 2, "stream": false
    });
    let completion = json!({"prompt": "Hello", "max_tokens": 3, "logprobs": 1, "stream": true});
    let values = [
        json!(null),
        json!(-1),
        json!(0),
        json!(1e308),
        json!(-9223372036854775808i64),
        json!(18446744073709551615u64),
        json!("x"),
        json!(""),
        json!([]),
        json!([1, "a", null]),
        json!({}),
        json!({"url": 5}),
        json!(true),
    ];
    // A fixed xorshift: the same mangled inputs every run.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..240 {
        let (path, base) = if i % 3 == 2 {
            (COMPLETIONS, &completion)
        } else {
            (CHAT, &chat)
        };
        let body: Vec<u8> = match i % 4 {
            // A field set to a value of another type.
            0 | 1 => {
                let mut v = base.clone();
                let keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
                let key = &keys[next(keys.len())];
                let value = values[next(values.len())].clone();
                if key == "messages" && next(2) == 0 {
                    // Inside a message or a part.
                    let m = next(2);
                    let field = ["role", "content", "type", "image_url", "text"][next(5)];
                    if m == 1 && next(2) == 0 {
                        v["messages"][1]["content"][next(2)][field] = value;
                    } else {
                        v["messages"][m][field] = value;
                    }
                } else {
                    v[key.as_str()] = value;
                }
                v.to_string().into_bytes()
            }
            // Truncated.
            2 => {
                let t = base.to_string().into_bytes();
                t[..next(t.len())].to_vec()
            }
            // A byte replaced.
            _ => {
                let mut t = base.to_string().into_bytes();
                let at = next(t.len());
                let bytes = b"{}[]\",:0-e\\\x00\xff";
                t[at] = bytes[next(bytes.len())];
                t
            }
        };
        let r = s.post_raw(path, &body);
        *statuses.entry(r.status).or_insert(0) += 1;
        match r.status {
            200 => {}
            400 | 404 => {
                r.assert_error(r.status, "");
            }
            other => panic!(
                "status {other} for {:?}: {}",
                String::from_utf8_lossy(&body),
                r.body
            ),
        }
    }
    // Deep nesting and a lone surrogate.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    s.post_raw(CHAT, deep.as_bytes()).assert_error(400, "JSON");
    let deep = format!(
        "{{\"messages\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    s.post_raw(CHAT, deep.as_bytes()).assert_error(400, "JSON");
    s.post_raw(
        CHAT,
        br#"{"messages": [{"role": "user", "content": "\ud800"}]}"#,
    )
    .assert_error(400, "JSON");
    assert!(
        statuses.get(&200).copied().unwrap_or(0) > 10,
        "{statuses:?}"
    );
    assert!(
        statuses.get(&400).copied().unwrap_or(0) > 10,
        "{statuses:?}"
    );
    assert_eq!(s.get("/health").status, 200);
    assert_eq!(s.load(), (0, 0));
    let r = s.post(CHAT, &greedy_chat("still there?", 2));
    assert_eq!(r.status, 200, "{}", r.body);
    s.terminate();
}
