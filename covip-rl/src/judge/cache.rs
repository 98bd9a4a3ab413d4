//! A persistent answer cache keyed by (judge identity, prompt).
//!
//! The file is append-only JSONL, one `{"judge", "prompt", "answer"}` object per line, written
//! and flushed after each batch; opening it loads every line. A torn last line (a crash in the
//! middle of a write) is cut off with a warning; any other malformed line is an error naming it.
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use super::{Judge, JudgeError, JudgeRequest};

#[derive(Serialize, Deserialize)]
struct Entry {
    judge: String,
    prompt: String,
    answer: String,
}

/// Wraps a judge; answers already known (in memory or in the cache file) are not asked again.
/// Only successful answers are cached.
///
/// ```
/// use covip_data::{Letter, Qa};
/// use covip_rl::judge::{CachedJudge, Judge, JudgeRequest, LexicalJudge};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("judge.jsonl");
/// let qa = Qa::new("q", "Who?", ["Mina", "Jun", "Ara"], "cannot tell", Letter::A);
/// let req = [JudgeRequest { description: "Mina waves.", qa: &qa }];
/// let first = CachedJudge::open(LexicalJudge::default(), &path).unwrap();
/// let a = first.answer_batch(&req);
/// assert_eq!((first.hits(), first.misses()), (0, 1));
/// let again = CachedJudge::open(LexicalJudge::default(), &path).unwrap();
/// assert_eq!(again.answer_batch(&req)[0].as_ref().unwrap(), a[0].as_ref().unwrap());
/// assert_eq!((again.hits(), again.misses()), (1, 0));
/// ```
pub struct CachedJudge<J> {
    inner: J,
    path: Option<PathBuf>,
    map: Mutex<HashMap<(String, String), String>>,
    file: Mutex<Option<File>>,
    hits: AtomicUsize,
    misses: AtomicUsize,
}

impl<J: Judge> CachedJudge<J> {
    /// A cache that lives only as long as this value.
    pub fn in_memory(inner: J) -> Self {
        CachedJudge {
            inner,
            path: None,
            map: Mutex::new(HashMap::new()),
            file: Mutex::new(None),
            hits: AtomicUsize::new(0),
            misses: AtomicUsize::new(0),
        }
    }

    /// Loads `path` if it exists (creating it otherwise) and appends new answers to it.
    pub fn open(inner: J, path: &Path) -> Result<Self, JudgeError> {
        // The workspace's one append-only JSONL log: a torn last line is cut off, any other
        // malformed line is an error naming it.
        let (records, file) =
            covip_data::jsonl::open_log::<Entry>(path).map_err(|e| JudgeError::Cache {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let map = records
            .into_values()
            .into_iter()
            .map(|e| ((e.judge, e.prompt), e.answer))
            .collect();
        Ok(CachedJudge {
            inner,
            path: Some(path.to_path_buf()),
            map: Mutex::new(map),
            file: Mutex::new(Some(file)),
            hits: AtomicUsize::new(0),
            misses: AtomicUsize::new(0),
        })
    }

    /// Answers served from the cache so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }

    /// Questions passed to the inner judge so far.
    pub fn misses(&self) -> usize {
        self.misses.load(Ordering::Relaxed)
    }

    /// Number of cached answers.
    pub fn len(&self) -> usize {
        self.map.lock().expect("cache map").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn inner(&self) -> &J {
        &self.inner
    }

    fn append(&self, entries: &[Entry]) -> Result<(), JudgeError> {
        let mut guard = self.file.lock().expect("cache file");
        let Some(file) = guard.as_mut() else {
            return Ok(());
        };
        let mut buf = String::new();
        for e in entries {
            buf.push_str(&serde_json::to_string(e).expect("entry serialises"));
            buf.push('\n');
        }
        file.write_all(buf.as_bytes())
            .and_then(|_| file.flush())
            .map_err(|e| JudgeError::Cache {
                path: self.path.clone().unwrap_or_default(),
                message: e.to_string(),
            })
    }
}

impl<J: Judge> Judge for CachedJudge<J> {
    fn identity(&self) -> String {
        self.inner.identity()
    }

    fn prompt(&self, request: &JudgeRequest<'_>) -> Result<String, JudgeError> {
        self.inner.prompt(request)
    }

    fn answer_batch(&self, requests: &[JudgeRequest<'_>]) -> Vec<Result<String, JudgeError>> {
        let identity = self.inner.identity();
        let mut out: Vec<Option<Result<String, JudgeError>>> = Vec::with_capacity(requests.len());
        let mut keys: Vec<Option<String>> = Vec::with_capacity(requests.len());
        // Questions to ask: first request index per distinct prompt.
        let mut ask: Vec<usize> = Vec::new();
        let mut asked: HashMap<String, usize> = HashMap::new();
        {
            let map = self.map.lock().expect("cache map");
            for (i, r) in requests.iter().enumerate() {
                match self.inner.prompt(r) {
                    Err(e) => {
                        out.push(Some(Err(e)));
                        keys.push(None);
                    }
                    Ok(p) => {
                        if let Some(a) = map.get(&(identity.clone(), p.clone())) {
                            self.hits.fetch_add(1, Ordering::Relaxed);
                            out.push(Some(Ok(a.clone())));
                        } else {
                            out.push(None);
                            if !asked.contains_key(&p) {
                                asked.insert(p.clone(), i);
                                ask.push(i);
                            }
                        }
                        keys.push(Some(p));
                    }
                }
            }
        }
        if !ask.is_empty() {
            self.misses.fetch_add(ask.len(), Ordering::Relaxed);
            let batch: Vec<JudgeRequest<'_>> = ask.iter().map(|&i| requests[i]).collect();
            let answers = self.inner.answer_batch(&batch);
            let mut fresh = Vec::new();
            let mut by_prompt: HashMap<&str, Result<String, String>> = HashMap::new();
            for (&i, a) in ask.iter().zip(answers) {
                let p = keys[i].as_deref().expect("asked prompts have keys");
                match a {
                    Ok(text) => {
                        fresh.push(Entry {
                            judge: identity.clone(),
                            prompt: p.to_string(),
                            answer: text.clone(),
                        });
                        by_prompt.insert(p, Ok(text));
                    }
                    Err(e) => {
                        by_prompt.insert(p, Err(e.to_string()));
                        out[i] = Some(Err(e));
                    }
                }
            }
            let write = self.append(&fresh);
            {
                let mut map = self.map.lock().expect("cache map");
                for e in fresh {
                    map.insert((e.judge, e.prompt), e.answer);
                }
            }
            for i in 0..requests.len() {
                if out[i].is_some() {
                    continue;
                }
                let p = keys[i].as_deref().expect("unanswered requests have keys");
                out[i] = Some(match by_prompt.get(p) {
                    Some(Ok(a)) => match &write {
                        Ok(()) => Ok(a.clone()),
                        Err(e) => Err(JudgeError::Cache {
                            path: self.path.clone().unwrap_or_default(),
                            message: e.to_string(),
                        }),
                    },
                    Some(Err(m)) => Err(JudgeError::Prompt(format!(
                        "duplicate of a failed question: {m}"
                    ))),
                    None => Err(JudgeError::Prompt("question was not answered".into())),
                });
            }
        }
        out.into_iter()
            .map(|o| o.expect("every request resolved"))
            .collect()
    }
}
