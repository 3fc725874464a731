//! Validation of expected correlations against many realisations (not run by the tests: it
//! takes minutes). For each of 8 model points (both satellite models, mu at -1, 0, 1 and
//! between, dense and sparse HODs, satellites times centrals) it tabulates a synthetic
//! universe once per satellite model, evaluates the expectation, simulates R realisations, and
//! prints per statistic chi2/dof of (expectation - mean) against the standard error of the
//! mean, and the largest |expectation - mean| in units of one realisation's standard deviation.
//!
//!     cargo run --release --example expect_validate -- [--box 100] [--realizations 2000] [--grid 32]
//!         [--dex 0.2] [--table-seed 1] [--tracers 1] [--sim-seed 100] [--point K] [--detail 1]
//!
//! `--point K` runs point K alone; `--detail 1` also prints every bin's (E - mean) / sigma1;
//! `--mu-cen X` and `--mu-sat X` replace the points' alignment strengths.

use std::time::Instant;

use iaemu::corr::XiNormalization;
use iaemu::expect::{ExpectOptions, Table, TableOptions};
use iaemu::halos::SyntheticUniverse;
use iaemu::hod::{simulate, HodParams, PopulateOptions, SatelliteModel, SimulateOptions};

/// (parameters, satellite model, satellites times centrals)
pub fn points() -> Vec<([f64; 7], SatelliteModel, bool)> {
    use SatelliteModel::{Nfw, Subhalos};
    vec![
        ([0.8, 0.5, 12.0, 0.3, 12.0, 13.2, 1.0], Subhalos, false),
        ([-1.0, 1.0, 11.7, 0.2, 11.5, 12.7, 1.1], Subhalos, false),
        ([1.0, -1.0, 12.8, 0.5, 12.5, 14.0, 0.8], Subhalos, false),
        ([0.0, 0.3, 12.2, 0.1, 11.0, 13.0, 1.3], Subhalos, true),
        ([0.8, 0.5, 12.0, 0.3, 12.0, 13.2, 1.0], Nfw, false),
        ([-0.5, 0.9, 11.7, 0.2, 11.5, 12.7, 1.1], Nfw, false),
        ([1.0, 0.0, 12.8, 0.5, 12.5, 14.0, 0.8], Nfw, true),
        ([0.3, -0.6, 12.4, 0.15, 12.0, 13.5, 1.2], Nfw, false),
    ]
}

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn main() -> iaemu::Result<()> {
    let (box_size, r, grid) = (arg("--box", 100.0), arg("--realizations", 2000.0) as usize, arg("--grid", 32.0) as usize);
    let t = Instant::now();
    let halos = SyntheticUniverse { box_size, grid, seed: 3, ..Default::default() }.generate()?;
    println!("universe: box {box_size}, {} hosts, {:.1} s", halos.n_hosts(), t.elapsed().as_secs_f64());
    let mut tables = Vec::new();
    for model in [SatelliteModel::Subhalos, SatelliteModel::Nfw] {
        let t = Instant::now();
        let table = Table::build(&halos, &TableOptions { satellites: model, mass_bin_dex: arg("--dex", TableOptions::default().mass_bin_dex), seed: arg("--table-seed", 1.0) as u64, tracers_two_halo: arg("--tracers", TableOptions::default().tracers_two_halo as f64) as usize, ..Default::default() }, None)?;
        println!("table {model:?}: {:.1} s, {:.1} MB", t.elapsed().as_secs_f64(), table.size_bytes() as f64 / 1e6);
        tables.push(table);
    }
    let only = arg("--point", -1.0);
    let detail = arg("--detail", 0.0) > 0.0;
    for (k, (mut p, model, stc)) in points().into_iter().enumerate() {
        if only >= 0.0 && k != only as usize {
            continue;
        }
        p[0] = arg("--mu-cen", p[0]);
        p[1] = arg("--mu-sat", p[1]);
        let params = HodParams::from_array(p)?;
        let table = &tables[(model == SatelliteModel::Nfw) as usize];
        let options = ExpectOptions { xi_normalization: XiNormalization::NSquared, satellites_times_centrals: stc };
        let e = table.expect(&params, &options, false)?;
        let t = Instant::now();
        let sim = simulate(
            &halos,
            &params,
            r,
            arg("--sim-seed", 100.0) as u64 + k as u64,
            &SimulateOptions {
                populate: PopulateOptions { satellites: model, satellites_times_centrals: stc, ..Default::default() },
                ..Default::default()
            },
        )?;
        let ts = t.elapsed().as_secs_f64();
        print!("point {k} {p:?} {model:?} stc={stc}: E[N] {:.0} (simulated {:.0}), {r} realisations in {ts:.1} s;", e.n_galaxies,
            sim.n_galaxies.iter().sum::<usize>() as f64 / r as f64);
        for (name, exp, mean, var) in [
            ("xi", &e.xi, &sim.xi, &sim.xi_var),
            ("omega", &e.omega, &sim.omega, &sim.omega_var),
            ("eta", &e.eta, &sim.eta, &sim.eta_var),
        ] {
            let (mut chi2, mut dof, mut worst) = (0.0, 0, 0.0f64);
            for b in 0..exp.len() {
                if var[b].is_finite() && var[b] > 0.0 && mean[b].is_finite() && exp[b].is_finite() {
                    let d = exp[b] - mean[b];
                    chi2 += d * d / (var[b] / r as f64);
                    dof += 1;
                    worst = worst.max(d.abs() / var[b].sqrt());
                }
            }
            print!(" {name}: chi2/dof {:.2} ({dof} bins), max |E - mean|/sigma1 {:.3};", chi2 / dof.max(1) as f64, worst);
            if detail {
                let per_bin: Vec<String> = (0..exp.len()).map(|b| format!("{:+.3}", (exp[b] - mean[b]) / var[b].sqrt())).collect();
                print!(" [{}]", per_bin.join(" "));
            }
        }
        println!();
    }
    Ok(())
}
