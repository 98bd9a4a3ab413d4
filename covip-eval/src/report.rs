//! Training curves: `covip plot RUN_DIR` draws a trainer run's `metrics.jsonl` (one object per
//! optimisation step: `step`, `reward_mean`, `reward_std`, `response_length`, …) as a PNG with
//! two panels, the mean reward (with a ±1 std band) and the mean response length per step.
//!
//! Drawn by plotters into memory with the embedded font of the CapEval chart, encoded with the
//! `png` crate, written atomically.
use std::path::{Path, PathBuf};

use plotters::prelude::*;

/// Most bytes of `metrics.jsonl` read (a run of a million steps stays far below it).
pub const MAX_METRICS_BYTES: u64 = 256 << 20;

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 420;

/// Why the curves could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {message}")]
    Metrics { path: PathBuf, message: String },
    #[error("{path}: line {line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("drawing {path}: {message}")]
    Draw { path: PathBuf, message: String },
    #[error(transparent)]
    Data(#[from] covip_data::DataError),
}

/// The plotted values of one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CurvePoint {
    pub step: f64,
    pub reward_mean: f64,
    pub reward_std: f64,
    pub response_length: f64,
}

/// Reads the points of `metrics.jsonl`; every line must be an object with a numeric `step`,
/// `reward_mean` and `response_length` (`reward_std` may be missing: 0).
pub fn read_curves(path: &Path) -> Result<Vec<CurvePoint>, ReportError> {
    let metrics_err = |message: String| ReportError::Metrics {
        path: path.to_path_buf(),
        message,
    };
    let len = std::fs::metadata(path)
        .map_err(|e| metrics_err(e.to_string()))?
        .len();
    if len > MAX_METRICS_BYTES {
        return Err(metrics_err(format!(
            "{len} bytes, more than the {MAX_METRICS_BYTES} this reader takes"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| metrics_err(e.to_string()))?;
    let mut points = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_err = |message: String| ReportError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| line_err(e.to_string()))?;
        let num = |key: &str, required: bool| -> Result<f64, ReportError> {
            match v.get(key).and_then(serde_json::Value::as_f64) {
                Some(x) if x.is_finite() => Ok(x),
                Some(_) => Err(line_err(format!("`{key}` is not finite"))),
                None if required => Err(line_err(format!("no numeric `{key}`"))),
                None => Ok(0.0),
            }
        };
        points.push(CurvePoint {
            step: num("step", true)?,
            reward_mean: num("reward_mean", true)?,
            reward_std: num("reward_std", false)?,
            response_length: num("response_length", true)?,
        });
    }
    if points.is_empty() {
        return Err(metrics_err("no step recorded yet".into()));
    }
    Ok(points)
}

/// The two panels as PNG bytes.
pub fn curves_png(points: &[CurvePoint]) -> Result<Vec<u8>, String> {
    crate::capeval::chart::font()?;
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    draw(points, &mut rgb).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, WIDTH, HEIGHT);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(&rgb).map_err(|e| e.to_string())?;
    }
    Ok(bytes)
}

/// Reads `metrics` and writes the curves to `out` atomically; returns the number of steps.
pub fn plot_training(metrics: &Path, out: &Path) -> Result<usize, ReportError> {
    let points = read_curves(metrics)?;
    let bytes = curves_png(&points).map_err(|message| ReportError::Draw {
        path: out.to_path_buf(),
        message,
    })?;
    covip_data::io::write_atomic(out, &bytes)?;
    Ok(points.len())
}

/// `[lo, hi]` widened so that a flat series still gets a visible axis.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - pad, hi + pad)
}

fn draw(points: &[CurvePoint], rgb: &mut [u8]) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 2));
    let (s0, s1) = range(points.iter().map(|p| p.step));
    let blue = RGBColor(0x1f, 0x77, 0xb4);
    let orange = RGBColor(0xff, 0x7f, 0x0e);
    // Reward: mean line over a ±1 std band.
    let (r0, r1) = range(
        points
            .iter()
            .flat_map(|p| [p.reward_mean - p.reward_std, p.reward_mean + p.reward_std]),
    );
    let mut chart = ChartBuilder::on(&panels[0])
        .caption("reward (mean, ±1 std) by step", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(48)
        .build_cartesian_2d(s0..s1, r0..r1)?;
    chart.configure_mesh().x_desc("step").draw()?;
    let mut band: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.step, p.reward_mean + p.reward_std))
        .collect();
    band.extend(
        points
            .iter()
            .rev()
            .map(|p| (p.step, p.reward_mean - p.reward_std)),
    );
    chart.draw_series(std::iter::once(Polygon::new(band, blue.mix(0.2).filled())))?;
    chart.draw_series(LineSeries::new(
        points.iter().map(|p| (p.step, p.reward_mean)),
        blue.stroke_width(2),
    ))?;
    // Response length.
    let (l0, l1) = range(points.iter().map(|p| p.response_length));
    let mut chart = ChartBuilder::on(&panels[1])
        .caption("response length (tokens) by step", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(48)
        .build_cartesian_2d(s0..s1, l0..l1)?;
    chart.configure_mesh().x_desc("step").draw()?;
    chart.draw_series(LineSeries::new(
        points.iter().map(|p| (p.step, p.response_length)),
        orange.stroke_width(2),
    ))?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("metrics.jsonl");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn curves_are_drawn_from_metrics_lines() {
        let dir = tempfile::tempdir().unwrap();
        let lines: String = (1..=12)
            .map(|s| {
                format!(
                    "{{\"step\":{s},\"reward_mean\":{},\"reward_std\":0.1,\"response_length\":{},\"loss\":0.0}}\n",
                    s as f64 / 12.0,
                    40 - s
                )
            })
            .collect();
        let m = write(dir.path(), &lines);
        let out = dir.path().join("curves.png");
        assert_eq!(plot_training(&m, &out).unwrap(), 12);
        let file = std::fs::File::open(&out).unwrap();
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .unwrap();
        let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut rgb).unwrap();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        let count = |c: [u8; 3]| rgb.chunks_exact(3).filter(|p| *p == c).count();
        let (blue, orange) = (count([0x1f, 0x77, 0xb4]), count([0xff, 0x7f, 0x0e]));
        assert!(blue > 100 && orange > 100, "blue {blue}, orange {orange}");
        // One step (a flat range) still draws.
        let m = write(
            dir.path(),
            "{\"step\":1,\"reward_mean\":0.5,\"response_length\":3}\n",
        );
        assert_eq!(plot_training(&m, &out).unwrap(), 1);
    }

    #[test]
    fn bad_metrics_are_errors_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("c.png");
        let m = write(dir.path(), "");
        let e = plot_training(&m, &out).unwrap_err().to_string();
        assert!(e.contains("no step recorded"), "{e}");
        let m = write(
            dir.path(),
            "{\"step\":1,\"reward_mean\":0.5,\"response_length\":3}\n{\"step\":2,\"reward_mean\":\"x\",\"response_length\":3}\n",
        );
        let e = plot_training(&m, &out).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("reward_mean"), "{e}");
        let m = write(dir.path(), "{\"step\":1,\n");
        let e = plot_training(&m, &out).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        let e = plot_training(&dir.path().join("none.jsonl"), &out)
            .unwrap_err()
            .to_string();
        assert!(e.contains("none.jsonl"), "{e}");
        assert!(!out.exists(), "nothing written on errors");
    }
}
