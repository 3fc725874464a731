//! Realisations of one model point: populate the same halos with new random draws and measure
//! xi, omega and eta each time; the mean and the variance over realisations are what the
//! emulator learns (docs/science.md section 6).

use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{HodParams, PopulateOptions, PreparedHalos};
use crate::corr::{self, Correlation, CorrelationOptions, XiNormalization};
use crate::halos::HaloCatalog;
use crate::random::stream;
use crate::{Error, Result};

/// Realisations measured at a time (in parallel) before they are folded into the running sums:
/// fixed, so that the result does not depend on the thread count.
const REALIZATIONS_PER_BLOCK: usize = 64;

/// Running means and sums of squared deviations per bin (Welford's update).
struct Welford {
    count: usize,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl Welford {
    fn new(n_bins: usize) -> Welford {
        Welford { count: 0, mean: vec![0.0; n_bins], m2: vec![0.0; n_bins] }
    }

    fn add(&mut self, values: &[f64]) {
        self.count += 1;
        let n = self.count as f64;
        for ((m, m2), &x) in self.mean.iter_mut().zip(&mut self.m2).zip(values) {
            let delta = x - *m;
            *m += delta / n;
            *m2 += delta * (x - *m);
        }
    }

    /// The means and the variances (divisor count - 1; NaN for one value).
    fn finish(self) -> (Vec<f64>, Vec<f64>) {
        let var = if self.count < 2 {
            vec![f64::NAN; self.m2.len()]
        } else {
            self.m2.iter().map(|m2| m2 / (self.count - 1) as f64).collect()
        };
        (self.mean, var)
    }
}

/// Settings of [`simulate`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimulateOptions {
    /// Bin edges, Mpc/h (default: the 20 bins of docs/science.md section 5).
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
    let nb = opts.r_edges.len().saturating_sub(1);
    // The galaxy count of every realisation is part of the result.
    crate::memory::ensure(&format!("{n_realizations} realisations"), n_realizations as f64 * 8.0)?;
    if opts.keep_realizations {
        // Each kept measurement: edges, centres, three statistics and pair counts.
        crate::memory::ensure(
            &format!("keeping {n_realizations} realisations"),
            n_realizations as f64 * (6 * nb + 1) as f64 * 8.0,
        )?;
    }
    crate::threads::install(opts.threads, || {
        // Blocks of realisations in parallel (each also parallel inside), folded into running
        // means and sums of squared deviations in realisation order (Welford): memory does
        // not grow with the number of realisations unless they are kept, and the numbers do
        // not depend on the thread count.
        let mut runs = Vec::new();
        let mut n_galaxies = Vec::with_capacity(n_realizations);
        let mut first: Option<Correlation> = None;
        let mut sums = [Welford::new(nb), Welford::new(nb), Welford::new(nb)];
        let mut start = 0;
        while start < n_realizations {
            let end = (start + REALIZATIONS_PER_BLOCK).min(n_realizations);
            let block: Vec<(usize, Correlation)> = (start..end)
                .into_par_iter()
                .map(|k| {
                    let realization_seed: u64 = stream(seed, 11, k as u64).random();
                    let gals = prepared.populate(params, realization_seed)?;
                    Ok((gals.len(), corr::correlate(&gals.galaxies(), &corr_opts, None)?))
                })
                .collect::<Result<_>>()?;
            for (n, c) in block {
                n_galaxies.push(n);
                for (w, values) in sums.iter_mut().zip([&c.xi, &c.omega, &c.eta]) {
                    w.add(values);
                }
                if opts.keep_realizations {
                    runs.push(c);
                } else if first.is_none() {
                    first = Some(c);
                }
            }
            start = end;
        }
        let first = first.as_ref().or(runs.first()).expect("at least one realisation");
        let [(xi, xi_var), (omega, omega_var), (eta, eta_var)] = sums.map(Welford::finish);
        Ok(Simulation {
            r_edges: first.r_edges.clone(),
            r_mid: first.r_mid.clone(),
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
