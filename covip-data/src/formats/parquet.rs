//! Parquet downstream sets, as Hugging Face publishes them: images are `{bytes, path}` structs
//! (or plain path strings), dialogues a list of strings. Reading accepts the string, large-string
//! and view variants arrow may hand back; writing produces the Hugging Face image layout with
//! its `huggingface` schema metadata, snappy-compressed.
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BinaryArray, ListArray, RecordBatch, StringArray, StructArray};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Fields, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::parquet_guard;
use crate::diagnostics::DiagnosticSample;
use crate::error::{DataError, Loaded, Problem};
use crate::formats::downstream::{resolve_kind, row_loc, sample_problems};
use crate::image::ImageRef;
use crate::sample::ContextEntry;

fn parquet_err(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn string_at(arr: &dyn Array, i: usize) -> Result<Option<String>, String> {
    if arr.is_null(i) {
        return Ok(None);
    }
    let s = match arr.data_type() {
        DataType::Utf8 => arr.as_string::<i32>().value(i),
        DataType::LargeUtf8 => arr.as_string::<i64>().value(i),
        DataType::Utf8View => arr.as_string_view().value(i),
        other => return Err(format!("expected a string, found {other}")),
    };
    Ok(Some(s.to_string()))
}

fn bytes_at(arr: &dyn Array, i: usize) -> Result<Option<Vec<u8>>, String> {
    if arr.is_null(i) {
        return Ok(None);
    }
    let b = match arr.data_type() {
        DataType::Binary => arr.as_binary::<i32>().value(i),
        DataType::LargeBinary => arr.as_binary::<i64>().value(i),
        DataType::BinaryView => arr.as_binary_view().value(i),
        other => return Err(format!("expected bytes, found {other}")),
    };
    Ok(Some(b.to_vec()))
}

fn list_at(arr: &dyn Array, i: usize) -> Result<ArrayRef, String> {
    if arr.is_null(i) {
        return Err("is null".into());
    }
    match arr.data_type() {
        DataType::List(_) => Ok(arr.as_list::<i32>().value(i)),
        DataType::LargeList(_) => Ok(arr.as_list::<i64>().value(i)),
        other => Err(format!("expected a list, found {other}")),
    }
}

/// An image cell: a path string, or a `{bytes, path}` struct (bytes win when present).
fn image_at(arr: &dyn Array, i: usize, base: &Path) -> Result<ImageRef, String> {
    match arr.data_type() {
        DataType::Struct(_) => {
            let s = arr.as_struct();
            if s.is_null(i) {
                return Err("image is null".into());
            }
            let bytes = match s.column_by_name("bytes") {
                Some(b) => bytes_at(b.as_ref(), i)?,
                None => None,
            };
            let path = match s.column_by_name("path") {
                Some(p) => string_at(p.as_ref(), i)?,
                None => None,
            };
            match (bytes, path) {
                (Some(bytes), path) => Ok(ImageRef::Embedded { bytes, path }),
                (None, Some(p)) => Ok(ImageRef::path(p).resolved(base)),
                (None, None) => Err("image has neither bytes nor path".into()),
            }
        }
        _ => match string_at(arr, i)? {
            Some(p) => Ok(ImageRef::path(p).resolved(base)),
            None => Err("image is null".into()),
        },
    }
}

/// Reads a downstream set from Parquet; each malformed row is a problem naming its index and
/// column.
pub fn read_downstream_parquet(path: &Path) -> Result<Loaded<DiagnosticSample>, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    check_footer(path, &file)?;
    // The parquet and arrow crates (57) panic on some damaged files (thrift decoding, bit
    // readers, negative column offsets): a damaged file must be an error, never a crash.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_rows(path, file))).unwrap_or_else(
        |panic| {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(parquet_err(
                path,
                format!("damaged Parquet file (the parquet crate failed: {why})"),
            ))
        },
    )
}

/// The most a Parquet file's column chunks may declare uncompressed, relative to the file: far
/// above what snappy and the encodings give real data, and a bound on what a lying file can
/// make the reader allocate.
const MAX_EXPANSION: u64 = 64;

/// Refuses a file whose footer cannot be right before the parquet crate trusts it (it
/// allocates the declared metadata length before checking it against the file).
fn check_footer(path: &Path, file: &File) -> Result<(), DataError> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    if len < 12 {
        return Err(parquet_err(path, "not a Parquet file (too short)"));
    }
    let mut tail = [0u8; 8];
    let mut f = file;
    f.seek(SeekFrom::End(-8))
        .and_then(|_| f.read_exact(&mut tail))
        .and_then(|_| f.seek(SeekFrom::Start(0)))
        .map_err(|e| DataError::io(path, e))?;
    if &tail[4..] != b"PAR1" {
        return Err(parquet_err(path, "not a Parquet file (no PAR1 footer)"));
    }
    let meta = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if meta + 12 > len {
        return Err(parquet_err(
            path,
            format!(
                "damaged Parquet file: its footer claims {meta} bytes of metadata in a file of {len}"
            ),
        ));
    }
    let mut metadata = vec![0u8; meta as usize];
    f.seek(SeekFrom::Start(len - 8 - meta))
        .and_then(|_| f.read_exact(&mut metadata))
        .and_then(|_| f.seek(SeekFrom::Start(0)))
        .map_err(|e| DataError::io(path, e))?;
    parquet_guard::check_metadata(&metadata)
        .map_err(|e| parquet_err(path, format!("damaged Parquet metadata: {e}")))
}

/// Walks every column chunk's page headers (the parquet crate allocates a page's declared
/// uncompressed size before checking it): each must lie inside the chunk and the file, and
/// declare no more than [`MAX_EXPANSION`] times its compressed size (plus 1 MiB).
fn check_pages(
    path: &Path,
    file: &File,
    len: u64,
    metadata: &parquet::file::metadata::ParquetMetaData,
) -> Result<(), DataError> {
    use std::io::{Read, Seek, SeekFrom};
    let damaged = |m: String| parquet_err(path, format!("damaged Parquet file: {m}"));
    let mut f = file;
    let mut header = vec![0u8; 64 << 10];
    for column in metadata.row_groups().iter().flat_map(|g| g.columns()) {
        let start = column
            .dictionary_page_offset()
            .filter(|&o| o > 0)
            .unwrap_or(column.data_page_offset());
        let size = column.compressed_size();
        let (Ok(start), Ok(size)) = (u64::try_from(start), u64::try_from(size)) else {
            return Err(damaged(
                "a column chunk with a negative offset or size".into(),
            ));
        };
        let end = start.saturating_add(size);
        if end > len {
            return Err(damaged(format!(
                "a column chunk at {start}..{end} in a file of {len} bytes"
            )));
        }
        let mut at = start;
        while at < end {
            let n = ((end - at) as usize).min(header.len());
            f.seek(SeekFrom::Start(at))
                .and_then(|_| f.read_exact(&mut header[..n]))
                .map_err(|e| DataError::io(path, e))?;
            let (head, compressed, uncompressed) =
                parquet_guard::check_page_header(&header[..n])
                    .map_err(|e| damaged(format!("page header at byte {at}: {e}")))?;
            let compressed = compressed as u64;
            if uncompressed as u64 > compressed.saturating_mul(MAX_EXPANSION) + (1 << 20) {
                return Err(damaged(format!(
                    "a page at byte {at} claims {uncompressed} bytes uncompressed from {compressed}"
                )));
            }
            at = at.saturating_add(head as u64).saturating_add(compressed);
        }
        if at != end {
            return Err(damaged(format!(
                "the pages of a column chunk overrun it ({at} past {end})"
            )));
        }
    }
    f.seek(SeekFrom::Start(0))
        .map_err(|e| DataError::io(path, e))?;
    Ok(())
}

fn read_rows(path: &Path, file: File) -> Result<Loaded<DiagnosticSample>, DataError> {
    let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    // The schema comes from the Parquet schema itself; the embedded Arrow IPC schema is
    // skipped (nothing here needs it, and its decoder panics on damaged bytes).
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let reading = file.try_clone().map_err(|e| DataError::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(reading, options)
        .map_err(|e| parquet_err(path, e))?;
    check_pages(path, &file, len, builder.metadata())?;
    let declared: u64 = builder
        .metadata()
        .row_groups()
        .iter()
        .flat_map(|g| g.columns())
        .map(|c| c.uncompressed_size().max(0) as u64)
        .fold(0u64, u64::saturating_add);
    if declared > len.saturating_mul(MAX_EXPANSION).saturating_add(1 << 24) {
        return Err(parquet_err(
            path,
            format!(
                "damaged Parquet file: its columns claim {declared} bytes uncompressed in a file of {len}"
            ),
        ));
    }
    let reader = builder.build().map_err(|e| parquet_err(path, e))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Loaded::default();
    let mut row = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| parquet_err(path, e))?;
        let col = |name: &str| -> Result<ArrayRef, DataError> {
            batch.column_by_name(name).cloned().ok_or_else(|| {
                DataError::Invalid(Problem::new(
                    path,
                    crate::error::RecordLoc::File,
                    name,
                    "column is missing",
                ))
            })
        };
        let images = col("images_context")?;
        let dialogues = col("dialogues_context")?;
        let query = col("query_image")?;
        let answer = col("answer")?;
        let last_action = batch.column_by_name("last_action").cloned();
        for i in 0..batch.num_rows() {
            let loc = row_loc(row);
            row += 1;
            let parsed = (|| -> Result<DiagnosticSample, (String, String)> {
                fn field(f: &'static str) -> impl Fn(String) -> (String, String) {
                    move |m| (f.to_string(), m)
                }
                let imgs = list_at(images.as_ref(), i).map_err(field("images_context"))?;
                let dials = list_at(dialogues.as_ref(), i).map_err(field("dialogues_context"))?;
                if imgs.len() != dials.len() {
                    return Err((
                        "dialogues_context".into(),
                        format!(
                            "{} dialogues for {} context images",
                            dials.len(),
                            imgs.len()
                        ),
                    ));
                }
                let mut context = Vec::with_capacity(imgs.len());
                for j in 0..imgs.len() {
                    let image = image_at(imgs.as_ref(), j, base)
                        .map_err(|m| (format!("images_context[{j}]"), m))?;
                    let dialogue = string_at(dials.as_ref(), j)
                        .map_err(|m| (format!("dialogues_context[{j}]"), m))?
                        .ok_or_else(|| {
                            (format!("dialogues_context[{j}]"), "is null".to_string())
                        })?;
                    context.push(ContextEntry { image, dialogue });
                }
                let query = image_at(query.as_ref(), i, base).map_err(field("query_image"))?;
                let answer = string_at(answer.as_ref(), i)
                    .map_err(field("answer"))?
                    .ok_or_else(|| ("answer".to_string(), "is null".to_string()))?;
                let last_action = match &last_action {
                    Some(a) => string_at(a.as_ref(), i).map_err(field("last_action"))?,
                    None => None,
                };
                Ok(DiagnosticSample {
                    id: format!("{}", row - 1),
                    kind: resolve_kind(path, last_action.is_some()),
                    context,
                    query,
                    answer,
                    last_action,
                })
            })();
            match parsed {
                Ok(s) => {
                    let problems = sample_problems(&s);
                    if problems.is_empty() {
                        out.records.push((loc, s));
                    } else {
                        for (f, m) in problems {
                            out.problems.push(Problem::new(path, loc.clone(), f, m));
                        }
                    }
                }
                Err((f, m)) => out.problems.push(Problem::new(path, loc, f, m)),
            }
        }
    }
    Ok(out)
}

fn image_fields() -> Fields {
    Fields::from(vec![
        Field::new("bytes", DataType::Binary, true),
        Field::new("path", DataType::Utf8, true),
    ])
}

fn image_struct(images: &[&ImageRef]) -> StructArray {
    let bytes: BinaryArray = images
        .iter()
        .map(|i| match i {
            ImageRef::Embedded { bytes, .. } => Some(bytes.as_slice()),
            ImageRef::Path(_) => None,
        })
        .collect();
    let paths: StringArray = images.iter().map(|i| i.name()).collect();
    StructArray::new(image_fields(), vec![Arc::new(bytes), Arc::new(paths)], None)
}

/// The `huggingface` schema metadata so that `datasets` reads the columns as images.
fn hf_metadata(with_last_action: bool) -> String {
    let string = serde_json::json!({"dtype": "string", "_type": "Value"});
    let mut features = serde_json::json!({
        "images_context": {"feature": {"_type": "Image"}, "_type": "Sequence"},
        "dialogues_context": {"feature": string, "_type": "Sequence"},
        "query_image": {"_type": "Image"},
        "answer": string,
    });
    if with_last_action {
        features["last_action"] = string.clone();
    }
    serde_json::json!({"info": {"features": features}}).to_string()
}

/// Writes a downstream set as Parquet, atomically. Images are written as `{bytes, path}`
/// structs: embedded images keep their bytes, file images their path.
pub fn write_downstream_parquet(
    path: &Path,
    samples: &[DiagnosticSample],
) -> Result<(), DataError> {
    let with_last_action = samples.iter().any(|s| s.last_action.is_some());
    let image_type = DataType::Struct(image_fields());
    let mut fields = vec![
        Field::new(
            "images_context",
            DataType::List(Arc::new(Field::new("item", image_type.clone(), true))),
            false,
        ),
        Field::new(
            "dialogues_context",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        ),
        Field::new("query_image", image_type.clone(), false),
        Field::new("answer", DataType::Utf8, false),
    ];
    if with_last_action {
        fields.push(Field::new("last_action", DataType::Utf8, true));
    }
    let metadata = [("huggingface".to_string(), hf_metadata(with_last_action))]
        .into_iter()
        .collect();
    let schema = Arc::new(Schema::new_with_metadata(fields, metadata));

    let ctx_images: Vec<&ImageRef> = samples
        .iter()
        .flat_map(|s| s.context.iter().map(|c| &c.image))
        .collect();
    let lengths: Vec<usize> = samples.iter().map(|s| s.context.len()).collect();
    let images_context = ListArray::new(
        Arc::new(Field::new("item", image_type.clone(), true)),
        OffsetBuffer::from_lengths(lengths.iter().copied()),
        Arc::new(image_struct(&ctx_images)),
        None,
    );
    let dialogue_values: StringArray = samples
        .iter()
        .flat_map(|s| s.context.iter().map(|c| Some(c.dialogue.as_str())))
        .collect();
    let dialogues_context = ListArray::new(
        Arc::new(Field::new("item", DataType::Utf8, true)),
        OffsetBuffer::from_lengths(lengths.iter().copied()),
        Arc::new(dialogue_values),
        None,
    );
    let queries: Vec<&ImageRef> = samples.iter().map(|s| &s.query).collect();
    let answers: StringArray = samples.iter().map(|s| Some(s.answer.as_str())).collect();
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(images_context),
        Arc::new(dialogues_context),
        Arc::new(image_struct(&queries)),
        Arc::new(answers),
    ];
    if with_last_action {
        let actions: StringArray = samples.iter().map(|s| s.last_action.as_deref()).collect();
        columns.push(Arc::new(actions));
    }
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| parquet_err(path, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut buf = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut buf, schema, Some(props)).map_err(|e| parquet_err(path, e))?;
    writer.write(&batch).map_err(|e| parquet_err(path, e))?;
    writer.close().map_err(|e| parquet_err(path, e))?;
    crate::io::write_atomic(path, &buf)
}
