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

/// Writes a PNG with three panels, xi (log-log), omega and eta (log r), means with error bars of
/// one realisation-to-realisation standard deviation. The file appears complete or not at all.
pub fn plot_simulation(path: &Path, s: &Simulation, title: &str) -> Result<()> {
    register_font()?;
    let tmp = path.with_extension("png.partial.png");
    let result = draw(&tmp, s, title).and_then(|_| std::fs::rename(&tmp, path).map_err(draw_err));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn draw(path: &Path, s: &Simulation, title: &str) -> Result<()> {
    let root = BitMapBackend::new(path, (1500, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(draw_err)?;
    let panels = root.split_evenly((1, 3));
    let r = &s.r_mid;
    let (x0, x1) = (s.r_edges[0], s.r_edges[s.r_edges.len() - 1]);
    let err = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .map(|x| if x.is_finite() { x.sqrt() } else { 0.0 })
            .collect()
    };

    // xi, log-log: only positive means.
    let (xi, xi_e) = (&s.xi, err(&s.xi_var));
    let pos: Vec<usize> = (0..r.len()).filter(|&k| xi[k] > 0.0).collect();
    let (lo, hi) = pos.iter().fold((f64::MAX, f64::MIN), |(a, b), &k| {
        (a.min(xi[k] - xi_e[k]).min(xi[k]), b.max(xi[k] + xi_e[k]))
    });
    let lo = if lo > 0.0 {
        lo
    } else {
        pos.iter().map(|&k| xi[k]).fold(f64::MAX, f64::min) * 0.5
    };
    let mut chart = ChartBuilder::on(&panels[0])
        .margin(12)
        .caption("xi(r)", ("sans-serif", 20))
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((x0..x1).log_scale(), (lo * 0.8..hi * 1.25).log_scale())
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc("r [Mpc/h]")
        .y_desc("xi")
        .draw()
        .map_err(draw_err)?;
    chart
        .draw_series(LineSeries::new(pos.iter().map(|&k| (r[k], xi[k])), &BLUE))
        .map_err(draw_err)?;
    chart
        .draw_series(pos.iter().map(|&k| {
            let low = (xi[k] - xi_e[k]).max(lo * 0.8);
            ErrorBar::new_vertical(r[k], low, xi[k], xi[k] + xi_e[k], BLUE.filled(), 6)
        }))
        .map_err(draw_err)?;

    for (panel, name, mean, var) in [
        (&panels[1], "omega(r)", &s.omega, &s.omega_var),
        (&panels[2], "eta(r)", &s.eta, &s.eta_var),
    ] {
        let e = err(var);
        let ok: Vec<usize> = (0..r.len()).filter(|&k| mean[k].is_finite()).collect();
        let (mut lo, mut hi) = ok.iter().fold((0.0f64, 0.0f64), |(a, b), &k| {
            (a.min(mean[k] - e[k]), b.max(mean[k] + e[k]))
        });
        if hi - lo <= 0.0 {
            (lo, hi) = (-1e-3, 1e-3);
        }
        let pad = 0.08 * (hi - lo);
        let mut chart = ChartBuilder::on(panel)
            .margin(12)
            .caption(name, ("sans-serif", 20))
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d((x0..x1).log_scale(), (lo - pad)..(hi + pad))
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("r [Mpc/h]")
            .y_desc(name)
            .draw()
            .map_err(draw_err)?;
        chart
            .draw_series(LineSeries::new([(x0, 0.0), (x1, 0.0)], BLACK.mix(0.4)))
            .map_err(draw_err)?;
        chart
            .draw_series(LineSeries::new(ok.iter().map(|&k| (r[k], mean[k])), &RED))
            .map_err(draw_err)?;
        chart
            .draw_series(ok.iter().map(|&k| {
                ErrorBar::new_vertical(
                    r[k],
                    mean[k] - e[k],
                    mean[k],
                    mean[k] + e[k],
                    RED.filled(),
                    6,
                )
            }))
            .map_err(draw_err)?;
    }
    root.present().map_err(draw_err)?;
    Ok(())
}
