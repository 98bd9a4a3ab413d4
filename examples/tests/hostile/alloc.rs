//! A counting global allocator for the hostile-input test: live bytes process-wide (with a hard
//! ceiling) and, per thread, the peak since the current input started.
//!
//! A request that would take the process past [`HARD_LIMIT`] is refused; since stable Rust
//! aborts on a refused allocation, the allocator first prints which target, seed and input
//! asked for it and saves that input under `target/hostile-failures/`, so the abort is
//! reproducible. Below the ceiling, each input's peak is recorded and the test fails at the end
//! for inputs over the softer per-input bound.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Live bytes of the whole process that no allocation may exceed.
pub const HARD_LIMIT: usize = 2 << 30;

static LIVE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Bytes allocated minus bytes freed by this thread (frees of other threads' memory can
    /// take it below zero, hence signed).
    static THREAD_LIVE: Cell<isize> = const { Cell::new(0) };
    static THREAD_PEAK: Cell<isize> = const { Cell::new(0) };
    /// Set while the refusal report runs, so its own allocations pass.
    static REPORTING: Cell<bool> = const { Cell::new(false) };
    /// What this thread is running, for the refusal report.
    static CURRENT: Cell<Option<&'static Current>> = const { Cell::new(None) };
}

/// The input a worker thread is running: set by the harness around each input.
pub struct Current {
    pub target: &'static str,
    pub seed: u64,
    pub index: std::sync::atomic::AtomicU64,
    /// The input's bytes, for saving on refusal: address and length of a live buffer.
    pub input_ptr: AtomicUsize,
    pub input_len: AtomicUsize,
    pub failures_dir: std::path::PathBuf,
}

/// Registers what this thread runs (the harness leaks one `Current` per worker and target).
pub fn set_current(c: Option<&'static Current>) {
    CURRENT.with(|x| x.set(c));
}

/// Starts a new per-input peak: returns this thread's live bytes now (the baseline).
pub fn begin_input() -> isize {
    let live = THREAD_LIVE.with(Cell::get);
    THREAD_PEAK.with(|p| p.set(live));
    live
}

/// The peak bytes above `baseline` this thread held since [`begin_input`].
pub fn input_peak(baseline: isize) -> usize {
    (THREAD_PEAK.with(Cell::get) - baseline).max(0) as usize
}

pub struct Counting;

impl Counting {
    fn grow(&self, size: usize) -> bool {
        let before = LIVE.fetch_add(size, Ordering::Relaxed);
        if before.saturating_add(size) > HARD_LIMIT && !REPORTING.with(Cell::get) {
            LIVE.fetch_sub(size, Ordering::Relaxed);
            refuse(size, before);
            return false;
        }
        THREAD_LIVE.with(|l| {
            let now = l.get() + size as isize;
            l.set(now);
            THREAD_PEAK.with(|p| {
                if now > p.get() {
                    p.set(now)
                }
            });
        });
        true
    }

    fn shrink(&self, size: usize) {
        LIVE.fetch_sub(size, Ordering::Relaxed);
        THREAD_LIVE.with(|l| l.set(l.get() - size as isize));
    }
}

/// Reports the refused request: target, seed and index of the input, and saves it.
#[cold]
fn refuse(size: usize, live: usize) {
    REPORTING.with(|r| r.set(true));
    let current = CURRENT.with(Cell::get);
    match current {
        Some(c) => {
            let index = c.index.load(Ordering::Relaxed);
            let saved = save_current(c, index);
            // The backtrace first, the summary last: the parent shows the end of stderr.
            let bt = std::backtrace::Backtrace::force_capture().to_string();
            let ours: Vec<&str> = bt
                .lines()
                .filter(|l| l.contains("covip") && !l.contains("hostile"))
                .collect();
            eprintln!(
                "\nworkspace frames of the refused allocation:\n{}\n\
                 hostile_inputs: allocation of {size} bytes refused ({live} live, limit {HARD_LIMIT}) \
                 in target `{}`, seed {}, input {index}; input saved to {saved}; \
                 reproduce with HOSTILE_ONLY={}:{index} HOSTILE_SEED={}",
                ours.join("\n"),
                c.target,
                c.seed,
                c.target,
                c.seed,
            );
        }
        None => eprintln!(
            "\nhostile_inputs: allocation of {size} bytes refused ({live} live, limit {HARD_LIMIT}) outside any input"
        ),
    }
    REPORTING.with(|r| r.set(false));
}

fn save_current(c: &Current, index: u64) -> String {
    let (ptr, len) = (
        c.input_ptr.load(Ordering::Relaxed),
        c.input_len.load(Ordering::Relaxed),
    );
    if ptr == 0 {
        return "(not saved)".into();
    }
    // SAFETY: the harness keeps the input buffer alive and unchanged while it is registered.
    let bytes = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
    let path = c
        .failures_dir
        .join(format!("{}-{}-{index}-alloc.bin", c.target, c.seed));
    let _ = std::fs::create_dir_all(&c.failures_dir);
    match std::fs::write(&path, bytes) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("(not saved: {e})"),
    }
}

// SAFETY: every call is forwarded to `System`; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !self.grow(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            self.shrink(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !self.grow(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            self.shrink(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        self.shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old {
            if !self.grow(new_size - old) {
                return std::ptr::null_mut();
            }
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if p.is_null() {
                self.shrink(new_size - old);
            }
            p
        } else {
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                self.shrink(old - new_size);
            }
            p
        }
    }
}
