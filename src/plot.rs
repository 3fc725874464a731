//! PNG plots of simulated correlation functions (plotters, bitmap back end, text drawn with a
//! TrueType font found on the system: `IAEMU_FONT`, else DejaVu Sans or Liberation Sans in the
//! usual places).

use std::path::Path;

use plotters::prelude::*;

use crate::hod::Simulation;
use crate::{Error, Result};

/// Environment variable naming a .ttf font for plot text.
pub const FONT_ENV: &str = "IAEMU_FONT";

const FONT_PATHS: [&str; 5] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
];

fn register_font() -> Result<()> {
    static DONE: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let candidates: Vec<String> = std::env::var(FONT_ENV)
            .ok()
            .into_iter()
            .chain(FONT_PATHS.iter().map(|s| s.to_string()))
            .collect();
        for path in &candidates {
            if let Ok(bytes) = std::fs::read(path) {
                // Fonts are registered for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(format!(
            "no TrueType font for the plot text (tried {}): set {FONT_ENV}=/path/to/font.ttf \
             or install DejaVu (apt-get install fonts-dejavu-core)",
            candidates.join(", ")
        ))
    })
    .clone()
    .map_err(Error::Unsupported)
}

fn draw_err(e: impl std::fmt::Display) -> Error {
    Error::io(format!("cannot draw the plot: {e}"))
}

/// Curves of the three statistics at the same radii, with error bars.
pub struct Curves {
    /// Mpc/h.
    pub r_edges: Vec<f64>,
    pub r_mid: Vec<f64>,
    /// xi, omega, eta.
    pub mean: [Vec<f64>; 3],
    /// Error bars drawn from each (label, variances of xi, omega, eta): one standard deviation.
    pub errors: Vec<(&'static str, [Vec<f64>; 3])>,
    /// A reference curve (for example the simulated truth) drawn as points.
    pub truth: Option<[Vec<f64>; 3]>,
}

impl Curves {
    /// A simulation's means, with one realisation-to-realisation standard deviation.
    pub fn of_simulation(s: &Simulation) -> Curves {
        Curves {
            r_edges: s.r_edges.clone(),
            r_mid: s.r_mid.clone(),
            mean: [s.xi.clone(), s.omega.clone(), s.eta.clone()],
            errors: vec![(
                "sd over realisations",
                [s.xi_var.clone(), s.omega_var.clone(), s.eta_var.clone()],
            )],
            truth: None,
        }
    }
}

#[cfg(feature = "emulator")]
impl Curves {
    /// Row `i` of a prediction, with error bars of the aleatoric and of the total (aleatoric +
    /// epistemic) standard deviation, and the truth when given (n x 3 x n_bins).
    pub fn of_prediction(
        p: &crate::emulator::Prediction,
        i: usize,
        r_edges: &[f64],
        truth: Option<&ndarray::Array3<f64>>,
    ) -> Curves {
        let row = |a: &ndarray::Array3<f64>, s: usize| a.slice(ndarray::s![i, s, ..]).to_vec();
        let total = &p.aleatoric_var + &p.epistemic_var;
        Curves {
            r_edges: r_edges.to_vec(),
            r_mid: crate::corr::r_mid(r_edges),
            mean: std::array::from_fn(|s| row(&p.mean, s)),
            errors: vec![
                ("aleatoric", std::array::from_fn(|s| row(&p.aleatoric_var, s))),
                ("aleatoric + epistemic", std::array::from_fn(|s| row(&total, s))),
            ],
            truth: truth.map(|t| std::array::from_fn(|s| row(t, s))),
        }
    }
}

/// Draws into `path` through a temporary file, so the file appears complete or not at all.
fn write_png(path: &Path, draw: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    register_font()?;
    let tmp = path.with_extension("png.partial.png");
    let result = draw(&tmp).and_then(|_| std::fs::rename(&tmp, path).map_err(draw_err));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes a PNG with three panels, xi (log-log), omega and eta (log r), means with error bars
/// of one realisation-to-realisation standard deviation.
pub fn plot_simulation(path: &Path, s: &Simulation, title: &str) -> Result<()> {
    plot_curves(path, &Curves::of_simulation(s), title)
}

/// Writes a PNG with three panels, xi (log-log), omega and eta (log r): the means, each set
/// of error bars in its own colour, and the reference points when given.
pub fn plot_curves(path: &Path, c: &Curves, title: &str) -> Result<()> {
    write_png(path, |tmp| {
        let root = BitMapBackend::new(tmp, (1500, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let root = root.titled(title, ("sans-serif", 20)).map_err(draw_err)?;
        let panels = root.split_evenly((1, 3));
        for (s, panel) in panels.iter().enumerate() {
            draw_panel(panel, c, s, true)?;
        }
        root.present().map_err(draw_err)
    })
}

const NAMES: [&str; 3] = ["xi(r)", "omega(r)", "eta(r)"];
const ERROR_COLOURS: [RGBColor; 3] = [RGBColor(30, 90, 200), RGBColor(230, 120, 20), RGBColor(120, 120, 120)];

fn sd(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 {
        v.sqrt()
    } else {
        0.0
    }
}

/// One statistic's panel: xi on log axes (positive values only), omega and eta on a linear
/// axis with a zero line.
fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>, c: &Curves, s: usize, legend: bool) -> Result<()> {
    let r = &c.r_mid;
    let (x0, x1) = (c.r_edges[0], c.r_edges[c.r_edges.len() - 1]);
    let mean = &c.mean[s];
    let widest: Vec<f64> = (0..r.len())
        .map(|k| c.errors.iter().map(|(_, v)| sd(v[s][k])).fold(0.0, f64::max))
        .collect();
    let truth = c.truth.as_ref().map(|t| &t[s]);
    let log = s == 0;
    let ok: Vec<usize> = (0..r.len())
        .filter(|&k| mean[k].is_finite() && (!log || mean[k] > 0.0))
        .collect();
    let mut values: Vec<f64> = ok.iter().flat_map(|&k| [mean[k] - widest[k], mean[k] + widest[k], mean[k]]).collect();
    if let Some(t) = truth {
        values.extend(t.iter().filter(|x| x.is_finite() && (!log || **x > 0.0)));
    }
    if log {
        values.retain(|&x| x > 0.0);
    }
    let (mut lo, mut hi) = values.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    if !(lo < hi) {
        (lo, hi) = if log { (1e-3, 1.0) } else { (-1e-3, 1e-3) };
    }
    if legend {
        // Room above the data for the legend (upper right), so that it covers no point.
        if log {
            hi *= (hi / lo).powf(0.4);
        } else {
            hi += 0.45 * (hi - lo);
        }
    }
    let caption = NAMES[s];
    let map_err = draw_err;
    macro_rules! finish {
        ($chart:expr, $floor:expr) => {{
            let mut chart = $chart;
            chart.configure_mesh().x_desc("r [Mpc/h]").y_desc(caption).draw().map_err(map_err)?;
            if !log {
                chart.draw_series(LineSeries::new([(x0, 0.0), (x1, 0.0)], BLACK.mix(0.4))).map_err(map_err)?;
            }
            for (j, (label, var)) in c.errors.iter().enumerate() {
                let colour = ERROR_COLOURS[j % 3];
                let width = 10 - 3 * j as u32;
                let series = chart
                    .draw_series(ok.iter().map(|&k| {
                        let e = sd(var[s][k]);
                        let low: f64 = (mean[k] - e).max($floor);
                        ErrorBar::new_vertical(r[k], low, mean[k], mean[k] + e, colour.stroke_width(2), width)
                    }))
                    .map_err(map_err)?;
                if legend {
                    series.label(*label).legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
                }
            }
            let line = chart.draw_series(LineSeries::new(ok.iter().map(|&k| (r[k], mean[k])), RED.stroke_width(2))).map_err(map_err)?;
            if legend {
                line.label("mean").legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], RED.stroke_width(2)));
            }
            if let Some(t) = truth {
                let pts = chart
                    .draw_series((0..r.len()).filter(|&k| t[k].is_finite() && t[k] > $floor).map(|k| Circle::new((r[k], t[k]), 3, BLACK.filled())))
                    .map_err(map_err)?;
                if legend {
                    pts.label("truth").legend(|(x, y)| Circle::new((x + 9, y), 3, BLACK.filled()));
                }
            }
            if legend {
                chart.configure_series_labels().position(SeriesLabelPosition::UpperRight).background_style(WHITE.mix(0.8)).border_style(BLACK.mix(0.3)).label_font(("sans-serif", 13)).draw().map_err(map_err)?;
            }
        }};
    }
    if log {
        let chart = ChartBuilder::on(area)
            .margin(12)
            .caption(caption, ("sans-serif", 18))
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d((x0..x1).log_scale(), (lo * 0.8..hi * 1.25).log_scale())
            .map_err(draw_err)?;
        finish!(chart, lo * 0.8);
    } else {
        let pad = 0.08 * (hi - lo);
        let chart = ChartBuilder::on(area)
            .margin(12)
            .caption(caption, ("sans-serif", 18))
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d((x0..x1).log_scale(), (lo - pad)..(hi + pad))
            .map_err(draw_err)?;
        finish!(chart, f64::MIN);
    }
    Ok(())
}

/// `NAME-examples.png` beside `NAME.png`: where [`plot_evaluation`] puts its example curves.
pub fn examples_path(png: &Path) -> std::path::PathBuf {
    let stem = png.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    png.with_file_name(format!("{stem}-examples.png"))
}

/// Value at quantile `q` of sorted finite values.
#[cfg(feature = "emulator")]
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// The evaluation figure in the manner of the seed paper's Figure 3 (top: fractional errors of
/// up to 100 curves, their median and 25-75% band; bottom: mean fractional error with the median
/// aleatoric sigma as error bars; omega and eta against a 3-bin running mean of the truth) in
/// `png`, and a page of example curves (truth, prediction, both uncertainties) in `examples`.
#[cfg(feature = "emulator")]
pub fn plot_evaluation(png: &Path, examples: &Path, ev: &crate::emulator::Evaluation, r_edges: &[f64]) -> Result<()> {
    use crate::emulator::metrics::{fractional_error, running_mean3};
    let r = crate::corr::r_mid(r_edges);
    let (x0, x1) = (r_edges[0], r_edges[r_edges.len() - 1]);
    let n = ev.rows.len();
    let nb = r.len();
    let row = |a: &ndarray::Array3<f64>, i: usize, s: usize| a.slice(ndarray::s![i, s, ..]).to_vec();
    write_png(png, |tmp| {
        let root = BitMapBackend::new(tmp, (1500, 900)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let root = root
            .titled(
                &format!("emulator on {n} curves ({} Monte Carlo passes): fractional error", ev.metrics.mc_passes),
                ("sans-serif", 20),
            )
            .map_err(draw_err)?;
        let panels = root.split_evenly((2, 3));
        for s in 0..3 {
            let errs: Vec<Vec<f64>> = (0..n)
                .map(|i| fractional_error(s, &row(&ev.prediction.mean, i, s), &row(&ev.truth, i, s)))
                .collect();
            let rel_sigma: Vec<Vec<f64>> = (0..n)
                .map(|i| {
                    let t = row(&ev.truth, i, s);
                    let reference = if s == 0 { t.clone() } else { running_mean3(&t) };
                    row(&ev.prediction.aleatoric_var, i, s).iter().zip(&reference).map(|(v, t)| sd(*v) / t.abs()).collect()
                })
                .collect();
            let per_bin: Vec<Vec<f64>> = (0..nb)
                .map(|b| {
                    let mut v: Vec<f64> = errs.iter().map(|e| e[b]).filter(|x| x.is_finite()).collect();
                    v.sort_by(f64::total_cmp);
                    v
                })
                .collect();
            let mut all: Vec<f64> = per_bin.iter().flatten().copied().collect();
            all.sort_by(f64::total_cmp);
            let (lo, hi) = (quantile(&all, 0.05).min(-1e-3), quantile(&all, 0.95).max(1e-3));
            let mut chart = ChartBuilder::on(&panels[s])
                .margin(12)
                .caption(format!("{}: (pred - true) / true{}", NAMES[s], if s == 0 { "" } else { " (running mean)" }), ("sans-serif", 16))
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d((x0..x1).log_scale(), lo..hi)
                .map_err(draw_err)?;
            chart.configure_mesh().x_desc("r [Mpc/h]").draw().map_err(draw_err)?;
            for e in errs.iter().take(100) {
                chart
                    .draw_series(LineSeries::new((0..nb).filter(|&b| e[b].is_finite()).map(|b| (r[b], e[b].clamp(lo, hi))), BLACK.mix(0.08)))
                    .map_err(draw_err)?;
            }
            let band: Vec<(f64, f64)> = (0..nb).map(|b| (r[b], quantile(&per_bin[b], 0.75))).chain((0..nb).rev().map(|b| (r[b], quantile(&per_bin[b], 0.25)))).collect();
            chart.draw_series(std::iter::once(Polygon::new(band, GREEN.mix(0.3)))).map_err(draw_err)?.label("25-75%").legend(|(x, y)| Rectangle::new([(x, y - 4), (x + 18, y + 4)], GREEN.mix(0.3).filled()));
            chart
                .draw_series(LineSeries::new((0..nb).map(|b| (r[b], quantile(&per_bin[b], 0.5))), BLUE.stroke_width(2)))
                .map_err(draw_err)?
                .label("median")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLUE.stroke_width(2)));
            chart.draw_series(LineSeries::new([(x0, 0.0), (x1, 0.0)], BLACK.mix(0.5))).map_err(draw_err)?;
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).label_font(("sans-serif", 13)).draw().map_err(draw_err)?;

            let mean_of = |v: &[Vec<f64>], b: usize| {
                let x: Vec<f64> = v.iter().map(|e| e[b]).filter(|x| x.is_finite()).collect();
                x.iter().sum::<f64>() / x.len().max(1) as f64
            };
            let m: Vec<f64> = (0..nb).map(|b| mean_of(&errs, b)).collect();
            let sig: Vec<f64> = (0..nb)
                .map(|b| {
                    let mut v: Vec<f64> = rel_sigma.iter().map(|e| e[b]).filter(|x| x.is_finite()).collect();
                    v.sort_by(f64::total_cmp);
                    quantile(&v, 0.5)
                })
                .collect();
            let (blo, bhi) = (0..nb).fold((-1e-3f64, 1e-3f64), |(a, c), b| (a.min(m[b] - sig[b]), c.max(m[b] + sig[b])));
            let (blo, bhi) = (blo.max(-2.0), bhi.min(2.0));
            let mut chart = ChartBuilder::on(&panels[3 + s])
                .margin(12)
                .caption(format!("{}: mean fractional error, median aleatoric sigma", NAMES[s]), ("sans-serif", 16))
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d((x0..x1).log_scale(), blo..bhi)
                .map_err(draw_err)?;
            chart.configure_mesh().x_desc("r [Mpc/h]").draw().map_err(draw_err)?;
            chart.draw_series(LineSeries::new([(x0, 0.0), (x1, 0.0)], BLACK.mix(0.5))).map_err(draw_err)?;
            chart
                .draw_series((0..nb).map(|b| ErrorBar::new_vertical(r[b], (m[b] - sig[b]).max(blo), m[b], (m[b] + sig[b]).min(bhi), RED.stroke_width(2), 8)))
                .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)
    })?;
    write_png(examples, |tmp| {
        let k = n.min(4);
        let root = BitMapBackend::new(tmp, (1500, 300 * k.max(1) as u32 + 40)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let root = root.titled("example curves: truth (points), prediction with aleatoric and total sigma", ("sans-serif", 20)).map_err(draw_err)?;
        let panels = root.split_evenly((k.max(1), 3));
        for j in 0..k {
            let i = j * n / k;
            let curves = Curves::of_prediction(&ev.prediction, i, r_edges, Some(&ev.truth));
            for s in 0..3 {
                draw_panel(&panels[3 * j + s], &curves, s, j == 0)?;
            }
        }
        root.present().map_err(draw_err)
    })
}
