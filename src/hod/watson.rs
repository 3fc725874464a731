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
