//! `covip serve` under load, on the tiny fixture checkpoint over loopback (never the network):
//! greedy answers equal the library's greedy tokens for text and image prompts, alone and among
//! concurrent strangers; 64 mixed requests from 16 clients all answered and reproducible; `n`
//! samples reproduce and differ; streamed text equals the non-streamed text; covip-rl's
//! OpenAI judge client and covip-eval's OpenAI captioner run end to end against it.
mod serve_common;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use covip_data::image::ImageRef;
use covip_data::prompt::{Message, Role};
use covip_model::device::Cpu;
use covip_model::{
    GenerateOptions, LoadOptions, ModelBundle, RenderOptions, Sampling, Vision, generate,
};
use serde_json::{Value, json};
use serve_common::{Serve, data_url, fixture_model, fixture_png};

/// The fixture's served name: the folder's name.
const MODEL: &str = "tiny-qwen3-vl";
const TEXT_PROMPT: &str = "Describe the image in detail.";
const IMAGE_PROMPT: &str = "What is in this picture?";
/// Long enough that a batch forms around the request; short enough for the debug build.
const MAX_TOKENS: usize = 16;

/// The library's own answer to one prompt: its tokens, their text and how it ended.
#[derive(Debug, Clone)]
struct Reference {
    tokens: Vec<u32>,
    text: String,
    finish: &'static str,
}

/// The fixture loaded in this process once (vision tower included), for the reference answers.
fn bundle() -> &'static ModelBundle<Cpu> {
    static B: OnceLock<ModelBundle<Cpu>> = OnceLock::new();
    B.get_or_init(|| {
        let load = LoadOptions {
            vision: Vision::Load,
            ..Default::default()
        };
        ModelBundle::load(&fixture_model(), load, &Default::default()).expect("load the fixture")
    })
}

fn greedy_options(b: &ModelBundle<Cpu>, max_new_tokens: usize) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens,
        sampling: Sampling::greedy(),
        stop_ids: b.processor.stop_ids.clone(),
        seed: 0,
        pad_id: b.processor.pad_id,
    }
}

fn reference(b: &ModelBundle<Cpu>, tokens: Vec<u32>) -> Reference {
    let finish = match tokens.last() {
        Some(t) if b.processor.stop_ids.contains(t) => "stop",
        _ => "length",
    };
    Reference {
        text: b.processor.tokenizer.decode(&tokens, true).expect("decode"),
        tokens,
        finish,
    }
}

/// `covip_model::generate` on the chat-rendered user message `text`, greedy.
fn library_text(text: &str, max_new_tokens: usize) -> Reference {
    let b = bundle();
    let messages = [Message::text(Role::User, text)];
    let ids = b
        .processor
        .encode_chat(&messages, &[], RenderOptions::default())
        .expect("encode");
    let g = generate(
        b.weights.text(),
        &[ids],
        &greedy_options(b, max_new_tokens),
        &Default::default(),
        |_, _| {},
    )
    .expect("generate");
    reference(b, g.tokens.into_iter().next().expect("one row"))
}

/// The multimodal generation of the library on one user message: `png`, then `text`.
fn library_image(png: &[u8], text: &str, max_new_tokens: usize) -> Reference {
    let b = bundle();
    let rgb = b.images.decode(png, "fixture png").expect("decode the png");
    let px = b.images.process(&[rgb]).expect("process");
    let mut m = Message::new(Role::User);
    m.push_image(ImageRef::Embedded {
        bytes: png.to_vec(),
        path: None,
    });
    m.push_text(text);
    let ids = b
        .processor
        .encode_chat(&[m], &px.image_tokens(), RenderOptions::default())
        .expect("encode");
    let mm = b.multimodal().expect("the fixture has a vision tower");
    let g = mm
        .generate(
            &[ids],
            &[&px],
            &greedy_options(b, max_new_tokens),
            &Default::default(),
            |_, _| {},
        )
        .expect("generate");
    reference(b, g.tokens.into_iter().next().expect("one row"))
}

fn text_request(text: &str, max_tokens: usize) -> Value {
    json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": max_tokens,
        "temperature": 0,
    })
}

fn image_request(png: &[u8], text: &str, max_tokens: usize) -> Value {
    json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": data_url(png)}},
            {"type": "text", "text": text},
        ]}],
        "max_tokens": max_tokens,
        "temperature": 0,
    })
}

/// The server's answer to a one-choice chat request: text, completion tokens, finish reason.
fn chat(server: &Serve, body: &Value) -> (String, u64, String) {
    let r = server.post("/v1/chat/completions", body);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let c = &v["choices"][0];
    (
        c["message"]["content"]
            .as_str()
            .unwrap_or_else(|| panic!("no content: {v}"))
            .to_string(),
        v["usage"]["completion_tokens"]
            .as_u64()
            .unwrap_or_else(|| panic!("no usage: {v}")),
        c["finish_reason"].as_str().unwrap_or("").to_string(),
    )
}

fn assert_matches(what: &str, got: (String, u64, String), want: &Reference) {
    assert_eq!(got.0, want.text, "{what}: text differs from the library's");
    assert_eq!(
        got.1,
        want.tokens.len() as u64,
        "{what}: completion tokens differ from the library's {:?}",
        want.tokens
    );
    assert_eq!(got.2, want.finish, "{what}: finish reason");
}

#[test]
fn greedy_answers_equal_the_library_alone_and_among_concurrent_requests() {
    let png = fixture_png();
    let want_text = library_text(TEXT_PROMPT, MAX_TOKENS);
    let want_image = library_image(&png, IMAGE_PROMPT, MAX_TOKENS);
    assert!(!want_text.tokens.is_empty() && !want_image.tokens.is_empty());

    let server = Serve::start(&["--max-batch", "8"]);
    let text_req = text_request(TEXT_PROMPT, MAX_TOKENS);
    let image_req = image_request(&png, IMAGE_PROMPT, MAX_TOKENS);
    assert_matches("text, alone", chat(&server, &text_req), &want_text);
    assert_matches("image, alone", chat(&server, &image_req), &want_image);

    // Strangers keep the batch busy (sampled, text and image, longer answers) while the two
    // greedy requests run twice each among them.
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..6u64 {
            let (server, stop, png) = (&server, &stop, &png);
            s.spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut body = if t % 2 == 0 {
                        text_request(&format!("Stranger {t} asks question {i}."), 24)
                    } else {
                        image_request(png, &format!("Stranger {t}, picture {i}."), 24)
                    };
                    body["temperature"] = json!(1.0);
                    body["seed"] = json!(t * 100 + i);
                    let r = server.post("/v1/chat/completions", &body);
                    assert_eq!(r.status, 200, "stranger {t}: {}", r.body);
                    i += 1;
                }
            });
        }
        // Let the strangers fill the batch first.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut checks = Vec::new();
        for round in 0..2 {
            let (server, text_req, image_req) = (&server, &text_req, &image_req);
            checks.push(s.spawn(move || {
                (
                    format!("text, in a batch (round {round})"),
                    chat(server, text_req),
                )
            }));
            checks.push(s.spawn(move || {
                (
                    format!("image, in a batch (round {round})"),
                    chat(server, image_req),
                )
            }));
        }
        // Meanwhile, how many sequences the engine runs together (vLLM's gauge in /metrics).
        let busiest = s.spawn(|| {
            let mut most = 0u64;
            while !checks.iter().all(|c| c.is_finished()) {
                most = most.max(running_sequences(&server));
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            (checks, most)
        });
        let (checks, most) = busiest.join().expect("metrics poller");
        let results: Vec<_> = checks.into_iter().map(|c| c.join()).collect();
        // Stop the strangers before any assertion, so that a failure ends the scope.
        stop.store(true, Ordering::Relaxed);
        assert!(
            most >= 2,
            "the checks never ran in a batch (at most {most} running sequences)"
        );
        for r in results {
            let (what, got) = r.expect("check thread");
            let want = if what.starts_with("text") {
                &want_text
            } else {
                &want_image
            };
            assert_matches(&what, got, want);
        }
    });
    server.terminate();
}

/// `covip:num_requests_running` of the server's `/metrics`.
fn running_sequences(server: &Serve) -> u64 {
    let r = server.get("/metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .lines()
        .find(|l| l.starts_with("covip:num_requests_running{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no running gauge in /metrics: {}", r.body))
}

/// One request of the load test.
fn load_request(i: usize, png: &[u8]) -> Value {
    let words = [
        "red", "bicycle", "beside", "a", "quiet", "lake", "under", "grey", "clouds", "and",
    ];
    let len = 1 + (i * 7) % 23;
    let text: Vec<&str> = (0..len).map(|k| words[(i + k) % words.len()]).collect();
    let text = format!("Request {i}: {}", text.join(" "));
    let max_tokens = [1, 4, 9, 16, 24][i % 5];
    let mut body = if i % 8 == 5 {
        image_request(png, &text, max_tokens)
    } else {
        text_request(&text, max_tokens)
    };
    // Greedy, and three sampled settings, each seeded so that it reproduces.
    match i % 4 {
        0 => {}
        1 => {
            body["temperature"] = json!(0.8);
            body["top_p"] = json!(0.9);
            body["seed"] = json!(i);
        }
        2 => {
            body["temperature"] = json!(1.2);
            body["top_k"] = json!(20);
            body["min_p"] = json!(0.02);
            body["repetition_penalty"] = json!(1.1);
            body["seed"] = json!(1000 + i);
        }
        _ => {
            body["temperature"] = json!(0.7);
            body["presence_penalty"] = json!(0.5);
            body["frequency_penalty"] = json!(0.3);
            body["seed"] = json!(2000 + i);
        }
    }
    body
}

fn choice_texts(v: &Value) -> Vec<String> {
    v["choices"]
        .as_array()
        .unwrap_or_else(|| panic!("no choices: {v}"))
        .iter()
        .map(|c| c["message"]["content"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn load_64_mixed_requests_from_16_clients_all_answered_and_reproducible() {
    const REQUESTS: usize = 64;
    const CLIENTS: usize = 16;
    let png = fixture_png();
    let server = Serve::start(&["--max-batch", "16", "--max-queue", "64"]);
    let bodies: Vec<Value> = (0..REQUESTS).map(|i| load_request(i, &png)).collect();

    // Every request alone first, one at a time: the answers the loaded run must repeat.
    let sequential: Vec<Value> = bodies
        .iter()
        .map(|b| {
            let r = server.post("/v1/chat/completions", b);
            assert_eq!(r.status, 200, "{}", r.body);
            r.json()
        })
        .collect();

    // Then all 64 from 16 clients at once.
    let answers: Vec<(usize, u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (server, bodies) = (&server, &bodies);
                s.spawn(move || {
                    (c..REQUESTS)
                        .step_by(CLIENTS)
                        .map(|i| {
                            let r = server.post("/v1/chat/completions", &bodies[i]);
                            (i, r.status, r.body)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("client thread"))
            .collect()
    });
    assert_eq!(answers.len(), REQUESTS);
    for (i, status, body) in &answers {
        assert_eq!(*status, 200, "request {i}: {body}");
        let v: Value = serde_json::from_str(body).expect("JSON answer");
        let alone = &sequential[*i];
        let kind = if bodies[*i].get("seed").is_some() {
            "seeded"
        } else {
            "greedy"
        };
        // Greedy answers, and seeded samples too (each choice draws from its own seed).
        assert_eq!(
            choice_texts(&v),
            choice_texts(alone),
            "{kind} request {i} answered differently under load: {}",
            bodies[*i]
        );
        assert_eq!(
            v["usage"]["completion_tokens"], alone["usage"]["completion_tokens"],
            "request {i}"
        );
        let max = bodies[*i]["max_tokens"].as_u64().expect("max_tokens");
        assert!(
            v["usage"]["completion_tokens"]
                .as_u64()
                .is_some_and(|n| (1..=max).contains(&n)),
            "request {i}: {v}"
        );
    }
    let h = server.get("/health");
    assert_eq!(h.status, 200, "health after the load: {}", h.body);
    // And it still answers.
    assert_eq!(
        server.post("/v1/chat/completions", &bodies[0]).json()["choices"],
        sequential[0]["choices"]
    );
    server.terminate();
}

#[test]
fn n_samples_with_a_seed_reproduce_differ_and_match_single_seeded_requests() {
    let server = Serve::start(&[]);
    let body = |n: usize, seed: u64| {
        json!({
            "model": MODEL,
            "messages": [{"role": "user", "content": "Tell me a story about a kettle."}],
            "max_tokens": 12,
            "temperature": 1.0,
            "n": n,
            "seed": seed,
        })
    };
    let first = server.post("/v1/chat/completions", &body(4, 7));
    assert_eq!(first.status, 200, "{}", first.body);
    let v = first.json();
    let texts = choice_texts(&v);
    assert_eq!(texts.len(), 4, "{v}");
    for (i, c) in v["choices"].as_array().unwrap().iter().enumerate() {
        assert_eq!(c["index"], i, "choices in index order: {v}");
    }
    let again = choice_texts(&server.post("/v1/chat/completions", &body(4, 7)).json());
    assert_eq!(texts, again, "the same seed gave other samples");
    for a in 0..4 {
        for b in a + 1..4 {
            assert_ne!(
                texts[a], texts[b],
                "choices {a} and {b} are the same: {texts:?}"
            );
        }
    }
    // Choice i samples from seed + i: the same as a one-choice request with that seed.
    for (i, t) in texts.iter().enumerate() {
        let single = choice_texts(
            &server
                .post("/v1/chat/completions", &body(1, 7 + i as u64))
                .json(),
        );
        assert_eq!(&single[0], t, "choice {i} is not the seed {} sample", 7 + i);
    }
    let other = choice_texts(&server.post("/v1/chat/completions", &body(4, 8)).json());
    assert_ne!(texts, other, "another seed gave the same samples");
    server.terminate();
}

/// The content deltas of a streamed chat answer, per choice, and the final usage chunk.
fn streamed(server: &Serve, body: &Value, choices: usize) -> (Vec<String>, Vec<String>, Value) {
    let r = server.post("/v1/chat/completions", body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/event-stream")),
        "{:?}",
        r.headers
    );
    let data = r.sse_data();
    assert_eq!(
        data.last().map(String::as_str),
        Some("[DONE]"),
        "{}",
        r.body
    );
    let mut text = vec![String::new(); choices];
    let mut finish = vec![String::new(); choices];
    let mut usage = Value::Null;
    for d in &data[..data.len() - 1] {
        let chunk: Value = serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}"));
        assert_eq!(chunk["object"], "chat.completion.chunk", "{d}");
        for c in chunk["choices"].as_array().expect("choices") {
            let i = c["index"].as_u64().expect("index") as usize;
            if let Some(t) = c["delta"]["content"].as_str() {
                text[i].push_str(t);
            }
            if let Some(f) = c["finish_reason"].as_str() {
                finish[i] = f.to_string();
            }
        }
        if !chunk["usage"].is_null() {
            usage = chunk["usage"].clone();
        }
    }
    (text, finish, usage)
}

#[test]
fn streamed_text_concatenates_to_the_non_streamed_text() {
    let server = Serve::start(&[]);
    let png = fixture_png();
    for (what, mut body, n) in [
        (
            "seeded text",
            json!({
                "model": MODEL,
                "messages": [{"role": "user", "content": "Write about a red bicycle."}],
                "max_tokens": 20,
                "temperature": 0.9,
                "seed": 3,
            }),
            1,
        ),
        ("greedy image", image_request(&png, IMAGE_PROMPT, 20), 1),
        (
            "seeded, n = 2",
            json!({
                "model": MODEL,
                "messages": [{"role": "user", "content": "Two stories, please."}],
                "max_tokens": 20,
                "temperature": 1.0,
                "seed": 11,
                "n": 2,
            }),
            2,
        ),
    ] {
        let plain = server.post("/v1/chat/completions", &body);
        assert_eq!(plain.status, 200, "{what}: {}", plain.body);
        let plain = plain.json();
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
        let (text, finish, usage) = streamed(&server, &body, n);
        assert_eq!(text, choice_texts(&plain), "{what}: streamed text differs");
        let plain_finish: Vec<String> = plain["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["finish_reason"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(finish, plain_finish, "{what}: finish reasons");
        assert_eq!(usage, plain["usage"], "{what}: usage of the final chunk");
    }
    server.terminate();
}

#[test]
fn openai_judge_runs_end_to_end_against_the_server() {
    use covip_data::qa::{Letter, Qa};
    use covip_rl::judge::{Judge, JudgePrompt, JudgeRequest, OpenAiJudge, OpenAiJudgeConfig};

    let server = Serve::start(&["--served-model-name", "judge-under-test"]);
    let config = |model: &str, temperature: f64| OpenAiJudgeConfig {
        base_url: server.url("/v1"),
        model: model.into(),
        temperature,
        top_p: 1.0,
        top_k: None,
        max_tokens: Some(8),
        concurrency: 4,
        timeout_secs: 60.0,
        retries: 0,
        ..Default::default()
    };
    // Greedy: the judge's answer to a prompt is the library's greedy answer to it, trimmed.
    let greedy = OpenAiJudge::new(config("judge-under-test", 0.0), JudgePrompt::default());
    let qas: Vec<Qa> = (0..6)
        .map(|i| {
            Qa::new(
                format!("q{i}"),
                format!("What colour is thing {i}?"),
                ["red", "green", "blue"],
                "cannot be determined",
                Letter::A,
            )
        })
        .collect();
    let requests: Vec<JudgeRequest<'_>> = qas
        .iter()
        .map(|qa| JudgeRequest {
            description: "A red kettle on a wooden table.",
            qa,
        })
        .collect();
    let answers = greedy.answer_batch(&requests);
    assert_eq!(answers.len(), requests.len());
    for (r, a) in requests.iter().zip(&answers) {
        let a = a.as_ref().unwrap_or_else(|e| panic!("judge failed: {e}"));
        let prompt = greedy.prompt(r).expect("prompt");
        let want = library_text(&prompt, 8);
        assert_eq!(a, want.text.trim(), "judge answer to {prompt:?}");
    }
    // Sampled, with the released judge's top-k, and the model left to the server's first one.
    let sampled = OpenAiJudge::new(
        OpenAiJudgeConfig {
            top_k: Some(20),
            ..config("", 0.7)
        },
        JudgePrompt::default(),
    );
    for a in sampled.answer_batch(&requests) {
        a.unwrap_or_else(|e| panic!("sampled judge failed: {e}"));
    }
    // A model the server does not serve is an error, never an answer.
    let wrong = OpenAiJudge::new(config("no-such-model", 0.0), JudgePrompt::default());
    let e = wrong.answer_batch(&requests[..1]).remove(0);
    assert!(
        e.as_ref().is_err_and(|e| e.to_string().contains("404")),
        "{e:?}"
    );
    server.terminate();
}

/// The prompt ids `LocalCaptioner` builds for `sample`: the caption conversation with the
/// "New Image" header, rendered with the "Picture N: " labels.
fn local_caption_prompt(sample: &covip_data::Sample) -> Vec<u32> {
    use covip_data::prompt::{QueryHeader, Templates, caption_prompt, conversation_images};
    let b = bundle();
    let messages = caption_prompt(
        &sample.context,
        &sample.query,
        QueryHeader::NewImage,
        &Templates::default(),
    );
    let rgb: Vec<_> = conversation_images(&messages)
        .into_iter()
        .map(|r| {
            let bytes = r.read_bytes().expect("sample image");
            b.images.decode(&bytes, "sample image").expect("decode")
        })
        .collect();
    let px = b.images.process(&rgb).expect("process");
    let render = RenderOptions {
        add_generation_prompt: true,
        add_vision_id: true,
    };
    b.processor
        .encode_chat(&messages, &px.image_tokens(), render)
        .expect("encode")
}

/// The OpenAI captioner against the server, and the local captioner's caption for `sample`.
fn remote_captioner(server: &Serve) -> covip_eval::captioner::OpenAiCaptioner {
    use covip_eval::captioner::{OpenAiCaptionOptions, OpenAiCaptioner};
    use covip_rl::openai::{ChatClient, ChatClientConfig};
    let client = ChatClient::new(ChatClientConfig {
        base_url: server.url("/v1"),
        model: MODEL.into(),
        retries: 0,
        ..Default::default()
    });
    OpenAiCaptioner::new(
        client,
        OpenAiCaptionOptions {
            max_tokens: 12,
            ..Default::default()
        },
    )
    .expect("remote captioner")
}

/// The first bundled test sample (its images decode and resize in the debug build: one only).
fn first_test_sample() -> covip_data::Sample {
    let mut samples = covip_eval::captioner::test_samples(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample/test"),
    )
    .expect("the bundled test set");
    samples.swap_remove(0)
}

#[test]
fn openai_captioner_through_the_server_equals_the_local_captioner() {
    use covip_eval::captioner::{Captioner, LocalCaptionOptions, LocalCaptioner};

    let sample = first_test_sample();
    let server = Serve::start(&[]);
    let got = remote_captioner(&server)
        .caption(&[&sample])
        .expect("captions over HTTP");
    let mut local = LocalCaptioner::<Cpu>::load(
        &fixture_model(),
        LoadOptions::default(),
        Default::default(),
        LocalCaptionOptions {
            max_new_tokens: 12,
            batch_size: 1,
        },
    )
    .expect("local captioner");
    let want = local.caption(&[&sample]).expect("local captions");
    assert_eq!(
        got, want,
        "the server's caption differs from the local model's"
    );
    server.terminate();
}

/// The tiny model's text says little about its prompt (two different samples get the same
/// caption): this checks that the server saw the very prompt the local captioner decodes
/// from, "Picture N: " labels included, which the OpenAI captioner asks for through vLLM's
/// `chat_template_kwargs: {"add_vision_id": true}`.
#[test]
fn openai_captioner_requests_render_the_local_captioners_prompt() {
    let sample = first_test_sample();
    let server = Serve::start(&[]);
    let remote = remote_captioner(&server);
    let request = remote.request(&sample).expect("request");
    let answer = remote.client().chat(&request).expect("chat");
    let usage = answer.usage.expect("usage");
    assert_eq!(
        usage.prompt_tokens,
        local_caption_prompt(&sample).len() as u64,
        "prompt tokens of the captioning request"
    );
    server.terminate();
}
