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
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

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
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| parquet_err(path, e))?
        .build()
        .map_err(|e| parquet_err(path, e))?;
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
