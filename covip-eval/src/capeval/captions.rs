//! Caption files and test sets as CapEval-QAs reads them.
use std::collections::HashMap;
use std::path::Path;

use covip_data::Sample;
use serde_json::Value;

use super::CapevalError;

/// The largest captions file read. A real one (a caption per test sample) is a few MB; the
/// cap keeps a wrong path (a model shard, say) from being read whole into memory.
pub const MAX_CAPTIONS_BYTES: u64 = 256 << 20;

/// Reads a captions file, `{sample_id: "caption"}` or `{sample_id: {"caption": "..."}}` (the
/// two shapes captioning scripts write; they may be mixed). Captions are kept exactly as
/// written, white space included: the judge sees them untrimmed.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("c.json");
/// std::fs::write(&p, r#"{"sample_0": " Mina waves.", "sample_1": {"caption": "Pino naps."}}"#).unwrap();
/// let c = covip_eval::capeval::read_captions(&p).unwrap();
/// assert_eq!(c["sample_0"], " Mina waves.");
/// assert_eq!(c["sample_1"], "Pino naps.");
/// ```
pub fn read_captions(path: &Path) -> Result<HashMap<String, String>, CapevalError> {
    let bad = |message: String| CapevalError::Captions {
        path: path.to_path_buf(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if meta.len() > MAX_CAPTIONS_BYTES {
        return Err(bad(format!(
            "{} bytes; a captions file is at most {MAX_CAPTIONS_BYTES} bytes",
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(bad(
            "expected an object {sample_id: caption} or {sample_id: {\"caption\": ...}}".into(),
        ));
    };
    let mut out = HashMap::with_capacity(map.len());
    for (id, v) in map {
        let caption = match v {
            Value::String(s) => s,
            Value::Object(mut o) => match o.remove("caption") {
                Some(Value::String(s)) => s,
                Some(other) => {
                    return Err(bad(format!(
                        "sample {id:?}: \"caption\" is {}, not a string",
                        kind(&other)
                    )));
                }
                None => {
                    return Err(bad(format!(
                        "sample {id:?}: an object without a \"caption\" field"
                    )));
                }
            },
            other => {
                return Err(bad(format!(
                    "sample {id:?}: the caption is {}, not a string or {{\"caption\": ...}}",
                    kind(&other)
                )));
            }
        };
        out.insert(id, caption);
    }
    Ok(out)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The samples of every test set under `path` (a folder, or a metadata JSONL / ground-truth
/// JSON file), in file order. Any problem in a test set is an error naming it; other kinds of
/// set are skipped; finding no test sample at all is an error.
pub fn read_test_set(path: &Path) -> Result<Vec<Sample>, CapevalError> {
    crate::captioner::collect_test_samples(path, CapevalError::TestSet, |p| {
        tracing::debug!("{}: not a test set, skipped", p.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("caps.json");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    #[test]
    fn both_shapes_and_untrimmed() {
        let (_d, p) = write(r#"{"a": "  x \n", "b": {"caption": "y", "extra": 1}}"#);
        let c = read_captions(&p).unwrap();
        assert_eq!((c["a"].as_str(), c["b"].as_str()), ("  x \n", "y"));
    }

    #[test]
    fn bad_shapes_name_file_and_sample() {
        for (text, needle) in [
            ("[1]", "expected an object"),
            ("{\"s7\": 3}", "sample \"s7\": the caption is a number"),
            ("{\"s7\": {\"text\": \"x\"}}", "without a \"caption\""),
            ("{\"s7\": {\"caption\": null}}", "\"caption\" is null"),
            ("{", "not JSON"),
        ] {
            let (_d, p) = write(text);
            let e = read_captions(&p).unwrap_err().to_string();
            assert!(e.contains("caps.json") && e.contains(needle), "{text}: {e}");
        }
        let e = read_captions(Path::new("/nonexistent/c.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/c.json"), "{e}");
    }
}
