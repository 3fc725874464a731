//! Designs of training points (docs/science.md section 9), seeded.

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::hod::HodParams;
use crate::random::stream;
use crate::{Error, Result};

/// Which design.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Design {
    /// The paper's "realistic" scheme: logMmin evenly spaced, the other HOD parameters drawn
    /// around linear fits to Zheng et al. (2007) Table 1, mu_cen and mu_sat uniform in [-1, 1].
    Paper,
    /// A Latin hypercube over the box of [`LHS_RANGES`].
    Lhs,
    /// Points chosen outside iaemu and measured through its library, such as the MPI example
    /// of the Python binding (`bindings/python/examples/mpi_generate.py`): a dataset holds
    /// them in params.npy, and [`points`] cannot draw them.
    Given,
}

impl std::str::FromStr for Design {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "paper" => Ok(Design::Paper),
            "lhs" => Ok(Design::Lhs),
            _ => Err(Error::invalid(format!("design {s:?}: choose paper or lhs"))),
        }
    }
}

/// Linear fits `value = slope * logMmin + intercept` with their RMSE, for sigma_logM, logM0,
/// logM1 and alpha, from the nine rows of Zheng et al. (2007) Table 1 (docs/science.md section 9).
#[allow(clippy::approx_constant)] // 1.1284 is a fitted slope, not 2/sqrt(pi)
pub const PAPER_FITS: [(f64, f64, f64); 4] = [
    (0.1734, -1.7841, 0.0656),
    (1.1284, -1.8952, 0.4119),
    (0.7254, 4.4359, 0.1706),
    (-0.0016, 1.0333, 0.1007),
];
/// The paper design draws each fitted parameter uniformly within this many RMSE of its fit.
pub const PAPER_BAND_RMSE: f64 = 2.0;
/// Default logMmin range of the paper design: the span of Zheng et al. (2007) Table 1.
pub const PAPER_LOG_M_MIN: (f64, f64) = (11.35, 14.22);
/// sigma_logM guard of the paper design: where the band reaches below this value, draws are
/// uniform over the part of the band above it (the same as re-drawing until above).
pub const SIGMA_LOG_M_FLOOR: f64 = 0.01;
/// Box of the Latin hypercube (the authors' later code), in parameter order.
pub const LHS_RANGES: [(f64, f64); 7] = [
    (-1.0, 1.0),
    (-1.0, 1.0),
    (11.0, 15.0),
    (0.2, 0.8),
    (11.0, 14.0),
    (12.0, 15.0),
    (0.8, 1.2),
];

/// `n` points of `design` from `seed`: the same seed gives the same points.
pub fn points(design: Design, n: usize, seed: u64) -> Result<Vec<HodParams>> {
    if n == 0 {
        return Err(Error::invalid("a design needs at least 1 point"));
    }
    let mut r = stream(seed, 20, design as u64);
    let raw: Vec<[f64; 7]> = match design {
        Design::Paper => (0..n)
            .map(|i| {
                let (lo, hi) = PAPER_LOG_M_MIN;
                let log_m_min = if n == 1 {
                    0.5 * (lo + hi)
                } else {
                    lo + (hi - lo) * i as f64 / (n - 1) as f64
                };
                let mut v = [0.0; 7];
                v[0] = r.random_range(-1.0..=1.0);
                v[1] = r.random_range(-1.0..=1.0);
                v[2] = log_m_min;
                for (k, &(slope, intercept, rmse)) in PAPER_FITS.iter().enumerate() {
                    let centre = slope * log_m_min + intercept;
                    let (mut a, b) = (
                        centre - PAPER_BAND_RMSE * rmse,
                        centre + PAPER_BAND_RMSE * rmse,
                    );
                    if k == 0 {
                        a = a.max(SIGMA_LOG_M_FLOOR);
                    }
                    v[3 + k] = if a < b {
                        r.random_range(a..b)
                    } else {
                        SIGMA_LOG_M_FLOOR
                    };
                }
                v
            })
            .collect(),
        Design::Given => {
            return Err(Error::invalid(
                "the \"given\" design's points come with their dataset (params.npy): iaemu cannot draw them",
            ))
        }
        Design::Lhs => {
            let mut cols: Vec<Vec<f64>> = Vec::with_capacity(7);
            for &(lo, hi) in &LHS_RANGES {
                let mut strata: Vec<usize> = (0..n).collect();
                strata.shuffle(&mut r);
                cols.push(
                    strata
                        .iter()
                        .map(|&s| lo + (hi - lo) * (s as f64 + r.random::<f64>()) / n as f64)
                        .collect(),
                );
            }
            (0..n)
                .map(|i| std::array::from_fn(|k| cols[k][i]))
                .collect()
        }
    };
    raw.into_iter().map(HodParams::from_array).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_fits_reproduce_the_table() {
        // Zheng et al. (2007) Table 1: logMmin, sigma_logM, logM0, logM1, alpha.
        let table = [
            [11.35, 0.25, 11.20, 12.40, 0.83],
            [11.46, 0.24, 10.59, 12.68, 0.97],
            [11.60, 0.26, 11.49, 12.83, 1.02],
            [11.75, 0.28, 11.69, 13.01, 1.06],
            [12.02, 0.26, 11.38, 13.31, 1.06],
            [12.30, 0.21, 11.84, 13.58, 1.12],
            [12.79, 0.39, 11.92, 13.94, 1.15],
            [13.38, 0.51, 13.94, 13.91, 1.04],
            [14.22, 0.77, 14.00, 14.69, 0.87],
        ];
        let n = table.len() as f64;
        for (k, &(slope, intercept, rmse)) in PAPER_FITS.iter().enumerate() {
            let (mx, my) = (
                table.iter().map(|r| r[0]).sum::<f64>() / n,
                table.iter().map(|r| r[k + 1]).sum::<f64>() / n,
            );
            let sxy: f64 = table.iter().map(|r| (r[0] - mx) * (r[k + 1] - my)).sum();
            let sxx: f64 = table.iter().map(|r| (r[0] - mx).powi(2)).sum();
            let b = sxy / sxx;
            let a = my - b * mx;
            let res = (table
                .iter()
                .map(|r| (r[k + 1] - a - b * r[0]).powi(2))
                .sum::<f64>()
                / n)
                .sqrt();
            assert!(
                (b - slope).abs() < 1e-4
                    && (a - intercept).abs() < 1e-3
                    && (res - rmse).abs() < 1e-4,
                "fit {k}: {b} {a} {res}"
            );
        }
    }

    #[test]
    fn a_given_design_cannot_be_drawn() {
        let e = points(Design::Given, 4, 1).unwrap_err().to_string();
        assert!(e.contains("given") && e.contains("params.npy"), "{e}");
        assert!("given".parse::<Design>().is_err(), "the command line offers only paper and lhs");
    }
}
