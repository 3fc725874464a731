//! `iaemu train`: train the emulator on a dataset.

#[cfg(feature = "emulator")]
use super::emulator_cmd::print_metrics;
#[cfg(feature = "emulator")]
use iaemu::dataset;
#[cfg(feature = "emulator")]
use iaemu::emulator::{self, Config, Control};
use iaemu::Result;
use std::path::Path;

#[cfg(feature = "emulator")]
fn hms(s: f64) -> String {
    if !s.is_finite() {
        return "?".into();
    }
    let s = s.round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(feature = "emulator")]
pub fn run(
    data: &Path,
    config: Option<&Path>,
    out: &Path,
    restart: bool,
    device: Option<String>,
    threads: Option<usize>,
) -> Result<()> {
    let mut cfg = match config {
        Some(p) => Config::from_file(p)?,
        None => Config::default(),
    };
    if let Some(d) = device {
        cfg.train.device = d;
    }
    if let Some(t) = threads {
        cfg.train.threads = t;
    }
    let data = dataset::Data::load(data)?;
    eprintln!(
        "training on {} rows of {} ({} bins), device {}, checkpoint {}",
        data.len(),
        data.meta.as_ref().map_or("?".into(), |m| format!(
            "{:?} design, seed {}",
            m.plan.design, m.plan.seed
        )),
        data.r_edges.len() - 1,
        cfg.train.device,
        emulator::train::checkpoint_path(out).display()
    );
    let emu = emulator::train(&cfg, &data, out, restart, &mut |e| {
        eprintln!(
            "epoch {:>5}/{}  train {:>9.4}  val {:>9.4}  best {:>9.4} (epoch {})  lr {:.2e}  elapsed {}  eta {}{}",
            e.epoch,
            e.max_epochs,
            e.train_loss,
            e.validation_loss,
            e.best_validation_loss,
            e.best_epoch,
            e.lr,
            hms(e.seconds),
            hms(e.eta_seconds),
            if e.resumed { "  (from checkpoint)" } else { "" }
        );
        Control::Continue
    })?;
    let t = &emu.meta().training;
    eprintln!(
        "wrote {}: {} epochs ({}), best {} (validation loss {:.4}), {} weights, {:.0} s",
        out.display(),
        t.epochs,
        t.stopped_by,
        t.best_epoch,
        t.best_validation_loss,
        t.n_weights,
        t.seconds
    );
    if let Some(m) = &emu.meta().metrics {
        print_metrics(m);
    }
    Ok(())
}

#[cfg(not(feature = "emulator"))]
pub fn run(
    _: &Path,
    _: Option<&Path>,
    _: &Path,
    _: bool,
    _: Option<String>,
    _: Option<usize>,
) -> Result<()> {
    super::emulator_cmd::unsupported()
}
