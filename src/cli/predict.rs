//! `iaemu predict`: the emulator's xi, omega and eta, with uncertainties, for parameter points.

use super::args::EmulatorArgs;
#[cfg(feature = "emulator")]
use super::common::write_text;
#[cfg(feature = "emulator")]
use super::emulator_cmd::open;
#[cfg(feature = "emulator")]
use iaemu::corr;
#[cfg(feature = "emulator")]
use iaemu::emulator::STATISTICS;
#[cfg(feature = "emulator")]
use iaemu::hod::PARAM_NAMES;
#[cfg(feature = "emulator")]
use iaemu::Error;
use iaemu::Result;
use std::path::Path;
#[cfg(feature = "emulator")]
use std::time::Instant;

#[cfg(feature = "emulator")]
pub fn run(
    a: &EmulatorArgs,
    params: &[f64],
    allow_extrapolation: bool,
    jacobian: bool,
    out: Option<&Path>,
    plot: Option<&Path>,
) -> Result<()> {
    let (emu, mut opts) = open(a)?;
    opts.allow_extrapolation = allow_extrapolation;
    let start = Instant::now();
    let p = emu.predict(params, &opts)?;
    let elapsed = start.elapsed().as_secs_f64();
    let n = p.flags.len();
    let nb = emu.n_bins();
    let r_edges = emu.meta().r_edges.clone();
    let r_mid = corr::r_mid(&r_edges);
    eprintln!(
        "{n} point(s) x {} Monte Carlo passes in {:.1} ms on {}",
        opts.mc_passes,
        1e3 * elapsed,
        emu.device()
    );
    let row =
        |a: &ndarray::Array3<f64>, i: usize, s: usize| a.slice(ndarray::s![i, s, ..]).to_vec();
    if let Some(png) = plot {
        let v = &params[..7];
        let title = format!(
            "emulator: mu_cen {} mu_sat {} logMmin {} sigma_logM {} logM0 {} logM1 {} alpha {} ({} MC passes)",
            v[0], v[1], v[2], v[3], v[4], v[5], v[6], opts.mc_passes
        );
        let curves = iaemu::plot::Curves::of_prediction(&p, 0, &r_edges, None);
        iaemu::plot::plot_curves(png, &curves, &title)?;
        eprintln!("wrote {}", png.display());
    }
    match out {
        Some(path) => {
            let per = |a: &ndarray::Array3<f64>, s: usize| -> Vec<Vec<f64>> {
                (0..n).map(|i| row(a, i, s)).collect()
            };
            let mut j = serde_json::json!({
                "r_edges": r_edges, "r_mid": r_mid,
                "params": params.chunks(7).collect::<Vec<_>>(), "param_names": PARAM_NAMES,
                "flags": p.flags, "mc_passes": opts.mc_passes, "seed": opts.seed,
                "device": emu.device(), "model": a.model.as_ref().map_or("built-in".into(), |m| m.display().to_string()),
                "elapsed_s": elapsed, "iaemu_version": iaemu::VERSION,
            });
            for (s, name) in STATISTICS.iter().enumerate() {
                j[*name] = serde_json::json!(per(&p.mean, s));
                j[format!("{name}_aleatoric_var")] = serde_json::json!(per(&p.aleatoric_var, s));
                j[format!("{name}_epistemic_var")] = serde_json::json!(per(&p.epistemic_var, s));
            }
            if jacobian {
                let jac = emu.jacobian(params, allow_extrapolation, opts.threads)?;
                let rows: Vec<Vec<Vec<Vec<f64>>>> = jac
                    .jacobian
                    .outer_iter()
                    .map(|pt| {
                        pt.outer_iter()
                            .map(|st| st.outer_iter().map(|b| b.to_vec()).collect())
                            .collect()
                    })
                    .collect();
                j["jacobian"] = serde_json::json!(rows);
                // The plain mean as the Jacobian's pass computes it (60 copies of each row, so
                // equal to a one-pass prediction only to float32 rounding).
                let means: Vec<Vec<Vec<f64>>> = (0..n)
                    .map(|i| (0..3).map(|s| row(&jac.mean, i, s)).collect())
                    .collect();
                j["jacobian_mean"] = serde_json::json!(means);
            }
            write_text(
                path,
                &serde_json::to_string_pretty(&j).map_err(|e| Error::Internal(e.to_string()))?,
            )
        }
        None => {
            for i in 0..n {
                if n > 1 {
                    println!("point {i}: {:?}", &params[7 * i..7 * i + 7]);
                }
                if p.flags[i] != 0 {
                    println!("(outside the training domain: flags {:#09b})", p.flags[i]);
                }
                println!(
                    "{:>8} {:>8} {:>8}  {:<31} {:<31} {:<31}",
                    "r_lo",
                    "r_hi",
                    "r_mid",
                    "xi ± ale ± epi",
                    "omega ± ale ± epi",
                    "eta ± ale ± epi"
                );
                for k in 0..nb {
                    let cell = |s: usize| {
                        format!(
                            "{:>10.3e} ±{:<8.1e} ±{:<8.1e}",
                            p.mean[[i, s, k]],
                            p.aleatoric_var[[i, s, k]].sqrt(),
                            p.epistemic_var[[i, s, k]].sqrt()
                        )
                    };
                    println!(
                        "{:>8.4} {:>8.4} {:>8.4}  {:<31} {:<31} {:<31}",
                        r_edges[k],
                        r_edges[k + 1],
                        r_mid[k],
                        cell(0),
                        cell(1),
                        cell(2)
                    );
                }
            }
            println!("r in Mpc/h; ± aleatoric then epistemic standard deviation");
            Ok(())
        }
    }
}

#[cfg(not(feature = "emulator"))]
pub fn run(
    _: &EmulatorArgs,
    _: &[f64],
    _: bool,
    _: bool,
    _: Option<&Path>,
    _: Option<&Path>,
) -> Result<()> {
    super::emulator_cmd::unsupported()
}
