//! Pair sums of random NFW positions, for the 1-halo sums of [`super::Table`]
//! (docs/science.md section 11). A satellite slot beyond a host's subhalos takes an NFW
//! position (radius from the profile of concentration c, clipped to [2, 20], inside rvir;
//! isotropic direction; its axis radial). Its pairs with the central follow from the enclosed
//! mass. Two such slots are independent: the share of their pairs closer than s rvir, and the
//! sums of the marks g and h over them, are a double integral over the two radii with the
//! angle between them integrated in closed form; they are computed once on a grid of
//! concentrations and separations and interpolated (cubic in ln c and ln s).

use crate::halos::nfw::nfw_mass;

/// Concentrations are clipped to this range, as where satellites are placed.
pub const C_MIN: f64 = 2.0;
pub const C_MAX: f64 = 20.0;
const N_C: usize = 33;
/// Separations in units of rvir: log grid from S_MIN to S_MAX (all pairs lie below 2).
const S_MIN: f64 = 1e-4;
const S_MAX: f64 = 2.0;
const N_S: usize = 257;

/// The cumulative pair sums of two random NFW positions, tabulated.
pub struct NfwPairs {
    /// `[c node][s node]`: (share of ordered pairs closer than s, their sum of g_ij, of h_ij).
    cumulative: Vec<[f64; 3]>,
    /// The totals over all pairs (g's; the share is 1 and h's is 0).
    g_total: Vec<f64>,
}

fn ln_c_node(k: usize) -> f64 {
    C_MIN.ln() + (C_MAX / C_MIN).ln() * k as f64 / (N_C - 1) as f64
}

fn ln_s_node(k: usize) -> f64 {
    S_MIN.ln() + (S_MAX / S_MIN).ln() * k as f64 / (N_S - 1) as f64
}

/// Radius density of an NFW halo truncated at rvir, in units of rvir: c^2 s / (1 + c s)^2 / g(c).
fn density(c: f64, s: f64) -> f64 {
    c * c * s / ((1.0 + c * s) * (1.0 + c * s) * nfw_mass(c))
}

/// Share of an NFW halo's mass (concentration c, clipped) inside s rvir.
pub fn enclosed(c: f64, s: f64) -> f64 {
    let c = c.clamp(C_MIN, C_MAX);
    if s <= 0.0 {
        0.0
    } else {
        nfw_mass(c * s.min(1.0)) / nfw_mass(c)
    }
}

/// For points at radii r1 and r2 with an isotropic angle between them (cos uniform on
/// [-1, 1]): the probability that they are closer than `s`, and the means of
/// `g = (rhat_1 . rhat_12)^2 - 1/3` (point 1's radial axis against the direction to point 2)
/// and `h = (rhat_1 . rhat_2)^2 - 1/3` over that event.
pub(crate) fn angle_kernel(r1: f64, r2: f64, s: f64) -> [f64; 3] {
    let (a, b) = (r1 * r1 + r2 * r2, 2.0 * r1 * r2);
    if b <= 0.0 {
        let inside = (r1.max(r2) <= s) as u8 as f64;
        return if r1 < r2 { [inside, 0.0, 0.0] } else { [inside, 2.0 / 3.0 * inside, 0.0] };
    }
    let c0 = ((a - s * s) / b).clamp(-1.0, 1.0);
    if c0 >= 1.0 {
        return [0.0; 3];
    }
    let k0 = 0.5 * (1.0 - c0);
    let kh = (c0 - c0 * c0 * c0) / 6.0;
    let kg = if b > 1e-3 * a {
        // (1/2) int_c0^1 (r2 c - r1)^2 / (a - b c) dc - k0 / 3, with y = a - b c:
        // (r2^2 / b^3) [d^2 ln y - 2 d y + y^2 / 2] from y1 = (r1 - r2)^2 to y0 = a - b c0.
        let d = r2 * r2 - r1 * r1;
        let prim = |y: f64| {
            let log_term = if d == 0.0 || y <= 0.0 { 0.0 } else { d * d * y.ln() };
            log_term - 2.0 * d * y + 0.5 * y * y
        };
        let (y0, y1) = (a - b * c0, (r1 - r2) * (r1 - r2));
        0.5 * r2 * r2 / (b * b * b) * (prim(y0) - prim(y1)) - k0 / 3.0
    } else if r1 < r2 {
        // Point 1 near the centre: the direction to point 2 is point 2's radial direction.
        kh
    } else {
        // Point 2 near the centre: the direction to it is minus point 1's radial direction.
        2.0 / 3.0 * k0
    };
    [k0, kg, kh]
}

/// 16-point Gauss-Legendre on [lo, hi]: nodes and weights.
fn gauss(lo: f64, hi: f64) -> impl Iterator<Item = (f64, f64)> {
    let (mid, half) = (0.5 * (lo + hi), 0.5 * (hi - lo));
    crate::hod::watson::GAUSS_LEGENDRE_16.iter().flat_map(move |&(x, w)| {
        [(mid - half * x, w * half), (mid + half * x, w * half)]
    })
}

/// The panels [0, 1] splits into at `breaks` (kinks of the integrand).
fn panels(breaks: &[f64]) -> Vec<(f64, f64)> {
    let mut b: Vec<f64> = breaks.iter().copied().filter(|&x| x > 0.0 && x < 1.0).collect();
    b.push(0.0);
    b.push(1.0);
    b.sort_by(f64::total_cmp);
    b.dedup();
    b.windows(2).map(|w| (w[0], w[1])).filter(|(a, b)| b - a > 1e-14).collect()
}

/// The cumulative sums at concentration c and separation s by quadrature.
fn integrate(c: f64, s: f64) -> [f64; 3] {
    let scale = [0.5 / c, 2.0 / c];
    let mut out = [0.0; 3];
    for (lo1, hi1) in panels(&[s, 1.0 - s, scale[0], scale[1]]) {
        for (r1, w1) in gauss(lo1, hi1) {
            let p1 = w1 * density(c, r1);
            for (lo2, hi2) in panels(&[(r1 - s).abs(), r1 + s, scale[0], scale[1]]) {
                for (r2, w2) in gauss(lo2, hi2) {
                    let k = angle_kernel(r1, r2, s);
                    let w = p1 * w2 * density(c, r2);
                    for (o, v) in out.iter_mut().zip(k) {
                        *o += w * v;
                    }
                }
            }
        }
    }
    out
}

/// Catmull-Rom weights of the four nodes around a point at fraction t past node 1.
fn cubic_weights(t: f64) -> [f64; 4] {
    let (t2, t3) = (t * t, t * t * t);
    [
        0.5 * (-t3 + 2.0 * t2 - t),
        0.5 * (3.0 * t3 - 5.0 * t2 + 2.0),
        0.5 * (-3.0 * t3 + 4.0 * t2 + t),
        0.5 * (t3 - t2),
    ]
}

/// The four nodes (clamped to the grid) and weights around `x` on a grid of `n` nodes whose
/// node k sits at `x0 + k dx`.
fn stencil(x: f64, x0: f64, dx: f64, n: usize) -> ([usize; 4], [f64; 4]) {
    let f = ((x - x0) / dx).clamp(0.0, (n - 1) as f64);
    let k = (f.floor() as usize).min(n - 2);
    let w = cubic_weights(f - k as f64);
    let idx = [k as i64 - 1, k as i64, k as i64 + 1, k as i64 + 2].map(|i| i.clamp(0, n as i64 - 1) as usize);
    (idx, w)
}

impl NfwPairs {
    /// Tabulates the grid (about 0.2 s on one core; parallel over concentrations).
    pub fn new() -> NfwPairs {
        use rayon::prelude::*;
        let rows: Vec<(Vec<[f64; 3]>, f64)> = (0..N_C)
            .into_par_iter()
            .map(|kc| {
                let c = ln_c_node(kc).exp();
                let row = (0..N_S).map(|ks| integrate(c, ln_s_node(ks).exp())).collect();
                (row, integrate(c, S_MAX)[1])
            })
            .collect();
        NfwPairs {
            cumulative: rows.iter().flat_map(|r| r.0.iter().copied()).collect(),
            g_total: rows.iter().map(|r| r.1).collect(),
        }
    }

    /// Of two independent NFW positions in a halo of concentration `c` (clipped): the share of
    /// ordered pairs closer than `s` rvir, and the sums of g and h over them.
    pub fn cumulative(&self, c: f64, s: f64) -> [f64; 3] {
        let ln_c = c.clamp(C_MIN, C_MAX).ln();
        let (ci, cw) = stencil(ln_c, ln_c_node(0), ln_c_node(1) - ln_c_node(0), N_C);
        if s >= S_MAX {
            let g: f64 = ci.iter().zip(cw).map(|(&k, w)| w * self.g_total[k]).sum();
            return [1.0, g, 0.0];
        }
        if s <= S_MIN {
            return [0.0; 3];
        }
        let (si, sw) = stencil(s.ln(), ln_s_node(0), ln_s_node(1) - ln_s_node(0), N_S);
        let mut out = [0.0; 3];
        for (&kc, wc) in ci.iter().zip(cw) {
            for (&ks, ws) in si.iter().zip(sw) {
                let v = self.cumulative[kc * N_S + ks];
                for (o, x) in out.iter_mut().zip(v) {
                    *o += wc * ws * x;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Independent NFW pairs drawn the way satellites are placed, against the table.
    #[test]
    fn table_matches_drawn_pairs() {
        let table = NfwPairs::new();
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for c in [2.0, 5.5, 13.0] {
            let n = 400_000;
            let edges = [0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1.5];
            let mut sums = vec![[0.0f64; 3]; edges.len() - 1];
            for _ in 0..n {
                let p: Vec<[f64; 3]> = (0..2)
                    .map(|_| {
                        let s = crate::halos::nfw::nfw_radius(c, r.random());
                        crate::random::unit_vector(&mut r).map(|x| x * s)
                    })
                    .collect();
                let d: [f64; 3] = std::array::from_fn(|k| p[1][k] - p[0][k]);
                let dist = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                let norm = |v: [f64; 3]| (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
                let e0 = p[0].map(|x| x / norm(p[0]));
                let e1 = p[1].map(|x| x / norm(p[1]));
                let g = (e0[0] * d[0] + e0[1] * d[1] + e0[2] * d[2]).powi(2) / (dist * dist) - 1.0 / 3.0;
                let h = (e0[0] * e1[0] + e0[1] * e1[1] + e0[2] * e1[2]).powi(2) - 1.0 / 3.0;
                if let Some(b) = edges.windows(2).position(|w| dist > w[0] && dist <= w[1]) {
                    sums[b][0] += 1.0 / n as f64;
                    sums[b][1] += g / n as f64;
                    sums[b][2] += h / n as f64;
                }
            }
            for (b, w) in edges.windows(2).enumerate() {
                let (hi, lo) = (table.cumulative(c, w[1]), table.cumulative(c, w[0]));
                for m in 0..3 {
                    let want = hi[m] - lo[m];
                    // Binomial-like error of the drawn sums: sqrt(share / n), marks at most 1.
                    let err = (sums[b][0] / n as f64).sqrt();
                    assert!(
                        (sums[b][m] - want).abs() < 5.0 * err + 1e-6,
                        "c {c} bin {b} mark {m}: drawn {} table {want} (error {err})",
                        sums[b][m]
                    );
                }
            }
        }
    }

    #[test]
    fn shares_add_up_and_are_smooth_in_c() {
        let table = NfwPairs::new();
        for c in [2.0, 3.3, 7.0, 20.0] {
            let all = integrate(c, 2.5);
            assert!((all[0] - 1.0).abs() < 1e-9, "c {c}: total share {}", all[0]);
            assert!(all[2].abs() < 1e-9, "c {c}: h averages to zero over all angles, got {}", all[2]);
        }
        // Interpolation between nodes against direct quadrature.
        for (c, s) in [(2.7, 0.03), (9.1, 0.31), (17.0, 0.9), (4.4, 1.3)] {
            let (t, q) = (table.cumulative(c, s), integrate(c, s));
            for m in 0..3 {
                assert!((t[m] - q[m]).abs() < 2e-5 * q[0].max(1e-3), "c {c} s {s} mark {m}: {} vs {}", t[m], q[m]);
            }
        }
    }
}
