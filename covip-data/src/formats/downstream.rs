//! Downstream diagnostic sets (LSD, LAR, ITR; SPEC §2.3): records `{images_context,
//! dialogues_context, query_image, answer[, last_action]}` as JSONL (or a JSON array) and as
//! Parquet (see `parquet.rs`).
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::diagnostics::{DiagnosticKind, DiagnosticSample};
use crate::error::{DataError, Loaded, Problem};
use crate::formats::json;
use crate::image::ImageRef;
use crate::sample::ContextEntry;

/// An image in a JSON downstream record: a path, or a Hugging Face `{path, bytes: null}` struct.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JsonImage {
    Path(String),
    Struct { path: String },
}

impl JsonImage {
    fn path(&self) -> &str {
        match self {
            JsonImage::Path(p) | JsonImage::Struct { path: p } => p,
        }
    }
}

/// One downstream record as stored in JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DownstreamRecord {
    pub images_context: Vec<JsonImage>,
    pub dialogues_context: Vec<String>,
    pub query_image: JsonImage,
    pub answer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action: Option<String>,
}

/// Guesses the set from a file name (`lsd`, `lar`, `itr` anywhere in it, any case).
pub fn kind_from_name(path: &Path) -> Option<DiagnosticKind> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    [
        ("lsd", DiagnosticKind::Lsd),
        ("lar", DiagnosticKind::Lar),
        ("itr", DiagnosticKind::Itr),
    ]
    .into_iter()
    .find(|(k, _)| name.contains(k))
    .map(|(_, v)| v)
}

/// The set a record belongs to: LAR records carry `last_action`; otherwise the file name
/// decides, and LSD is assumed when it does not (LSD and ITR records have the same shape).
pub fn resolve_kind(path: &Path, has_last_action: bool) -> DiagnosticKind {
    if has_last_action {
        DiagnosticKind::Lar
    } else {
        kind_from_name(path)
            .filter(|k| *k != DiagnosticKind::Lar)
            .unwrap_or(DiagnosticKind::Lsd)
    }
}

/// Problems every downstream sample is checked for, whatever file it came from.
pub fn sample_problems(s: &DiagnosticSample) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if s.context.is_empty() {
        out.push(("images_context".into(), "empty context".into()));
    }
    if s.answer.trim().is_empty() {
        out.push(("answer".into(), "empty answer".into()));
    }
    if s.kind == DiagnosticKind::Lar && s.last_action.as_deref().is_none_or(|a| a.trim().is_empty())
    {
        out.push((
            "last_action".into(),
            "an LAR record needs its last action".into(),
        ));
    }
    out
}

/// Reads a JSONL (or JSON array) downstream set.
pub fn read_downstream_json(path: &Path) -> Result<Loaded<DiagnosticSample>, DataError> {
    let text = json::read_text(path)?;
    let raw: Loaded<DownstreamRecord> = json::parse_json_or_jsonl(path, &text)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Loaded {
        records: Vec::new(),
        problems: raw.problems,
    };
    for (i, (loc, r)) in raw.records.into_iter().enumerate() {
        if r.images_context.len() != r.dialogues_context.len() {
            out.problems.push(Problem::new(
                path,
                loc,
                "dialogues_context",
                format!(
                    "{} dialogues for {} context images",
                    r.dialogues_context.len(),
                    r.images_context.len()
                ),
            ));
            continue;
        }
        let sample = DiagnosticSample {
            id: format!("{i}"),
            kind: resolve_kind(path, r.last_action.is_some()),
            context: r
                .images_context
                .iter()
                .zip(&r.dialogues_context)
                .map(|(img, d)| ContextEntry {
                    image: ImageRef::path(img.path()).resolved(base),
                    dialogue: d.clone(),
                })
                .collect(),
            query: ImageRef::path(r.query_image.path()).resolved(base),
            answer: r.answer,
            last_action: r.last_action,
        };
        let problems = sample_problems(&sample);
        if problems.is_empty() {
            out.records.push((loc, sample));
        } else {
            for (f, m) in problems {
                out.problems.push(Problem::new(path, loc.clone(), f, m));
            }
        }
    }
    out.problems.sort_by(|a, b| a.record.cmp(&b.record));
    Ok(out)
}

/// The usual file extension of encoded image bytes, from their signature (`bin` if unknown).
#[cfg(feature = "images")]
fn image_extension(bytes: &[u8]) -> &'static str {
    image::guess_format(bytes)
        .ok()
        .and_then(|f| f.extensions_str().first().copied())
        .unwrap_or("bin")
}

/// Without the image crate: the signatures of the two formats covip decodes, PNG and JPEG.
#[cfg(not(feature = "images"))]
fn image_extension(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "png"
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "jpg"
    } else {
        "bin"
    }
}

/// Writes a downstream set as JSONL (or a JSON array for `.json`). Embedded images are
/// written as files into `image_dir` (created if needed) and referenced by path, relative to
/// the output file's folder when possible.
pub fn write_downstream_json(
    path: &Path,
    samples: &[DiagnosticSample],
    image_dir: &Path,
) -> Result<(), DataError> {
    let out_dir = path.parent().unwrap_or(Path::new("."));
    let mut written = 0usize;
    let mut to_json = |img: &ImageRef, hint: &str| -> Result<JsonImage, DataError> {
        match img {
            ImageRef::Path(p) => Ok(JsonImage::Path(
                p.strip_prefix(out_dir)
                    .unwrap_or(p)
                    .to_string_lossy()
                    .into_owned(),
            )),
            ImageRef::Embedded { bytes, path: name } => {
                std::fs::create_dir_all(image_dir).map_err(|e| DataError::io(image_dir, e))?;
                let ext = image_extension(bytes);
                let stem = name
                    .as_deref()
                    .and_then(|n| Path::new(n).file_stem())
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| hint.to_string());
                let file = image_dir.join(format!("{written:06}_{stem}.{ext}"));
                written += 1;
                crate::io::write_atomic(&file, bytes)?;
                Ok(JsonImage::Path(
                    file.strip_prefix(out_dir)
                        .unwrap_or(&file)
                        .to_string_lossy()
                        .into_owned(),
                ))
            }
        }
    };
    let mut records = Vec::with_capacity(samples.len());
    for s in samples {
        let images_context = s
            .context
            .iter()
            .enumerate()
            .map(|(i, c)| to_json(&c.image, &format!("{}_ctx{i}", s.id)))
            .collect::<Result<Vec<_>, _>>()?;
        records.push(DownstreamRecord {
            images_context,
            dialogues_context: s.context.iter().map(|c| c.dialogue.clone()).collect(),
            query_image: to_json(&s.query, &format!("{}_query", s.id))?,
            answer: s.answer.clone(),
            last_action: s.last_action.clone(),
        });
    }
    if path.extension().is_some_and(|e| e == "json") {
        json::write_json_array(path, &records)
    } else {
        json::write_jsonl(path, &records)
    }
}

/// Record location helper for Parquet rows.
#[cfg(feature = "parquet")]
pub(crate) fn row_loc(i: usize) -> crate::error::RecordLoc {
    crate::error::RecordLoc::Index(i)
}
