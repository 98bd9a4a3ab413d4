//! The one JSONL reader of the workspace: one JSON value per line, blank lines skipped, line
//! numbers (1-based, blank lines counted) in every message, and a stated policy for a torn last
//! line.
//!
//! A line is *torn* when it is the last one, lacks its newline and does not parse: the writer
//! died in the middle of it. Files written whole (datasets, inputs) treat it as any malformed
//! line ([`TornLastLine::Reject`]); append-only logs and caches drop it and redo the entry
//! ([`TornLastLine::Drop`]). A malformed line that ends with its newline is never torn.
//!
//! Three levels, from the bottom: [`Lines`] streams the non-blank lines of any `BufRead`
//! (stdin included) without parsing them; [`read`] / [`read_from`] parse every line into a
//! record type, failing on the first bad one; [`open_log`] also repairs an append-only log
//! and returns it ready for appending. The lenient dataset readers, which report every bad
//! record and keep the others, build on [`Lines`] (`formats::json::parse_jsonl`).
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{DataError, Problem, RecordLoc};

/// What a reader does with a torn last line (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TornLastLine {
    /// An error like any other malformed line.
    Reject,
    /// Dropped with a warning; the reader reports it in [`Records::dropped`].
    Drop,
}

/// One non-blank line.
#[derive(Clone, Copy, Debug)]
pub struct Line<'a> {
    /// 1-based line number; blank lines count.
    pub number: usize,
    /// The line without its ending (`\n` or `\r\n`).
    pub bytes: &'a [u8],
    /// Whether the line ended with `\n` (only the last line of a stream may not).
    pub terminated: bool,
    /// Byte offset in the stream just past this line and its newline.
    pub end: u64,
}

impl<'a> Line<'a> {
    /// The line as UTF-8 text, or a message saying where it is not.
    pub fn text(&self) -> Result<&'a str, String> {
        std::str::from_utf8(self.bytes).map_err(|e| format!("not UTF-8: {e}"))
    }

    /// The line parsed as one JSON value of type `T`; the message is serde_json's.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, String> {
        let text = self.text()?;
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

/// Whether a line holds nothing but white space (Rust's `str::trim`); a line that is not
/// UTF-8 is never blank.
fn is_blank(bytes: &[u8]) -> bool {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return true;
    }
    std::str::from_utf8(bytes).is_ok_and(|s| s.trim().is_empty())
}

/// The non-blank lines of a `BufRead`, one at a time (a lending iterator: each line borrows
/// the reader's buffer until the next call).
///
/// ```
/// let mut lines = covip_data::jsonl::Lines::new("{\"a\":1}\n\n{\"a\":2}".as_bytes());
/// let mut seen = Vec::new();
/// while let Some(line) = lines.next_line()? {
///     seen.push((line.number, line.text().unwrap().to_string(), line.terminated));
/// }
/// assert_eq!(seen, [(1, "{\"a\":1}".into(), true), (3, "{\"a\":2}".into(), false)]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    number: usize,
    offset: u64,
    max_line_bytes: u64,
}

impl<R: BufRead> Lines<R> {
    /// Lines of `reader`, of any length.
    pub fn new(reader: R) -> Lines<R> {
        Lines {
            reader,
            buf: Vec::new(),
            number: 0,
            offset: 0,
            max_line_bytes: u64::MAX,
        }
    }

    /// Refuses (with an `InvalidData` error naming the line) any line longer than `max` bytes,
    /// so a file without newlines cannot make the reader hold all of it at once.
    pub fn max_line_bytes(mut self, max: u64) -> Lines<R> {
        self.max_line_bytes = max;
        self
    }

    /// The next non-blank line, `None` at the end of the stream.
    pub fn next_line(&mut self) -> std::io::Result<Option<Line<'_>>> {
        loop {
            self.buf.clear();
            let limit = self.max_line_bytes.saturating_add(1);
            let n = (&mut self.reader)
                .take(limit)
                .read_until(b'\n', &mut self.buf)?;
            if n == 0 {
                return Ok(None);
            }
            self.number += 1;
            self.offset += n as u64;
            let terminated = self.buf.last() == Some(&b'\n');
            let content_len = self.buf.len() - usize::from(terminated);
            if content_len as u64 > self.max_line_bytes {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "line {} is longer than {} bytes",
                        self.number, self.max_line_bytes
                    ),
                ));
            }
            let mut end = content_len;
            if terminated && end > 0 && self.buf[end - 1] == b'\r' {
                end -= 1;
            }
            if is_blank(&self.buf[..end]) {
                continue;
            }
            return Ok(Some(Line {
                number: self.number,
                bytes: &self.buf[..end],
                terminated,
                end: self.offset,
            }));
        }
    }

    /// Lines read so far, blank ones included.
    pub fn lines_read(&self) -> usize {
        self.number
    }
}

/// The records of a JSONL stream.
#[derive(Clone, Debug)]
pub struct Records<T> {
    /// Each record with its 1-based line number, in file order.
    pub records: Vec<(usize, T)>,
    /// A torn last line dropped under [`TornLastLine::Drop`]: its number and why it did not
    /// parse.
    pub dropped: Option<(usize, String)>,
    /// Bytes up to the end of the last record kept (the length an append-only log is cut
    /// back to).
    pub good_len: u64,
    /// Whether the last record kept lacks its newline.
    pub unterminated: bool,
}

impl<T> Records<T> {
    /// The records without their line numbers.
    pub fn into_values(self) -> Vec<T> {
        self.records.into_iter().map(|(_, r)| r).collect()
    }
}

/// Reads every record of the JSONL file at `path`; the first malformed line is an error naming
/// the file and the line.
pub fn read<T: DeserializeOwned>(path: &Path, torn: TornLastLine) -> Result<Records<T>, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    read_from(path, BufReader::new(file), torn)
}

/// [`read`] for any reader; `origin` names it in messages (a path, or `<stdin>`).
pub fn read_from<T: DeserializeOwned>(
    origin: &Path,
    reader: impl BufRead,
    torn: TornLastLine,
) -> Result<Records<T>, DataError> {
    let mut lines = Lines::new(reader);
    let mut out = Records {
        records: Vec::new(),
        dropped: None,
        good_len: 0,
        unterminated: false,
    };
    while let Some(line) = lines.next_line().map_err(|e| DataError::io(origin, e))? {
        match line.parse::<T>() {
            Ok(r) => {
                out.records.push((line.number, r));
                out.good_len = line.end;
                out.unterminated = !line.terminated;
            }
            Err(e) if !line.terminated && torn == TornLastLine::Drop => {
                tracing::warn!(
                    "{}: line {}: dropping a torn last line ({e})",
                    origin.display(),
                    line.number
                );
                out.dropped = Some((line.number, e));
            }
            Err(e) => {
                return Err(DataError::Invalid(Problem::new(
                    origin,
                    RecordLoc::Line(line.number),
                    "",
                    e,
                )));
            }
        }
    }
    Ok(out)
}

/// Opens the append-only JSONL log at `path` (creating it and its folder if needed): reads
/// its records, cuts a torn last line off, ends an unterminated last record with its newline,
/// and returns the records with the file open for appending.
///
/// Every other malformed line is an error: a log is only ever appended to, so damage before
/// its end is not a crash and is not silently dropped.
pub fn open_log<T: DeserializeOwned>(path: &Path) -> Result<(Records<T>, File), DataError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .map_err(|e| DataError::io(path, e))?;
    let records = read_from(path, BufReader::new(&mut file), TornLastLine::Drop)?;
    let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    if records.good_len < len {
        // Only a dropped torn line (or blank lines after the last record) lies past it.
        file.set_len(records.good_len)
            .map_err(|e| DataError::io(path, e))?;
    }
    if records.unterminated {
        file.write_all(b"\n").map_err(|e| DataError::io(path, e))?;
    }
    Ok((records, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct R {
        a: u32,
    }

    fn all_lines(text: &[u8]) -> Vec<(usize, String, bool, u64)> {
        let mut lines = Lines::new(text);
        let mut out = Vec::new();
        while let Some(l) = lines.next_line().unwrap() {
            out.push((
                l.number,
                String::from_utf8_lossy(l.bytes).into_owned(),
                l.terminated,
                l.end,
            ));
        }
        out
    }

    #[test]
    fn lines_are_numbered_and_blank_ones_skipped() {
        assert_eq!(
            all_lines(b"a\r\n\n \t\nb\n\xe2\x80\x83\nc"),
            [
                (1, "a".into(), true, 3),
                (4, "b".into(), true, 9),
                (6, "c".into(), false, 14),
            ]
        );
        assert!(all_lines(b"").is_empty());
        assert!(all_lines(b"\n\n").is_empty());
        // Not UTF-8: a line of its own, reported when its text is asked for.
        let mut lines = Lines::new(&b"\xff\n"[..]);
        let l = lines.next_line().unwrap().unwrap();
        assert!(l.text().unwrap_err().starts_with("not UTF-8"));
    }

    #[test]
    fn long_lines_are_refused_when_capped() {
        let text = format!("{}\n{{\"a\":1}}\n", "x".repeat(100));
        let mut lines = Lines::new(text.as_bytes()).max_line_bytes(10);
        let err = lines.next_line().err().unwrap();
        assert!(
            err.to_string().contains("line 1 is longer than 10 bytes"),
            "{err}"
        );
        let mut lines = Lines::new(&b"0123456789\n"[..]).max_line_bytes(10);
        assert_eq!(lines.next_line().unwrap().unwrap().bytes, b"0123456789");
    }

    #[test]
    fn strict_reading_names_the_line() {
        let p = Path::new("f.jsonl");
        let r: Records<R> =
            read_from(p, &b"{\"a\":1}\n\n{\"a\":2}\n"[..], TornLastLine::Reject).unwrap();
        assert_eq!(r.records, [(1, R { a: 1 }), (3, R { a: 2 })]);
        assert_eq!((r.good_len, r.unterminated, r.dropped), (17, false, None));
        let err = read_from::<R>(p, &b"{\"a\":1}\n{\"a\":\"x\"}\n"[..], TornLastLine::Drop)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("f.jsonl: line 2: invalid type: string"),
            "{err}"
        );
    }

    #[test]
    fn torn_last_line_follows_the_policy() {
        let p = Path::new("f.jsonl");
        let text = &b"{\"a\":1}\n{\"a\":"[..];
        let err = read_from::<R>(p, text, TornLastLine::Reject)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("f.jsonl: line 2: "), "{err}");
        let r = read_from::<R>(p, text, TornLastLine::Drop).unwrap();
        assert_eq!(r.records, [(1, R { a: 1 })]);
        assert_eq!(r.dropped.as_ref().map(|d| d.0), Some(2));
        assert_eq!(r.good_len, 8);
        // A last record that parses but lacks its newline is kept, and said so.
        let r = read_from::<R>(p, &b"{\"a\":1}"[..], TornLastLine::Drop).unwrap();
        assert_eq!((r.records.len(), r.unterminated, r.good_len), (1, true, 7));
    }

    #[test]
    fn open_log_repairs_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/log.jsonl");
        let (r, mut f) = open_log::<R>(&p).unwrap();
        assert!(r.records.is_empty());
        f.write_all(b"{\"a\":1}\n{\"a\":").unwrap();
        drop(f);
        let (r, mut f) = open_log::<R>(&p).unwrap();
        assert_eq!(r.records, [(1, R { a: 1 })]);
        f.write_all(b"{\"a\":2}").unwrap();
        drop(f);
        let (r, mut f) = open_log::<R>(&p).unwrap();
        assert_eq!(r.into_values(), [R { a: 1 }, R { a: 2 }]);
        f.write_all(b"{\"a\":3}\n").unwrap();
        drop(f);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n"
        );
        std::fs::write(&p, "{\"a\":1}\nnope\n{\"a\":2}\n").unwrap();
        let err = open_log::<R>(&p).err().unwrap().to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
