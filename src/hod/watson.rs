//! The Dimroth-Watson distribution of docs/science.md section 4: the cosine t between a galaxy's
//! axis and a reference axis has density `exp(-kappa t^2) / Z(kappa)` on [-1, 1], azimuth
//! uniform, with `kappa = -tan(pi mu / 2)`.
//!
//! The sampler is exact (rejection from envelopes that bound the density, no approximations)
//! and stable for every mu in [-1, 1], both ends included:
//! - mu = 0: t uniform;
//! - mu < 0 (kappa > 0, a girdle around the plane perpendicular to the axis): for kappa < 1,
//!   uniform proposals accepted with probability exp(-kappa u^2) (at least e^-1); for
//!   kappa >= 1, half-normal proposals of variance 1/(2 kappa), rejected beyond 1 (acceptance
//!   at least erf(1) = 0.84); mu = -1 gives t = 0 exactly;
//! - mu > 0 (kappa = -lambda < 0, piled up at t = +-1): v = 1 - |t| has density proportional to
//!   exp(-lambda v (2 - v)) <= exp(-lambda v); proposals from the exponential truncated to
//!   [0, 1] are accepted with probability exp(-lambda v (1 - v)) (at least about one half);
//!   mu = 1 gives t = +-1 exactly.

use rand::Rng;
use rand_distr::StandardNormal;

use crate::random::{norm, unit_vector};

/// A sampler of the Watson distribution for one alignment strength mu.
#[derive(Clone, Copy, Debug)]
pub struct Watson {
    mu: f64,
    kappa: f64,
}

impl Watson {
    /// The sampler for strength `mu` in [-1, 1] (checked by the caller: see
    /// [`super::HodParams::validate`]).
    pub fn new(mu: f64) -> Self {
        Watson {
            mu,
            kappa: kappa(mu),
        }
    }

    /// A cosine t in [-1, 1].
    pub fn sample_cos(&self, r: &mut impl Rng) -> f64 {
        let sign = if r.random::<bool>() { 1.0 } else { -1.0 };
        sign * self.sample_abs_cos(r)
    }

    fn sample_abs_cos(&self, r: &mut impl Rng) -> f64 {
        if self.mu == 0.0 {
            return r.random::<f64>();
        }
        if self.mu >= 1.0 {
            return 1.0;
        }
        if self.mu <= -1.0 {
            return 0.0;
        }
        let k = self.kappa;
        if k > 0.0 {
            if k < 1.0 {
                loop {
                    let u: f64 = r.random();
                    if r.random::<f64>() < (-k * u * u).exp() {
                        return u;
                    }
                }
            }
            let sigma = (0.5 / k).sqrt();
            loop {
                let u = (sigma * r.sample::<f64, _>(StandardNormal)).abs();
                if u <= 1.0 {
                    return u;
                }
            }
        }
        let lambda = -k;
        // Exponential of rate lambda truncated to [0, 1], by inversion:
        // v = -ln(1 - U (1 - e^-lambda)) / lambda.
        let span = -(-lambda).exp_m1();
        loop {
            let v = -(-r.random::<f64>() * span).ln_1p() / lambda;
            if r.random::<f64>() < (-lambda * v * (1.0 - v)).exp() {
                return 1.0 - v;
            }
        }
    }

    /// A unit axis whose cosine with the unit `reference` follows the distribution.
    pub fn sample_axis(&self, reference: [f64; 3], r: &mut impl Rng) -> [f64; 3] {
        let t = self.sample_cos(r);
        let s = (1.0 - t * t).max(0.0).sqrt();
        let phi = 2.0 * std::f64::consts::PI * r.random::<f64>();
        let (a, b) = perpendicular_basis(reference);
        std::array::from_fn(|i| t * reference[i] + s * (phi.cos() * a[i] + phi.sin() * b[i]))
    }
}

/// kappa = -tan(pi mu / 2); infinite at mu = +-1.
pub fn kappa(mu: f64) -> f64 {
    if mu >= 1.0 {
        f64::NEG_INFINITY
    } else if mu <= -1.0 {
        f64::INFINITY
    } else {
        -(std::f64::consts::FRAC_PI_2 * mu).tan()
    }
}

/// The Watson order parameter `S(mu) = (3 <t^2> - 1) / 2` and its derivative `dS/dmu`
/// (docs/science.md section 10): for a draw e around the unit axis a,
/// `E[e e^T] = (1 - S)/3 I + S a a^T`, so orientation averages of omega and eta need only S.
/// S(1) = 1, S(0) = 0, S(-1) = -1/2; the derivative is finite at both ends (3 pi / 4 at
/// mu = 1, 3 pi / 8 at mu = -1). Accurate to a few units of 1e-15 for every mu in [-1, 1]
/// (`mu` checked by the caller).
pub fn order_parameter(mu: f64) -> (f64, f64) {
    use std::f64::consts::PI;
    if mu >= 1.0 {
        return (1.0, 0.75 * PI);
    }
    if mu <= -1.0 {
        return (-0.5, 0.375 * PI);
    }
    let k = kappa(mu);
    // dS/dmu = 3/2 var(t^2) * d(-kappa)/dmu, with dkappa/dmu = -(pi/2)(1 + kappa^2).
    let (mean_t2, var_t2) = t2_moments(k);
    (1.5 * mean_t2 - 0.5, 1.5 * var_t2 * 0.5 * PI * (1.0 + k * k))
}

/// Mean and variance of t^2 under the density `exp(-kappa t^2)` on [0, 1]: closed forms with
/// erf for kappa > 1, a convergent expansion in u = 1 - t^2 for kappa < -64 (mass piled at
/// t = 1, where the variance is far below the mean's rounding), 16-point Gauss-Legendre on
/// panels that halve towards t = 1 in between.
fn t2_moments(kappa: f64) -> (f64, f64) {
    if kappa > 1.0 {
        // J_n = int_0^a s^n exp(-s^2) ds with a = sqrt(kappa); <t^n> = J_n / (kappa^(n/2) J_0).
        let a = kappa.sqrt();
        let e = (-kappa).exp();
        let j0 = 0.5 * std::f64::consts::PI.sqrt() * libm::erf(a);
        let j2 = 0.5 * j0 - 0.5 * a * e;
        let j4 = 1.5 * j2 - 0.5 * a * kappa * e;
        let (m2, m4) = (j2 / (kappa * j0), j4 / (kappa * kappa * j0));
        return (m2, m4 - m2 * m2);
    }
    if kappa < -64.0 {
        // u = 1 - t^2 has density (1 - u)^(-1/2) exp(-lambda u) on [0, 1]; expanding
        // (1 - u)^(-1/2) = sum_k c_k u^k, B_m = int u^m ... = sum_k c_k (m + k)! / lambda^(m+k+1)
        // (the tail beyond u = 1 is below exp(-64)).
        let lambda = -kappa;
        let mut b = [0.0f64; 3];
        for (m, bm) in b.iter_mut().enumerate() {
            // term_k = c_k (m + k)! / lambda^(m + k + 1); c_{k+1} = c_k (2k + 1) / (2k + 2).
            let mut term = (1..=m).map(|i| i as f64).product::<f64>() / lambda.powi(m as i32 + 1);
            for k in 0..60 {
                *bm += term;
                term *= (2 * k + 1) as f64 / (2 * k + 2) as f64 * (m + k + 1) as f64 / lambda;
                if term < 1e-18 * *bm {
                    break;
                }
            }
        }
        let mean_u = b[1] / b[0];
        return (1.0 - mean_u, (b[2] * b[0] - b[1] * b[1]) / (b[0] * b[0]));
    }
    let shift = (-kappa).max(0.0);
    let (mut i0, mut i2, mut i4) = (0.0, 0.0, 0.0);
    let mut lo = 0.0;
    for panel in 1..=9 {
        let hi = if panel == 9 { 1.0 } else { 1.0 - 0.5f64.powi(panel) };
        let (mid, half) = (0.5 * (hi + lo), 0.5 * (hi - lo));
        for (x, w) in GAUSS_LEGENDRE_16.iter() {
            for sign in [-1.0, 1.0] {
                let t = mid + sign * half * x;
                let f = w * half * (-kappa * t * t - shift).exp();
                let t2 = t * t;
                i0 += f;
                i2 += f * t2;
                i4 += f * t2 * t2;
            }
        }
        lo = hi;
    }
    let (m2, m4) = (i2 / i0, i4 / i0);
    (m2, m4 - m2 * m2)
}

/// Nodes (positive half) and weights of 16-point Gauss-Legendre quadrature on [-1, 1].
pub(crate) const GAUSS_LEGENDRE_16: [(f64, f64); 8] = [
    (0.0950125098376374401853193, 0.1894506104550684962853967),
    (0.2816035507792589132304605, 0.1826034150449235888667637),
    (0.4580167776572273863424194, 0.1691565193950025381893121),
    (0.6178762444026437484466718, 0.1495959888165767320815017),
    (0.7554044083550030338951012, 0.1246289712555338720524763),
    (0.8656312023878317438804679, 0.0951585116824927848099251),
    (0.9445750230732325760779884, 0.0622535239386478928628438),
    (0.9894009349916499325961542, 0.0271524594117540948517806),
];

/// Two unit vectors completing the unit `e` to an orthonormal basis.
fn perpendicular_basis(e: [f64; 3]) -> ([f64; 3], [f64; 3]) {
    // Cross with the coordinate axis least aligned with e.
    let k = (0..3)
        .min_by(|&i, &j| e[i].abs().total_cmp(&e[j].abs()))
        .expect("three");
    let mut helper = [0.0; 3];
    helper[k] = 1.0;
    let cross = |u: [f64; 3], v: [f64; 3]| {
        [
            u[1] * v[2] - u[2] * v[1],
            u[2] * v[0] - u[0] * v[2],
            u[0] * v[1] - u[1] * v[0],
        ]
    };
    let a = cross(e, helper);
    let na = norm(a);
    let a = a.map(|x| x / na);
    (a, cross(e, a))
}

/// The unit vector along `v`, or a random one when `v` is zero or not finite.
pub(crate) fn unit_or_random(v: [f64; 3], r: &mut impl Rng) -> [f64; 3] {
    let n = norm(v);
    if n > 0.0 && n.is_finite() {
        v.map(|x| x / n)
    } else {
        unit_vector(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basis_is_orthonormal() {
        for e in [
            [1.0, 0.0, 0.0],
            [0.0, 0.0, -1.0],
            [0.6, 0.0, 0.8],
            [0.48, 0.6, 0.64],
        ] {
            let (a, b) = perpendicular_basis(e);
            let dot = |u: [f64; 3], v: [f64; 3]| u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
            for (u, v) in [(a, e), (b, e), (a, b)] {
                assert!(dot(u, v).abs() < 1e-15);
            }
            assert!((norm(a) - 1.0).abs() < 1e-15 && (norm(b) - 1.0).abs() < 1e-15);
        }
    }
}
