//! A model point's expected correlations from a [`Table`]: occupation weights per table row
//! and category, then weighted sums (docs/science.md section 11).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::occupation::{Dual, RowKernels, Model, Num, Poisson, N_PARAMS, ROW_MARKS, ROW_POINTS};
use super::{category_key, rank_group, Table, CEN, KINDS, MARKS_1H, RANK_GROUPS, RND, SUB, SUB_BINS};
use crate::corr::{r_mid, XiNormalization};
use crate::hod::HodParams;
use crate::{Error, Result};

/// Settings of an evaluation (those of [`crate::hod::simulate`] that do not change the table).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExpectOptions {
    /// `N^2` (default) or `N(N-1)`: E[N^2] or E[N(N-1)] in xi's denominator.
    pub xi_normalization: XiNormalization,
    /// Mean satellites multiplied by the mean centrals (off by default, as in simulate).
    pub satellites_times_centrals: bool,
}

/// xi, omega and eta per bin.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Statistics {
    pub xi: Vec<f64>,
    pub omega: Vec<f64>,
    pub eta: Vec<f64>,
}

/// The shares of each kind of pair. For xi a part is `E[DD_part] V / (E[N^2] dV)`, so the parts
/// add up to `1 + xi`; for omega and eta it is the part's sum over `E[DD]`, so they add up to
/// omega and eta.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Parts {
    /// Centrals of different hosts.
    pub cen_cen_2h: Statistics,
    /// A central and a satellite of its own host.
    pub cen_sat_1h: Statistics,
    /// A central and a satellite of another host.
    pub cen_sat_2h: Statistics,
    /// Two satellites of one host.
    pub sat_sat_1h: Statistics,
    /// Two satellites of different hosts.
    pub sat_sat_2h: Statistics,
}

/// Expected correlations of one model point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    /// The model point, in the order of [`crate::hod::PARAM_NAMES`].
    pub params: [f64; 7],
    pub r_edges: Vec<f64>,
    pub r_mid: Vec<f64>,
    pub xi: Vec<f64>,
    pub omega: Vec<f64>,
    pub eta: Vec<f64>,
    /// E[N], E[N_cen], E[N_sat].
    pub n_galaxies: f64,
    pub n_centrals: f64,
    pub n_satellites: f64,
    pub parts: Parts,
    /// d(xi, omega, eta)/d(params), row-major `[3][n_bins][7]`, when asked for.
    pub jacobian: Option<Vec<f64>>,
}

/// Sums per pair kind and bin: DD, W (sum of S_i g_ij), H (sum of S_i S_j h_ij).
#[derive(Clone, Copy)]
struct Sums<N> {
    dd: N,
    w: N,
    h: N,
}

/// Largest mean satellite number in a host that an evaluation accepts (its Poisson sums run
/// over about this many terms).
pub const MAX_MEAN_SATELLITES: f64 = 1e6;

/// Points of a batch evaluated together ([`Table::expect_batch`]): each reads the 2-halo
/// table once per block of this many, from cache for all but the first.
const POINTS_PER_BLOCK: usize = 16;

/// A point's occupation weights and 1-halo sums, before its 2-halo sums.
struct Weighed<N> {
    s_c: N,
    s_s: N,
    n_cen: N,
    n_sat: N,
    var_n: N,
    /// Per pair kind and bin (filled by `Table::add_one_halo` and `Table::add_two_halo`).
    sums: Vec<Sums<N>>,
    /// The 1-halo rows' weights (mean, slope in log mass): per subhalo rank row, for its
    /// `cen_sub` and `sub_sub` sums; per excess row, for `cen_rnd`, `sub_rnd` and `rnd_rnd`.
    rank_fits: Vec<[(N, N); 2]>,
    excess_fits: Vec<[(N, N); 3]>,
    /// Per 2-halo category, in its partner lane (`Table::lanes`; zeros in the padding): mean
    /// weight, slope in log mass, and S times the mean weight.
    w_of: Vec<N>,
    beta_of: Vec<N>,
    sw: Vec<N>,
    /// Their plain values (w, beta, sw), for [`RowKernels`].
    values: [Vec<f64>; 3],
    /// Lanes of categories with a weight.
    active: Vec<bool>,
}

/// A weight's host-weighted mean and least-squares slope in log mass over sub-bin nodes.
#[derive(Clone, Copy)]
struct Line<N> {
    c: f64,
    cx: f64,
    cxx: f64,
    f: N,
    xf: N,
}

impl<N: Num> Line<N> {
    fn zero() -> Self {
        Line { c: 0.0, cx: 0.0, cxx: 0.0, f: N::constant(0.0), xf: N::constant(0.0) }
    }

    /// A node of `c` hosts at log mass `x` where the weight is `f`.
    fn add(&mut self, c: f64, x: f64, f: N) {
        self.c += c;
        self.cx += c * x;
        self.cxx += c * x * x;
        self.f += f * c;
        self.xf += f * (c * x);
    }

    /// (mean, slope) of the least-squares line mean + slope (x - mean x) through the nodes;
    /// zeros without hosts, no slope with one node. The weights are never negative, but a line
    /// through a steep rise (an occupation switching on inside the bin) goes below zero at the
    /// bin's light end, where hosts would then count negatively: the slope is limited so that
    /// the line stays >= 0 over the bin, x in [0, `width`].
    fn fit(&self, width: f64) -> (N, N) {
        let zero = N::constant(0.0);
        if self.c == 0.0 {
            return (zero, zero);
        }
        let (mean_x, mean) = (self.cx / self.c, self.f * (1.0 / self.c));
        let var = self.cxx / self.c - mean_x * mean_x;
        if var <= 1e-12 {
            return (mean, zero);
        }
        let slope = (self.xf * (1.0 / self.c) - mean * mean_x) * (1.0 / var);
        // Distances from the mean to the bin's ends, below and above.
        let (below, above) = (mean_x.max(0.0), (width - mean_x).max(0.0));
        if (mean - slope * below).value() < 0.0 {
            (mean, mean * (1.0 / below))
        } else if (mean + slope * above).value() < 0.0 {
            (mean, mean * (-1.0 / above))
        } else {
            (mean, slope)
        }
    }
}

/// The five pair kinds, in the order of [`Parts`]' fields.
const CC2: usize = 0;
const CS1: usize = 1;
const CS2: usize = 2;
const SS1: usize = 3;
const SS2: usize = 4;

impl Table {
    /// Expected xi, omega and eta of `params` (checked), their parts and E[N]; with `jacobian`
    /// also their exact derivatives in the seven parameters.
    /// Errors: invalid parameters, or a point that puts fewer than 2 galaxies in the catalogue
    /// on average (as [`crate::hod::populate`] refuses fewer than 2).
    pub fn expect(&self, params: &HodParams, options: &ExpectOptions, jacobian: bool) -> Result<Expectation> {
        params.validate()?;
        self.evaluate_checked(params, options, jacobian)
    }

    fn evaluate_checked(&self, params: &HodParams, options: &ExpectOptions, jacobian: bool) -> Result<Expectation> {
        Ok(self.evaluate_block(std::slice::from_ref(params), options, jacobian)?.remove(0))
    }

    /// The largest mean satellite number (in the heaviest hosts) bounds the Poisson sums.
    fn check_satellites(&self, params: &HodParams, options: &ExpectOptions) -> Result<()> {
        let model = Model::<f64>::new(params, options.satellites_times_centrals);
        let heaviest = self.node_log_m.iter().zip(&self.host_counts).filter(|(_, &c)| c > 0.0).map(|(&m, _)| m).fold(f64::NEG_INFINITY, f64::max);
        let lambda = model.satellites(heaviest, model.centrals(heaviest));
        if !(lambda <= MAX_MEAN_SATELLITES) {
            return Err(Error::invalid(format!(
                "the model point {:?} puts {lambda:.3e} satellites on average in the heaviest hosts (10^{heaviest:.2} Msun/h); at most {MAX_MEAN_SATELLITES:e} are supported",
                params.to_array()
            )));
        }
        Ok(())
    }

    /// Points (checked) evaluated together: each block of the 2-halo table is read once for
    /// all of them. Each point's numbers are those it gets alone.
    fn evaluate_block(&self, params: &[HodParams], options: &ExpectOptions, jacobian: bool) -> Result<Vec<Expectation>> {
        for p in params {
            self.check_satellites(p, options)?;
        }
        let kernels = RowKernels::selected()?;
        let out = if jacobian {
            self.evaluate::<Dual>(params, options, &kernels, true)
        } else {
            self.evaluate::<f64>(params, options, &kernels, false)
        };
        for (e, p) in out.iter().zip(params) {
            if !(e.n_galaxies >= 2.0) {
                return Err(Error::invalid(format!(
                    "the model point {:?} puts {:.3e} galaxies in this catalogue on average ({} hosts); at least 2 are needed",
                    p.to_array(),
                    e.n_galaxies,
                    self.meta.n_hosts
                )));
            }
        }
        Ok(out)
    }

    /// Bytes one evaluated point holds: the statistics, their parts and the Jacobian.
    pub fn point_bytes(&self, jacobian: bool) -> usize {
        8 * self.n_bins() * (3 + 15 + if jacobian { 21 } else { 0 }) + 256
    }

    /// [`Table::expect`] for many points (all checked first), in parallel.
    pub fn expect_batch(
        &self,
        params: &[HodParams],
        options: &ExpectOptions,
        jacobian: bool,
        threads: Option<usize>,
    ) -> Result<Vec<Expectation>> {
        for (i, p) in params.iter().enumerate() {
            p.validate().map_err(|e| Error::invalid(format!("point {i}: {e}")))?;
        }
        crate::memory::ensure(
            &format!("expected correlations of {} points", params.len()),
            (params.len() * self.point_bytes(jacobian)) as f64,
        )?;
        crate::threads::install(threads, || {
            let blocks = params
                .par_chunks(POINTS_PER_BLOCK)
                .map(|block| self.evaluate_block(block, options, jacobian))
                .collect::<Result<Vec<_>>>()?;
            Ok(blocks.into_iter().flatten().collect())
        })?
    }

    /// Expected correlations of `params`, the 2-halo table read once for all.
    fn evaluate<N: Num + Send + Sync>(&self, params: &[HodParams], options: &ExpectOptions, kernels: &RowKernels, jacobian: bool) -> Vec<Expectation> {
        let mut points: Vec<Weighed<N>> = params.iter().map(|p| self.weigh(p, options)).collect();
        self.add_one_halo(&mut points);
        self.add_two_halo(&mut points, kernels);
        points.into_iter().zip(params).map(|(w, p)| self.finish(w, p, options, jacobian)).collect()
    }

    /// A point's weights and 1-halo sums.
    fn weigh<N: Num + Send + Sync>(&self, params: &HodParams, options: &ExpectOptions) -> Weighed<N> {
        let model = Model::<N>::new(params, options.satellites_times_centrals);
        let zero = N::constant(0.0);
        let (nb, n_mass, n_cat) = (self.n_bins(), self.n_mass, self.n_cat());
        let (n_rank, n_excess) = (self.rank_start[n_mass], self.excess_n.len());

        // Weights of rows and categories: host-weighted mean and slope in log mass.
        let mut w_rank = vec![(Line::zero(), Line::zero()); n_rank]; // central with subhalo k; subhalo k
        let mut w_excess = vec![(Line::zero(), Line::zero(), Line::zero()); n_excess]; // p E[X], E[X], E[X(X-1)]
        let mut w_key = vec![Line::zero(); KINDS * n_mass * RANK_GROUPS];
        let (mut n_cen, mut n_sat, mut var_n) = (zero, zero, zero);
        for a in 0..n_mass {
            let ranks = self.rank_start[a]..self.rank_start[a + 1];
            let excess = self.excess_start[a]..self.excess_start[a + 1];
            for q in 0..SUB_BINS {
                let count = self.host_counts[a * SUB_BINS + q];
                if count == 0.0 {
                    continue;
                }
                let log_m = self.node_log_m[a * SUB_BINS + q];
                // Log mass from the bin's lower edge (keeps the least-squares sums well scaled).
                let x = log_m - self.log_m_lo - a as f64 * self.meta.options.mass_bin_dex;
                let p = model.centrals(log_m);
                let lambda = model.satellites(log_m, p);
                n_cen += p * count;
                n_sat += lambda * count;
                var_n += (p - p * p + lambda) * count;
                w_key[category_key(CEN, a, 0, n_mass)].add(count, x, p);
                let poisson = Poisson::new(lambda.value());
                for (k, row) in ranks.clone().enumerate() {
                    let c = self.rank_counts[row * SUB_BINS + q];
                    if c > 0.0 {
                        let t = poisson.more_than(lambda, k);
                        w_rank[row].0.add(c, x, p * t);
                        w_rank[row].1.add(c, x, t);
                        w_key[category_key(SUB, a, rank_group(k), n_mass)].add(c, x, t);
                    }
                }
                for row in excess.clone() {
                    let c = self.excess_counts[row * SUB_BINS + q];
                    if c > 0.0 {
                        let n = self.excess_n[row];
                        let x1 = poisson.excess(lambda, n);
                        w_excess[row].0.add(c, x, p * x1);
                        w_excess[row].1.add(c, x, x1);
                        w_excess[row].2.add(c, x, poisson.excess_pairs(lambda, n));
                        w_key[category_key(RND, a, rank_group(n), n_mass)].add(c, x, x1);
                    }
                }
            }
        }
        let width = self.meta.options.mass_bin_dex;
        let mut w_cat = vec![(zero, zero); n_cat];
        for (key, &c) in self.category.iter().enumerate() {
            if c != usize::MAX {
                w_cat[c] = w_key[key].fit(width);
            }
        }

        let rank_fits = w_rank.iter().map(|(wc, ws)| [wc.fit(width), ws.fit(width)]).collect();
        let excess_fits = w_excess.iter().map(|(wc, w1, w2)| [wc.fit(width), w1.fit(width), w2.fit(width)]).collect();
        let (s_c, s_s) = (model.s_cen, model.s_sat);
        let sums = vec![Sums { dd: zero, w: zero, h: zero }; 5 * nb];
        let lanes = self.lanes();
        let (mut w_of, mut beta_of, mut sw) = (vec![zero; lanes.n_pad], vec![zero; lanes.n_pad], vec![zero; lanes.n_pad]);
        let mut active = vec![false; lanes.n_pad];
        for (c, (w, beta)) in w_cat.into_iter().enumerate() {
            let l = lanes.of(c);
            (w_of[l], beta_of[l]) = (w, beta);
            sw[l] = if c < lanes.n_cen_cat { s_c } else { s_s } * w;
            active[l] = !(w.is_zero() && beta.is_zero());
        }
        let values = [&w_of, &beta_of, &sw].map(|v| v.iter().map(|x| x.value()).collect());
        Weighed { s_c, s_s, n_cen, n_sat, var_n, sums, rank_fits, excess_fits, w_of, beta_of, sw, values, active }
    }

    /// The 1-halo sums of `points`: per row, the mean weight times its sums plus the slope
    /// times its sums times log mass, per bin and mark. Each row is read once for all the
    /// points.
    fn add_one_halo<N: Num>(&self, points: &mut [Weighed<N>]) {
        let (nb, zero) = (self.n_bins(), N::constant(0.0));
        let half = MARKS_1H / 2;
        let row_len = nb * MARKS_1H;
        let mut cs = vec![vec![zero; nb * half]; points.len()];
        let mut ss = cs.clone();
        let add_row = |acc: &mut Vec<N>, sums: &[f64], (mean, slope): (N, N)| {
            if mean.is_zero() && slope.is_zero() {
                return;
            }
            for (acc, sums) in acc.chunks_exact_mut(half).zip(sums.chunks_exact(MARKS_1H)) {
                let (m, mx) = sums.split_at(half);
                for ((a, &m), &mx) in acc.iter_mut().zip(m).zip(mx) {
                    *a += mean * m + slope * mx;
                }
            }
        };
        fn row(table: &[f64], r: usize, len: usize) -> &[f64] {
            &table[r * len..(r + 1) * len]
        }
        for r in 0..self.rank_start[self.n_mass] {
            let (cen_sub, sub_sub) = (row(&self.cen_sub, r, row_len), row(&self.sub_sub, r, row_len));
            for (p, point) in points.iter().enumerate() {
                let [wc, ws] = point.rank_fits[r];
                add_row(&mut cs[p], cen_sub, wc);
                add_row(&mut ss[p], sub_sub, ws);
            }
        }
        for r in 0..self.excess_n.len() {
            let (cen_rnd, sub_rnd, rnd_rnd) = (row(&self.cen_rnd, r, row_len), row(&self.sub_rnd, r, row_len), row(&self.rnd_rnd, r, row_len));
            for (p, point) in points.iter().enumerate() {
                let [wc, w1, w2] = point.excess_fits[r];
                add_row(&mut cs[p], cen_rnd, wc);
                add_row(&mut ss[p], sub_rnd, w1);
                add_row(&mut ss[p], rnd_rnd, w2);
            }
        }
        for ((point, cs), ss) in points.iter_mut().zip(cs).zip(ss) {
            let (s_c, s_s) = (point.s_c, point.s_s);
            for b in 0..nb {
                let m = |v: &[N], k: usize| v[b * half + k];
                point.sums[CS1 * nb + b] = Sums {
                    dd: m(&cs, 0),
                    w: s_c * m(&cs, 1) + s_s * m(&cs, 2),
                    h: s_c * s_s * m(&cs, 3),
                };
                point.sums[SS1 * nb + b] = Sums { dd: m(&ss, 0), w: s_s * m(&ss, 1), h: s_s * s_s * m(&ss, 3) };
            }
        }
    }

    /// The 2-halo sums of `points`: quadratic forms in the category weights (mean w and slope
    /// beta in log mass), split by kind. With x an object's log mass less its category's mean,
    /// and marks T = sum m, X = sum x_i m, Y = sum x_j m:
    ///   DD = sum_A w_A sum_B w_B T0 + 2 beta_A sum_B w_B X0,
    ///   W  = sum_A S_A (w_A sum_B w_B T1 + beta_A sum_B w_B X1 + w_A sum_B beta_B Y1),
    ///   H  = sum_A S_A (w_A sum_B S_B w_B T2 + 2 beta_A sum_B S_B w_B X2).
    /// Each row of the table is read once for all the points.
    fn add_two_halo<N: Num>(&self, points: &mut [Weighed<N>], kernels: &RowKernels) {
        let (nb, n_cat, lanes) = (self.n_bins(), self.n_cat(), self.lanes());
        let zero = N::constant(0.0);
        let row_len = ROW_MARKS * lanes.n_pad;
        let sides = [0..lanes.cen_pad, lanes.cen_pad..lanes.n_pad];
        let (mut wanted, mut sums) = (Vec::with_capacity(points.len()), Vec::with_capacity(points.len()));
        for b in 0..nb {
            let mut acc = vec![[Sums { dd: zero, w: zero, h: zero }; 3]; points.len()]; // cc, cs, ss
            for i in 0..n_cat {
                let row = &self.two_halo[(b * n_cat + i) * row_len..(b * n_cat + i + 1) * row_len];
                let (l, i_sat) = (lanes.of(i), i >= lanes.n_cen_cat);
                wanted.clear();
                wanted.extend((0..points.len()).filter(|&p| points[p].active[l]));
                // Partner sums over centrals (side 0) and satellites (side 1), ROW_POINTS
                // points at a time; categories without weight add zeros.
                let weights = |p: usize| points[p].values.each_ref().map(Vec::as_slice);
                sums.clear();
                let mut groups = wanted.chunks_exact(ROW_POINTS);
                for group in groups.by_ref() {
                    let w: [[&[f64]; 3]; ROW_POINTS] = std::array::from_fn(|k| weights(group[k]));
                    sums.extend(kernels.many(row, lanes.cen_pad, &w));
                }
                sums.extend(groups.remainder().iter().map(|&p| kernels.one(row, lanes.cen_pad, weights(p))));
                for (&p, &values) in wanted.iter().zip(&sums) {
                    let point = &points[p];
                    let (w, beta) = (point.w_of[l], point.beta_of[l]);
                    let s_i = if i_sat { point.s_s } else { point.s_c };
                    for (side, (j, values)) in sides.iter().zip(values).enumerate() {
                        let marks: [&[f32]; ROW_MARKS] = std::array::from_fn(|m| &row[m * lanes.n_pad..][j.clone()]);
                        let v = N::dots([&point.w_of[j.clone()], &point.beta_of[j.clone()], &point.sw[j.clone()]], marks, values);
                        let kind = i_sat as usize + side; // 0 cc, 1 cs, 2 ss
                        let acc = &mut acc[p][kind];
                        acc.dd += w * v[0] + beta * v[1] * 2.0;
                        acc.w += s_i * (w * v[2] + beta * v[3] + w * v[4]);
                        acc.h += s_i * (w * v[5] + beta * v[6] * 2.0);
                    }
                }
            }
            for (p, acc) in points.iter_mut().zip(acc) {
                p.sums[CC2 * nb + b] = acc[0];
                p.sums[CS2 * nb + b] = acc[1];
                p.sums[SS2 * nb + b] = acc[2];
            }
        }
    }

    /// The statistics, parts and Jacobian of a point with its sums.
    fn finish<N: Num>(&self, point: Weighed<N>, params: &HodParams, options: &ExpectOptions, jacobian: bool) -> Expectation {
        let Weighed { n_cen, n_sat, var_n, sums, .. } = point;
        let nb = self.n_bins();
        let zero = N::constant(0.0);
        // Ratios of expectations.
        let n_total = n_cen + n_sat;
        let mut norm = n_total * n_total + var_n;
        if options.xi_normalization == XiNormalization::NNMinusOne {
            norm = norm - n_total;
        }
        let edges = self.r_edges();
        let volume: f64 = self.meta.box_size.iter().product();
        let mut out = [vec![0.0; nb], vec![0.0; nb], vec![0.0; nb]];
        let mut parts: Vec<Statistics> = (0..5)
            .map(|_| Statistics { xi: vec![0.0; nb], omega: vec![0.0; nb], eta: vec![0.0; nb] })
            .collect();
        let mut grad = jacobian.then(|| vec![0.0; 3 * nb * N_PARAMS]);
        for b in 0..nb {
            let dv = 4.0 / 3.0 * std::f64::consts::PI * (edges[b + 1].powi(3) - edges[b].powi(3));
            let scale = N::constant(volume / dv) / norm;
            let mut total = Sums { dd: zero, w: zero, h: zero };
            for kind in 0..5 {
                let s = sums[kind * nb + b];
                total.dd += s.dd;
                total.w += s.w;
                total.h += s.h;
            }
            let has_pairs = total.dd.value() > 0.0;
            let xi = total.dd * scale - N::constant(1.0);
            let (omega, eta) = (total.w / total.dd, total.h / total.dd);
            out[0][b] = xi.value();
            out[1][b] = if has_pairs { omega.value() } else { f64::NAN };
            out[2][b] = if has_pairs { eta.value() } else { f64::NAN };
            for (kind, part) in parts.iter_mut().enumerate() {
                let s = sums[kind * nb + b];
                part.xi[b] = (s.dd * scale).value();
                part.omega[b] = if has_pairs { (s.w / total.dd).value() } else { f64::NAN };
                part.eta[b] = if has_pairs { (s.h / total.dd).value() } else { f64::NAN };
            }
            if let Some(g) = grad.as_mut() {
                for (stat, v) in [xi, omega, eta].iter().enumerate() {
                    let d = if has_pairs || stat == 0 { v.gradient() } else { [f64::NAN; N_PARAMS] };
                    g[(stat * nb + b) * N_PARAMS..(stat * nb + b + 1) * N_PARAMS].copy_from_slice(&d);
                }
            }
        }
        let [xi, omega, eta] = out;
        let mut parts = parts.into_iter();
        let mut next = || parts.next().expect("five parts");
        Expectation {
            params: params.to_array(),
            r_edges: edges.to_vec(),
            r_mid: r_mid(edges),
            xi,
            omega,
            eta,
            n_galaxies: n_total.value(),
            n_centrals: n_cen.value(),
            n_satellites: n_sat.value(),
            parts: Parts {
                cen_cen_2h: next(),
                cen_sat_1h: next(),
                cen_sat_2h: next(),
                sat_sat_1h: next(),
                sat_sat_2h: next(),
            },
            jacobian: grad,
        }
    }
}
