//! The continuous-batching engine on the tiny f32 checkpoint: greedy answers equal the
//! library's one-prompt generation whether a request runs alone or joins a batch of strangers
//! at any step, with text and with images; n samples share one prefill yet equal n separate
//! requests seeded `seed + i`; log-probs are the raw log-softmax; cancel and the worker thread.
mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::{f32_dir, multimodal_reference, patches, u32s};
use covip_model::burn::backend::Flex;
use covip_model::engine::{
    Engine, EngineEvent, EngineHandle, EngineOptions, RequestId, SeqRequest, SubmitError,
    generate_group,
};
use covip_model::processor::image::PixelPatches;
use covip_model::{
    FinishReason, GenerateOptions, Qwen3VlMultimodal, Sampling, WeightDtype, Weights,
};
use serde_json::Value;

type B = Flex;

fn model() -> Qwen3VlMultimodal<B> {
    Qwen3VlMultimodal::<B>::load(&f32_dir(), WeightDtype::F32, &Default::default())
        .unwrap()
        .0
}

fn text_prompts() -> (Vec<Vec<u32>>, Vec<u32>) {
    let r: Value = serde_json::from_str(
        &std::fs::read_to_string(common::fixtures().join("reference.json")).unwrap(),
    )
    .unwrap();
    let prompts = r["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| u32s(&p["input_ids"]))
        .collect();
    (prompts, u32s(&r["stop_ids"]))
}

/// The library's greedy tokens for one prompt, run alone.
fn alone(
    m: &Qwen3VlMultimodal<B>,
    prompt: &[u32],
    px: Option<&PixelPatches>,
    n: usize,
) -> Vec<u32> {
    let opts = GenerateOptions {
        max_new_tokens: n,
        sampling: Sampling::greedy(),
        stop_ids: vec![],
        seed: 0,
        pad_id: 0,
    };
    let dev = Default::default();
    let g = match px {
        Some(px) => m.generate(&[prompt.to_vec()], &[px], &opts, &dev, |_, _| {}),
        None => covip_model::generate(&m.model, &[prompt.to_vec()], &opts, &dev, |_, _| {}),
    };
    g.unwrap().tokens.remove(0)
}

/// Collected tokens per (request, choice) and finish reasons.
#[derive(Default)]
struct Log {
    tokens: std::collections::HashMap<(RequestId, usize), Vec<u32>>,
    finish: std::collections::HashMap<(RequestId, usize), FinishReason>,
}

impl Log {
    fn sink(&mut self) -> impl FnMut(RequestId, EngineEvent) + '_ {
        |id, ev| match ev {
            EngineEvent::Token { choice, token, .. } => {
                self.tokens.entry((id, choice)).or_default().push(token)
            }
            EngineEvent::Finished { choice, reason } => {
                self.finish.insert((id, choice), reason);
            }
            EngineEvent::Failed { message } => panic!("request {id} failed: {message}"),
        }
    }
}

fn greedy_req(prompt: Vec<u32>, images: Option<PixelPatches>, n: usize) -> SeqRequest {
    SeqRequest {
        images,
        ..SeqRequest::greedy(prompt, n, vec![])
    }
}

#[test]
fn greedy_answers_equal_alone_runs_when_strangers_join_and_leave() {
    let m = model();
    let (texts, _) = text_prompts();
    let r = multimodal_reference();
    let mm: Vec<(Vec<u32>, PixelPatches)> = r["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (u32s(&p["input_ids"]), patches(p)))
        .collect();
    // (prompt, images, new tokens, step at which it is admitted)
    let mut plan: Vec<(Vec<u32>, Option<PixelPatches>, usize, usize)> = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        plan.push((t.clone(), None, 6 + 3 * i, i * 2));
    }
    for (i, (ids, px)) in mm.iter().enumerate() {
        plan.push((ids.clone(), Some(px.clone()), 9 - 2 * i, 1 + 3 * i));
    }
    let want: Vec<Vec<u32>> = plan
        .iter()
        .map(|(p, px, n, _)| alone(&m, p, px.as_ref(), *n))
        .collect();
    let mut engine = Engine::new(&m.model, Some(&m), Default::default(), 4096);
    let mut log = Log::default();
    let mut step = 0;
    let mut admitted = 0;
    let mut widest = 0;
    while admitted < plan.len() || !engine.is_idle() {
        for (k, (p, px, n, at)) in plan.iter().enumerate() {
            if *at == step {
                engine
                    .admit(
                        k as u64,
                        greedy_req(p.clone(), px.clone(), *n),
                        &mut log.sink(),
                    )
                    .unwrap();
                admitted += 1;
            }
        }
        widest = widest.max(engine.running());
        engine.step(&mut log.sink());
        step += 1;
    }
    assert!(
        widest >= 4,
        "the batch never held several strangers ({widest})"
    );
    for (k, w) in want.iter().enumerate() {
        assert_eq!(&log.tokens[&(k as u64, 0)], w, "request {k}");
        assert_eq!(log.finish[&(k as u64, 0)], FinishReason::Length);
    }
}

#[test]
fn n_samples_share_the_prefill_and_equal_separate_seeded_requests() {
    let m = model();
    let (texts, stops) = text_prompts();
    let sampling = Sampling {
        do_sample: true,
        temperature: 1.3,
        top_k: 40,
        top_p: 0.95,
        ..Sampling::greedy()
    };
    let req = SeqRequest {
        n: 4,
        sampling: sampling.clone(),
        seed: 11,
        logprobs: Some(3),
        ..SeqRequest::greedy(texts[1].clone(), 12, stops.clone())
    };
    let dev = Default::default();
    let a = generate_group(&m.model, None, req.clone(), 4096, &dev).unwrap();
    let b = generate_group(&m.model, None, req.clone(), 4096, &dev).unwrap();
    assert_eq!(a, b, "a seeded group reproduces");
    assert_eq!(a.samples.len(), 4);
    let distinct: std::collections::HashSet<_> = a.samples.iter().map(|s| &s.tokens).collect();
    assert!(distinct.len() > 1, "four samples were all the same");
    for (i, s) in a.samples.iter().enumerate() {
        let one = generate_group(
            &m.model,
            None,
            SeqRequest {
                n: 1,
                seed: 11 + i as u64,
                ..req.clone()
            },
            4096,
            &dev,
        )
        .unwrap();
        assert_eq!(
            one.samples[0].tokens,
            s.tokens,
            "choice {i} = a request seeded {}",
            11 + i
        );
        assert_eq!(s.logprobs.len(), s.tokens.len());
        // Log-probs are the model's raw log-softmax: score the sample with a full forward pass.
        let mut full = texts[1].clone();
        full.extend(&s.tokens);
        let (logits, v) = m.model.prompt_logits(&full, &dev).unwrap();
        for (j, (tok, lp)) in s.tokens.iter().zip(&s.logprobs).enumerate() {
            let row = &logits[(texts[1].len() - 1 + j) * v..][..v];
            let mx = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = mx + row.iter().map(|x| (x - mx).exp()).sum::<f32>().ln();
            let want = row[*tok as usize] - lse;
            assert!(
                (lp.logprob - want).abs() < 1e-4,
                "choice {i} token {j}: {} vs {want}",
                lp.logprob
            );
            assert_eq!(lp.top.len(), 3);
            assert!(lp.top.windows(2).all(|w| w[0].1 >= w[1].1));
        }
        if s.finish == FinishReason::Stop {
            assert!(stops.contains(s.tokens.last().unwrap()));
        } else {
            assert_eq!(s.tokens.len(), 12);
        }
    }
}

#[test]
fn cancelled_rows_leave_and_the_others_go_on_unchanged() {
    let m = model();
    let (texts, _) = text_prompts();
    let want = alone(&m, &texts[0], None, 10);
    let mut engine = Engine::new(&m.model, None, Default::default(), 4096);
    let mut log = Log::default();
    engine
        .admit(1, greedy_req(texts[0].clone(), None, 10), &mut log.sink())
        .unwrap();
    engine
        .admit(2, greedy_req(texts[3].clone(), None, 10), &mut log.sink())
        .unwrap();
    engine
        .admit(
            3,
            SeqRequest {
                n: 3,
                ..greedy_req(texts[2].clone(), None, 10)
            },
            &mut log.sink(),
        )
        .unwrap();
    assert_eq!(engine.running(), 5);
    engine.step(&mut log.sink());
    engine.cancel(2, None);
    engine.cancel(3, Some(1));
    assert_eq!(engine.running(), 3);
    while !engine.is_idle() {
        engine.step(&mut log.sink());
    }
    assert_eq!(log.tokens[&(1, 0)], want);
    assert_eq!(log.tokens[&(2, 0)].len(), 2, "nothing after the cancel");
    assert_eq!(log.tokens[&(3, 1)].len(), 2);
    assert_eq!(log.tokens[&(3, 0)].len(), 10);
    assert!(!log.finish.contains_key(&(3, 1)));
}

#[test]
fn bad_requests_are_errors_and_leave_the_batch_alone() {
    let m = model();
    let (texts, _) = text_prompts();
    let mut engine = Engine::new(&m.model, Some(&m), Default::default(), 32);
    let mut log = Log::default();
    engine
        .admit(1, greedy_req(texts[0].clone(), None, 5), &mut log.sink())
        .unwrap();
    let e = engine
        .admit(2, greedy_req(vec![], None, 5), &mut log.sink())
        .unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
    let e = engine
        .admit(3, greedy_req(vec![1; 40], None, 5), &mut log.sink())
        .unwrap_err();
    assert!(e.to_string().contains("context"), "{e}");
    let e = engine
        .admit(
            4,
            SeqRequest {
                n: 0,
                ..greedy_req(texts[0].clone(), None, 5)
            },
            &mut log.sink(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("n must"), "{e}");
    // Image placeholders without images.
    let img = multimodal_reference()["image_token_id"].as_u64().unwrap() as u32;
    let e = engine
        .admit(
            5,
            greedy_req(vec![1, img, img, 2], None, 5),
            &mut log.sink(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("no images"), "{e}");
    assert_eq!(engine.running(), 1);
    while !engine.is_idle() {
        engine.step(&mut log.sink());
    }
    assert_eq!(log.tokens[&(1, 0)], alone(&m, &texts[0], None, 5));
    // The context caps generation: a 30-token prompt in a 32-token context stops at 2.
    let mut engine = Engine::new(&m.model, None, Default::default(), 32);
    let mut log = Log::default();
    engine
        .admit(9, greedy_req(vec![5; 30], None, 50), &mut log.sink())
        .unwrap();
    while !engine.is_idle() {
        engine.step(&mut log.sink());
    }
    assert_eq!(log.tokens[&(9, 0)].len(), 2);
    assert_eq!(log.finish[&(9, 0)], FinishReason::Length);
}

#[test]
fn the_worker_thread_serves_concurrent_requests_and_refuses_a_full_queue() {
    let m = model();
    let (texts, _) = text_prompts();
    let wants: Vec<Vec<u32>> = texts.iter().map(|t| alone(&m, t, None, 8)).collect();
    let handle = EngineHandle::spawn(
        Weights::Multimodal(Box::new(m)),
        Default::default(),
        EngineOptions {
            max_batch: 3,
            max_queue: 64,
            max_len: 4096,
        },
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    for (j, (k, t)) in texts.iter().enumerate().cycle().take(12).enumerate() {
        let tx = tx.clone();
        handle
            .submit(
                greedy_req(t.clone(), None, 8),
                Box::new(move |ev| tx.send((j, k, ev)).is_ok()),
            )
            .unwrap();
    }
    drop(tx);
    let mut got: std::collections::HashMap<usize, (usize, Vec<u32>)> = Default::default();
    let mut finished = 0;
    while finished < 12 {
        let (j, k, ev) = rx.recv_timeout(Duration::from_secs(120)).expect("an event");
        match ev {
            EngineEvent::Token { token, .. } => got.entry(j).or_insert((k, vec![])).1.push(token),
            EngineEvent::Finished { .. } => finished += 1,
            EngineEvent::Failed { message } => panic!("{message}"),
        }
    }
    assert_eq!(got.len(), 12);
    for (j, (k, toks)) in got {
        assert_eq!(toks, wants[k], "request {j} (prompt {k})");
    }
    // A queue of one: while a long request runs, a second waits and a third is refused.
    let m = model();
    let handle = EngineHandle::spawn(
        Weights::Multimodal(Box::new(m)),
        Default::default(),
        EngineOptions {
            max_batch: 1,
            max_queue: 1,
            max_len: 4096,
        },
    )
    .unwrap();
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    handle
        .submit(
            greedy_req(texts[0].clone(), None, 400),
            Box::new(move |ev| tx.send(ev).is_ok()),
        )
        .unwrap();
    // Wait until the first is running so that the queue is empty again.
    rx.recv_timeout(Duration::from_secs(60)).unwrap();
    handle
        .submit(
            greedy_req(texts[1].clone(), None, 2),
            Box::new(move |ev| tx2.send(ev).is_ok()),
        )
        .unwrap();
    let third = handle.submit(greedy_req(texts[2].clone(), None, 2), Box::new(|_| true));
    assert_eq!(third.unwrap_err(), SubmitError::QueueFull);
    assert_eq!(handle.stats().queued, 1);
    // Dropping the receiver cancels the running request; the waiting one then runs.
    drop(rx);
    handle.shutdown();
    assert_eq!(handle.stats().queued, 0);
}
