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
    /// The seven sums `sum_j weight_m[j] * rows[m][j]` of a stretch of a 2-halo row (kept in
    /// f32), the weights of mark m being `weights[MARK_WEIGHT[m]]` (w, beta, sw), given their
    /// values already summed by [`RowKernels`]: plain numbers take those, so a point's values do
    /// not depend on whether gradients are carried; duals add their gradients.
    fn dots(weights: [&[Self]; 3], rows: [&[f32]; ROW_MARKS], values: [f64; ROW_MARKS]) -> [Self; ROW_MARKS];
}

/// Lanes of [`row_dots_lanes`]: independent partial sums the compiler keeps in vector registers.
/// Lane l sums the terms j = l mod 8 in order and the lanes are added in a fixed tree, so the
/// result is the same whatever the vector width.
pub const LANES: usize = 8;

/// Marks of a 2-halo row that [`row_dots_lanes`] weighs: the first four by the weights `w`, the
/// fifth by `beta`, the last two by `sw` (see `Table::add_two_halo`).
pub const ROW_MARKS: usize = 7;
/// Which of the three weight vectors (w, beta, sw) each mark takes.
const MARK_WEIGHT: [usize; ROW_MARKS] = [0, 0, 0, 0, 1, 2, 2];

/// The partner sums of one 2-halo row for `P` points: the row's `ROW_MARKS` marks, each over
/// `n_pad` partner lanes (a multiple of [`LANES`]: centrals in `0..cen_pad`, satellites after,
/// padded with zeros), against each point's weights (w, beta, sw over the same lanes); per
/// point and side (centrals, satellites) the seven dot products. Each lane adds `w * t` (a
/// product, then a sum: no fused multiply-add) over its terms in order, and the lanes are
/// added in the tree of [`reduce`]: the vector kernels below do exactly these operations, so
/// a point's sums are the same on every instruction set and whatever `P` is.
fn row_dots_lanes<const P: usize>(row: &[f32], cen_pad: usize, weights: &[[&[f64]; 3]; P]) -> [[[f64; ROW_MARKS]; 2]; P] {
    let n_pad = row.len() / ROW_MARKS;
    let mut out = [[[0.0; ROW_MARKS]; 2]; P];
    for (side, lanes) in [0..cen_pad, cen_pad..n_pad].into_iter().enumerate() {
        for (p, w) in weights.iter().enumerate() {
            for (m, out) in out[p][side].iter_mut().enumerate() {
                let mut acc = [0.0; LANES];
                for j in lanes.clone() {
                    acc[j % LANES] += w[MARK_WEIGHT[m]][j] * row[m * n_pad + j] as f64;
                }
                *out = reduce(acc);
            }
        }
    }
    out
}

/// The sum of the lanes, in a fixed tree.
#[inline(always)]
fn reduce(l: [f64; LANES]) -> f64 {
    ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))
}

/// [`row_dots_lanes`] in AVX-512 and AVX2 vectors: per chunk of 8 lanes, the row's seven
/// marks are widened to f64 once and serve all `P` points.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{reduce, LANES, MARK_WEIGHT, ROW_MARKS};
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU runs AVX-512F; `row` holds `ROW_MARKS * n_pad` values and each weight vector at
    /// least `n_pad`, with `cen_pad <= n_pad` both multiples of [`LANES`] (see
    /// [`super::RowKernels`], which checks them).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512<const P: usize>(row: &[f32], cen_pad: usize, weights: &[[&[f64]; 3]; P]) -> [[[f64; ROW_MARKS]; 2]; P] {
        let n_pad = row.len() / ROW_MARKS;
        let mut out = [[[0.0; ROW_MARKS]; 2]; P];
        for (side, (from, to)) in [(0, cen_pad), (cen_pad, n_pad)].into_iter().enumerate() {
            let mut acc = [[_mm512_setzero_pd(); ROW_MARKS]; P];
            let mut j = from;
            while j < to {
                let mut t = [_mm512_setzero_pd(); ROW_MARKS];
                for (m, t) in t.iter_mut().enumerate() {
                    *t = _mm512_cvtps_pd(_mm256_loadu_ps(row.as_ptr().add(m * n_pad + j)));
                }
                for p in 0..P {
                    let w = [0, 1, 2].map(|k| _mm512_loadu_pd(weights[p][k].as_ptr().add(j)));
                    for m in 0..ROW_MARKS {
                        acc[p][m] = _mm512_add_pd(acc[p][m], _mm512_mul_pd(w[MARK_WEIGHT[m]], t[m]));
                    }
                }
                j += LANES;
            }
            for p in 0..P {
                for m in 0..ROW_MARKS {
                    let mut lanes = [0.0; LANES];
                    _mm512_storeu_pd(lanes.as_mut_ptr(), acc[p][m]);
                    out[p][side][m] = reduce(lanes);
                }
            }
        }
        out
    }

    /// # Safety
    /// As [`avx512`], for a CPU that runs AVX2: each chunk of 8 lanes is two vectors of 4.
    #[target_feature(enable = "avx2")]
    pub unsafe fn avx2<const P: usize>(row: &[f32], cen_pad: usize, weights: &[[&[f64]; 3]; P]) -> [[[f64; ROW_MARKS]; 2]; P] {
        let n_pad = row.len() / ROW_MARKS;
        let mut out = [[[0.0; ROW_MARKS]; 2]; P];
        for (side, (from, to)) in [(0, cen_pad), (cen_pad, n_pad)].into_iter().enumerate() {
            let mut acc = [[[_mm256_setzero_pd(); 2]; ROW_MARKS]; P];
            let mut j = from;
            while j < to {
                for m in 0..ROW_MARKS {
                    let t = _mm256_loadu_ps(row.as_ptr().add(m * n_pad + j));
                    let t = [_mm256_cvtps_pd(_mm256_castps256_ps128(t)), _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(t))];
                    for p in 0..P {
                        let w = weights[p][MARK_WEIGHT[m]].as_ptr().add(j);
                        for h in 0..2 {
                            let wh = _mm256_loadu_pd(w.add(4 * h));
                            acc[p][m][h] = _mm256_add_pd(acc[p][m][h], _mm256_mul_pd(wh, t[h]));
                        }
                    }
                }
                j += LANES;
            }
            for p in 0..P {
                for m in 0..ROW_MARKS {
                    let mut lanes = [0.0; LANES];
                    _mm256_storeu_pd(lanes.as_mut_ptr(), acc[p][m][0]);
                    _mm256_storeu_pd(lanes.as_mut_ptr().add(4), acc[p][m][1]);
                    out[p][side][m] = reduce(lanes);
                }
            }
        }
        out
    }
}

/// Points [`RowKernels::many`] takes at once: the row's lanes, widened once, serve both (two
/// keep their 14 accumulators in registers; four were slower here, spilling).
pub const ROW_POINTS: usize = 2;

type RowDotsFn<const P: usize> = fn(&[f32], usize, &[[&[f64]; 3]; P]) -> [[[f64; ROW_MARKS]; 2]; P];

/// [`row_dots_lanes`] for one point and for [`ROW_POINTS`], for one instruction set.
pub struct RowKernels {
    one: RowDotsFn<1>,
    many: RowDotsFn<ROW_POINTS>,
}

impl RowKernels {
    /// For the widest instruction set the correlation engine takes here
    /// ([`crate::corr::Isa::selected`], so `IAEMU_ISA` limits it too, or is an error).
    pub fn selected() -> crate::Result<RowKernels> {
        #[cfg(target_arch = "x86_64")]
        {
            use crate::corr::Isa;
            Ok(match Isa::selected()? {
                // SAFETY: `Isa::selected` names only instruction sets this CPU runs; `one` and
                // `many` check the lengths (`check_row`) before calling.
                Isa::Avx512 => RowKernels { one: |r, c, w| unsafe { x86::avx512(r, c, w) }, many: |r, c, w| unsafe { x86::avx512(r, c, w) } },
                Isa::Avx2 => RowKernels { one: |r, c, w| unsafe { x86::avx2(r, c, w) }, many: |r, c, w| unsafe { x86::avx2(r, c, w) } },
                _ => RowKernels { one: row_dots_lanes, many: row_dots_lanes },
            })
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Ok(RowKernels { one: row_dots_lanes, many: row_dots_lanes })
        }
    }

    /// [`row_dots_lanes`] for one point.
    pub fn one(&self, row: &[f32], cen_pad: usize, weights: [&[f64]; 3]) -> [[f64; ROW_MARKS]; 2] {
        check_row(row, cen_pad, &[weights]);
        (self.one)(row, cen_pad, &[weights])[0]
    }

    /// [`row_dots_lanes`] for [`ROW_POINTS`] points.
    pub fn many(&self, row: &[f32], cen_pad: usize, weights: &[[&[f64]; 3]; ROW_POINTS]) -> [[[f64; ROW_MARKS]; 2]; ROW_POINTS] {
        check_row(row, cen_pad, weights);
        (self.many)(row, cen_pad, weights)
    }
}

/// The lengths the vector kernels rely on (a broken caller is a bug: stop before reading
/// out of bounds).
fn check_row(row: &[f32], cen_pad: usize, weights: &[[&[f64]; 3]]) {
    let n_pad = row.len() / ROW_MARKS;
    assert!(
        row.len() == ROW_MARKS * n_pad
            && n_pad.is_multiple_of(LANES)
            && cen_pad.is_multiple_of(LANES)
            && cen_pad <= n_pad
            && weights.iter().flatten().all(|w| w.len() >= n_pad),
        "2-halo row of {} values with {cen_pad} central lanes and weights too short or misaligned",
        row.len()
    );
}

impl Num for f64 {
    fn constant(v: f64) -> f64 {
        v
    }
    fn dots(_: [&[f64]; 3], _: [&[f32]; ROW_MARKS], values: [f64; ROW_MARKS]) -> [f64; ROW_MARKS] {
        values
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
    /// The values given, the gradients in one more pass.
    fn dots(weights: [&[Dual]; 3], rows: [&[f32]; ROW_MARKS], v: [f64; ROW_MARKS]) -> [Dual; ROW_MARKS] {
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

/// `v[k]`, zero past the slots kept.
fn at(v: &[f64], k: usize) -> f64 {
    v.get(k).copied().unwrap_or(0.0)
}

impl Poisson {
    /// For any slot and subhalo count: beyond `far` (12 standard deviations above the mean)
    /// the terms are below 1e-30 of the largest and are zero, so only the slots up to it are
    /// kept.
    pub fn new(lambda: f64) -> Poisson {
        let far = if lambda > 0.0 { (lambda + 12.0 * lambda.sqrt() + 30.0).ceil() as usize } else { 0 };
        let len = far + 2;
        let top = far;
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
        lambda.chain(at(&self.tail, k), at(&self.pmf, k))
    }

    /// E[(N - n)_+]; d/dlambda = P(N >= n).
    pub fn excess<N: Num>(&self, lambda: N, n: usize) -> N {
        let at_least = if n == 0 { 1.0 } else { at(&self.tail, n - 1) };
        lambda.chain(at(&self.excess1, n), at_least)
    }

    /// E[X (X - 1)] for X = (N - n)_+; d/dlambda = 2 E[X].
    pub fn excess_pairs<N: Num>(&self, lambda: N, n: usize) -> N {
        lambda.chain(2.0 * at(&self.excess2, n), 2.0 * at(&self.excess1, n))
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
            let p = Poisson::new(lambda);
            for n in [0, 1, 2, 5, 9, 300] {
                let (e1, e2, tail) = brute(lambda, n);
                // Past 12 standard deviations above the mean the terms are kept as zeros.
                let far = n as f64 > lambda + 12.0 * lambda.sqrt();
                let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1e-300) + if far { 1e-30 } else { 1e-300 };
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
            let (a, b) = (Poisson::new(lambda - h), Poisson::new(lambda + h));
            let p = Poisson::new(lambda);
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
