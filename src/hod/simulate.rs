//! Realisations of one model point: populate the same halos with new random draws and measure
//! xi, omega and eta each time; the mean and the variance over realisations are what the
//! emulator learns (physics.md section 6, "measurement noise").

use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{HodParams, PopulateOptions, PreparedHalos};
use crate::corr::{self, Correlation, CorrelationOptions, XiNormalization};
use crate::halos::HaloCatalog;
use crate::random::stream;
use crate::{Error, Result};

/// Settings of [`simulate`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimulateOptions {
    /// Bin edges, Mpc/h (default: the 20 bins of physics.md section 6).
    pub r_edges: Vec<f64>,
    pub xi_normalization: XiNormalization,
    pub populate: PopulateOptions,
    /// Keep each realisation's measurement in [`Simulation::realizations`].
    pub keep_realizations: bool,
    /// Threads (None: the library default).
    pub threads: Option<usize>,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        SimulateOptions {
            r_edges: corr::default_r_edges(),
            xi_normalization: XiNormalization::NSquared,
            populate: PopulateOptions::default(),
            keep_realizations: false,
            threads: None,
        }
    }
}

/// Means and variances over realisations, per bin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Simulation {
    pub r_edges: Vec<f64>,
    pub r_mid: Vec<f64>,
    pub xi: Vec<f64>,
    pub omega: Vec<f64>,
    pub eta: Vec<f64>,
    /// Variance over realisations (divisor R - 1; NaN for one realisation).
    pub xi_var: Vec<f64>,
    pub omega_var: Vec<f64>,
    pub eta_var: Vec<f64>,
    /// Galaxies in each realisation.
    pub n_galaxies: Vec<usize>,
    /// Each realisation's measurement, when asked for.
    pub realizations: Option<Vec<Correlation>>,
}

/// Populates `halos` `n_realizations` times for `params` and measures xi, omega and eta each
/// time. Realisation k uses a seed drawn from (`seed`, k); the result depends only on
/// (`seed`, `params`, options), not on the thread count. Realisations run in parallel, and
/// populating and pair counting are parallel inside each.
pub fn simulate(
    halos: &HaloCatalog,
    params: &HodParams,
    n_realizations: usize,
    seed: u64,
    opts: &SimulateOptions,
) -> Result<Simulation> {
    params.validate()?;
    let prepared =
        crate::threads::install(opts.threads, || PreparedHalos::new(halos, &opts.populate))??;
    simulate_prepared(&prepared, params, n_realizations, seed, opts)
}

/// As [`simulate`], on a catalogue prepared once for many points (`opts.populate` is ignored:
/// the prepared catalogue's options apply).
pub fn simulate_prepared(
    prepared: &PreparedHalos,
    params: &HodParams,
    n_realizations: usize,
    seed: u64,
    opts: &SimulateOptions,
) -> Result<Simulation> {
    let halos = prepared.halos();
    params.validate()?;
    if n_realizations == 0 {
        return Err(Error::invalid("n_realizations must be at least 1"));
    }
    let corr_opts = CorrelationOptions {
        r_edges: opts.r_edges.clone(),
        box_size: halos.box_size(),
        xi_normalization: opts.xi_normalization,
        jackknife: None,
        covariance: false,
        threads: opts.threads,
    };
    crate::threads::install(opts.threads, || {
        // Realisations in parallel (each also parallel inside), collected in order.
        let done: Vec<(usize, Correlation)> = (0..n_realizations)
            .into_par_iter()
            .map(|k| {
                let realization_seed: u64 = stream(seed, 11, k as u64).random();
                let gals = prepared.populate(params, realization_seed)?;
                Ok((
                    gals.len(),
                    corr::correlate(&gals.galaxies(), &corr_opts, None)?,
                ))
            })
            .collect::<Result<_>>()?;
        let (n_galaxies, runs): (Vec<usize>, Vec<Correlation>) = done.into_iter().unzip();
        let stats = |get: fn(&Correlation) -> &Vec<f64>| -> (Vec<f64>, Vec<f64>) {
            let nb = get(&runs[0]).len();
            let r = runs.len() as f64;
            let mean: Vec<f64> = (0..nb)
                .map(|b| runs.iter().map(|c| get(c)[b]).sum::<f64>() / r)
                .collect();
            let var = (0..nb)
                .map(|b| {
                    if runs.len() < 2 {
                        return f64::NAN;
                    }
                    runs.iter()
                        .map(|c| (get(c)[b] - mean[b]).powi(2))
                        .sum::<f64>()
                        / (r - 1.0)
                })
                .collect();
            (mean, var)
        };
        let (xi, xi_var) = stats(|c| &c.xi);
        let (omega, omega_var) = stats(|c| &c.omega);
        let (eta, eta_var) = stats(|c| &c.eta);
        Ok(Simulation {
            r_edges: runs[0].r_edges.clone(),
            r_mid: runs[0].r_mid.clone(),
            xi,
            omega,
            eta,
            xi_var,
            omega_var,
            eta_var,
            n_galaxies,
            realizations: opts.keep_realizations.then_some(runs),
        })
    })?
}
