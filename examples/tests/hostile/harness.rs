//! Runs mutated inputs through a target: each under `catch_unwind`, timed, with its allocation
//! peak measured; classifies the outcome and keeps every problem with what reproduces it.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::alloc;
use super::mutate::{Mutator, Seed};

/// One input as a target sees it.
pub struct Input<'a> {
    pub bytes: &'a [u8],
    /// The seed it was made from (targets name the file after it when the name matters).
    pub seed_name: &'a str,
    /// A folder of this worker's own for readers that take paths.
    pub scratch: &'a Path,
}

/// What a target's run returns: `Ok` when the input was accepted, `Err(message)` when it was
/// refused. An empty message is a failure (every error must say what is wrong).
pub type Outcome = Result<(), String>;

/// A parser reached by a user's file, with valid seed inputs.
pub struct Target {
    pub name: &'static str,
    pub seeds: Vec<Seed>,
    pub run: Box<dyn Fn(&Input) -> Outcome + Send + Sync>,
}

/// Run settings (environment variables override the defaults).
#[derive(Clone, Debug)]
pub struct Settings {
    /// `HOSTILE_SEED`.
    pub seed: u64,
    /// `HOSTILE_INPUTS`: inputs per target.
    pub inputs: u64,
    /// `HOSTILE_BUDGET_MS`: the time one input may take, plus as much again per MiB of input
    /// (linear work on a long input is fine; what the budget catches is super-linear work).
    pub budget: Duration,
    /// `HOSTILE_PEAK_MIB`: the memory one input may hold at its peak.
    pub peak_limit: usize,
    /// `HOSTILE_THREADS`.
    pub threads: usize,
    /// `HOSTILE_ONLY`: `target` or `target:index` (to reproduce one input).
    pub only: Option<(String, Option<u64>)>,
    /// `HOSTILE_SKIP`: comma-separated inputs not to run (set by the parent for inputs that
    /// aborted a previous child, so the rest of the target still runs).
    pub skip: Vec<u64>,
    /// Where failing inputs are saved.
    pub failures_dir: PathBuf,
}

impl Settings {
    pub fn from_env() -> Settings {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let num = |k: &str, d: u64| var(k).and_then(|v| v.parse().ok()).unwrap_or(d);
        let only = var("HOSTILE_ONLY").map(|v| match v.split_once(':') {
            Some((t, i)) => (t.to_string(), i.parse().ok()),
            None => (v, None),
        });
        let failures_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap_or(Path::new("target"))
            .join("hostile-failures");
        Settings {
            seed: num("HOSTILE_SEED", 0x00C0_71B5_EED5),
            inputs: num("HOSTILE_INPUTS", 10_000),
            budget: Duration::from_millis(num("HOSTILE_BUDGET_MS", 10_000)),
            peak_limit: num("HOSTILE_PEAK_MIB", 512) as usize * (1 << 20),
            threads: num(
                "HOSTILE_THREADS",
                std::thread::available_parallelism().map_or(2, |n| n.get().min(4)) as u64,
            )
            .max(1) as usize,
            only,
            skip: var("HOSTILE_SKIP")
                .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
                .unwrap_or_default(),
            failures_dir,
        }
    }
}

/// What went wrong with one input.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Problem {
    Panic { message: String, location: String },
    EmptyMessage,
    OverBudget(Duration),
    OverMemory(usize),
}

impl Problem {
    pub fn tag(&self) -> &'static str {
        match self {
            Problem::Panic { .. } => "panic",
            Problem::EmptyMessage => "empty-message",
            Problem::OverBudget(_) => "slow",
            Problem::OverMemory(_) => "memory",
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Panic { message, location } => write!(f, "panic at {location}: {message}"),
            Problem::EmptyMessage => f.write_str("error with an empty message"),
            Problem::OverBudget(d) => write!(f, "took {:.0} ms", d.as_secs_f64() * 1e3),
            Problem::OverMemory(b) => write!(f, "peak {:.1} MiB", *b as f64 / (1 << 20) as f64),
        }
    }
}

/// One failing input, with what reproduces it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Failure {
    pub target: String,
    pub index: u64,
    pub problem: Problem,
    pub how: String,
    pub saved: Option<PathBuf>,
    /// The panic's backtrace, kept for the first few panics of a target.
    pub backtrace: Option<String>,
}

/// Counts of one target.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    pub target: String,
    pub inputs: u64,
    pub ok: u64,
    pub errors: u64,
    pub panics: u64,
    pub over_budget: u64,
    pub over_memory: u64,
    pub empty_messages: u64,
    /// Inputs whose allocation was refused (each aborted a child; filled in by the parent).
    #[serde(default)]
    pub aborted: u64,
    pub max_time: Duration,
    pub peak_bytes: usize,
    pub wall: Duration,
    pub failures: Vec<Failure>,
}

impl Report {
    pub fn row(&self) -> String {
        format!(
            "{:<22} {:>7} {:>7} {:>7} {:>6} {:>5} {:>5} {:>5} {:>5} {:>9.1} {:>9.1} {:>7.1}",
            self.target,
            self.inputs,
            self.ok,
            self.errors,
            self.panics,
            self.aborted,
            self.over_budget,
            self.over_memory,
            self.empty_messages,
            self.max_time.as_secs_f64() * 1e3,
            self.peak_bytes as f64 / (1 << 20) as f64,
            self.wall.as_secs_f64()
        )
    }

    pub fn header() -> String {
        format!(
            "{:<22} {:>7} {:>7} {:>7} {:>6} {:>5} {:>5} {:>5} {:>5} {:>9} {:>9} {:>7}",
            "target",
            "inputs",
            "ok",
            "errors",
            "panics",
            "alloc",
            "slow",
            "mem",
            "empty",
            "max ms",
            "peak MiB",
            "wall s"
        )
    }
}

thread_local! {
    /// The last panic of this thread: message, location, backtrace (when asked for).
    static LAST_PANIC: std::cell::RefCell<Option<(String, String, Option<String>)>> =
        const { std::cell::RefCell::new(None) };
    static WANT_BACKTRACE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Replaces the panic hook with one that records the panic for the harness instead of
/// printing it (thousands of expected panics would drown the report).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
            s.to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "(non-string payload)".to_string()
        };
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_else(|| "(unknown)".into());
        let bt = WANT_BACKTRACE
            .with(|w| w.get())
            .then(|| std::backtrace::Backtrace::force_capture().to_string());
        LAST_PANIC.with(|p| *p.borrow_mut() = Some((message, location, bt)));
    }));
}

/// Panic backtraces kept per target (capturing one costs milliseconds).
const BACKTRACES_PER_TARGET: usize = 3;
/// Inputs saved per target and kind of problem.
const SAVED_PER_KIND: usize = 10;
/// An input still running after this long is a hang: the watchdog reports it and aborts.
const HANG: Duration = Duration::from_secs(120);

/// Runs `settings.inputs` mutated inputs (or the one `HOSTILE_ONLY` names) through `target`.
pub fn run_target(target: &Target, settings: &Settings) -> Report {
    let mutator = Mutator::new(&target.seeds);
    let indices: Vec<u64> = match &settings.only {
        Some((_, Some(i))) => vec![*i],
        _ => (0..settings.inputs)
            .filter(|i| !settings.skip.contains(i))
            .collect(),
    };
    let next = AtomicUsize::new(0);
    let report = Mutex::new(Report {
        target: target.name.to_string(),
        ..Default::default()
    });
    let backtraces = AtomicUsize::new(0);
    let scratch_root = tempfile::Builder::new()
        .prefix(&format!("hostile-{}-", target.name))
        .tempdir()
        .expect("a temporary folder");
    let threads = settings.threads.min(indices.len()).max(1);
    // Watchdog state per worker: start of the running input (ms since `t0`, 0 when idle) and
    // its index.
    let t0 = Instant::now();
    let running: Arc<Vec<(AtomicU64, AtomicU64)>> = Arc::new(
        (0..threads)
            .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
            .collect(),
    );
    let done = AtomicBool::new(false);
    // `HOSTILE_TRACE=1`: one line per input (size, time, peak), to see where the time goes.
    let trace = std::env::var_os("HOSTILE_TRACE").is_some();
    /// Stops the watchdog however the scope's body ends.
    struct Done<'a>(&'a AtomicBool);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    std::thread::scope(|s| {
        let _done = Done(&done);
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                for (start, index) in running.iter() {
                    let st = start.load(Ordering::Relaxed);
                    if st != 0 && t0.elapsed().as_millis() as u64 > st + HANG.as_millis() as u64 {
                        let i = index.load(Ordering::Relaxed);
                        let m = mutator.input(settings.seed, target.name, i);
                        let saved = save(settings, target.name, i, "hang", &m.bytes, &m.how);
                        eprintln!(
                            "\nhostile_inputs: target `{}` input {i} (seed {}) still runs after {:?}: \
                             a hang. Input ({}) saved to {}; reproduce with HOSTILE_ONLY={}:{i} HOSTILE_SEED={}",
                            target.name,
                            settings.seed,
                            HANG,
                            m.how,
                            saved.map(|p| p.display().to_string()).unwrap_or_default(),
                            target.name,
                            settings.seed
                        );
                        std::process::abort();
                    }
                }
            }
        });
        let workers: Vec<_> = (0..threads)
            .map(|w| {
                let (mutator, next, report, backtraces, indices, running) =
                    (&mutator, &next, &report, &backtraces, &indices, &running);
                let scratch = scratch_root.path().join(format!("w{w}"));
                s.spawn(move || {
                    std::fs::create_dir_all(&scratch).expect("scratch folder");
                    let current: &'static alloc::Current = Box::leak(Box::new(alloc::Current {
                        target: target.name,
                        seed: settings.seed,
                        index: AtomicU64::new(0),
                        input_ptr: AtomicUsize::new(0),
                        input_len: AtomicUsize::new(0),
                        failures_dir: settings.failures_dir.clone(),
                    }));
                    alloc::set_current(Some(current));
                    let mut local = Report::default();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = indices.get(k) else { break };
                        let m = match std::panic::catch_unwind(|| {
                            mutator.input(settings.seed, target.name, i)
                        }) {
                            Ok(m) => m,
                            Err(_) => {
                                // A bug of the mutator itself: say so and stop.
                                let p = LAST_PANIC.with(|p| p.borrow_mut().take());
                                eprintln!(
                                    "hostile_inputs: the mutator panicked on `{}` input {i}: {p:?}",
                                    target.name
                                );
                                std::process::abort();
                            }
                        };
                        let seed_name = m
                            .how
                            .split(" + ")
                            .next()
                            .unwrap_or("")
                            .trim_start_matches("seed ");
                        current.index.store(i, Ordering::Relaxed);
                        current
                            .input_ptr
                            .store(m.bytes.as_ptr() as usize, Ordering::Relaxed);
                        current.input_len.store(m.bytes.len(), Ordering::Relaxed);
                        let want_bt = backtraces.load(Ordering::Relaxed) < BACKTRACES_PER_TARGET;
                        WANT_BACKTRACE.with(|b| b.set(want_bt));
                        let input = Input {
                            bytes: &m.bytes,
                            seed_name,
                            scratch: &scratch,
                        };
                        running[w].1.store(i, Ordering::Relaxed);
                        running[w]
                            .0
                            .store(t0.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
                        let base = alloc::begin_input();
                        let start = Instant::now();
                        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            (target.run)(&input)
                        }));
                        let took = start.elapsed();
                        let peak = alloc::input_peak(base);
                        if trace {
                            eprintln!(
                                "trace {i} {} bytes {:.1} ms {} KiB: {}",
                                m.bytes.len(),
                                took.as_secs_f64() * 1e3,
                                peak >> 10,
                                m.how
                            );
                        }
                        running[w].0.store(0, Ordering::Relaxed);
                        current.input_ptr.store(0, Ordering::Relaxed);
                        local.inputs += 1;
                        local.max_time = local.max_time.max(took);
                        local.peak_bytes = local.peak_bytes.max(peak);
                        let mut problems = Vec::new();
                        let mut backtrace = None;
                        match result {
                            Ok(Ok(())) => local.ok += 1,
                            Ok(Err(msg)) => {
                                local.errors += 1;
                                if msg.trim().is_empty() {
                                    local.empty_messages += 1;
                                    problems.push(Problem::EmptyMessage);
                                }
                            }
                            Err(_) => {
                                local.panics += 1;
                                let (message, location, bt) =
                                    LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_else(
                                        || ("(no message)".into(), "(unknown)".into(), None),
                                    );
                                if bt.is_some() {
                                    backtraces.fetch_add(1, Ordering::Relaxed);
                                }
                                backtrace = bt;
                                problems.push(Problem::Panic { message, location });
                            }
                        }
                        let budget = settings
                            .budget
                            .mul_f64(1.0 + m.bytes.len() as f64 / (1 << 20) as f64);
                        if took > budget {
                            local.over_budget += 1;
                            problems.push(Problem::OverBudget(took));
                        }
                        if peak > settings.peak_limit {
                            local.over_memory += 1;
                            problems.push(Problem::OverMemory(peak));
                        }
                        for problem in problems {
                            local.failures.push(Failure {
                                target: target.name.to_string(),
                                index: i,
                                problem,
                                how: m.how.clone(),
                                saved: None,
                                backtrace: backtrace.take(),
                            });
                        }
                    }
                    alloc::set_current(None);
                    let mut r = report.lock().unwrap_or_else(|e| e.into_inner());
                    r.inputs += local.inputs;
                    r.ok += local.ok;
                    r.errors += local.errors;
                    r.panics += local.panics;
                    r.over_budget += local.over_budget;
                    r.over_memory += local.over_memory;
                    r.empty_messages += local.empty_messages;
                    r.max_time = r.max_time.max(local.max_time);
                    r.peak_bytes = r.peak_bytes.max(local.peak_bytes);
                    r.failures.extend(local.failures);
                })
            })
            .collect();
        for w in workers {
            // A worker only dies on a harness bug; make that loud.
            w.join().expect("a hostile-input worker thread died");
        }
        done.store(true, Ordering::Relaxed);
    });
    let mut report = report.into_inner().unwrap_or_else(|e| e.into_inner());
    report.wall = t0.elapsed();
    report.failures.sort_by_key(|f| (f.problem.tag(), f.index));
    // Save the first few inputs of each kind of problem.
    let mut saved_per_kind = std::collections::HashMap::<&str, usize>::new();
    for f in &mut report.failures {
        let n = saved_per_kind.entry(f.problem.tag()).or_default();
        if *n < SAVED_PER_KIND {
            *n += 1;
            let m = mutator.input(settings.seed, target.name, f.index);
            let note = format!(
                "{}\n{}\n{}",
                f.problem,
                f.how,
                f.backtrace.as_deref().unwrap_or("")
            );
            f.saved = save(
                settings,
                target.name,
                f.index,
                f.problem.tag(),
                &m.bytes,
                &note,
            );
        }
    }
    report
}

/// Saves a failing input (and a note of what it is) under the failures folder.
fn save(
    settings: &Settings,
    target: &str,
    index: u64,
    tag: &str,
    bytes: &[u8],
    note: &str,
) -> Option<PathBuf> {
    std::fs::create_dir_all(&settings.failures_dir).ok()?;
    let stem = format!("{target}-{}-{index}-{tag}", settings.seed);
    let path = settings.failures_dir.join(format!("{stem}.bin"));
    std::fs::write(&path, bytes).ok()?;
    let _ = std::fs::write(settings.failures_dir.join(format!("{stem}.txt")), note);
    Some(path)
}
