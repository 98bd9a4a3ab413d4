//! `--chart`: Acc+ and Acc− by number of present concepts as a PNG bar chart, one colour per
//! captions file.
//!
//! Drawn by plotters into an in-memory RGB buffer and encoded with the `png` crate, with text
//! from an embedded DejaVu Sans (ab_glyph): no system fonts, no C libraries.
use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

use super::CapevalError;
use super::result::{BUCKETS, CapevalResult};

const WIDTH: u32 = 1000;
/// Height of the two panels; the legend strip below grows with the number of files.
const PANEL_HEIGHT: u32 = 420;
const LEGEND_ROW: u32 = 24;
const LEGEND_COLUMNS: usize = 3;

fn height(runs: usize) -> u32 {
    let rows = runs.div_ceil(LEGEND_COLUMNS).min(64) as u32;
    PANEL_HEIGHT + 12 + rows * LEGEND_ROW
}

/// Colours of the captions files, in order (then repeated).
const COLOURS: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
];

/// Registers the embedded font once; plotters looks fonts up by family name.
pub(crate) fn font() -> Result<(), String> {
    static FONT: OnceLock<bool> = OnceLock::new();
    let ok = *FONT.get_or_init(|| {
        register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err("the embedded DejaVu Sans font does not load".into())
    }
}

/// The chart as PNG bytes: two panels (Acc+, Acc−), groups "all", "1".."4" on the x axis,
/// one bar per captions file in percent; a bucket without QAs of that kind has no bar.
pub fn chart_png(result: &CapevalResult) -> Result<Vec<u8>, String> {
    font()?;
    let h = height(result.runs.len());
    let mut rgb = vec![0u8; (WIDTH * h * 3) as usize];
    draw(result, &mut rgb, h).map_err(|e| e.to_string())?;
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, WIDTH, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(&rgb).map_err(|e| e.to_string())?;
    }
    Ok(png_bytes)
}

/// Draws the chart and writes it to `path` atomically.
pub fn write_chart(result: &CapevalResult, path: &Path) -> Result<(), CapevalError> {
    let bytes = chart_png(result).map_err(|message| CapevalError::Chart {
        path: path.to_path_buf(),
        message,
    })?;
    covip_data::io::write_atomic(path, &bytes)?;
    Ok(())
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw(result: &CapevalResult, rgb: &mut [u8], h: u32) -> DrawResult {
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, h)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, legend) = root.split_vertically(PANEL_HEIGHT);
    let panels = top.split_evenly((1, 2));
    let groups: Vec<&str> = std::iter::once("all").chain(BUCKETS).collect();
    let n_runs = result.runs.len().max(1);
    for (panel, positive) in panels.iter().zip([true, false]) {
        let title = if positive {
            "Acc+ (%) by present concepts"
        } else {
            "Acc- (%) by present concepts"
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(42)
            // Group g is centred on x = g, so the integer ticks label the groups.
            .build_cartesian_2d(-0.5f64..groups.len() as f64 - 0.5, 0f64..108f64)?;
        let labels = groups.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(groups.len())
            .x_label_formatter(&|x| {
                let g = x.round();
                if (x - g).abs() > 1e-6 || g < 0.0 {
                    return String::new();
                }
                labels
                    .get(g as usize)
                    .map_or(String::new(), |s| s.to_string())
            })
            .y_labels(6)
            .y_label_formatter(&|y| {
                if *y > 100.0 {
                    String::new()
                } else {
                    format!("{y:.0}")
                }
            })
            .label_style(("sans-serif", 14))
            .draw()?;
        let width = 0.8 / n_runs as f64;
        for (r, run) in result.runs.iter().enumerate() {
            let colour = COLOURS[r % COLOURS.len()];
            let values = std::iter::once(if positive { run.acc_pos } else { run.acc_neg }).chain(
                BUCKETS.iter().map(|b| {
                    run.by_concepts
                        .get(*b)
                        .and_then(|e| if positive { e.acc_pos } else { e.acc_neg })
                }),
            );
            let values: Vec<Option<f64>> = values.collect();
            let bars: Vec<Rectangle<(f64, f64)>> = values
                .iter()
                .enumerate()
                .filter_map(|(g, v)| {
                    let v = (*v)?;
                    let x0 = g as f64 - 0.4 + r as f64 * width;
                    Some(Rectangle::new(
                        [(x0, 0.0), (x0 + width * 0.92, 100.0 * v)],
                        colour.filled(),
                    ))
                })
                .collect();
            chart.draw_series(bars)?;
            // The value above each bar (so 0 and "no QA" differ), while they fit.
            if n_runs <= 4 {
                let style =
                    TextStyle::from(("sans-serif", 12)).pos(Pos::new(HPos::Center, VPos::Bottom));
                let texts: Vec<Text<(f64, f64), String>> = values
                    .iter()
                    .enumerate()
                    .map(|(g, v)| {
                        let x = g as f64 - 0.4 + (r as f64 + 0.46) * width;
                        match v {
                            Some(v) => Text::new(
                                format!("{:.0}", 100.0 * v),
                                (x, 100.0 * v + 1.0),
                                style.clone(),
                            ),
                            None => Text::new("n/a".to_string(), (x, 1.0), style.clone()),
                        }
                    })
                    .collect();
                chart.draw_series(texts)?;
            }
        }
    }
    // The legend strip: a colour swatch and the file name per captions file.
    let column = WIDTH as i32 / LEGEND_COLUMNS as i32;
    for (r, run) in result.runs.iter().enumerate().take(64 * LEGEND_COLUMNS) {
        let colour = COLOURS[r % COLOURS.len()];
        let x = 20 + (r % LEGEND_COLUMNS) as i32 * column;
        let y = 8 + (r / LEGEND_COLUMNS) as i32 * LEGEND_ROW as i32;
        legend.draw(&Rectangle::new(
            [(x, y + 2), (x + 14, y + 16)],
            colour.filled(),
        ))?;
        let mut name = legend_name(&run.captions);
        if name.chars().count() > 40 {
            name = name.chars().take(39).collect::<String>() + "…";
        }
        legend.draw(&Text::new(name, (x + 20, y + 2), ("sans-serif", 14)))?;
    }
    root.present()?;
    Ok(())
}

/// The file name of a captions path (its last component), which is what tells runs apart.
fn legend_name(captions: &str) -> String {
    Path::new(captions)
        .file_name()
        .map_or(captions.to_string(), |n| n.to_string_lossy().into_owned())
}
