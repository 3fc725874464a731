//! Helpers that several commands share: progress bars, output files, the synthetic universe,
//! and measuring and reporting correlations.

use super::args::MeasureArgs;
use super::{Command, HalosCommand, TabulateMerge};
use iaemu::corr::{self, Correlation, CorrelationOptions};
use iaemu::halos::{HaloCatalog, SyntheticUniverse};
use iaemu::{Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Output files of a command, whose folders must exist before its work starts (formats are
/// checked where the command knows them: galaxies, halo catalogues). Generate and merge make
/// their output folder.
pub fn output_files(command: &Command) -> Vec<&Path> {
    fn opt(p: &Option<PathBuf>) -> Option<&Path> {
        p.as_deref()
    }
    let list: Vec<Option<&Path>> = match command {
        Command::Correlate { measure, .. } | Command::Demo { measure, .. } => {
            vec![opt(&measure.out)]
        }
        Command::Mock { out, .. }
        | Command::Populate { out, .. }
        | Command::Train { out, .. } => {
            vec![Some(out)]
        }
        Command::Tabulate { merge: Some(TabulateMerge::Merge { out, .. }), .. } => vec![Some(out)],
        Command::Tabulate { out, .. } => vec![opt(out)],
        Command::Halos {
            command: HalosCommand::Synth { out, .. },
        } => vec![Some(out)],
        Command::Simulate { out, plot, .. }
        | Command::Expect { out, plot, .. }
        | Command::Predict { out, plot, .. }
        | Command::Evaluate { out, plot, .. } => {
            vec![opt(out), opt(plot)]
        }
        _ => vec![],
    };
    list.into_iter().flatten().collect()
}

/// A progress bar on stderr drawn with the indicatif `template`, when stderr is a terminal.
pub fn progress_bar(template: &str) -> Option<ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let b = ProgressBar::new(0);
        b.set_style(ProgressStyle::with_template(template).expect("valid template"));
        b
    })
}

pub fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text.to_string() + "\n")
        .map_err(|e| Error::io(format!("cannot write {}: {e}", path.display())))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

pub fn synthesize(u: &SyntheticUniverse) -> Result<HaloCatalog> {
    eprintln!(
        "making the synthetic universe: box {} Mpc/h, seed {}, grid {}^3, hosts from {:.3e} Msun/h",
        u.box_size, u.seed, u.grid, u.min_host_mass
    );
    let start = Instant::now();
    // On a terminal, a spinner with the stage and the elapsed time (seconds to minutes);
    // otherwise a line per stage.
    let spinner = progress_bar("{spinner} making the synthetic universe: {msg} {elapsed}");
    if let Some(b) = &spinner {
        b.enable_steady_tick(std::time::Duration::from_millis(100));
    }
    let report = |name: &str| match &spinner {
        Some(b) => b.set_message(name.to_string()),
        None => eprintln!("  {name} ({:.1} s)", start.elapsed().as_secs_f64()),
    };
    let halos = u.generate_reporting(&report);
    if let Some(b) = spinner {
        b.finish_and_clear();
    }
    let halos = halos?;
    eprintln!(
        "{} halos ({} hosts, {} subhalos) in {:.2} s",
        halos.len(),
        halos.n_hosts(),
        halos.len() - halos.n_hosts(),
        start.elapsed().as_secs_f64()
    );
    Ok(halos)
}

pub fn measure_and_report(g: &corr::Galaxies, box_size: [f64; 3], m: &MeasureArgs) -> Result<()> {
    let options = CorrelationOptions {
        r_edges: m.edges.clone().unwrap_or_else(corr::default_r_edges),
        box_size,
        xi_normalization: m.normalization.xi_normalization(),
        jackknife: m.jackknife,
        covariance: m.covariance,
        threads: m.threads,
    };
    let bar = progress_bar("{spinner} pairs {bar:40} {percent:>3}% {elapsed} (eta {eta})");
    let progress = |done: usize, total: usize| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
    };
    let start = Instant::now();
    let result = corr::correlate(g, &options, Some(&progress))?;
    let elapsed = start.elapsed().as_secs_f64();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let threads = match m.threads {
        Some(t) => t,
        None => iaemu::threads::num_threads()?,
    };
    eprintln!("measured in {elapsed:.3} s on {threads} thread(s)");
    let wrapped = g
        .positions
        .iter()
        .filter(|p| (0..3).any(|d| !(0.0..box_size[d]).contains(&p[d])))
        .count();
    if wrapped > 0 {
        eprintln!("wrapped into the box: {wrapped} positions outside [0, L)");
    }
    match &m.out {
        Some(path) => write_json(
            path,
            &result,
            g.positions.len(),
            wrapped,
            box_size,
            elapsed,
            threads,
        ),
        None => {
            print_table(&result);
            Ok(())
        }
    }
}

fn write_json(
    path: &Path,
    r: &Correlation,
    n: usize,
    wrapped: usize,
    box_size: [f64; 3],
    elapsed: f64,
    threads: usize,
) -> Result<()> {
    let mut j = serde_json::json!({
        "r_edges": r.r_edges, "r_mid": r.r_mid, "xi": r.xi, "omega": r.omega, "eta": r.eta,
        "pairs": r.pairs, "n_galaxies": n, "wrapped_positions": wrapped, "box_size": box_size,
        "elapsed_s": elapsed, "threads": threads, "iaemu_version": iaemu::VERSION,
        // The kernel taken (the correlation just ran with it, so the choice is valid).
        "kernel": iaemu::corr::Isa::selected().map(|i| i.name()).unwrap_or("unknown"),
    });
    if let Some(w) = &r.weighted_pairs {
        j["weighted_pairs"] = serde_json::json!(w);
    }
    if let Some(jk) = &r.jackknife {
        j["jackknife_side"] = serde_json::json!(jk.n_side);
        j["xi_var"] = serde_json::json!(jk.xi_var);
        j["omega_var"] = serde_json::json!(jk.omega_var);
        j["eta_var"] = serde_json::json!(jk.eta_var);
        if let Some(c) = &jk.covariance {
            // rows of the 3B x 3B matrix
            let side = 3 * r.xi.len();
            j["covariance"] = serde_json::json!(c.chunks(side).collect::<Vec<_>>());
        }
    }
    let text = serde_json::to_string_pretty(&j).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(path, text + "\n")
        .map_err(|e| Error::io(format!("cannot write {}: {e}", path.display())))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn print_table(r: &Correlation) {
    let jk = r.jackknife.as_ref();
    let cell = |v: f64, var: Option<f64>| match var {
        Some(var) => format!("{v:>11.4e} ± {:<9.2e}", var.sqrt()),
        None => format!("{v:>11.4e}"),
    };
    println!(
        "{:>8} {:>8} {:>8} {:>12}  {:<23} {:<23} {:<23}",
        "r_lo", "r_hi", "r_mid", "pairs", "xi", "omega", "eta"
    );
    for k in 0..r.xi.len() {
        println!(
            "{:>8.4} {:>8.4} {:>8.4} {:>12}  {:<23} {:<23} {:<23}",
            r.r_edges[k],
            r.r_edges[k + 1],
            r.r_mid[k],
            r.pairs[k],
            cell(r.xi[k], jk.map(|j| j.xi_var[k])),
            cell(r.omega[k], jk.map(|j| j.omega_var[k])),
            cell(r.eta[k], jk.map(|j| j.eta_var[k])),
        );
    }
    println!(
        "r in Mpc/h; pairs are ordered pairs{}",
        if jk.is_some() {
            "; ± is the jackknife standard deviation"
        } else {
            ""
        }
    );
}
