//! Pictures with plotters, as PNG. Text needs a TrueType font (Debian's
//! fonts-dejavu-core); without one, `png_ok()` is false and the examples
//! skip their pictures after saying so.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Registers a font for PNG text once; false when none was found.
pub fn png_ok() -> bool {
    // under mpirun only rank 0 draws
    if !super::dist::is_lead() {
        return false;
    }
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        for p in FONT_PATHS {
            if let Ok(bytes) = std::fs::read(p) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        eprintln!("note: no TrueType font found (apt-get install fonts-dejavu-core): pictures are skipped");
        false
    })
}

/// Draws with `draw` on a `w x h` canvas saved as `stem.png`.
/// Returns the path written.
pub fn save<F>(stem: &Path, w: u32, h: u32, draw: F) -> Result<PathBuf, Box<dyn std::error::Error>>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), Box<dyn std::error::Error>>,
{
    let path = stem.with_extension("png");
    // every error names the picture's path (the backend's own say only
    // "Drawing backend error: ImageError(IoError(..))")
    let named = |e: &dyn std::fmt::Display| -> Box<dyn std::error::Error> {
        format!("picture {}: {e}", path.display()).into()
    };
    if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| named(&e))?;
    }
    if png_ok() {
        {
            let root = BitMapBackend::new(&path, (w, h)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| named(&e))?;
            draw(&root).map_err(|e| named(&e))?;
            root.present().map_err(|e| named(&e))?;
        }
        Ok(path)
    } else {
        Err(named(
            &"no TrueType font for the picture's text (apt-get install fonts-dejavu-core)",
        ))
    }
}

/// A line chart of several named series over x = 1..n (log y when `log_y`).
pub fn lines(
    stem: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
    log_y: bool,
) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let pts: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .filter(|p| p.1.is_finite() && (!log_y || p.1 > 0.0))
        .collect();
    let (x0, x1) = pts
        .iter()
        .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.0), a.1.max(p.0)));
    let (y0, y1) = pts
        .iter()
        .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.1), a.1.max(p.1)));
    let (x0, x1) = if x0 < x1 {
        (x0, x1)
    } else {
        (x0 - 1.0, x0 + 1.0)
    };
    let (y0, y1) = if pts.is_empty() {
        (0.1, 1.0)
    } else if y0 < y1 {
        (y0, y1)
    } else {
        (y0 - 1.0, y0 + 1.0)
    };
    let draw_chart =
        |root: &DrawingArea<BitMapBackend<'_>, Shift>| -> Result<(), Box<dyn std::error::Error>> {
            let mut b = ChartBuilder::on(root);
            b.caption(title, ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70);
            macro_rules! body {
                ($chart:expr) => {{
                    let mut chart = $chart;
                    let fmt_y = |v: &f64| {
                        if log_y || (v.abs() > 0.0 && v.abs() < 1e-2) {
                            format!("{v:.0e}")
                        } else {
                            format!("{v:.3}")
                        }
                    };
                    chart
                        .configure_mesh()
                        .x_desc(x_label)
                        .y_desc(y_label)
                        .y_label_formatter(&fmt_y)
                        .draw()?;
                    for (i, (name, s)) in series.iter().enumerate() {
                        let color = Palette99::pick(i).mix(0.9);
                        let s: Vec<(f64, f64)> = s
                            .iter()
                            .copied()
                            .filter(|p| p.1.is_finite() && (!log_y || p.1 > 0.0))
                            .collect();
                        chart
                            .draw_series(LineSeries::new(s, color.stroke_width(2)))?
                            .label(name.clone())
                            .legend(move |(x, y)| {
                                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                            });
                    }
                    if series.len() > 1 {
                        chart
                            .configure_series_labels()
                            .background_style(WHITE.mix(0.8))
                            .border_style(BLACK)
                            .draw()?;
                    }
                }};
            }
            if log_y {
                body!(b.build_cartesian_2d(x0..x1, (y0 * 0.8..y1 * 1.25).log_scale())?);
            } else {
                let pad = (y1 - y0) * 0.05;
                body!(b.build_cartesian_2d(x0..x1, y0 - pad..y1 + pad)?);
            }
            Ok(())
        };
    save(stem, 900, 500, draw_chart)
}

/// A row of histograms, one per named sample set, over [lo, hi] with `bins` bins.
pub fn histogram_row(
    stem: &Path,
    title: &str,
    sets: &[(String, Vec<f32>)],
    lo: f64,
    hi: f64,
    bins: usize,
) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let n = sets.len().max(1);
    save(stem, 220 * n as u32, 300, |root| {
        let (top, rest) = root.split_vertically(36);
        top.draw_text(title, &("sans-serif", 22).into_text_style(&top), (10, 6))?;
        let cells = rest.split_evenly((1, n));
        for (cell, (name, vals)) in cells.iter().zip(sets) {
            let width = (hi - lo) / bins as f64;
            let mut counts = vec![0u64; bins];
            for &v in vals {
                let v = v as f64;
                if v.is_finite() {
                    let b = (((v - lo) / width).floor().max(0.0) as usize).min(bins - 1);
                    counts[b] += 1;
                }
            }
            let maxc = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
            let mut chart = ChartBuilder::on(cell)
                .caption(name, ("sans-serif", 16))
                .margin(6)
                .x_label_area_size(24)
                .y_label_area_size(0)
                .build_cartesian_2d(lo..hi, 0.0..maxc * 1.05)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .disable_y_axis()
                .x_labels(3)
                .draw()?;
            chart.draw_series(counts.iter().enumerate().map(|(i, &c)| {
                let x0 = lo + i as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, c as f64)], BLUE.mix(0.7).filled())
            }))?;
        }
        Ok(())
    })
}

/// A grid of small grey or RGB images (e.g. first-layer filters), each
/// normalised to its own min..max. `imgs[i]` is `[c][h][w]` flattened, c = 1 or 3.
#[allow(clippy::too_many_arguments)]
pub fn image_grid(
    stem: &Path,
    title: &str,
    imgs: &[Vec<f32>],
    c: usize,
    h: usize,
    w: usize,
    cols: usize,
    scale: u32,
) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let cols = cols.max(1);
    let rows = imgs.len().div_ceil(cols).max(1);
    let cell_w = w as u32 * scale + 4;
    let cell_h = h as u32 * scale + 4;
    save(
        stem,
        (cols as u32 * cell_w).max(480),
        rows as u32 * cell_h + 36,
        |root| {
            root.draw_text(title, &("sans-serif", 18).into_text_style(root), (6, 6))?;
            for (k, img) in imgs.iter().enumerate() {
                let (r, cidx) = (k / cols, k % cols);
                let (lo, hi) = img
                    .iter()
                    .fold((f32::MAX, f32::MIN), |a, &v| (a.0.min(v), a.1.max(v)));
                let span = if hi > lo { hi - lo } else { 1.0 };
                for y in 0..h {
                    for x in 0..w {
                        let px =
                            |ch: usize| (((img[(ch * h + y) * w + x] - lo) / span) * 255.0) as u8;
                        let color = if c == 3 {
                            RGBColor(px(0), px(1), px(2))
                        } else {
                            RGBColor(px(0), px(0), px(0))
                        };
                        let x0 = (cidx as u32 * cell_w + 2 + x as u32 * scale) as i32;
                        let y0 = (36 + r as u32 * cell_h + 2 + y as u32 * scale) as i32;
                        root.draw(&Rectangle::new(
                            [(x0, y0), (x0 + scale as i32, y0 + scale as i32)],
                            color.filled(),
                        ))?;
                    }
                }
            }
            Ok(())
        },
    )
}

/// The search "command center": one picture with every trial's loss curve in
/// its own cell, labelled with its hyper-parameters and result, in the given
/// order (best first). Exploded trials are drawn in red.
pub fn command_center(
    stem: &Path,
    title: &str,
    trials: &[(String, Vec<f64>, bool)],
    cols: usize,
) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let cols = cols.max(1);
    let rows = trials.len().div_ceil(cols).max(1);
    save(stem, 300 * cols as u32, 200 * rows as u32 + 40, |root| {
        let (top, rest) = root.split_vertically(40);
        top.draw_text(title, &("sans-serif", 24).into_text_style(&top), (10, 8))?;
        let cells = rest.split_evenly((rows, cols));
        for (cell, (label, losses, exploded)) in cells.iter().zip(trials) {
            let finite: Vec<(f64, f64)> = losses
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, &v)| (i as f64, v))
                .collect();
            let ymax = finite.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1e-3);
            let ymin = finite
                .iter()
                .map(|p| p.1)
                .fold(f64::MAX, f64::min)
                .min(ymax - 1e-3);
            let xmax = (losses.len().max(2) - 1) as f64;
            let mut chart = ChartBuilder::on(cell)
                .caption(label, ("sans-serif", 13))
                .margin(6)
                .x_label_area_size(18)
                .y_label_area_size(36)
                .build_cartesian_2d(0.0..xmax, ymin..ymax)?;
            chart
                .configure_mesh()
                .x_labels(3)
                .y_labels(3)
                .label_style(("sans-serif", 10))
                .draw()?;
            let color = if *exploded { RED } else { BLUE };
            chart.draw_series(LineSeries::new(finite, color.stroke_width(1)))?;
        }
        Ok(())
    })
}
