//! Occupation weights of a model point and their derivatives in the seven parameters: the mean
//! central number, the Poisson satellite number and what the tables need of it (docs/science.md
//! section 11), computed once as plain numbers ([`f64`]) or with their gradient ([`Dual`]).

use std::ops::{Add, AddAssign, Div, Mul, Sub};

use crate::hod::{watson, HodParams};

/// The seven parameters (docs/science.md section 2).
pub const N_PARAMS: usize = 7;

/// A number the evaluation computes with: a plain value, or a value with its gradient.
pub trait Num:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Mul<f64, Output = Self>
    + AddAssign
{
    fn constant(v: f64) -> Self;
    /// Parameter number `k` of the seven, of value `v`.
    fn parameter(v: f64, k: usize) -> Self;
    fn value(&self) -> f64;
    /// `f(self)`, given `f` and `f'` at `self.value()`.
    fn chain(self, f: f64, df: f64) -> Self;
    /// The gradient in the seven parameters (zeros for plain numbers).
    fn gradient(&self) -> [f64; N_PARAMS];
    /// Zero, with a zero gradient.
    fn is_zero(&self) -> bool;
    /// The seven sums `sum_j weight_m[j] * rows[m][j]` of a 2-halo row (kept in f32), the
    /// weights of mark m being `weights[MARK_WEIGHT[m]]` (w, beta, sw), given also their plain
    /// values (`values[k][j] == weights[k][j].value()`): the values are [`dots_kernel`]'s for
    /// every implementation, so they do not depend on whether gradients are carried.
    fn dots(weights: [&[Self]; 3], values: [&[f64]; 3], rows: [&[f32]; ROW_MARKS]) -> [Self; ROW_MARKS];
}

/// Lanes of [`dots_kernel`]: independent partial sums the compiler keeps in vector registers.
/// Lane l sums the terms j = l mod 8 in order, so the result is the same whatever the vector
/// width.
const LANES: usize = 8;

/// Marks of a 2-halo row that [`Num::dots`] weighs: the first four by the weights `w`, the
/// fifth by `beta`, the last two by `sw` (see `Table::add_two_halo`).
pub const ROW_MARKS: usize = 7;
/// Which of the three weight vectors (w, beta, sw) each mark takes.
const MARK_WEIGHT: [usize; ROW_MARKS] = [0, 0, 0, 0, 1, 2, 2];

/// The seven dot products of a row's marks with their weights in one pass over the row: per
/// mark, lanes of j mod 8 summed in order, then the lanes in order, then the tail.
#[inline(always)]
fn dots_lanes(weights: [&[f64]; 3], rows: [&[f32]; ROW_MARKS]) -> [f64; ROW_MARKS] {
    let n = rows.iter().map(|r| r.len()).chain(weights.iter().map(|w| w.len())).min().unwrap_or(0);
    let split = n - n % LANES;
    let w: [&[[f64; LANES]]; 3] = weights.map(|w| w[..split].as_chunks::<LANES>().0);
    let t: [&[[f32; LANES]]; ROW_MARKS] = rows.map(|r| r[..split].as_chunks::<LANES>().0);
    let [w, beta, sw] = w;
    let [t0, t1, t2, t3, t4, t5, t6] = t;
    #[inline(always)]
    fn add(lanes: [f64; LANES], w: &[f64; LANES], t: &[f32; LANES]) -> [f64; LANES] {
        std::array::from_fn(|l| lanes[l] + w[l] * t[l] as f64)
    }
    let (mut l0, mut l1, mut l2, mut l3, mut l4, mut l5, mut l6) = Default::default();
    for c in 0..split / LANES {
        l0 = add(l0, &w[c], &t0[c]);
        l1 = add(l1, &w[c], &t1[c]);
        l2 = add(l2, &w[c], &t2[c]);
        l3 = add(l3, &w[c], &t3[c]);
        l4 = add(l4, &beta[c], &t4[c]);
        l5 = add(l5, &sw[c], &t5[c]);
        l6 = add(l6, &sw[c], &t6[c]);
    }
    let lanes = [l0, l1, l2, l3, l4, l5, l6];
    std::array::from_fn(|m| {
        let (mut sum, mut tail) = (0.0, 0.0);
        for l in lanes[m] {
            sum += l;
        }
        for (&w, &t) in weights[MARK_WEIGHT[m]][split..n].iter().zip(&rows[m][split..n]) {
            tail += w * t as f64;
        }
        sum + tail
    })
}

type DotsFn = fn([&[f64]; 3], [&[f32]; ROW_MARKS]) -> [f64; ROW_MARKS];

/// [`dots_lanes`] compiled for the widest instruction set the correlation engine takes here
/// ([`crate::corr::Isa::selected`], so `IAEMU_ISA` limits it too), chosen once. Every variant
/// does the same operations in the same order (no fused multiply-adds), so the sums do not
/// depend on the pick.
fn dots_kernel() -> DotsFn {
    static KERNEL: std::sync::OnceLock<DotsFn> = std::sync::OnceLock::new();
    *KERNEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2")]
            unsafe fn avx2(w: [&[f64]; 3], t: [&[f32]; ROW_MARKS]) -> [f64; ROW_MARKS] {
                dots_lanes(w, t)
            }
            #[target_feature(enable = "avx512f,avx512vl,avx2")]
            unsafe fn avx512(w: [&[f64]; 3], t: [&[f32]; ROW_MARKS]) -> [f64; ROW_MARKS] {
                dots_lanes(w, t)
            }
            use crate::corr::Isa;
            match Isa::selected() {
                // SAFETY: `Isa::selected` names only instruction sets this CPU runs.
                Ok(Isa::Avx512) => |w, t| unsafe { avx512(w, t) },
                Ok(Isa::Avx2) => |w, t| unsafe { avx2(w, t) },
                _ => dots_lanes,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            dots_lanes
        }
    })
}

impl Num for f64 {
    fn constant(v: f64) -> f64 {
        v
    }
    fn dots(_: [&[f64]; 3], values: [&[f64]; 3], rows: [&[f32]; ROW_MARKS]) -> [f64; ROW_MARKS] {
        dots_kernel()(values, rows)
    }
    fn parameter(v: f64, _: usize) -> f64 {
        v
    }
    fn value(&self) -> f64 {
        *self
    }
    fn chain(self, f: f64, _: f64) -> f64 {
        f
    }
    fn gradient(&self) -> [f64; N_PARAMS] {
        [0.0; N_PARAMS]
    }
    fn is_zero(&self) -> bool {
        *self == 0.0
    }
}

/// A value and its gradient in the seven parameters (forward-mode differentiation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dual {
    pub v: f64,
    pub d: [f64; N_PARAMS],
}

impl Add for Dual {
    type Output = Dual;
    #[inline]
    fn add(self, o: Dual) -> Dual {
        Dual { v: self.v + o.v, d: std::array::from_fn(|k| self.d[k] + o.d[k]) }
    }
}

impl Sub for Dual {
    type Output = Dual;
    #[inline]
    fn sub(self, o: Dual) -> Dual {
        Dual { v: self.v - o.v, d: std::array::from_fn(|k| self.d[k] - o.d[k]) }
    }
}

impl Mul for Dual {
    type Output = Dual;
    #[inline]
    fn mul(self, o: Dual) -> Dual {
        Dual { v: self.v * o.v, d: std::array::from_fn(|k| self.d[k] * o.v + self.v * o.d[k]) }
    }
}

impl Mul<f64> for Dual {
    type Output = Dual;
    #[inline]
    fn mul(self, c: f64) -> Dual {
        Dual { v: self.v * c, d: self.d.map(|x| x * c) }
    }
}

impl Div for Dual {
    type Output = Dual;
    #[inline]
    fn div(self, o: Dual) -> Dual {
        let q = self.v / o.v;
        Dual { v: q, d: std::array::from_fn(|k| (self.d[k] - q * o.d[k]) / o.v) }
    }
}

impl AddAssign for Dual {
    #[inline]
    fn add_assign(&mut self, o: Dual) {
        *self = *self + o;
    }
}

impl Num for Dual {
    fn constant(v: f64) -> Dual {
        Dual { v, d: [0.0; N_PARAMS] }
    }
    fn parameter(v: f64, k: usize) -> Dual {
        let mut d = [0.0; N_PARAMS];
        d[k] = 1.0;
        Dual { v, d }
    }
    fn value(&self) -> f64 {
        self.v
    }
    fn chain(self, f: f64, df: f64) -> Dual {
        Dual { v: f, d: self.d.map(|x| x * df) }
    }
    fn gradient(&self) -> [f64; N_PARAMS] {
        self.d
    }
    fn is_zero(&self) -> bool {
        self.v == 0.0 && self.d.iter().all(|&x| x == 0.0)
    }
    /// The values as `f64`'s (so a point's values are the same with and without its
    /// Jacobian), the gradients in one more pass.
    fn dots(weights: [&[Dual]; 3], values: [&[f64]; 3], rows: [&[f32]; ROW_MARKS]) -> [Dual; ROW_MARKS] {
        let v = dots_kernel()(values, rows);
        let n = rows.iter().map(|r| r.len()).chain(weights.iter().map(|w| w.len())).min().unwrap_or(0);
        let mut d = [[0.0; N_PARAMS]; ROW_MARKS];
        for j in 0..n {
            for (m, d) in d.iter_mut().enumerate() {
                let (g, t) = (&weights[MARK_WEIGHT[m]][j].d, rows[m][j] as f64);
                for (s, g) in d.iter_mut().zip(g) {
                    *s += g * t;
                }
            }
        }
        std::array::from_fn(|m| Dual { v: v[m], d: d[m] })
    }
}

/// A model point as numbers of kind `N`, with the mass scales worked out once.
pub struct Model<N: Num> {
    /// Watson order parameters S(mu_cen), S(mu_sat).
    pub s_cen: N,
    pub s_sat: N,
    log_m_min: N,
    sigma_log_m: N,
    m0: N,
    m1: N,
    alpha: N,
    satellites_times_centrals: bool,
}

impl<N: Num> Model<N> {
    pub fn new(p: &HodParams, satellites_times_centrals: bool) -> Model<N> {
        let v = p.to_array();
        let x = |k: usize| N::parameter(v[k], k);
        let s = |mu: N| {
            let (s, ds) = watson::order_parameter(mu.value());
            mu.chain(s, ds)
        };
        let pow10 = |e: N| {
            let m = 10f64.powf(e.value());
            e.chain(m, m * std::f64::consts::LN_10)
        };
        Model {
            s_cen: s(x(0)),
            s_sat: s(x(1)),
            log_m_min: x(2),
            sigma_log_m: x(3),
            m0: pow10(x(4)),
            m1: pow10(x(5)),
            alpha: x(6),
            satellites_times_centrals,
        }
    }

    /// Mean centrals `0.5 (1 + erf((log10 M - logMmin) / sigma_logM))` at `log_m`.
    pub fn centrals(&self, log_m: f64) -> N {
        let x = (N::constant(log_m) - self.log_m_min) / self.sigma_log_m;
        let xv = x.value();
        x.chain(
            0.5 * (1.0 + libm::erf(xv)),
            (-xv * xv).exp() / std::f64::consts::PI.sqrt(),
        )
    }

    /// Mean satellites `((M - M0) / M1)^alpha` (0 at or below M0), times `p_cen` with the
    /// satellites-times-centrals option.
    pub fn satellites(&self, log_m: f64, p_cen: N) -> N {
        let m = 10f64.powf(log_m);
        if m <= self.m0.value() {
            return N::constant(0.0);
        }
        let ratio = (N::constant(m) - self.m0) / self.m1;
        let r = ratio.value();
        let ln_ratio = ratio.chain(r.ln(), 1.0 / r);
        let e = self.alpha * ln_ratio;
        let lambda = e.chain(e.value().exp(), e.value().exp());
        if self.satellites_times_centrals {
            lambda * p_cen
        } else {
            lambda
        }
    }
}

/// What the tables need of N ~ Poisson(lambda), for slots j = 0, 1, ..: `tail[j] = P(N > j)`,
/// `pmf[j]`, and for an excess over n subhalos X = (N - n)_+: `E[X] = sum_{j >= n} P(N > j)` and
/// `E[X (X - 1)] = 2 sum_{j >= n} (j - n) P(N > j)`. Every sum runs over positive terms (tails
/// summed from far above), so it is accurate deep into the tails.
pub struct Poisson {
    lambda: f64,
    pmf: Vec<f64>,
    tail: Vec<f64>,
    /// `sum_{j >= n} tail[j]` and `sum_{j >= n} (j - n) tail[j]`.
    excess1: Vec<f64>,
    excess2: Vec<f64>,
}

impl Poisson {
    /// For slots and subhalo counts up to `max_slot`.
    pub fn new(lambda: f64, max_slot: usize) -> Poisson {
        // Beyond `far` (12 standard deviations above the mean) the terms are below 1e-30 of the
        // largest and are left at zero.
        let far = if lambda > 0.0 { (lambda + 12.0 * lambda.sqrt() + 30.0).ceil() as usize } else { 0 };
        let len = max_slot.max(far) + 2;
        let top = far.min(len - 1);
        let mut pmf = vec![0.0; len];
        if lambda <= 0.0 {
            pmf[0] = 1.0;
        } else {
            // From the mode in log space (no underflow of exp(-lambda) for large lambda).
            let mode = (lambda.floor() as usize).min(len - 1);
            let log_mode = -lambda + mode as f64 * lambda.ln() - libm::lgamma(mode as f64 + 1.0);
            pmf[mode] = log_mode.exp();
            for j in mode + 1..=top {
                pmf[j] = pmf[j - 1] * lambda / j as f64;
            }
            for j in (0..mode).rev() {
                pmf[j] = pmf[j + 1] * (j + 1) as f64 / lambda;
            }
        }
        let mut tail = vec![0.0; len];
        for j in (0..top).rev() {
            tail[j] = tail[j + 1] + pmf[j + 1];
        }
        let (mut excess1, mut excess2) = (vec![0.0; len + 1], vec![0.0; len + 1]);
        for n in (0..=top).rev() {
            excess1[n] = excess1[n + 1] + tail[n];
            excess2[n] = excess2[n + 1] + excess1[n + 1];
        }
        Poisson { lambda, pmf, tail, excess1, excess2 }
    }

    /// P(N > k), with lambda of kind `N`.
    pub fn more_than<N: Num>(&self, lambda: N, k: usize) -> N {
        lambda.chain(self.tail[k], self.pmf[k])
    }

    /// E[(N - n)_+]; d/dlambda = P(N >= n).
    pub fn excess<N: Num>(&self, lambda: N, n: usize) -> N {
        let at_least = if n == 0 { 1.0 } else { self.tail[n - 1] };
        lambda.chain(self.excess1[n], at_least)
    }

    /// E[X (X - 1)] for X = (N - n)_+; d/dlambda = 2 E[X].
    pub fn excess_pairs<N: Num>(&self, lambda: N, n: usize) -> N {
        lambda.chain(2.0 * self.excess2[n], 2.0 * self.excess1[n])
    }

    pub fn lambda(&self) -> f64 {
        self.lambda
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute-force sums over a long range of N.
    fn brute(lambda: f64, n: usize) -> (f64, f64, Vec<f64>) {
        let mut pmf = vec![(-lambda).exp()];
        for j in 1..400 {
            let last = pmf[j - 1];
            pmf.push(last * lambda / j as f64);
        }
        let x = |j: usize| j.saturating_sub(n) as f64;
        let e1: f64 = pmf.iter().enumerate().map(|(j, p)| p * x(j)).sum();
        let e2: f64 = pmf.iter().enumerate().map(|(j, p)| p * x(j) * (x(j) - 1.0).max(0.0)).sum();
        let tail = (0..10).map(|k| pmf[k + 1..].iter().sum()).collect();
        (e1, e2, tail)
    }

    #[test]
    fn poisson_sums_match_brute_force() {
        for lambda in [0.01, 0.7, 3.0, 25.0, 120.0] {
            let p = Poisson::new(lambda, 12);
            for n in [0, 1, 2, 5, 9] {
                let (e1, e2, tail) = brute(lambda, n);
                let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1e-300) + 1e-300;
                assert!(close(p.excess(lambda, n), e1), "E[X] lambda {lambda} n {n}");
                assert!(close(p.excess_pairs(lambda, n), e2), "E[X(X-1)] lambda {lambda} n {n}");
                for (k, t) in tail.iter().enumerate() {
                    assert!(close(p.more_than(lambda, k), *t), "tail lambda {lambda} k {k}");
                }
            }
        }
    }

    #[test]
    fn poisson_derivatives_match_differences() {
        for lambda in [0.3, 4.0, 60.0] {
            let h = 1e-6 * lambda;
            let (a, b) = (Poisson::new(lambda - h, 10), Poisson::new(lambda + h, 10));
            let p = Poisson::new(lambda, 10);
            let x = Dual::parameter(lambda, 0);
            for n in [0, 2, 7] {
                let fd = |f: &dyn Fn(&Poisson, f64) -> f64| (f(&b, lambda + h) - f(&a, lambda - h)) / (2.0 * h);
                let pairs = [
                    (p.excess(x, n).d[0], fd(&|q, l| q.excess(l, n))),
                    (p.excess_pairs(x, n).d[0], fd(&|q, l| q.excess_pairs(l, n))),
                    (p.more_than(x, n).d[0], fd(&|q, l| q.more_than(l, n))),
                ];
                for (exact, diff) in pairs {
                    assert!((exact - diff).abs() < 1e-6 * exact.abs().max(1e-3), "{exact} {diff}");
                }
            }
        }
    }
}
