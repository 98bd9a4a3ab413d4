//! Server-sent events for `"stream": true`: `data: {chunk}` lines as text becomes stable,
//! a last chunk with `usage` when `stream_options.include_usage` is set, then
//! `data: [DONE]`.
//!
//! A task turns engine events into chunks and hands them to the response body through a
//! small bounded channel; when the client goes away the body is dropped, the task's next send
//! fails, and dropping its cancel guard cancels the request in the engine.
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use tokio::sync::mpsc::{self, UnboundedReceiver};
use tokio_stream::wrappers::ReceiverStream;

use crate::engine::EngineEvent;
use crate::server::AppState;
use crate::server::detok::{Applied, RequestText};
use crate::server::handlers::{
    CancelGuard, Prepared, apply_event, chat_logprobs, completion_logprobs, new_text,
};
use crate::server::protocol::{
    ChatChunk, ChatChunkChoice, ChatDelta, CompletionChoice, CompletionResponse, Usage,
};

type Tx = mpsc::Sender<Result<Bytes, Infallible>>;

fn sse_response(rx: mpsc::Receiver<Result<Bytes, Infallible>>) -> Response {
    let mut r = Response::new(Body::from_stream(ReceiverStream::new(rx)));
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// Sends one `data:` event; false when the client is gone.
async fn send(tx: &Tx, json: String) -> bool {
    tx.send(Ok(Bytes::from(format!("data: {json}\n\n"))))
        .await
        .is_ok()
}

async fn send_done(tx: &Tx) {
    let _ = tx.send(Ok(Bytes::from_static(b"data: [DONE]\n\n"))).await;
}

/// What the two endpoints' chunk writers have in common.
trait Chunks: Send + 'static {
    /// Chunks sent before any token (the chat role announcement).
    fn opening(&self, n: usize) -> Vec<String>;
    /// The chunk for choice `c` after a change, if there is anything to say.
    fn update(&self, s: &AppState, text: &mut RequestText, c: usize) -> Option<String>;
    /// The `usage` chunk.
    fn usage(&self, usage: Usage) -> String;
}

struct Head {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
}

impl Head {
    fn usage_field(&self) -> Option<Option<Usage>> {
        self.include_usage.then_some(None)
    }
}

struct ChatChunks {
    head: Head,
    logprobs: bool,
}

impl ChatChunks {
    fn chunk(&self, choices: Vec<ChatChunkChoice>, usage: Option<Option<Usage>>) -> ChatChunk {
        ChatChunk {
            id: self.head.id.clone(),
            object: "chat.completion.chunk",
            created: self.head.created,
            model: self.head.model.clone(),
            choices,
            usage,
        }
    }
}

/// The JSON text of a chunk (serialised directly: log-probs print as the f32 values they
/// are, exactly as in the non-streamed answer).
fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".into())
}

impl Chunks for ChatChunks {
    fn opening(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|index| {
                to_json(&self.chunk(
                    vec![ChatChunkChoice {
                        index,
                        delta: ChatDelta {
                            role: Some("assistant"),
                            content: Some(String::new()),
                        },
                        logprobs: None,
                        finish_reason: None,
                    }],
                    self.head.usage_field(),
                ))
            })
            .collect()
    }

    fn update(&self, s: &AppState, text: &mut RequestText, c: usize) -> Option<String> {
        let delta = text.take_delta(c);
        let st = &mut text.choices[c];
        let new_lps = &st.logprobs[st.logprobs_sent.min(st.logprobs.len())..];
        let finish = st.finish;
        if delta.is_empty() && finish.is_none() && (new_lps.is_empty() || !self.logprobs) {
            return None;
        }
        let logprobs = self.logprobs.then(|| chat_logprobs(s, new_lps));
        st.logprobs_sent = st.logprobs.len();
        Some(to_json(&self.chunk(
            vec![ChatChunkChoice {
                index: c,
                delta: ChatDelta {
                    role: None,
                    content: (!delta.is_empty() || finish.is_none()).then_some(delta),
                },
                logprobs,
                finish_reason: finish,
            }],
            self.head.usage_field(),
        )))
    }

    fn usage(&self, usage: Usage) -> String {
        to_json(&self.chunk(Vec::new(), Some(Some(usage))))
    }
}

struct CompletionChunks {
    head: Head,
    logprobs: bool,
}

impl CompletionChunks {
    fn chunk(
        &self,
        choices: Vec<CompletionChoice>,
        usage: Option<Option<Usage>>,
    ) -> CompletionResponse {
        CompletionResponse {
            id: self.head.id.clone(),
            object: "text_completion",
            created: self.head.created,
            model: self.head.model.clone(),
            choices,
            usage,
        }
    }
}

impl Chunks for CompletionChunks {
    fn opening(&self, _: usize) -> Vec<String> {
        Vec::new()
    }

    fn update(&self, s: &AppState, text: &mut RequestText, c: usize) -> Option<String> {
        let delta = text.take_delta(c);
        let st = &mut text.choices[c];
        let from = st.logprobs_sent.min(st.logprobs.len());
        let finish = st.finish;
        if delta.is_empty() && finish.is_none() && (from == st.logprobs.len() || !self.logprobs) {
            return None;
        }
        let logprobs = self
            .logprobs
            .then(|| completion_logprobs(s, &st.logprobs[from..], &st.offsets[from..]));
        st.logprobs_sent = st.logprobs.len();
        Some(to_json(&self.chunk(
            vec![CompletionChoice {
                index: c,
                text: delta,
                logprobs,
                finish_reason: finish,
            }],
            self.head.usage_field(),
        )))
    }

    fn usage(&self, usage: Usage) -> String {
        to_json(&self.chunk(Vec::new(), Some(Some(usage))))
    }
}

fn head(s: &AppState, id: String, p: &Prepared) -> Head {
    Head {
        id,
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        model: s.served_name.clone(),
        include_usage: p.params.include_usage,
    }
}

/// The streamed answer of a chat request.
pub(crate) fn chat_stream(
    s: Arc<AppState>,
    id: String,
    p: Prepared,
    guard: CancelGuard,
    rx: UnboundedReceiver<EngineEvent>,
) -> Response {
    let chunks = ChatChunks {
        head: head(&s, id, &p),
        logprobs: p.logprobs.is_some(),
    };
    spawn(s, p, guard, rx, chunks)
}

/// The streamed answer of a completion request.
pub(crate) fn completion_stream(
    s: Arc<AppState>,
    id: String,
    p: Prepared,
    guard: CancelGuard,
    rx: UnboundedReceiver<EngineEvent>,
) -> Response {
    let chunks = CompletionChunks {
        head: head(&s, id, &p),
        logprobs: p.logprobs.is_some(),
    };
    spawn(s, p, guard, rx, chunks)
}

fn spawn(
    s: Arc<AppState>,
    p: Prepared,
    guard: CancelGuard,
    rx: UnboundedReceiver<EngineEvent>,
    chunks: impl Chunks,
) -> Response {
    let (tx, body_rx) = mpsc::channel(64);
    tokio::spawn(pump(s, p, guard, rx, chunks, tx));
    sse_response(body_rx)
}

async fn pump(
    s: Arc<AppState>,
    p: Prepared,
    mut guard: CancelGuard,
    mut rx: UnboundedReceiver<EngineEvent>,
    chunks: impl Chunks,
    tx: Tx,
) {
    for c in chunks.opening(p.params.n) {
        if !send(&tx, c).await {
            return;
        }
    }
    let mut text = new_text(&p);
    while !text.all_done() {
        let Some(ev) = rx.recv().await else {
            let e = crate::server::errors::ApiError::unavailable(
                "the engine stopped before the request finished",
            );
            let _ = send(&tx, e.body().to_string()).await;
            send_done(&tx).await;
            return;
        };
        let c = match apply_event(&s, &mut text, &guard, ev) {
            Ok(Applied::Touched(c)) | Ok(Applied::StopString(c)) => c,
            Ok(Applied::Nothing) | Ok(Applied::Failed(_)) => continue,
            Err(e) => {
                let _ = send(&tx, e.body().to_string()).await;
                send_done(&tx).await;
                return;
            }
        };
        if let Some(chunk) = chunks.update(&s, &mut text, c)
            && !send(&tx, chunk).await
        {
            // The client is gone: dropping the guard cancels the request.
            return;
        }
    }
    guard.finished = true;
    if p.params.include_usage {
        let usage = Usage::new(p.prompt.len(), text.completion_tokens());
        if !send(&tx, chunks.usage(usage)).await {
            return;
        }
    }
    send_done(&tx).await;
}
