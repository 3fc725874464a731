//! Transforms between physical units and the network's standardised units (docs/science.md
//! section 10): parameters standardised per feature, targets per (statistic, bin), with
//! log(xi) as an option. Statistics from the training rows only.

use ndarray::{Array2, Array3, Axis};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use crate::hod::PARAM_NAMES;

/// Means and standard deviations, stored in every model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Per parameter, in [`PARAM_NAMES`] order.
    pub x_mean: Vec<f64>,
    pub x_std: Vec<f64>,
    /// Per (statistic, bin), row-major 3 x n_bins, of the learnt quantity (log(xi) for xi when
    /// `log_xi`).
    pub y_mean: Vec<f64>,
    pub y_std: Vec<f64>,
    pub log_xi: bool,
}

/// Mean and standard deviation of finite values; 1 where there are fewer than two or they do
/// not vary, so a constant feature passes through unscaled.
fn mean_std(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (0.0, 1.0);
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len().max(2) - 1) as f64;
    let s = var.sqrt();
    (m, if v.len() < 2 || !(s > 1e-300) { 1.0 } else { s })
}

impl Normalization {
    /// From training rows: `params` n x 7, `targets` n x 3 x n_bins in physical units.
    pub fn fit(params: &Array2<f64>, targets: &Array3<f64>, log_xi: bool) -> Normalization {
        let (x_mean, x_std) = params
            .axis_iter(Axis(1))
            .map(|c| mean_std(c.iter().copied()))
            .unzip();
        let learnt = learnt_targets(targets, log_xi);
        let nb = targets.shape()[2];
        let (y_mean, y_std) = (0..3 * nb)
            .map(|j| mean_std(learnt.index_axis(Axis(1), j / nb).index_axis(Axis(1), j % nb).iter().copied()))
            .unzip();
        Normalization {
            x_mean,
            x_std,
            y_mean,
            y_std,
            log_xi,
        }
    }

    pub fn n_bins(&self) -> usize {
        self.y_mean.len() / 3
    }

    fn vec_tensor(v: &[f64], shape: &[i64], device: Device) -> Tensor {
        Tensor::from_slice(&v.iter().map(|&x| x as f32).collect::<Vec<f32>>())
            .view(shape)
            .to_device(device)
    }

    /// Physical parameters (n x 7 tensor) to standardised ones; differentiable.
    pub(crate) fn standardise_params(&self, x: &Tensor) -> Tensor {
        let d = x.device();
        let shape = [1, PARAM_NAMES.len() as i64];
        (x - Self::vec_tensor(&self.x_mean, &shape, d)) / Self::vec_tensor(&self.x_std, &shape, d)
    }

    /// Physical targets (n x 3 x n_bins) to standardised ones and a mask (1 where the value is
    /// usable: finite, and xi > 0 when learning log(xi)), as float32 tensors.
    pub(crate) fn standardise_targets(&self, targets: &Array3<f64>, device: Device) -> (Tensor, Tensor) {
        let learnt = learnt_targets(targets, self.log_xi);
        let nb = self.n_bins();
        let z = learnt.iter().enumerate().map(|(i, &y)| {
            let j = i % (3 * nb);
            y.is_finite().then(|| (y - self.y_mean[j]) / self.y_std[j])
        });
        masked_tensors(z, 0.0, nb, device)
    }

    /// Physical variances (n x 3 x n_bins) of quantities whose means are `targets` to the
    /// standardised units of the learnt quantity, and a mask (1 where usable: finite and > 0,
    /// with xi > 0 for log(xi)). For log(xi), var(log xi) = var(xi) / xi^2 (the delta method,
    /// as [`Normalization::to_physical`] inverts it).
    pub(crate) fn standardise_variances(&self, var: &Array3<f64>, targets: &Array3<f64>, device: Device) -> (Tensor, Tensor) {
        let nb = self.n_bins();
        let v = var.iter().zip(targets.iter()).enumerate().map(|(i, (&s2, &t))| {
            let j = i % (3 * nb);
            let learnt = if self.log_xi && j < nb { if t > 0.0 { s2 / (t * t) } else { f64::NAN } } else { s2 };
            let z = learnt / (self.y_std[j] * self.y_std[j]);
            (z.is_finite() && z > 0.0).then_some(z)
        });
        masked_tensors(v, 1.0, nb, device)
    }

    /// Standardised (mean, variance) tensors (n x 3 x n_bins) to physical units. For log(xi),
    /// xi = exp(y) and var(xi) = xi^2 var(y) (the delta method); differentiable.
    pub(crate) fn to_physical(&self, mean: &Tensor, var: &Tensor) -> (Tensor, Tensor) {
        let (d, kind) = (mean.device(), mean.kind());
        let nb = self.n_bins() as i64;
        let m = Self::vec_tensor(&self.y_mean, &[1, 3, nb], d);
        let s = Self::vec_tensor(&self.y_std, &[1, 3, nb], d);
        let y = mean * &s + m;
        let vy = var * (&s * &s);
        if !self.log_xi {
            return (y, vy);
        }
        let xi = y.select(1, 0).exp();
        let var_xi = vy.select(1, 0) * (&xi * &xi);
        let mean = Tensor::cat(&[xi.unsqueeze(1), y.narrow(1, 1, 2)], 1);
        let var = Tensor::cat(&[var_xi.unsqueeze(1), vy.narrow(1, 1, 2)], 1);
        (mean.to_kind(kind), var.to_kind(kind))
    }
}

/// Values (None where unusable) to float32 tensors of shape n x 3 x `nb`: the values, with
/// `fill` where unusable, and the mask (1 where usable).
fn masked_tensors(values: impl Iterator<Item = Option<f64>>, fill: f32, nb: usize, device: Device) -> (Tensor, Tensor) {
    let (z, mask): (Vec<f32>, Vec<f32>) = values.map(|v| v.map_or((fill, 0.0), |v| (v as f32, 1.0))).unzip();
    let shape = [-1, 3, nb as i64];
    (
        Tensor::from_slice(&z).view(shape).to_device(device),
        Tensor::from_slice(&mask).view(shape).to_device(device),
    )
}

/// The quantity learnt per (statistic, bin): the target, or log(xi) for xi (NaN where xi <= 0).
fn learnt_targets(targets: &Array3<f64>, log_xi: bool) -> Array3<f64> {
    let mut t = targets.clone();
    if log_xi {
        t.index_axis_mut(Axis(1), 0)
            .mapv_inplace(|x| if x > 0.0 { x.ln() } else { f64::NAN });
    }
    t
}
