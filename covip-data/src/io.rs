//! File helpers every long run shares: atomic writes and an append-only log of finished
//! units, so an interrupted run resumes where it stopped and never leaves a half-written file.
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::DataError;

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so
/// readers see either the old file or the whole new one.
///
/// The temporary file has a fresh random name (`tempfile`), so threads or processes writing
/// the same path at once never share one: the last rename wins, whole. Its name is hidden
/// (`.<name>.<random>.tmp`) so a folder scan skips one left by a killed process. The file is
/// created with mode 0666 less the umask, as `File::create` would.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
    let file_name = path
        .file_name()
        .ok_or_else(|| DataError::Other(format!("{}: not a file path", path.display())))?;
    let prefix = format!(".{}.", file_name.to_string_lossy());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    builder.permissions(<fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o666));
    let mut tmp = builder
        .tempfile_in(&dir)
        .map_err(|e| DataError::io(&dir, e))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| DataError::io(path, e))?;
    // On failure the temporary file is removed when `PersistError` drops it.
    tmp.persist(path)
        .map_err(|e| DataError::io(path, e.error))?;
    Ok(())
}

/// Serialises `value` as pretty JSON and writes it atomically.
pub fn write_json_atomic<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), DataError> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| DataError::Other(format!("{}: cannot serialise: {e}", path.display())))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// An append-only JSONL log of finished units `{"key": ..., "value": ...}`.
///
/// Each finished unit is appended and flushed at once; on restart `open` reads back what was
/// done. A torn last line (the process died mid-write) is ignored with a warning, since the unit
/// it belonged to simply runs again.
pub struct ResumeLog<V> {
    path: PathBuf,
    file: File,
    done: HashMap<String, V>,
    order: Vec<String>,
}

#[derive(Serialize, serde::Deserialize)]
struct LogLine<V> {
    key: String,
    value: V,
}

impl<V: Serialize + DeserializeOwned + Clone> ResumeLog<V> {
    /// Opens (creating if needed) the log at `path` and loads the finished units.
    ///
    /// A torn last line (no newline, not an entry) is cut off with a warning, since its unit
    /// simply runs again; any other malformed line is an error naming it
    /// ([`crate::jsonl::open_log`]).
    pub fn open(path: impl Into<PathBuf>) -> Result<ResumeLog<V>, DataError> {
        let path = path.into();
        let (records, file) = crate::jsonl::open_log::<LogLine<V>>(&path)?;
        let mut done = HashMap::new();
        let mut order = Vec::new();
        for (_, l) in records.records {
            if done.insert(l.key.clone(), l.value).is_none() {
                order.push(l.key);
            }
        }
        Ok(ResumeLog {
            path,
            file,
            done,
            order,
        })
    }

    /// The finished value of `key`, if any.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.done.get(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.done.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.done.len()
    }

    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// Records a finished unit and flushes it to disk.
    pub fn record(&mut self, key: &str, value: V) -> Result<(), DataError> {
        let mut line = serde_json::to_string(&LogLine {
            key: key.to_string(),
            value: value.clone(),
        })
        .map_err(|e| DataError::Other(format!("{}: {e}", self.path.display())))?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|e| DataError::io(&self.path, e))?;
        if self.done.insert(key.to_string(), value).is_none() {
            self.order.push(key.to_string());
        }
        Ok(())
    }

    /// Finished units in the order they were first recorded.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &V)> {
        self.order
            .iter()
            .map(|k| (k.as_str(), self.done.get(k).expect("key in order is done")))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second");
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn concurrent_atomic_writes_to_one_path_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("shared.json");
        let contents: Vec<Vec<u8>> = (0..8u8).map(|t| vec![b'a' + t; 64 * 1024]).collect();
        std::thread::scope(|s| {
            for c in &contents {
                let p = &p;
                s.spawn(move || {
                    for _ in 0..25 {
                        write_atomic(p, c).unwrap();
                    }
                });
            }
        });
        // The file is one writer's bytes, whole, and no temporary file is left.
        let got = fs::read(&p).unwrap();
        assert!(contents.contains(&got), "a mixed or partial file");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["shared.json"]);
    }

    #[cfg(unix)]
    #[test]
    fn atomic_write_keeps_the_usual_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        let b = dir.path().join("b.json");
        write_atomic(&a, b"x").unwrap();
        fs::write(&b, b"x").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&a), mode(&b));
    }

    #[test]
    fn resume_log_survives_restart_and_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.jsonl");
        {
            let mut log = ResumeLog::<String>::open(&p).unwrap();
            log.record("a", "1".into()).unwrap();
            log.record("b", "2".into()).unwrap();
        }
        // Simulate a crash in the middle of writing the third entry.
        let mut f = fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"key":"c","val"#).unwrap();
        drop(f);
        let mut log = ResumeLog::<String>::open(&p).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log.get("b").map(String::as_str), Some("2"));
        assert!(!log.contains("c"));
        let keys: Vec<_> = log.entries().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys, ["a", "b"]);
        log.record("c", "3".into()).unwrap();
        drop(log);
        let log = ResumeLog::<String>::open(&p).unwrap();
        assert_eq!(log.get("c").map(String::as_str), Some("3"));
    }

    #[test]
    fn corrupt_middle_line_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.jsonl");
        fs::write(
            &p,
            "{\"key\":\"a\",\"value\":1}\nnot json\n{\"key\":\"b\",\"value\":2}\n",
        )
        .unwrap();
        let err = ResumeLog::<i32>::open(&p).err().unwrap().to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
