//! Linear-theory cosmology for the synthetic universe (docs/science.md section 8), at redshift 0:
//! the Eisenstein & Hu (1998) transfer function, sigma(M), the Tinker et al. (2008) halo mass
//! function, the Tinker et al. (2010) halo bias, the Bryan & Norman (1998) virial overdensity,
//! the Dutton & Maccio (2014) concentration-mass relation, and the linear correlation function.
//!
//! Units: k in h/Mpc, lengths in Mpc/h, masses in Msun/h, P(k) in (Mpc/h)^3.

use std::f64::consts::PI;

/// Critical density today in (Msun/h) / (Mpc/h)^3.
pub const RHO_CRIT: f64 = 2.775_366_27e11;
/// Spherical-collapse threshold used by the bias fit.
pub const DELTA_C: f64 = 1.686;
/// Newton's constant in Mpc (km/s)^2 / Msun (the h factors cancel in G M / R).
pub const G_NEWTON: f64 = 4.300_917e-9;
/// CMB temperature (K) for the Eisenstein-Hu fit.
const T_CMB: f64 = 2.7255;

/// A flat LambdaCDM cosmology. The default is the Planck-like set of docs/science.md section 8.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Cosmology {
    pub omega_m: f64,
    pub omega_b: f64,
    pub h: f64,
    pub n_s: f64,
    pub sigma8: f64,
}

impl Default for Cosmology {
    fn default() -> Self {
        Cosmology {
            omega_m: 0.307,
            omega_b: 0.048,
            h: 0.678,
            n_s: 0.96,
            sigma8: 0.823,
        }
    }
}

/// Tinker et al. (2008) Table 2: Delta (w.r.t. mean), A, a, b, c.
const TINKER08: [[f64; 5]; 9] = [
    [200.0, 0.186, 1.47, 2.57, 1.19],
    [300.0, 0.200, 1.52, 2.25, 1.27],
    [400.0, 0.212, 1.56, 2.05, 1.34],
    [600.0, 0.218, 1.61, 1.87, 1.45],
    [800.0, 0.248, 1.87, 1.59, 1.58],
    [1200.0, 0.255, 2.13, 1.51, 1.80],
    [1600.0, 0.260, 2.30, 1.46, 1.97],
    [2400.0, 0.260, 2.53, 1.44, 2.24],
    [3200.0, 0.260, 2.66, 1.41, 2.44],
];

/// Top-hat window in Fourier space, with its series near 0.
fn top_hat(x: f64) -> f64 {
    if x < 1e-3 {
        1.0 - x * x / 10.0
    } else {
        3.0 * (x.sin() - x * x.cos()) / (x * x * x)
    }
}

/// The linear power spectrum at z = 0 and what follows from it, with sigma(M) tabulated.
#[derive(Clone, Debug)]
pub struct LinearTheory {
    pub cosmo: Cosmology,
    amplitude: f64,
    /// ln M grid and ln sigma on it.
    ln_m: Vec<f64>,
    ln_sigma: Vec<f64>,
    /// Tinker 2008 (A, a, b, c) at the virial overdensity.
    tinker: [f64; 4],
    delta_vir: f64,
}

impl LinearTheory {
    /// Normalises P(k) to `sigma8` and tabulates sigma(M) from 1e6 to 1e17 Msun/h.
    pub fn new(cosmo: Cosmology) -> crate::Result<Self> {
        let ok = |v: f64, lo: f64, hi: f64| v.is_finite() && v > lo && v < hi;
        if !(ok(cosmo.omega_m, 0.05, 1.0)
            && ok(cosmo.omega_b, 0.0, cosmo.omega_m)
            && ok(cosmo.h, 0.3, 1.2)
            && ok(cosmo.n_s, 0.5, 1.5)
            && ok(cosmo.sigma8, 0.1, 2.0))
        {
            return Err(crate::Error::invalid(format!(
                "cosmology {cosmo:?} outside 0.05 < omega_m < 1, 0 < omega_b < omega_m, 0.3 < h < 1.2, \
                 0.5 < n_s < 1.5, 0.1 < sigma8 < 2"
            )));
        }
        let mut lt = LinearTheory {
            cosmo,
            amplitude: 1.0,
            ln_m: Vec::new(),
            ln_sigma: Vec::new(),
            tinker: [0.0; 4],
            delta_vir: delta_vir(cosmo.omega_m),
        };
        let s8 = lt.sigma_r(8.0);
        lt.amplitude = (cosmo.sigma8 / s8).powi(2);
        let n = 221;
        lt.ln_m = (0..n)
            .map(|i| (10f64.ln()) * (6.0 + 11.0 * i as f64 / (n - 1) as f64))
            .collect();
        lt.ln_sigma = lt
            .ln_m
            .iter()
            .map(|&lm| lt.sigma_r(lt.radius(lm.exp())).ln())
            .collect();
        let ld = lt.delta_vir.log10();
        let k = TINKER08
            .iter()
            .rposition(|row| row[0].log10() <= ld)
            .unwrap_or(0)
            .min(TINKER08.len() - 2);
        let (lo, hi) = (TINKER08[k], TINKER08[k + 1]);
        let t = ((ld - lo[0].log10()) / (hi[0].log10() - lo[0].log10())).clamp(0.0, 1.0);
        lt.tinker = std::array::from_fn(|j| lo[j + 1] + t * (hi[j + 1] - lo[j + 1]));
        Ok(lt)
    }

    /// Eisenstein & Hu (1998) transfer function without baryon oscillations (their eqs. 26-31).
    pub fn transfer(&self, k: f64) -> f64 {
        let c = &self.cosmo;
        let theta = T_CMB / 2.7;
        let om_h2 = c.omega_m * c.h * c.h;
        let ob_h2 = c.omega_b * c.h * c.h;
        let fb = c.omega_b / c.omega_m;
        let s = 44.5 * (9.83 / om_h2).ln() / (1.0 + 10.0 * ob_h2.powf(0.75)).sqrt(); // Mpc
        let alpha = 1.0 - 0.328 * (431.0 * om_h2).ln() * fb + 0.38 * (22.3 * om_h2).ln() * fb * fb;
        let k_mpc = k * c.h;
        let gamma = c.omega_m * c.h * (alpha + (1.0 - alpha) / (1.0 + (0.43 * k_mpc * s).powi(4)));
        let q = k * theta * theta / gamma;
        let l0 = (2.0 * std::f64::consts::E + 1.8 * q).ln();
        let c0 = 14.2 + 731.0 / (1.0 + 62.5 * q);
        l0 / (l0 + c0 * q * q)
    }

    /// Linear matter power spectrum P(k) at z = 0, (Mpc/h)^3.
    pub fn power(&self, k: f64) -> f64 {
        if k <= 0.0 {
            return 0.0;
        }
        let t = self.transfer(k);
        self.amplitude * k.powf(self.cosmo.n_s) * t * t
    }

    /// rms linear overdensity in top-hat spheres of radius `r` (Mpc/h).
    pub fn sigma_r(&self, r: f64) -> f64 {
        // In ln k over [1e-5, 1e3] h/Mpc.
        let integral = simpson((1e-5f64).ln(), (1e3f64).ln(), 4000, |lk| {
            let k = lk.exp();
            let w = top_hat(k * r);
            k * k * k * self.power(k) * w * w
        });
        (integral / (2.0 * PI * PI)).sqrt()
    }

    /// Mean matter density, (Msun/h) / (Mpc/h)^3.
    pub fn rho_m(&self) -> f64 {
        self.cosmo.omega_m * RHO_CRIT
    }

    /// Lagrangian radius of mass `m` (Mpc/h).
    pub fn radius(&self, m: f64) -> f64 {
        (3.0 * m / (4.0 * PI * self.rho_m())).cbrt()
    }

    /// sigma(M), interpolated from the table (log-log linear).
    pub fn sigma_m(&self, m: f64) -> f64 {
        let lm = m.ln();
        let (lo, step) = (self.ln_m[0], self.ln_m[1] - self.ln_m[0]);
        let t = ((lm - lo) / step).clamp(0.0, (self.ln_m.len() - 1) as f64 - 1e-9);
        let i = t as usize;
        let f = t - i as f64;
        (self.ln_sigma[i] * (1.0 - f) + self.ln_sigma[i + 1] * f).exp()
    }

    /// Virial overdensity with respect to the mean density (Bryan & Norman 1998).
    pub fn delta_vir(&self) -> f64 {
        self.delta_vir
    }

    /// Virial radius of a halo of virial mass `m` (Mpc/h).
    pub fn rvir(&self, m: f64) -> f64 {
        (3.0 * m / (4.0 * PI * self.delta_vir * self.rho_m())).cbrt()
    }

    /// Tinker et al. (2008) multiplicity f(sigma) at the virial overdensity.
    pub fn tinker_f(&self, sigma: f64) -> f64 {
        let [a_amp, a, b, c] = self.tinker;
        a_amp * ((sigma / b).powf(-a) + 1.0) * (-c / (sigma * sigma)).exp()
    }

    /// Halo mass function dn/dlnM, halos per (Mpc/h)^3 per e-fold of mass.
    pub fn dn_dlnm(&self, m: f64) -> f64 {
        let eps = 0.01;
        let dlns = (self.sigma_m(m * (1.0 + eps)).ln() - self.sigma_m(m / (1.0 + eps)).ln())
            / (2.0 * (1.0 + eps).ln());
        self.tinker_f(self.sigma_m(m)) * self.rho_m() / m * dlns.abs()
    }

    /// Halos per (Mpc/h)^3 with mass in [m1, m2] (Simpson in ln M).
    pub fn number_density(&self, m1: f64, m2: f64) -> f64 {
        let (a, b) = (m1.ln(), m2.ln());
        let n = (((b - a) / 0.01).ceil() as usize).max(2) & !1;
        simpson(a, b, n, |lm| self.dn_dlnm(lm.exp()))
    }

    /// Tinker et al. (2010) large-scale bias at the virial overdensity.
    pub fn bias(&self, m: f64) -> f64 {
        let y = self.delta_vir.log10();
        let nu = DELTA_C / self.sigma_m(m);
        let e = (-(4.0 / y).powi(4)).exp();
        let (big_a, a) = (1.0 + 0.24 * y * e, 0.44 * y - 0.88);
        let (big_b, b) = (0.183, 1.5);
        let (big_c, c) = (0.019 + 0.107 * y + 0.19 * e, 2.4);
        1.0 - big_a * nu.powf(a) / (nu.powf(a) + DELTA_C.powf(a))
            + big_b * nu.powf(b)
            + big_c * nu.powf(c)
    }

    /// Median virial concentration at z = 0, Dutton & Maccio (2014) eqs. 10-11.
    pub fn concentration(&self, m: f64) -> f64 {
        10f64.powf(1.025 - 0.097 * (m / 1e12).log10())
    }

    /// Linear correlation function xi(r) at z = 0, by direct integration of P(k) with a
    /// Gaussian damping at k = 10 h/Mpc (a 0.1 Mpc/h smoothing, negligible for r >~ 1 Mpc/h).
    pub fn xi_linear(&self, r: f64) -> f64 {
        let (k_max, dk) = (40.0, 2.5e-4);
        let n = (k_max / dk) as usize;
        let mut s = 0.0;
        for i in 1..=n {
            let k = i as f64 * dk;
            let kr = k * r;
            s += k * k * self.power(k) * (kr.sin() / kr) * (-(k / 10.0).powi(2)).exp();
        }
        s * dk / (2.0 * PI * PI)
    }
}

/// Simpson's rule: the integral of `f` over [a, b] with `n` (even) intervals.
pub(crate) fn simpson(a: f64, b: f64, n: usize, f: impl Fn(f64) -> f64) -> f64 {
    let h = (b - a) / n as f64;
    let mut s = f(a) + f(b);
    for i in 1..n {
        s += f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    s * h / 3.0
}

/// Bryan & Norman (1998) virial overdensity at z = 0 relative to the mean density, flat LCDM.
fn delta_vir(omega_m: f64) -> f64 {
    let x = omega_m - 1.0;
    (18.0 * PI * PI + 82.0 * x - 39.0 * x * x) / omega_m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigma8_and_known_values() {
        let lt = LinearTheory::new(Cosmology::default()).unwrap();
        assert!((lt.sigma_r(8.0) - 0.823).abs() < 1e-6);
        // Delta_vir for Omega_m = 0.307: 18 pi^2 - 82*0.693 - 39*0.693^2 = 102.1; / 0.307 = 332.6.
        assert!((lt.delta_vir() - 332.6).abs() < 0.5, "{}", lt.delta_vir());
        // T(k) -> 1 on large scales, falls on small ones.
        assert!((lt.transfer(1e-5) - 1.0).abs() < 1e-3);
        assert!(lt.transfer(1.0) < 0.05);
        // Bias rises with mass through ~1 near M* (sigma = delta_c).
        assert!(lt.bias(1e11) < 1.0 && lt.bias(1e14) > 1.5);
        // Tinker 2008 at Delta = 200 reduces to the table's first row.
        assert_eq!(TINKER08[0][1], 0.186);
    }
}
