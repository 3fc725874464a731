//! The emulator's accuracy metrics, defined once (docs/science.md section 10): fractional error per
//! bin ((pred - true) / true for xi; against a 3-bin running mean of the truth for omega and
//! eta), Pearson correlation per curve, coverage of the truth by 1 and 2 predicted sigma, and
//! the share of bins whose epistemic variance is below the aleatoric one.

use ndarray::{ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::Prediction;
use crate::stats::median;

/// JSON has no NaN: serde_json writes it as null, and these read null back as NaN.
pub(crate) mod nan_as_null {
    use serde::{Deserialize, Deserializer};

    pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }

    pub fn vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<Option<f64>>::deserialize(d)?
            .into_iter()
            .map(|x| x.unwrap_or(f64::NAN))
            .collect())
    }
}

/// Metrics of one statistic over a set of curves. Errors are absolute fractional errors;
/// shares are fractions in [0, 1]; NaN where nothing could be measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatMetrics {
    /// Mean over curves of the Pearson correlation between predicted and true curve.
    #[serde(deserialize_with = "nan_as_null::f64")]
    pub pcc_mean: f64,
    #[serde(deserialize_with = "nan_as_null::f64")]
    pub pcc_median: f64,
    /// Median and mean of |fractional error| over every (curve, bin).
    #[serde(deserialize_with = "nan_as_null::f64")]
    pub frac_err_median: f64,
    #[serde(deserialize_with = "nan_as_null::f64")]
    pub frac_err_mean: f64,
    /// The same per bin.
    #[serde(deserialize_with = "nan_as_null::vec")]
    pub frac_err_median_per_bin: Vec<f64>,
    #[serde(deserialize_with = "nan_as_null::vec")]
    pub frac_err_mean_per_bin: Vec<f64>,
    /// Share of (curve, bin) with |pred - true| within 1 and 2 sigma of the total
    /// (aleatoric + epistemic) variance.
    #[serde(deserialize_with = "nan_as_null::f64")]
    pub coverage_1sigma: f64,
    #[serde(deserialize_with = "nan_as_null::f64")]
    pub coverage_2sigma: f64,
    /// The same with the aleatoric variance alone.
    #[serde(deserialize_with = "nan_as_null::f64")]
    pub coverage_aleatoric_1sigma: f64,
    #[serde(deserialize_with = "nan_as_null::f64")]
    pub coverage_aleatoric_2sigma: f64,
    /// Share of (curve, bin) with epistemic variance < aleatoric variance.
    #[serde(deserialize_with = "nan_as_null::f64")]
    pub epistemic_below_aleatoric: f64,
    /// Median and mean over (curve, bin) of |pred - true| / sd1, with sd1 the standard
    /// deviation of one realisation (the dataset's variance over realisations): the error on
    /// the scale of the noise a single simulation has. (Absent from models saved before.)
    #[serde(default = "nan", deserialize_with = "nan_as_null::f64")]
    pub err_over_sd1_median: f64,
    #[serde(default = "nan", deserialize_with = "nan_as_null::f64")]
    pub err_over_sd1_mean: f64,
    /// Median over (curve, bin) of the predicted aleatoric variance over the one-realisation
    /// variance (1 for a variance head on the one-realisation scale).
    #[serde(default = "nan", deserialize_with = "nan_as_null::f64")]
    pub aleatoric_over_var1_median: f64,
    /// Mean over (curve, bin) of the one-realisation variance over the predicted aleatoric
    /// one. The dataset's variance over R realisations scatters about the true one, so the
    /// median above is biased (for Gaussian curves and R = 4, a calibrated head gives a median
    /// of about 1.27); this mean is not, and is 1 for a calibrated head.
    #[serde(default = "nan", deserialize_with = "nan_as_null::f64")]
    pub var1_over_aleatoric_mean: f64,
    /// Share of (curve, bin) where one realisation of the point (the dataset's `single.npy`)
    /// lies within 1 and 2 sigma of the prediction, sigma from the total variance, and within
    /// 1 sigma of the aleatoric variance alone: for a model whose mean is the noise-free one
    /// and whose variance is that of one realisation, about 68%, 95% and 68% (where the
    /// realisations scatter like a Gaussian). NaN without single realisations.
    #[serde(default = "nan", deserialize_with = "nan_as_null::f64")]
    pub single_coverage_1sigma: f64,
    #[serde(default = "nan", deserialize_with = "nan_as_null::f64")]
    pub single_coverage_2sigma: f64,
    #[serde(default = "nan", deserialize_with = "nan_as_null::f64")]
    pub single_coverage_aleatoric_1sigma: f64,
}

fn nan() -> f64 {
    f64::NAN
}

/// Metrics of the three statistics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub n_curves: usize,
    pub mc_passes: usize,
    pub xi: StatMetrics,
    pub omega: StatMetrics,
    pub eta: StatMetrics,
}

impl Metrics {
    /// The statistics in array order.
    pub fn by_statistic(&self) -> [&StatMetrics; 3] {
        [&self.xi, &self.omega, &self.eta]
    }
}


fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// 3-bin running mean of a curve; the end bins average the two bins they have.
pub fn running_mean3(c: &[f64]) -> Vec<f64> {
    (0..c.len())
        .map(|i| {
            let lo = i.saturating_sub(1);
            let hi = (i + 2).min(c.len());
            c[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
        })
        .collect()
}

/// Pearson correlation of two curves; None when either does not vary.
pub fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let (ma, mb) = (mean(a), mean(b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    let r = sab / (saa * sbb).sqrt();
    r.is_finite().then_some(r)
}

/// Fractional error of one predicted curve against its truth (statistic index `s`).
pub fn fractional_error(s: usize, pred: &[f64], truth: &[f64]) -> Vec<f64> {
    let reference = if s == 0 {
        truth.to_vec()
    } else {
        running_mean3(truth)
    };
    pred.iter()
        .zip(truth)
        .zip(&reference)
        .map(|((p, t), r)| (p - t) / r)
        .collect()
}

fn stat_metrics(
    s: usize,
    pred: ArrayView2<f64>,
    ale: ArrayView2<f64>,
    epi: ArrayView2<f64>,
    truth: ArrayView2<f64>,
    var1: ArrayView2<f64>,
    single: Option<ArrayView2<f64>>,
) -> StatMetrics {
    let nb = truth.ncols();
    let mut pcc = Vec::new();
    let (mut err_sd1, mut ale_var1, mut var1_ale) = (Vec::new(), Vec::new(), Vec::new());
    let mut per_bin: Vec<Vec<f64>> = vec![Vec::new(); nb];
    let (mut n, mut c1, mut c2, mut a1, mut a2, mut eb) = (0usize, 0, 0, 0, 0, 0);
    let (mut n_single, mut s1, mut s2, mut sa1) = (0usize, 0, 0, 0);
    for i in 0..truth.nrows() {
        let t: Vec<f64> = truth.row(i).to_vec();
        let p: Vec<f64> = pred.row(i).to_vec();
        if t.iter().any(|x| !x.is_finite()) {
            continue;
        }
        if let Some(r) = pearson(&p, &t) {
            pcc.push(r);
        }
        for (b, e) in fractional_error(s, &p, &t).into_iter().enumerate() {
            if e.is_finite() {
                per_bin[b].push(e.abs());
            }
        }
        for b in 0..nb {
            let d = (p[b] - t[b]).abs();
            let (va, ve) = (ale[[i, b]], epi[[i, b]]);
            let total = (va + ve).sqrt();
            n += 1;
            c1 += (d <= total) as usize;
            c2 += (d <= 2.0 * total) as usize;
            a1 += (d <= va.sqrt()) as usize;
            a2 += (d <= 2.0 * va.sqrt()) as usize;
            eb += (ve < va) as usize;
            let v1 = var1[[i, b]];
            if v1.is_finite() && v1 > 0.0 {
                err_sd1.push(d / v1.sqrt());
                ale_var1.push(va / v1);
                var1_ale.push(v1 / va);
            }
            if let Some(y) = single.map(|s| s[[i, b]]).filter(|y| y.is_finite()) {
                let d = (p[b] - y).abs();
                n_single += 1;
                s1 += (d <= total) as usize;
                s2 += (d <= 2.0 * total) as usize;
                sa1 += (d <= va.sqrt()) as usize;
            }
        }
    }
    let share_of = |k: usize, n: usize| if n == 0 { f64::NAN } else { k as f64 / n as f64 };
    let share = |k: usize| share_of(k, n);
    let mut all: Vec<f64> = per_bin.iter().flatten().copied().collect();
    StatMetrics {
        pcc_mean: mean(&pcc),
        pcc_median: median(&mut pcc.clone()),
        frac_err_mean: mean(&all),
        frac_err_median: median(&mut all),
        frac_err_mean_per_bin: per_bin.iter().map(|v| mean(v)).collect(),
        frac_err_median_per_bin: per_bin.iter_mut().map(|v| median(v)).collect(),
        coverage_1sigma: share(c1),
        coverage_2sigma: share(c2),
        coverage_aleatoric_1sigma: share(a1),
        coverage_aleatoric_2sigma: share(a2),
        epistemic_below_aleatoric: share(eb),
        err_over_sd1_mean: mean(&err_sd1),
        err_over_sd1_median: median(&mut err_sd1),
        aleatoric_over_var1_median: median(&mut ale_var1),
        var1_over_aleatoric_mean: mean(&var1_ale),
        single_coverage_1sigma: share_of(s1, n_single),
        single_coverage_2sigma: share_of(s2, n_single),
        single_coverage_aleatoric_1sigma: share_of(sa1, n_single),
    }
}

/// Metrics of predictions against true curves (n x 3 x n_bins), with the one-realisation
/// variances `var1` (the same shape; bins where it is not positive and finite are left out of
/// the metrics on its scale) and, when given, one realisation's curves `single` (non-finite
/// bins left out); rows whose truth is not finite are skipped.
pub fn compute(
    pred: &Prediction,
    truth: &ndarray::Array3<f64>,
    var1: &ndarray::Array3<f64>,
    single: Option<&ndarray::Array3<f64>>,
) -> Metrics {
    let m = |s: usize| {
        stat_metrics(
            s,
            pred.mean.index_axis(Axis(1), s),
            pred.aleatoric_var.index_axis(Axis(1), s),
            pred.epistemic_var.index_axis(Axis(1), s),
            truth.index_axis(Axis(1), s),
            var1.index_axis(Axis(1), s),
            single.map(|a| a.index_axis(Axis(1), s)),
        )
    };
    Metrics {
        n_curves: truth
            .outer_iter()
            .filter(|c| c.iter().all(|x| x.is_finite()))
            .count(),
        mc_passes: pred.mc_passes,
        xi: m(0),
        omega: m(1),
        eta: m(2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    /// Predictions off by a known number of one-realisation deviations, with a known
    /// aleatoric variance, give those numbers back.
    #[test]
    fn errors_on_the_one_realisation_scale() {
        let (n, nb) = (5, 4);
        let truth = Array3::from_shape_fn((n, 3, nb), |(i, s, b)| 1.0 + (i + s * 7 + b * 3) as f64);
        let var1 = Array3::from_shape_fn((n, 3, nb), |(i, _, b)| 0.01 * (1 + i + b) as f64);
        // half a deviation below in one bin of each curve, one and a half above in the others
        let mean = Array3::from_shape_fn((n, 3, nb), |(i, s, b)| {
            let k = if b == 0 { -0.5 } else { 1.5 };
            truth[[i, s, b]] + k * var1[[i, s, b]].sqrt()
        });
        let pred = Prediction {
            mean,
            aleatoric_var: &var1 * 2.0,
            epistemic_var: Array3::zeros((n, 3, nb)),
            flags: vec![0; n],
            mc_passes: 1,
        };
        let mut var_missing = var1.clone();
        var_missing[[0, 0, 1]] = f64::NAN; // left out, not counted as zero or infinite
        for m in [compute(&pred, &truth, &var1, None), compute(&pred, &truth, &var_missing, None)] {
            for s in m.by_statistic() {
                assert!((s.err_over_sd1_median - 1.5).abs() < 1e-12, "{}", s.err_over_sd1_median);
                assert!((s.aleatoric_over_var1_median - 2.0).abs() < 1e-12);
                assert!((s.var1_over_aleatoric_mean - 0.5).abs() < 1e-12);
            }
            assert!((m.omega.err_over_sd1_mean - (0.5 + 3.0 * 1.5) / 4.0).abs() < 1e-12);
            // within sqrt(2) sd1: the bins off by half a deviation
            assert!((m.eta.coverage_aleatoric_1sigma - 0.25).abs() < 1e-12);
            assert!(m.xi.single_coverage_1sigma.is_nan(), "no single realisations given");
        }
    }

    /// Single realisations at known distances from the prediction, in units of its sigma,
    /// give the shares within 1 and 2 sigma; bins without one are left out.
    #[test]
    fn coverage_of_single_realisations() {
        let (n, nb) = (4, 5);
        let truth = Array3::from_shape_fn((n, 3, nb), |(i, s, b)| 2.0 + (i + s + b) as f64);
        let ale = Array3::from_elem((n, 3, nb), 0.04);
        let epi = Array3::from_elem((n, 3, nb), 0.05);
        // total sigma 0.3, aleatoric 0.2: offsets 0.1 (within both), 0.25 (within the total
        // only), 0.5 (within 2 total sigma only), 0.7 (outside)
        let offset = [0.1, -0.25, 0.5, -0.7, f64::NAN];
        let single = Array3::from_shape_fn((n, 3, nb), |(i, s, b)| truth[[i, s, b]] + offset[b]);
        let pred = Prediction {
            mean: truth.clone(),
            aleatoric_var: ale,
            epistemic_var: epi,
            flags: vec![0; n],
            mc_passes: 1,
        };
        let m = compute(&pred, &truth, &Array3::from_elem((n, 3, nb), 1.0), Some(&single));
        for s in m.by_statistic() {
            assert!((s.single_coverage_1sigma - 0.5).abs() < 1e-12, "{}", s.single_coverage_1sigma);
            assert!((s.single_coverage_2sigma - 0.75).abs() < 1e-12);
            assert!((s.single_coverage_aleatoric_1sigma - 0.25).abs() < 1e-12);
        }
    }
}
