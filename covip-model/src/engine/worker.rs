//! An [`Engine`] on its own thread: a bounded queue in, events out through per-request sinks.
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use burn::tensor::backend::Backend;

use crate::bundle::Weights;
use crate::engine::core::Engine;
use crate::engine::request::{EngineEvent, RequestId, SeqRequest};

/// Receives a request's events on the engine thread, in order. Returning `false` says the
/// receiver is gone (a client that disconnected): the request is cancelled.
pub type EventSink = Box<dyn FnMut(EngineEvent) -> bool + Send>;

/// Limits of the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// Most sequences decoding together (a request of `n` samples counts `n`).
    pub max_batch: usize,
    /// Most requests waiting to join the batch; [`EngineHandle::submit`] refuses more.
    pub max_queue: usize,
    /// Most positions a sequence may hold, prompt included.
    pub max_len: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            max_batch: 16,
            max_queue: 256,
            max_len: 4096,
        }
    }
}

/// Why a request was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("the request queue is full")]
    QueueFull,
    #[error("the engine has stopped")]
    Stopped,
}

/// A snapshot of the worker's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineStats {
    /// Sequences in the running batch.
    pub running: usize,
    /// Requests waiting to join it.
    pub queued: usize,
}

enum Command {
    Submit(RequestId, SeqRequest, EventSink),
    Cancel(RequestId, Option<usize>),
    Shutdown,
}

struct Shared {
    queued: AtomicUsize,
    running: AtomicUsize,
}

/// The handle of an engine thread. Dropping it (or [`EngineHandle::shutdown`]) lets every
/// request in flight finish, then stops the thread.
pub struct EngineHandle {
    tx: Mutex<Sender<Command>>,
    next_id: AtomicU64,
    shared: Arc<Shared>,
    options: EngineOptions,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle")
            .field("options", &self.options)
            .field("stats", &self.stats())
            .finish()
    }
}

impl EngineHandle {
    /// Moves `weights` to a new thread that serves requests on `device`.
    pub fn spawn<B: Backend>(
        weights: Weights<B>,
        device: B::Device,
        options: EngineOptions,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
        });
        let worker_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("covip-engine".into())
            .spawn(move || serve(weights, device, options, rx, worker_shared))?;
        Ok(EngineHandle {
            tx: Mutex::new(tx),
            next_id: AtomicU64::new(1),
            shared,
            options,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn options(&self) -> EngineOptions {
        self.options
    }

    pub fn stats(&self) -> EngineStats {
        EngineStats {
            running: self.shared.running.load(Ordering::Relaxed),
            queued: self.shared.queued.load(Ordering::Relaxed),
        }
    }

    /// Queues `req`; its events go to `sink` on the engine thread. Refused when
    /// `max_queue` requests already wait.
    pub fn submit(&self, req: SeqRequest, sink: EventSink) -> Result<RequestId, SubmitError> {
        let q = &self.shared.queued;
        let mut cur = q.load(Ordering::Relaxed);
        loop {
            if cur >= self.options.max_queue {
                return Err(SubmitError::QueueFull);
            }
            match q.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let sent = self
            .tx
            .lock()
            .map_err(|_| SubmitError::Stopped)?
            .send(Command::Submit(id, req, sink));
        if sent.is_err() {
            q.fetch_sub(1, Ordering::AcqRel);
            return Err(SubmitError::Stopped);
        }
        Ok(id)
    }

    /// Cancels one choice of a request, or the whole request; nothing more is reported for
    /// what was cancelled.
    pub fn cancel(&self, id: RequestId, choice: Option<usize>) {
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(Command::Cancel(id, choice));
        }
    }

    /// Lets every queued and running request finish, then stops the thread.
    pub fn shutdown(&self) {
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(Command::Shutdown);
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A request's sink and which of its choices are still going.
struct Open {
    sink: EventSink,
    going: Vec<bool>,
}

impl Open {
    fn end(&mut self, choice: Option<usize>) {
        match choice {
            Some(c) => {
                if let Some(g) = self.going.get_mut(c) {
                    *g = false;
                }
            }
            None => self.going.iter_mut().for_each(|g| *g = false),
        }
    }

    fn done(&self) -> bool {
        !self.going.contains(&true)
    }
}

fn serve<B: Backend>(
    weights: Weights<B>,
    device: B::Device,
    options: EngineOptions,
    rx: Receiver<Command>,
    shared: Arc<Shared>,
) {
    let mut engine = Engine::new(
        weights.text(),
        weights.multimodal(),
        device,
        options.max_len,
    );
    let mut waiting: VecDeque<(RequestId, SeqRequest)> = VecDeque::new();
    let mut open: HashMap<RequestId, Open> = HashMap::new();
    let mut stopping = false;
    loop {
        // Take every command that is waiting; block only when there is nothing to do.
        loop {
            let idle = engine.is_idle() && waiting.is_empty();
            if idle && stopping {
                return;
            }
            let cmd = if idle {
                match rx.recv_timeout(Duration::from_secs(3600)) {
                    Ok(c) => c,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            } else {
                match rx.try_recv() {
                    Ok(c) => c,
                    Err(mpsc::TryRecvError::Empty) => break,
                    // The handle is gone: finish what is in flight, as on shutdown.
                    Err(mpsc::TryRecvError::Disconnected) => {
                        stopping = true;
                        break;
                    }
                }
            };
            match cmd {
                Command::Submit(id, req, sink) => {
                    open.insert(
                        id,
                        Open {
                            sink,
                            going: vec![true; req.n],
                        },
                    );
                    waiting.push_back((id, req));
                }
                Command::Cancel(id, choice) => {
                    engine.cancel(id, choice);
                    if let Some(pos) = waiting.iter().position(|(w, _)| *w == id)
                        && choice.is_none()
                    {
                        waiting.remove(pos);
                        shared.queued.fetch_sub(1, Ordering::AcqRel);
                    }
                    close(&mut open, id, choice);
                    // (server helper) Keep the gauge true when a cancel empties the batch:
                    // the loop then blocks without reaching the store after `step`.
                    shared.running.store(engine.running(), Ordering::Relaxed);
                }
                Command::Shutdown => stopping = true,
            }
        }
        let mut dropped: Vec<RequestId> = Vec::new();
        let mut emit = |id: RequestId, ev: EngineEvent| deliver(&mut open, &mut dropped, id, ev);
        // Admit waiting requests while the batch has room (a request larger than the whole
        // batch runs alone).
        while let Some((_, front)) = waiting.front() {
            let fits = engine.running() + front.n <= options.max_batch || engine.is_idle();
            if !fits {
                break;
            }
            let (id, req) = waiting.pop_front().expect("front exists");
            shared.queued.fetch_sub(1, Ordering::AcqRel);
            if let Err(e) = engine.admit(id, req, &mut emit) {
                emit(
                    id,
                    EngineEvent::Failed {
                        message: e.to_string(),
                    },
                );
            }
        }
        engine.step(&mut emit);
        for id in dropped {
            engine.cancel(id, None);
            open.remove(&id);
        }
        shared.running.store(engine.running(), Ordering::Relaxed);
    }
}

/// Hands `ev` to its request's sink and keeps the count of open choices.
fn deliver(
    open: &mut HashMap<RequestId, Open>,
    dropped: &mut Vec<RequestId>,
    id: RequestId,
    ev: EngineEvent,
) {
    let Some(o) = open.get_mut(&id) else { return };
    let ends = match &ev {
        EngineEvent::Finished { choice, .. } => Some(Some(*choice)),
        EngineEvent::Failed { .. } => Some(None),
        EngineEvent::Token { .. } => None,
    };
    if !(o.sink)(ev) {
        dropped.push(id);
        return;
    }
    if let Some(which) = ends {
        o.end(which);
    }
    if o.done() {
        open.remove(&id);
    }
}

fn close(open: &mut HashMap<RequestId, Open>, id: RequestId, choice: Option<usize>) {
    let Some(o) = open.get_mut(&id) else { return };
    o.end(choice);
    if o.done() {
        open.remove(&id);
    }
}
