//! The endpoints: request checks, prompt building (chat template, images), submission to
//! the engine, and the non-streamed answers. Streaming lives in [`crate::server::stream`].
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use covip_data::image::ImageRef;
use covip_data::prompt::{Message, Part, Role};
use serde_json::Value;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::engine::{EngineEvent, RequestId, SeqRequest, SubmitError};
use crate::processor::RenderOptions;
use crate::processor::image::PixelPatches;
use crate::server::AppState;
use crate::server::detok::{Applied, RequestText};
use crate::server::errors::{ApiError, parse_json};
use crate::server::params::{self, Limits, MAX_TOP_LOGPROBS, Params};
use crate::server::protocol::{
    ChatChoice, ChatLogprob, ChatLogprobs, ChatMessageOut, ChatRequest, ChatResponse,
    CompletionChoice, CompletionLogprobs, CompletionRequest, CompletionResponse, ModelCard,
    ModelList, PromptSpec, TopLogprob, TopMap, Usage,
};
use crate::server::stream;

/// The routes over `state`.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .fallback(not_found)
        .with_state(state)
}

/// 200 once the model is loaded (the server only listens after that).
async fn health() -> Response {
    StatusCode::OK.into_response()
}

/// The engine's load in Prometheus' text format (the two gauges of vLLM's `/metrics` that
/// clients and load tests watch).
async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    let st = s.engine.stats();
    let text = format!(
        "# HELP covip:num_requests_running Sequences in the running batch.\n\
         # TYPE covip:num_requests_running gauge\n\
         covip:num_requests_running{{model_name=\"{m}\"}} {r}\n\
         # HELP covip:num_requests_waiting Requests waiting to join the batch.\n\
         # TYPE covip:num_requests_waiting gauge\n\
         covip:num_requests_waiting{{model_name=\"{m}\"}} {w}\n",
        m = s.served_name.replace(['\\', '"', '\n'], "_"),
        r = st.running,
        w = st.queued,
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn not_found() -> ApiError {
    ApiError::not_found(
        None,
        "no such endpoint: covip serve answers POST /v1/chat/completions, POST \
         /v1/completions, GET /v1/models and GET /health",
    )
}

async fn models(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    check_key(&s, &headers)?;
    let list = ModelList {
        object: "list",
        data: vec![ModelCard {
            id: s.served_name.clone(),
            object: "model",
            created: s.created,
            owned_by: "covip",
            root: s.root.clone(),
            parent: None,
            max_model_len: s.max_len,
        }],
    };
    Ok(axum::Json(list).into_response())
}

/// 401 unless the request carries the server's key (when it has one).
fn check_key(s: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(key) = &s.api_key else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match given {
        Some(g) if constant_time_eq(g.as_bytes(), key.as_bytes()) => Ok(()),
        _ => Err(ApiError::unauthorized()),
    }
}

/// Compares without stopping at the first difference (the time taken says nothing about
/// how much of a guessed key was right).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads the body up to the server's limit: 413 past it.
async fn read_body(s: &AppState, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > s.max_body as u64) {
        return Err(ApiError::too_large(s.max_body));
    }
    axum::body::to_bytes(body, s.max_body).await.map_err(|e| {
        if e.to_string().contains("length limit") {
            ApiError::too_large(s.max_body)
        } else {
            ApiError::bad_request(format!("reading the request body: {e}"))
        }
    })
}

/// 404 unless `model` is absent or the served name.
fn check_model(s: &AppState, model: Option<&str>) -> Result<(), ApiError> {
    match model {
        Some(m) if m != s.served_name => Err(ApiError::not_found(
            Some("model"),
            format!(
                "the model `{m}` does not exist; this server serves `{}`",
                s.served_name
            ),
        )),
        _ => Ok(()),
    }
}

/// A request ready for the engine.
pub(crate) struct Prepared {
    pub prompt: Vec<u32>,
    pub images: Option<PixelPatches>,
    pub params: Params,
    pub max_new_tokens: usize,
    /// `Some(k)`: report log-probs with the `k` most likely tokens.
    pub logprobs: Option<usize>,
}

/// Runs the CPU-bound preparation of a request (JSON, images, template, tokenizer) on the
/// blocking pool, never on the executor; a panic in a crate it calls becomes a 400 instead
/// of a dropped connection.
async fn prepare<T: Send + 'static>(
    s: &Arc<AppState>,
    f: impl FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let _slot = s
        .prep_slots
        .acquire()
        .await
        .map_err(|_| ApiError::unavailable("the server is shutting down"))?;
    let s = s.clone();
    match tokio::task::spawn_blocking(move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&s)))
    })
    .await
    {
        Ok(Ok(r)) => r,
        Ok(Err(_)) | Err(_) => Err(ApiError::bad_request(
            "the request could not be processed (a parser failed on it)",
        )),
    }
}

async fn chat(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    check_key(&s, &headers)?;
    let bytes = read_body(&s, &headers, body).await?;
    let req: ChatRequest = prepare(&s, move |_| parse_json(&bytes)).await?;
    check_model(&s, req.model.as_deref())?;
    let prepared = prepare(&s, move |s| prepare_chat(s, req)).await?;
    let id = format!("chatcmpl-{}", request_suffix(&s));
    let (mut guard, rx) = submit(&s, &prepared)?;
    if prepared.params.stream {
        return Ok(stream::chat_stream(s, id, prepared, guard, rx));
    }
    let (text, usage) = collect(&s, &prepared, &mut guard, rx).await?;
    let choices = text
        .choices
        .into_iter()
        .enumerate()
        .map(|(index, c)| ChatChoice {
            index,
            logprobs: prepared.logprobs.map(|_| chat_logprobs(&s, &c.logprobs)),
            message: ChatMessageOut {
                role: "assistant",
                content: c.text.text,
            },
            finish_reason: c.finish,
        })
        .collect();
    Ok(axum::Json(ChatResponse {
        id,
        object: "chat.completion",
        created: now(),
        model: s.served_name.clone(),
        choices,
        usage,
    })
    .into_response())
}

async fn completions(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    check_key(&s, &headers)?;
    let bytes = read_body(&s, &headers, body).await?;
    let req: CompletionRequest = prepare(&s, move |_| parse_json(&bytes)).await?;
    check_model(&s, req.model.as_deref())?;
    let prepared = prepare(&s, move |s| prepare_completion(s, req)).await?;
    let id = format!("cmpl-{}", request_suffix(&s));
    let (mut guard, rx) = submit(&s, &prepared)?;
    if prepared.params.stream {
        return Ok(stream::completion_stream(s, id, prepared, guard, rx));
    }
    let (text, usage) = collect(&s, &prepared, &mut guard, rx).await?;
    let choices = text
        .choices
        .into_iter()
        .enumerate()
        .map(|(index, c)| CompletionChoice {
            index,
            logprobs: prepared
                .logprobs
                .map(|_| completion_logprobs(&s, &c.logprobs, &c.offsets)),
            text: c.text.text,
            finish_reason: c.finish,
        })
        .collect();
    Ok(axum::Json(CompletionResponse {
        id,
        object: "text_completion",
        created: now(),
        model: s.served_name.clone(),
        choices,
        usage: Some(Some(usage)),
    })
    .into_response())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A unique, unguessable-enough suffix for response ids.
fn request_suffix(s: &AppState) -> String {
    let n = s.next_id.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!("{:016x}{:08x}", t ^ s.created.rotate_left(32), n)
}

/// A seed for a request that gave none: different for every request, as vLLM's.
fn fresh_seed(s: &AppState) -> u64 {
    let n = s.next_id.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // SplitMix64's finaliser: neighbouring counters give unrelated seeds.
    let mut z = t ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Cancels the request in the engine when dropped before it finished: a client that goes
/// away (its handler or stream is dropped) stops costing decode steps.
pub(crate) struct CancelGuard {
    state: Arc<AppState>,
    pub id: RequestId,
    pub finished: bool,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.state.engine.cancel(self.id, None);
        }
    }
}

/// Queues the request; its events arrive on the returned channel.
fn submit(
    s: &Arc<AppState>,
    p: &Prepared,
) -> Result<(CancelGuard, UnboundedReceiver<EngineEvent>), ApiError> {
    let (tx, rx) = unbounded_channel();
    let req = SeqRequest {
        prompt: p.prompt.clone(),
        images: p.images.clone(),
        n: p.params.n,
        max_new_tokens: p.max_new_tokens,
        sampling: p.params.sampling.clone(),
        seed: p.params.seed.unwrap_or_else(|| fresh_seed(s)),
        stop_ids: p.params.stop_ids.clone(),
        logprobs: p.logprobs,
    };
    // The sink runs on the engine thread: it only hands the event over. A send fails once
    // the receiver is gone, which tells the engine to cancel.
    let sink = Box::new(move |ev: EngineEvent| tx.send(ev).is_ok());
    match s.engine.submit(req, sink) {
        Ok(id) => Ok((
            CancelGuard {
                state: s.clone(),
                id,
                finished: false,
            },
            rx,
        )),
        Err(SubmitError::QueueFull) => Err(ApiError::overloaded()),
        Err(SubmitError::Stopped) => Err(ApiError::unavailable("the server is shutting down")),
    }
}

/// Applies one engine event; a stop string cancels its choice in the engine.
pub(crate) fn apply_event(
    s: &AppState,
    text: &mut RequestText,
    guard: &CancelGuard,
    ev: EngineEvent,
) -> Result<Applied, ApiError> {
    match text.apply(&s.processor.tokenizer, ev) {
        Applied::Failed(m) => Err(ApiError::internal(format!("generation failed: {m}"))),
        Applied::StopString(c) => {
            s.engine.cancel(guard.id, Some(c));
            Ok(Applied::StopString(c))
        }
        other => Ok(other),
    }
}

/// Waits for every choice of a non-streamed request.
async fn collect(
    s: &AppState,
    p: &Prepared,
    guard: &mut CancelGuard,
    mut rx: UnboundedReceiver<EngineEvent>,
) -> Result<(RequestText, Usage), ApiError> {
    let mut text = new_text(p);
    while !text.all_done() {
        let Some(ev) = rx.recv().await else {
            return Err(ApiError::unavailable(
                "the engine stopped before the request finished",
            ));
        };
        apply_event(s, &mut text, guard, ev)?;
    }
    // Every choice has ended in the engine (or was cancelled there): nothing to cancel.
    guard.finished = true;
    let usage = Usage::new(p.prompt.len(), text.completion_tokens());
    Ok((text, usage))
}

pub(crate) fn new_text(p: &Prepared) -> RequestText {
    RequestText::new(
        p.params.n,
        p.params.stop.clone(),
        p.params.stop_ids.clone(),
        p.params.skip_special_tokens,
    )
}

/// The text of one token for log-prob entries (special tokens by name).
fn token_text(s: &AppState, id: u32) -> String {
    s.processor
        .tokenizer
        .decode(&[id], false)
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| s.processor.tokenizer.id_to_token(id))
        .unwrap_or_default()
}

pub(crate) fn chat_logprobs(
    s: &AppState,
    entries: &[(u32, crate::engine::TokenLogprob)],
) -> ChatLogprobs {
    ChatLogprobs {
        content: entries
            .iter()
            .map(|(id, lp)| {
                let token = token_text(s, *id);
                ChatLogprob {
                    bytes: token.as_bytes().to_vec(),
                    token,
                    logprob: lp.logprob,
                    top_logprobs: lp
                        .top
                        .iter()
                        .map(|&(t, l)| {
                            let token = token_text(s, t);
                            TopLogprob {
                                bytes: token.as_bytes().to_vec(),
                                token,
                                logprob: l,
                            }
                        })
                        .collect(),
                }
            })
            .collect(),
    }
}

pub(crate) fn completion_logprobs(
    s: &AppState,
    entries: &[(u32, crate::engine::TokenLogprob)],
    offsets: &[usize],
) -> CompletionLogprobs {
    let mut out = CompletionLogprobs::default();
    for (i, (id, lp)) in entries.iter().enumerate() {
        out.tokens.push(token_text(s, *id));
        out.token_logprobs.push(lp.logprob);
        out.text_offset.push(offsets.get(i).copied().unwrap_or(0));
        out.top_logprobs.push(TopMap(
            lp.top.iter().map(|&(t, l)| (token_text(s, t), l)).collect(),
        ));
    }
    out
}

/// `top_logprobs` checked (0 to 20).
fn check_top(name: &str, k: i64) -> Result<usize, ApiError> {
    if (0..=MAX_TOP_LOGPROBS).contains(&k) {
        Ok(k as usize)
    } else {
        Err(ApiError::bad(
            name,
            format!("{name} must be between 0 and {MAX_TOP_LOGPROBS}, got {k}"),
        ))
    }
}

fn limits(s: &AppState) -> Limits<'_> {
    Limits {
        generation: &s.processor.generation,
        checkpoint_stop_ids: &s.processor.stop_ids,
        max_batch: s.max_batch,
        vocab: s.vocab,
    }
}

/// An image part waiting for its bytes: where it was in the request.
struct PendingImage {
    param: String,
    url: String,
}

/// The messages of a chat request as the template takes them, and their image URLs in order.
fn read_messages(raw: &[Value]) -> Result<(Vec<Message>, Vec<PendingImage>), ApiError> {
    if raw.is_empty() {
        return Err(ApiError::bad("messages", "messages must not be empty"));
    }
    let mut messages = Vec::with_capacity(raw.len());
    let mut images = Vec::new();
    for (i, m) in raw.iter().enumerate() {
        let at = format!("messages[{i}]");
        let Some(obj) = m.as_object() else {
            return Err(ApiError::bad(&at, format!("{at} must be an object")));
        };
        let role = match obj.get("role").and_then(Value::as_str) {
            Some("system") | Some("developer") => Role::System,
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some(other) => {
                return Err(ApiError::bad(
                    format!("{at}.role"),
                    format!(
                        "{at}.role: unknown role {other:?}; expected system, developer, user \
                         or assistant"
                    ),
                ));
            }
            None => {
                return Err(ApiError::bad(
                    format!("{at}.role"),
                    format!("{at}.role is missing or not a string"),
                ));
            }
        };
        let mut msg = Message::new(role);
        match obj.get("content") {
            None | Some(Value::Null) if role == Role::Assistant => {}
            Some(Value::String(t)) => {
                msg.parts.push(Part::Text(t.clone()));
            }
            Some(Value::Array(parts)) => {
                for (j, p) in parts.iter().enumerate() {
                    let pat = format!("{at}.content[{j}]");
                    let kind = p.get("type").and_then(Value::as_str);
                    match kind {
                        Some("text") => match p.get("text").and_then(Value::as_str) {
                            Some(t) => msg.parts.push(Part::Text(t.to_string())),
                            None => {
                                return Err(ApiError::bad(
                                    format!("{pat}.text"),
                                    format!("{pat}.text is missing or not a string"),
                                ));
                            }
                        },
                        Some("image_url") => {
                            let url = match p.get("image_url") {
                                Some(Value::String(u)) => u.clone(),
                                Some(Value::Object(o)) => {
                                    match o.get("url").and_then(Value::as_str) {
                                        Some(u) => u.to_string(),
                                        None => {
                                            return Err(ApiError::bad(
                                                format!("{pat}.image_url.url"),
                                                format!(
                                                    "{pat}.image_url.url is missing or not a string"
                                                ),
                                            ));
                                        }
                                    }
                                }
                                _ => {
                                    return Err(ApiError::bad(
                                        format!("{pat}.image_url"),
                                        format!("{pat}.image_url must be {{\"url\": \"...\"}}"),
                                    ));
                                }
                            };
                            images.push(PendingImage {
                                param: format!("{pat}.image_url"),
                                url,
                            });
                            // The template sees only that an image is here.
                            msg.parts.push(Part::Image(ImageRef::Embedded {
                                bytes: Vec::new(),
                                path: None,
                            }));
                        }
                        other => {
                            return Err(ApiError::bad(
                                format!("{pat}.type"),
                                format!(
                                    "{pat}.type: unsupported content part type {:?}; expected \
                                     \"text\" or \"image_url\"",
                                    other.unwrap_or("(none)")
                                ),
                            ));
                        }
                    }
                }
            }
            _ => {
                return Err(ApiError::bad(
                    format!("{at}.content"),
                    format!("{at}.content must be a string or a list of content parts"),
                ));
            }
        }
        messages.push(msg);
    }
    Ok((messages, images))
}

/// The template switches of a chat request: `add_generation_prompt` (top level, as vLLM
/// takes it, or in `chat_template_kwargs`) and `chat_template_kwargs.add_vision_id` (the
/// "Picture N: " labels of the captioning prompt).
fn render_options(req: &ChatRequest) -> Result<RenderOptions, ApiError> {
    let kw = req.chat_template_kwargs.as_ref();
    let flag = |key: &str| -> Result<Option<bool>, ApiError> {
        match kw.and_then(|m| m.get(key)) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::bad(
                format!("chat_template_kwargs.{key}"),
                format!("chat_template_kwargs.{key} must be true or false"),
            )),
        }
    };
    let add_vision_id = flag("add_vision_id")?.unwrap_or(false);
    let in_kwargs = flag("add_generation_prompt")?;
    Ok(RenderOptions {
        add_generation_prompt: req.add_generation_prompt.or(in_kwargs).unwrap_or(true),
        add_vision_id,
    })
}

fn prepare_chat(s: &AppState, req: ChatRequest) -> Result<Prepared, ApiError> {
    let fields = req.sampling_fields();
    // `max_completion_tokens` is OpenAI's newer name; it wins when both are sent.
    let mt = match req.max_completion_tokens {
        Some(m) => ("max_completion_tokens", Some(m)),
        None => ("max_tokens", fields.max_tokens),
    };
    let params = params::resolve(&fields, mt, limits(s))?;
    let logprobs = match (req.logprobs, req.top_logprobs) {
        (true, k) => Some(check_top("top_logprobs", k.unwrap_or(0))?),
        (false, None) => None,
        (false, Some(k)) => {
            check_top("top_logprobs", k)?;
            if k > 0 {
                return Err(ApiError::bad(
                    "top_logprobs",
                    "top_logprobs needs logprobs: true",
                ));
            }
            None
        }
    };
    let (messages, pending) = read_messages(&req.messages)?;
    let images = if pending.is_empty() {
        None
    } else {
        if !s.vision {
            return Err(ApiError::bad(
                &pending[0].param,
                "this checkpoint has no vision tower: image parts are not accepted",
            ));
        }
        let mut rgb = Vec::with_capacity(pending.len());
        for p in &pending {
            let bytes = s.media.resolve(&p.url, &p.param)?;
            let img = s
                .images
                .decode(&bytes, &p.param)
                .map_err(|e| ApiError::bad(&p.param, format!("the image does not decode: {e}")))?;
            rgb.push(img);
        }
        Some(
            s.images
                .process(&rgb)
                .map_err(|e| ApiError::bad("messages", format!("processing the images: {e}")))?,
        )
    };
    let counts = images
        .as_ref()
        .map(|p| p.image_tokens())
        .unwrap_or_default();
    let render = render_options(&req)?;
    let prompt = s
        .processor
        .encode_chat(&messages, &counts, render)
        .map_err(|e| {
            ApiError::bad(
                "messages",
                format!("the chat template refused the messages: {e}"),
            )
        })?;
    let max_new_tokens =
        params::budget(prompt.len(), params.max_tokens, s.max_len, "messages", mt.0)?;
    Ok(Prepared {
        prompt,
        images,
        params,
        max_new_tokens,
        logprobs,
    })
}

fn prepare_completion(s: &AppState, req: CompletionRequest) -> Result<Prepared, ApiError> {
    if req.echo {
        return Err(ApiError::bad(
            "echo",
            "echo is not supported by covip serve",
        ));
    }
    if req.suffix.as_deref().is_some_and(|x| !x.is_empty()) {
        return Err(ApiError::bad(
            "suffix",
            "suffix is not supported by this model",
        ));
    }
    let fields = req.sampling_fields();
    let params = params::resolve(&fields, ("max_tokens", fields.max_tokens), limits(s))?;
    let logprobs = req.logprobs.map(|k| check_top("logprobs", k)).transpose()?;
    let batched = || {
        ApiError::bad(
            "prompt",
            "a list of several prompts is not supported: send one prompt per request",
        )
    };
    let prompt = match req.prompt {
        PromptSpec::Text(t) => encode_text(s, &t)?,
        PromptSpec::Ids(ids) => check_ids(s, ids)?,
        PromptSpec::Texts(v) if v.len() == 1 => encode_text(s, &v[0])?,
        PromptSpec::IdLists(v) if v.len() == 1 => {
            check_ids(s, v.into_iter().next().unwrap_or_default())?
        }
        _ => return Err(batched()),
    };
    if let Some(i) = prompt.iter().position(|t| s.placeholder_ids.contains(t)) {
        return Err(ApiError::bad(
            "prompt",
            format!(
                "prompt: token {i} is an image placeholder ({:?}); completions take no images \
                 (send images to /v1/chat/completions as image_url parts)",
                s.processor
                    .tokenizer
                    .id_to_token(prompt[i])
                    .unwrap_or_default()
            ),
        ));
    }
    let max_new_tokens = params::budget(
        prompt.len(),
        params.max_tokens,
        s.max_len,
        "prompt",
        "max_tokens",
    )?;
    Ok(Prepared {
        prompt,
        images: None,
        params,
        max_new_tokens,
        logprobs,
    })
}

fn encode_text(s: &AppState, t: &str) -> Result<Vec<u32>, ApiError> {
    s.processor
        .tokenizer
        .encode(t)
        .map_err(|e| ApiError::bad("prompt", format!("the prompt does not tokenise: {e}")))
}

fn check_ids(s: &AppState, ids: Vec<u32>) -> Result<Vec<u32>, ApiError> {
    if let Some((i, t)) = ids
        .iter()
        .enumerate()
        .find(|(_, t)| **t as usize >= s.vocab)
    {
        return Err(ApiError::bad(
            format!("prompt[{i}]"),
            format!(
                "prompt[{i}]: token id {t} is outside the vocabulary of {} tokens",
                s.vocab
            ),
        ));
    }
    Ok(ids)
}
