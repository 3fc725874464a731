//! `iaemu evaluate`: a model's metrics on a dataset.

use super::args::EmulatorArgs;
use super::Truth;
#[cfg(feature = "emulator")]
use super::common::write_text;
#[cfg(feature = "emulator")]
use super::emulator_cmd::{open, print_metrics};
#[cfg(feature = "emulator")]
use iaemu::dataset;
#[cfg(feature = "emulator")]
use iaemu::emulator::{self, Rows};
#[cfg(feature = "emulator")]
use iaemu::Error;
use iaemu::Result;
use std::path::Path;
#[cfg(feature = "emulator")]
use std::time::Instant;

#[cfg(feature = "emulator")]
pub fn run(
    a: &EmulatorArgs,
    data: &Path,
    all: bool,
    out: Option<&Path>,
    plot: Option<&Path>,
    truth: Truth,
) -> Result<()> {
    let data = dataset::Data::load(data)?;
    let against = match truth {
        Truth::Mean => dataset::Truth::Mean,
        Truth::Expected => dataset::Truth::Expected,
    };
    let (emu, opts) = open(a)?;
    let rows = if all { Rows::All } else { Rows::TestSplit };
    let start = Instant::now();
    let ev = emulator::evaluate(&emu, &data, rows, &opts, against)?;
    eprintln!(
        "{} curves x {} passes in {:.2} s; {} outside the training domain",
        ev.rows.len(),
        opts.mc_passes,
        start.elapsed().as_secs_f64(),
        ev.prediction.flags.iter().filter(|&&f| f != 0).count()
    );
    print_metrics(&ev.metrics);
    if let Some(path) = out {
        let mut j =
            serde_json::to_value(&ev.metrics).map_err(|e| Error::Internal(e.to_string()))?;
        j["rows"] = serde_json::json!(if all { "all" } else { "test split" });
        j["truth"] = serde_json::json!(if truth == Truth::Expected { "expected" } else { "mean" });
        j["model"] = serde_json::json!(a
            .model
            .as_ref()
            .map_or("built-in".into(), |m| m.display().to_string()));
        write_text(
            path,
            &serde_json::to_string_pretty(&j).map_err(|e| Error::Internal(e.to_string()))?,
        )?;
    }
    if let Some(png) = plot {
        let examples = iaemu::plot::examples_path(png);
        iaemu::plot::plot_evaluation(png, &examples, &ev, &emu.meta().r_edges)?;
        eprintln!("wrote {} and {}", png.display(), examples.display());
    }
    Ok(())
}

#[cfg(not(feature = "emulator"))]
pub fn run(_: &EmulatorArgs, _: &Path, _: bool, _: Option<&Path>, _: Option<&Path>, _: Truth) -> Result<()> {
    super::emulator_cmd::unsupported()
}
