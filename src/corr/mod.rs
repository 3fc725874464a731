//! The correlation engine: position-position xi(r), position-orientation omega(r) and
//! orientation-orientation eta(r) of galaxy samples in a periodic box (docs/science.md section 5).
//!
//! - `xi_k    = DD_k V / (N^2 dV_k) - 1` (or `N(N-1)` with [`XiNormalization::NNMinusOne`]),
//!   DD_k the ordered pairs i != j with r in (r_k, r_{k+1}], dV_k = 4/3 pi (r_{k+1}^3 - r_k^3);
//! - `omega_k = <(e_i . rhat_ij)^2> - 1/3` over the ordered pairs of the bin;
//! - `eta_k   = <(e_i . e_j)^2> - 1/3`.
//!
//! With weights every count becomes a sum of `w_i w_j` and every mean a `w_i w_j`-weighted
//! mean. Lengths are comoving Mpc/h. Positions outside `[0, L)` are wrapped into the box (more
//! than [`MAX_WRAPS`] box lengths out is an error);
//! orientations are normalised (their sign and length do not matter; zero length is an error).
//! An empty bin gives `xi = -1` and `omega = eta = NaN`, with its pair count 0.
//!
//! The engine visits each unordered pair once (cross forms: each (i, j) once) on a cell grid
//! sized to `r_max`, computes all three statistics in the same pass, and accumulates in f64.
//! Work is split into fixed chunks of cells whose partial sums are added in a fixed order, so
//! results are bit-for-bit identical for any thread count.

mod grid;
mod kernel;

pub use kernel::{Isa, ISA_ENV};
pub(crate) use kernel::CATEGORY_MARKS;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Positions are wrapped into the box when they lie within this many box lengths of it; farther
/// ones are an error. At 1000 box lengths a coordinate keeps 3e-13 of the box side (a 0.1
/// Mpc/h bin edge of a 10 Gpc/h box to 1e-5 of its width); farther out, wrapping is not
/// periodicity but a corrupt value.
pub const MAX_WRAPS: f64 = 1000.0;

/// Number of default radial bins.
pub const DEFAULT_N_BINS: usize = 20;
/// Inner edge of the default bins, Mpc/h.
pub const DEFAULT_R_MIN: f64 = 0.1;
/// Outer edge of the default bins, Mpc/h.
pub const DEFAULT_R_MAX: f64 = 16.0;

/// The default bin edges of docs/science.md section 5: 21 edges `logspace(log10 0.1, log10 16, 21)`,
/// in Mpc/h.
pub fn default_r_edges() -> Vec<f64> {
    let (lo, hi) = (DEFAULT_R_MIN.log10(), DEFAULT_R_MAX.log10());
    (0..=DEFAULT_N_BINS)
        .map(|k| {
            if k == 0 {
                DEFAULT_R_MIN
            } else if k == DEFAULT_N_BINS {
                DEFAULT_R_MAX
            } else {
                10f64.powf(lo + (hi - lo) * k as f64 / DEFAULT_N_BINS as f64)
            }
        })
        .collect()
}

/// Bin centres reported with every result: the arithmetic mean of each bin's edges, as in
/// halotools' examples.
pub fn r_mid(r_edges: &[f64]) -> Vec<f64> {
    r_edges.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect()
}

/// Normalisation of xi.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum XiNormalization {
    /// `N^2` (halotools, and the paper's training data). The default.
    #[default]
    NSquared,
    /// `N(N-1)` (Corrfunc); with weights `(sum w)^2 - sum w^2`. Auto-correlations only.
    NNMinusOne,
}

/// One galaxy sample: borrowed, row-major arrays.
#[derive(Clone, Copy, Debug)]
pub struct Galaxies<'a> {
    /// Positions (x, y, z) in Mpc/h.
    pub positions: &'a [[f64; 3]],
    /// Orientation vectors (major axes); any non-zero length, either sign. Without them only
    /// xi is computed and omega, eta are NaN.
    pub orientations: Option<&'a [[f64; 3]]>,
    /// Per-galaxy weights.
    pub weights: Option<&'a [f64]>,
}

impl<'a> Galaxies<'a> {
    /// A sample with positions and orientations, unweighted.
    pub fn new(positions: &'a [[f64; 3]], orientations: Option<&'a [[f64; 3]]>) -> Self {
        Galaxies {
            positions,
            orientations,
            weights: None,
        }
    }
}

/// Settings of one measurement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorrelationOptions {
    /// Increasing, positive bin edges in Mpc/h; bin k is (r_edges[k], r_edges[k+1]].
    pub r_edges: Vec<f64>,
    /// Periodic box side lengths (Lx, Ly, Lz) in Mpc/h; each must exceed 2 r_max.
    pub box_size: [f64; 3],
    /// Normalisation of xi.
    pub xi_normalization: XiNormalization,
    /// Jackknife over `n^3` cubic sub-volumes (n >= 2); `None` for no jackknife.
    pub jackknife: Option<usize>,
    /// Also return the jackknife covariance of the concatenated (xi, omega, eta) vector.
    pub covariance: bool,
    /// Threads for this call; `None` uses [`crate::threads::num_threads`].
    pub threads: Option<usize>,
}

impl CorrelationOptions {
    /// Defaults for a cubic box of side `box_size` Mpc/h: default bins, N^2, no jackknife.
    pub fn cubic(box_size: f64) -> Self {
        CorrelationOptions {
            r_edges: default_r_edges(),
            box_size: [box_size; 3],
            xi_normalization: XiNormalization::NSquared,
            jackknife: None,
            covariance: false,
            threads: None,
        }
    }
}

/// Largest jackknife side accepted (n^3 = 32768 sub-volumes).
pub const MAX_JACKKNIFE_SIDE: usize = 32;

/// Jackknife estimate of the statistical errors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Jackknife {
    /// Sub-volumes per side; `n_side^3` jackknife samples.
    pub n_side: usize,
    /// Variance of xi per bin.
    pub xi_var: Vec<f64>,
    /// Variance of omega per bin.
    pub omega_var: Vec<f64>,
    /// Variance of eta per bin.
    pub eta_var: Vec<f64>,
    /// Covariance of the vector (xi_0..xi_{B-1}, omega_0.., eta_0..), row-major 3B x 3B, when
    /// asked for.
    pub covariance: Option<Vec<f64>>,
}

/// The three statistics per bin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    /// Bin edges, Mpc/h.
    pub r_edges: Vec<f64>,
    /// Bin centres, Mpc/h (see [`r_mid`]).
    pub r_mid: Vec<f64>,
    /// Position-position correlation.
    pub xi: Vec<f64>,
    /// Position-orientation correlation (NaN without orientations or pairs).
    pub omega: Vec<f64>,
    /// Orientation-orientation correlation (NaN without orientations or pairs).
    pub eta: Vec<f64>,
    /// Ordered pairs per bin (unweighted count; for cross forms each (i, j) once).
    pub pairs: Vec<u64>,
    /// Sum of `w_i w_j` over the ordered pairs, when weights were given.
    pub weighted_pairs: Option<Vec<f64>>,
    /// Jackknife errors, when asked for.
    pub jackknife: Option<Jackknife>,
}

/// Auto-correlation of one sample. `progress(done, total)` is called as work completes
/// (from worker threads).
pub fn correlate(
    sample: &Galaxies,
    options: &CorrelationOptions,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<Correlation> {
    let plan = Plan::new(options)?;
    if sample.positions.len() < 2 {
        return Err(Error::invalid(format!(
            "need at least 2 galaxies, got {}",
            sample.positions.len()
        )));
    }
    plan.validate(sample, "sample")?;
    crate::threads::install(options.threads, || {
        let grid = plan.grid(sample.positions.len(), sample.positions.len());
        let a = grid::Prepared::new(&plan, &grid, sample);
        let totals = kernel::count_pairs(&plan, &grid, &a, None, progress)?;
        Ok(plan.finish(&totals, &a, None))
    })?
}

/// Cross-correlation: pairs (i in `sample1`, j in `sample2`). omega uses sample 1's
/// orientations; eta needs both samples' orientations (else NaN). The xi normalisation is
/// `N1 N2` (or the weighted sums).
pub fn cross_correlate(
    sample1: &Galaxies,
    sample2: &Galaxies,
    options: &CorrelationOptions,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<Correlation> {
    let plan = Plan::new(options)?;
    if options.xi_normalization == XiNormalization::NNMinusOne {
        return Err(Error::invalid(
            "the N(N-1) normalisation applies to auto-correlations only",
        ));
    }
    for (s, name) in [(sample1, "sample 1"), (sample2, "sample 2")] {
        if s.positions.is_empty() {
            return Err(Error::invalid(format!("{name} has no galaxies")));
        }
    }
    plan.validate(sample1, "sample 1")?;
    plan.validate(sample2, "sample 2")?;
    crate::threads::install(options.threads, || {
        let grid = plan.grid(
            sample2.positions.len(),
            sample1.positions.len() + sample2.positions.len(),
        );
        let a = grid::Prepared::new(&plan, &grid, sample1);
        let b = grid::Prepared::new(&plan, &grid, sample2);
        let totals = kernel::count_pairs(&plan, &grid, &a, Some(&b), progress)?;
        Ok(plan.finish(&totals, &a, Some(&b)))
    })?
}

/// Checks measurement options as [`correlate`] does (bins, box, jackknife), without data.
pub fn check_options(options: &CorrelationOptions) -> Result<()> {
    Plan::new(options).map(|_| ())
}

/// Pair sums of `objects` by category, for the two-halo table of [`crate::expect`] (see
/// `kernel::count_category_pairs` for the marks and layout); `cat`, `host` and `x` are per
/// object, in the order given; only pairs whose first object lies in the `shard`'s share of
/// the grid's cells. Options are checked as for [`correlate`] (the jackknife is ignored).
#[allow(clippy::too_many_arguments)]
pub(crate) fn category_pair_sums(
    objects: &Galaxies,
    cat: &[u32],
    host: &[u32],
    x: &[f64],
    n_cat: usize,
    options: &CorrelationOptions,
    shard: crate::shard::Shard,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<Vec<f64>> {
    let plan = Plan::new(options)?;
    plan.validate(objects, "objects")?;
    let n = objects.positions.len();
    if cat.len() != n || host.len() != n || x.len() != n || objects.orientations.is_none() {
        return Err(Error::Internal(format!(
            "category pair sums: {n} objects, {} categories, {} hosts",
            cat.len(),
            host.len()
        )));
    }
    crate::threads::install(options.threads, || {
        let grid = grid::Grid::choose(plan.box_size, plan.r_max(), n, n, 1);
        let a = grid::Prepared::new(&plan, &grid, objects);
        let cat: Vec<u32> = a.order.iter().map(|&i| cat[i]).collect();
        let host: Vec<u32> = a.order.iter().map(|&i| host[i]).collect();
        let x: Vec<f64> = a.order.iter().map(|&i| x[i]).collect();
        let c = kernel::Categories { cat: &cat, host: &host, x: &x, n_cat };
        kernel::count_category_pairs(&plan, &grid, &a, &c, shard, progress)
    })?
}

/// Options that passed validation (reads through to them).
pub(crate) struct Plan<'a>(&'a CorrelationOptions);

impl std::ops::Deref for Plan<'_> {
    type Target = CorrelationOptions;
    fn deref(&self) -> &CorrelationOptions {
        self.0
    }
}

/// Per-bin sums over pairs. For auto-correlations each unordered pair is added once with both
/// orderings' omega terms; [`Plan::finish`] turns these into ordered-pair statistics.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BinSums {
    /// Pairs (unordered for auto, ordered for cross).
    pub n: u64,
    /// Sum of w_i w_j.
    pub w: f64,
    /// Sum of w_i w_j [(e_i.rhat)^2 + (e_j.rhat)^2] (auto) or w_i w_j (e_i.rhat)^2 (cross).
    pub omega: f64,
    /// Sum of w_i w_j (e_i.e_j)^2.
    pub eta: f64,
}

impl BinSums {
    #[inline]
    pub fn add(&mut self, o: &BinSums) {
        self.n += o.n;
        self.w += o.w;
        self.omega += o.omega;
        self.eta += o.eta;
    }
    fn sub(&self, o: &BinSums) -> BinSums {
        BinSums {
            n: self.n - o.n,
            w: self.w - o.w,
            omega: self.omega - o.omega,
            eta: self.eta - o.eta,
        }
    }
}

/// Everything the kernel returns: totals per bin and, with a jackknife, per sub-volume k the
/// sums over the pairs that removing sub-volume k removes (either member inside it).
pub(crate) struct PairTotals {
    pub bins: Vec<BinSums>,
    /// `n_sub x n_bins`, row-major; empty without a jackknife.
    pub removed: Vec<BinSums>,
}

fn check_finite_positive(v: f64, what: &str) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{what} must be finite and positive, got {v}"
        )))
    }
}

impl<'a> Plan<'a> {
    fn new(o: &'a CorrelationOptions) -> Result<Plan<'a>> {
        let e = &o.r_edges;
        if e.len() < 2 {
            return Err(Error::invalid(format!(
                "need at least 2 bin edges, got {}",
                e.len()
            )));
        }
        for (k, &r) in e.iter().enumerate() {
            check_finite_positive(r, &format!("bin edge r_edges[{k}]"))?;
        }
        if let Some(k) = e.windows(2).position(|w| w[1] <= w[0]) {
            return Err(Error::invalid(format!(
                "bin edges must be strictly increasing: r_edges[{}] = {} is not above r_edges[{}] = {}",
                k + 1,
                e[k + 1],
                k,
                e[k]
            )));
        }
        let r_max = e[e.len() - 1];
        for (d, &l) in o.box_size.iter().enumerate() {
            check_finite_positive(l, &format!("box side {}", ["x", "y", "z"][d]))?;
            if 2.0 * r_max >= l {
                return Err(Error::invalid(format!(
                    "r_max = {r_max} Mpc/h must be less than half the box side {} = {l} Mpc/h (minimum image)",
                    ["x", "y", "z"][d]
                )));
            }
        }
        if let Some(n) = o.jackknife {
            if !(2..=MAX_JACKKNIFE_SIDE).contains(&n) {
                return Err(Error::invalid(format!(
                    "jackknife side must be between 2 and {MAX_JACKKNIFE_SIDE}, got {n}"
                )));
            }
        } else if o.covariance {
            return Err(Error::invalid(
                "a covariance needs a jackknife (set its side n >= 2)",
            ));
        }
        Ok(Plan(o))
    }

    pub fn n_bins(&self) -> usize {
        self.r_edges.len() - 1
    }

    pub fn r_max(&self) -> f64 {
        self.r_edges[self.r_edges.len() - 1]
    }

    fn volume(&self) -> f64 {
        self.box_size.iter().product()
    }

    fn grid(&self, n_partners: usize, n_galaxies: usize) -> grid::Grid {
        grid::Grid::choose(
            self.box_size,
            self.r_max(),
            n_partners,
            n_galaxies,
            self.jackknife.unwrap_or(1),
        )
    }

    /// Checks one sample: finite values, non-zero orientations, matching lengths, positions
    /// that wrapping makes sense of, and room in the memory budget for its prepared copy.
    fn validate(&self, s: &Galaxies, name: &str) -> Result<()> {
        let n = s.positions.len();
        // The wrapped, cell-sorted copy: positions, orientations, weight, cell and order.
        crate::memory::ensure(&format!("{name}: correlating {n} galaxies"), n as f64 * 128.0)?;
        if let Some(o) = s.orientations {
            if o.len() != n {
                return Err(Error::invalid(format!(
                    "{name}: {n} positions but {} orientations",
                    o.len()
                )));
            }
        }
        if let Some(w) = s.weights {
            if w.len() != n {
                return Err(Error::invalid(format!(
                    "{name}: {n} positions but {} weights",
                    w.len()
                )));
            }
        }
        for (i, p) in s.positions.iter().enumerate() {
            if !p.iter().all(|v| v.is_finite()) {
                return Err(Error::invalid(format!(
                    "{name}: position of galaxy {i} is not finite: {p:?}"
                )));
            }
            for (d, &l) in self.box_size.iter().enumerate() {
                if p[d] < -MAX_WRAPS * l || p[d] >= (MAX_WRAPS + 1.0) * l {
                    return Err(Error::invalid(format!(
                        "{name}: position of galaxy {i} ({p:?}) lies more than {MAX_WRAPS} box lengths outside the box along {}: wrapping it means nothing (and loses the precision of the bins)",
                        ["x", "y", "z"][d]
                    )));
                }
            }
        }
        if let Some(o) = s.orientations {
            for (i, e) in o.iter().enumerate() {
                if !e.iter().all(|v| v.is_finite()) {
                    return Err(Error::invalid(format!(
                        "{name}: orientation of galaxy {i} is not finite: {e:?}"
                    )));
                }
                let norm2 = e[0] * e[0] + e[1] * e[1] + e[2] * e[2];
                if !(norm2 > 0.0 && norm2.is_finite()) {
                    return Err(Error::invalid(format!(
                        "{name}: orientation of galaxy {i} has zero length (or overflows): {e:?}"
                    )));
                }
            }
        }
        if let Some(w) = s.weights {
            if let Some(i) = w.iter().position(|v| !v.is_finite()) {
                return Err(Error::invalid(format!(
                    "{name}: weight of galaxy {i} is not finite: {}",
                    w[i]
                )));
            }
            let total: f64 = w.iter().sum();
            if total.is_nan() || total <= 0.0 {
                return Err(Error::invalid(format!(
                    "{name}: the weights must have a positive sum, got {total}"
                )));
            }
        }
        Ok(())
    }

    /// Turns pair sums into the three statistics, and the jackknife if asked for.
    fn finish(
        &self,
        t: &PairTotals,
        a: &grid::Prepared,
        b: Option<&grid::Prepared>,
    ) -> Correlation {
        let nb = self.n_bins();
        let weighted = a.weighted || b.is_some_and(|b| b.weighted);
        let norm = |wa: f64, wa2: f64, wb: Option<f64>| match (wb, self.xi_normalization) {
            (Some(wb), _) => wa * wb,
            (None, XiNormalization::NSquared) => wa * wa,
            (None, XiNormalization::NNMinusOne) => wa * wa - wa2,
        };
        let orient_eta = a.oriented && b.is_none_or(|b| b.oriented);
        let stats = |sums: &[BinSums], volume: f64, pair_norm: f64| {
            let mut out = [vec![0.0; nb], vec![0.0; nb], vec![0.0; nb]];
            for k in 0..nb {
                let s = &sums[k];
                // Auto sums hold each unordered pair once: ordered counts are twice that.
                let (w_ordered, omega_terms) = if b.is_none() {
                    (2.0 * s.w, 2.0 * s.w)
                } else {
                    (s.w, s.w)
                };
                let dv = 4.0 / 3.0
                    * std::f64::consts::PI
                    * (self.r_edges[k + 1].powi(3) - self.r_edges[k].powi(3));
                out[0][k] = w_ordered * volume / (pair_norm * dv) - 1.0;
                let has_pairs = s.n > 0 && s.w != 0.0;
                out[1][k] = if a.oriented && has_pairs {
                    s.omega / omega_terms - 1.0 / 3.0
                } else {
                    f64::NAN
                };
                out[2][k] = if orient_eta && has_pairs {
                    s.eta / s.w - 1.0 / 3.0
                } else {
                    f64::NAN
                };
            }
            out
        };
        let wb = b.map(|b| b.weight_sum);
        let [xi, omega, eta] = stats(
            &t.bins,
            self.volume(),
            norm(a.weight_sum, a.weight2_sum, wb),
        );
        let pairs = t
            .bins
            .iter()
            .map(|s| if b.is_none() { 2 * s.n } else { s.n })
            .collect();
        let weighted_pairs = weighted.then(|| {
            t.bins
                .iter()
                .map(|s| if b.is_none() { 2.0 * s.w } else { s.w })
                .collect()
        });

        let jackknife = self.jackknife.map(|side| {
            let n_sub = side * side * side;
            let sub_volume = self.volume() * (n_sub - 1) as f64 / n_sub as f64;
            let samples: Vec<Vec<f64>> = (0..n_sub)
                .map(|k| {
                    let kept: Vec<BinSums> = (0..nb)
                        .map(|bin| t.bins[bin].sub(&t.removed[k * nb + bin]))
                        .collect();
                    let wa = a.weight_sum - a.label_weight[k];
                    let wa2 = a.weight2_sum - a.label_weight2[k];
                    let wb = b.map(|b| b.weight_sum - b.label_weight[k]);
                    stats(&kept, sub_volume, norm(wa, wa2, wb)).concat()
                })
                .collect();
            jackknife_moments(side, nb, &samples, self.covariance)
        });
        Correlation {
            r_edges: self.r_edges.clone(),
            r_mid: r_mid(&self.r_edges),
            xi,
            omega,
            eta,
            pairs,
            weighted_pairs,
            jackknife,
        }
    }
}

/// Jackknife variance (and covariance) of K samples of the 3B-vector:
/// `(K-1)/K sum_k (s_k - mean)(s_k - mean)^T`.
fn jackknife_moments(side: usize, nb: usize, samples: &[Vec<f64>], covariance: bool) -> Jackknife {
    let k = samples.len() as f64;
    let dim = 3 * nb;
    let mean: Vec<f64> = (0..dim)
        .map(|i| samples.iter().map(|s| s[i]).sum::<f64>() / k)
        .collect();
    let factor = (k - 1.0) / k;
    let cov_entry = |i: usize, j: usize| {
        factor
            * samples
                .iter()
                .map(|s| (s[i] - mean[i]) * (s[j] - mean[j]))
                .sum::<f64>()
    };
    let var: Vec<f64> = (0..dim).map(|i| cov_entry(i, i)).collect();
    Jackknife {
        n_side: side,
        xi_var: var[..nb].to_vec(),
        omega_var: var[nb..2 * nb].to_vec(),
        eta_var: var[2 * nb..].to_vec(),
        covariance: covariance.then(|| {
            (0..dim * dim)
                .map(|ij| cov_entry(ij / dim, ij % dim))
                .collect()
        }),
    }
}
