//! `iaemu simulate`: xi, omega and eta of one model point over realisations.

use super::args::ModelArgs;
use super::common::write_text;
use iaemu::corr;
use iaemu::halos::HaloCatalog;
use iaemu::hod::{self, SimulateOptions, Simulation, PARAM_NAMES};
use iaemu::{Error, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub fn run(
    model: ModelArgs,
    realizations: usize,
    edges: Option<Vec<f64>>,
    out: Option<PathBuf>,
    plot: Option<PathBuf>,
) -> Result<()> {
    let params = model.params()?;
    let halos = model.halos()?;
    let opts = SimulateOptions {
        r_edges: edges.unwrap_or_else(corr::default_r_edges),
        populate: model.populate_options(),
        threads: model.threads,
        ..SimulateOptions::default()
    };
    let start = Instant::now();
    let s = hod::simulate(&halos, &params, realizations, model.seed, &opts)?;
    let elapsed = start.elapsed().as_secs_f64();
    let mean_n = s.n_galaxies.iter().sum::<usize>() as f64 / s.n_galaxies.len() as f64;
    eprintln!("{realizations} realisations of {mean_n:.0} galaxies on average in {elapsed:.2} s");
    if let Some(png) = &plot {
        let v = params.to_array();
        let title = format!(
            "mu_cen {} mu_sat {} logMmin {} sigma_logM {} logM0 {} logM1 {} alpha {}  ({realizations} realisations, {})",
            v[0], v[1], v[2], v[3], v[4], v[5], v[6], halos_name(&halos)
        );
        iaemu::plot::plot_simulation(png, &s, &title)?;
        eprintln!("wrote {}", png.display());
    }
    match out {
        Some(path) => {
            let j = serde_json::json!({
                "r_edges": s.r_edges, "r_mid": s.r_mid, "xi": s.xi, "omega": s.omega, "eta": s.eta,
                "xi_var": s.xi_var, "omega_var": s.omega_var, "eta_var": s.eta_var,
                "params": params.to_array(), "param_names": PARAM_NAMES,
                "n_realizations": realizations, "seed": model.seed, "n_galaxies": s.n_galaxies,
                "halos": halos.meta().provenance.source, "halos_simname": halos.meta().provenance.simname,
                "halos_notes": halos.meta().provenance.notes,
                "elapsed_s": elapsed, "iaemu_version": iaemu::VERSION,
            });
            write_text(
                &path,
                &serde_json::to_string_pretty(&j).map_err(|e| Error::Internal(e.to_string()))?,
            )
        }
        None => {
            print_simulation(&s);
            Ok(())
        }
    }
}

/// A short name for a catalogue: its simulation name, else its file name.
fn halos_name(h: &HaloCatalog) -> String {
    let p = &h.meta().provenance;
    if !p.simname.is_empty() {
        return p.simname.clone();
    }
    Path::new(&p.source)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn print_simulation(s: &Simulation) {
    let cell = |v: f64, var: f64| {
        if var.is_nan() {
            format!("{v:>11.4e}")
        } else {
            format!("{v:>11.4e} ± {:<9.2e}", var.sqrt())
        }
    };
    println!(
        "{:>8} {:>8} {:>8}  {:<23} {:<23} {:<23}",
        "r_lo", "r_hi", "r_mid", "xi", "omega", "eta"
    );
    for k in 0..s.xi.len() {
        println!(
            "{:>8.4} {:>8.4} {:>8.4}  {:<23} {:<23} {:<23}",
            s.r_edges[k],
            s.r_edges[k + 1],
            s.r_mid[k],
            cell(s.xi[k], s.xi_var[k]),
            cell(s.omega[k], s.omega_var[k]),
            cell(s.eta[k], s.eta_var[k]),
        );
    }
    println!("r in Mpc/h; ± is the standard deviation over realisations (of one realisation, not of the mean)");
}
