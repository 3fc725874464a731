//! Galaxies in halos (docs/science.md sections 2 to 4): the seven model parameters, the
//! Zheng et al. (2007) occupation, where centrals and satellites sit, and their alignments
//! (Dimroth-Watson around the host's major axis for centrals, around the radial direction for
//! satellites). [`simulate`] measures xi, omega and eta over realisations.
//!
//! Units: positions in comoving Mpc/h, masses in Msun/h, velocities in km/s.

mod simulate;
pub mod watson;

use rand::Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use simulate::{simulate, simulate_prepared, SimulateOptions, Simulation};
use watson::{unit_or_random, Watson};

use crate::cosmology::G_NEWTON;
use crate::halos::nfw::nfw_radius;
use crate::halos::{Column, HaloCatalog, HOST_MIN_PARTICLES};
use crate::random::stream;
use crate::{Error, Result};

/// The parameter names, in the one order used everywhere (the emulator's input vector).
pub const PARAM_NAMES: [&str; 7] = [
    "mu_cen",
    "mu_sat",
    "logMmin",
    "sigma_logM",
    "logM0",
    "logM1",
    "alpha",
];

/// One model point (docs/science.md section 2). Masses are log10 of Msun/h.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HodParams {
    /// Central alignment strength, [-1, 1].
    pub mu_cen: f64,
    /// Satellite alignment strength, [-1, 1].
    pub mu_sat: f64,
    /// Mass where half of the halos host a central.
    pub log_m_min: f64,
    /// Width of the central step, > 0.
    pub sigma_log_m: f64,
    /// Satellite cut-off mass.
    pub log_m0: f64,
    /// Satellite normalisation mass.
    pub log_m1: f64,
    /// Satellite power-law slope.
    pub alpha: f64,
}

impl HodParams {
    /// From the seven numbers in [`PARAM_NAMES`] order, checked.
    pub fn from_array(v: [f64; 7]) -> Result<Self> {
        let p = HodParams {
            mu_cen: v[0],
            mu_sat: v[1],
            log_m_min: v[2],
            sigma_log_m: v[3],
            log_m0: v[4],
            log_m1: v[5],
            alpha: v[6],
        };
        p.validate()?;
        Ok(p)
    }

    /// The seven numbers in [`PARAM_NAMES`] order.
    pub fn to_array(&self) -> [f64; 7] {
        [
            self.mu_cen,
            self.mu_sat,
            self.log_m_min,
            self.sigma_log_m,
            self.log_m0,
            self.log_m1,
            self.alpha,
        ]
    }

    /// NaN or infinite values, |mu| > 1 and sigma_logM <= 0 are errors naming the parameter.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in PARAM_NAMES.iter().zip(self.to_array()) {
            if !v.is_finite() {
                return Err(Error::invalid(format!(
                    "parameter {name} is {v}: must be finite"
                )));
            }
        }
        for (name, mu) in [("mu_cen", self.mu_cen), ("mu_sat", self.mu_sat)] {
            if mu.abs() > 1.0 {
                return Err(Error::invalid(format!(
                    "parameter {name} = {mu}: must be in [-1, 1]"
                )));
            }
        }
        if self.sigma_log_m <= 0.0 {
            return Err(Error::invalid(format!(
                "parameter sigma_logM = {}: must be > 0",
                self.sigma_log_m
            )));
        }
        Ok(())
    }

    /// Mean number of centrals in a host of mass `m`:
    /// `0.5 (1 + erf((log10 m - logMmin) / sigma_logM))`.
    pub fn mean_centrals(&self, m: f64) -> f64 {
        self.occupation().centrals(m.log10())
    }

    /// Mean number of satellites in a host of mass `m`: `((m - M0) / M1)^alpha` above M0.
    pub fn mean_satellites(&self, m: f64) -> f64 {
        self.occupation().satellites(m)
    }

    fn occupation(&self) -> Occupation {
        Occupation {
            log_m_min: self.log_m_min,
            sigma_log_m: self.sigma_log_m,
            m0: 10f64.powf(self.log_m0),
            m1: 10f64.powf(self.log_m1),
            alpha: self.alpha,
        }
    }
}

/// The Zheng07 mean occupations with the masses worked out once.
struct Occupation {
    log_m_min: f64,
    sigma_log_m: f64,
    m0: f64,
    m1: f64,
    alpha: f64,
}

impl Occupation {
    fn centrals(&self, log_m: f64) -> f64 {
        0.5 * (1.0 + libm::erf((log_m - self.log_m_min) / self.sigma_log_m))
    }

    fn satellites(&self, m: f64) -> f64 {
        if m <= self.m0 {
            0.0
        } else {
            ((m - self.m0) / self.m1).powf(self.alpha)
        }
    }
}

/// Where satellites are placed (docs/science.md section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SatelliteModel {
    /// Subhalos when the catalogue has any, else NFW.
    Auto,
    /// On the host's subhalos ranked by mpeak; extra satellites at offsets of subhalos of other
    /// hosts of similar mass.
    Subhalos,
    /// NFW-distributed inside rvir (concentration clipped to [2, 20]).
    Nfw,
}

/// Settings of [`populate`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PopulateOptions {
    pub satellites: SatelliteModel,
    /// Multiply the mean satellite number by the mean central number (off by default, as in
    /// the paper's training data).
    pub satellites_times_centrals: bool,
    /// Hosts that take galaxies have mvir above this many particle masses.
    pub min_host_particles: f64,
}

impl Default for PopulateOptions {
    fn default() -> Self {
        PopulateOptions {
            satellites: SatelliteModel::Auto,
            satellites_times_centrals: false,
            min_host_particles: HOST_MIN_PARTICLES,
        }
    }
}

/// A galaxy catalogue made by [`populate`]. Rows: centrals and satellites host by host.
#[derive(Clone, Debug, PartialEq)]
pub struct GalaxyCatalog {
    /// Positions in [0, L), Mpc/h.
    pub positions: Vec<[f64; 3]>,
    /// km/s.
    pub velocities: Vec<[f64; 3]>,
    /// Unit major axes.
    pub orientations: Vec<[f64; 3]>,
    pub is_central: Vec<bool>,
    /// `halo_id` of the host halo.
    pub host_id: Vec<i64>,
    pub box_size: [f64; 3],
}

impl GalaxyCatalog {
    pub fn len(&self) -> usize {
        self.positions.len()
    }
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }
    /// The sample the correlation engine measures.
    pub fn galaxies(&self) -> crate::corr::Galaxies<'_> {
        crate::corr::Galaxies::new(&self.positions, Some(&self.orientations))
    }
}

/// Hosts per random-number block.
const BLOCK: usize = 2048;
/// Host-mass bins for borrowing subhalo offsets.
pub(crate) const OFFSET_BINS: usize = 14;

/// Host-mass bin edges (log10 Msun/h) for borrowing subhalo offsets: 15 edges from 10.5 to
/// 15.2, as in the peer code.
fn offset_bin(log_m: f64) -> Option<usize> {
    let (lo, hi, n) = (10.5, 15.2, OFFSET_BINS);
    let k = ((log_m - lo) / (hi - lo) * n as f64).floor();
    (k >= 0.0 && (k as usize) < n).then_some(k as usize)
}

/// A subhalo's offset from its host centre (Mpc/h, minimum image), velocity relative to the
/// host (km/s), and the host's row.
pub(crate) type Borrowable = ([f64; 3], [f64; 3], usize);

/// A catalogue prepared for populating with one set of [`PopulateOptions`]: the hosts, their
/// subhalos ranked by mpeak, and the pools of subhalo offsets. Making it costs about as much
/// as one realisation on a large catalogue, so [`simulate_prepared`] and the dataset generator
/// make it once and reuse it for every model point.
pub struct PreparedHalos<'a> {
    hosts: Hosts<'a>,
    /// The hosts heaviest first (ties in catalogue order), with their masses: the occupations
    /// fall along this order, so a model point's draws skip the hosts that take no galaxy.
    heaviest_first: Vec<PackedHost>,
    options: PopulateOptions,
}

/// A host as populating reads it first: enough to decide its occupation.
struct PackedHost {
    /// Msun/h, and its log10.
    mvir: f64,
    log_m: f64,
    /// Index into `Hosts::rows`.
    k: u32,
}

impl<'a> PreparedHalos<'a> {
    pub fn new(halos: &'a HaloCatalog, options: &PopulateOptions) -> Result<Self> {
        if !(options.min_host_particles.is_finite() && options.min_host_particles >= 0.0) {
            return Err(Error::invalid(format!(
                "min_host_particles = {}: must be finite and >= 0",
                options.min_host_particles
            )));
        }
        let hosts = Hosts::new(halos, options);
        // Sorted on (log m descending, index): a key whose unsigned order is log m's
        // descending total order, then the index. The hosts are packed before sorting, so
        // that none is looked up in random order afterwards.
        let mvir = halos.col(Column::Mvir);
        let mut heaviest_first: Vec<PackedHost> = (hosts.log_m.iter().zip(&hosts.rows).enumerate())
            .map(|(k, (&log_m, &row))| PackedHost { mvir: mvir[row], log_m, k: k as u32 })
            .collect();
        heaviest_first.sort_unstable_by_key(|h| {
            let b = h.log_m.to_bits();
            let ascending = if b >> 63 == 1 { !b } else { b | 1 << 63 };
            (!ascending, h.k)
        });
        Ok(PreparedHalos {
            hosts,
            heaviest_first,
            options: *options,
        })
    }

    pub fn halos(&self) -> &HaloCatalog {
        self.hosts.halos
    }

    pub(crate) fn hosts(&self) -> &Hosts<'a> {
        &self.hosts
    }

    /// As [`populate`], on the prepared catalogue.
    pub fn populate(&self, params: &HodParams, seed: u64) -> Result<GalaxyCatalog> {
        params.validate()?;
        populate_hosts(self, params, seed)
    }
}

/// What populating needs from a catalogue, worked out once per catalogue and options (also
/// what [`crate::expect`] tabulates).
pub(crate) struct Hosts<'a> {
    pub halos: &'a HaloCatalog,
    /// Catalogue rows of the hosts that take galaxies.
    pub rows: Vec<usize>,
    /// log10 mvir of each host in `rows`.
    pub log_m: Vec<f64>,
    /// Subhalo rows of each host in `rows`, heaviest mpeak first (CSR: start offsets).
    pub sub_start: Vec<usize>,
    pub subs: Vec<usize>,
    /// Each of `subs`' offset from its host's centre (Mpc/h, minimum image) and velocity
    /// relative to it (km/s).
    pub sub_relative: Vec<([f64; 3], [f64; 3])>,
    /// Per offset bin, the subhalos of hosts in that bin.
    pool: Vec<Vec<Borrowable>>,
    /// Satellites sit on subhalos (else NFW).
    pub use_subhalos: bool,
}

pub(crate) fn min_image(d: f64, l: f64) -> f64 {
    d - l * (d / l).round()
}

impl<'a> Hosts<'a> {
    pub fn new(halos: &'a HaloCatalog, opts: &PopulateOptions) -> Self {
        let rows = halos.central_hosts(opts.min_host_particles);
        let has_subhalos = halos.n_hosts() < halos.len();
        let use_subhalos = match opts.satellites {
            SatelliteModel::Auto => has_subhalos,
            SatelliteModel::Subhalos => true,
            SatelliteModel::Nfw => false,
        };
        // Each subhalo's host (an index into `rows`), then the subhalos grouped by host in
        // catalogue order (a counting sort), each group heaviest mpeak first.
        let mut host_of: Vec<(usize, usize)> = Vec::new();
        if use_subhalos {
            let index = crate::halos::IdIndex::new(rows.iter().enumerate().map(|(k, &i)| (halos.id()[i], k)));
            let upid = halos.upid();
            host_of = (0..halos.len())
                .filter(|&i| !halos.is_host(i))
                .filter_map(|i| index.get(upid[i]).map(|k| (k, i)))
                .collect();
        }
        let mut sub_start = vec![0usize; rows.len() + 1];
        for &(k, _) in &host_of {
            sub_start[k + 1] += 1;
        }
        for k in 0..rows.len() {
            sub_start[k + 1] += sub_start[k];
        }
        let mut next = sub_start.clone();
        let mut subs = vec![0usize; host_of.len()];
        for &(k, i) in &host_of {
            subs[next[k]] = i;
            next[k] += 1;
        }
        let mpeak = halos.col(Column::Mpeak);
        for k in 0..rows.len() {
            subs[sub_start[k]..sub_start[k + 1]]
                .sort_by(|&a, &b| mpeak[b].total_cmp(&mpeak[a]).then(a.cmp(&b)));
        }
        let l = halos.box_size();
        let pos = [Column::X, Column::Y, Column::Z].map(|c| halos.col(c));
        let vel = [Column::Vx, Column::Vy, Column::Vz].map(|c| halos.col(c));
        let mut sub_relative = Vec::with_capacity(subs.len());
        for (k, &h) in rows.iter().enumerate() {
            for &s in &subs[sub_start[k]..sub_start[k + 1]] {
                sub_relative.push((
                    std::array::from_fn(|a| min_image(pos[a][s] - pos[a][h], l[a])),
                    std::array::from_fn(|a| vel[a][s] - vel[a][h]),
                ));
            }
        }
        let mvir = halos.col(Column::Mvir);
        let log_m: Vec<f64> = rows.iter().map(|&h| mvir[h].log10()).collect();
        let mut pool_len = [0usize; OFFSET_BINS];
        for (k, &m) in log_m.iter().enumerate() {
            if let Some(bin) = offset_bin(m) {
                pool_len[bin] += sub_start[k + 1] - sub_start[k];
            }
        }
        let mut pool: Vec<Vec<Borrowable>> = pool_len.iter().map(|&n| Vec::with_capacity(n)).collect();
        for (k, &h) in rows.iter().enumerate() {
            if let Some(bin) = offset_bin(log_m[k]) {
                for &(d, dv) in &sub_relative[sub_start[k]..sub_start[k + 1]] {
                    pool[bin].push((d, dv, h));
                }
            }
        }
        Hosts {
            halos,
            rows,
            log_m,
            sub_start,
            subs,
            sub_relative,
            pool,
            use_subhalos,
        }
    }

    /// The subhalo rows of host `k` (an index into `rows`), heaviest first.
    pub fn subhalos_of(&self, k: usize) -> &[usize] {
        &self.subs[self.sub_start[k]..self.sub_start[k + 1]]
    }

    /// The offsets and relative velocities of host `k`'s subhalos ([`Hosts::sub_relative`]),
    /// in the order of [`Hosts::subhalos_of`].
    pub fn sub_relative_of(&self, k: usize) -> &[([f64; 3], [f64; 3])] {
        &self.sub_relative[self.sub_start[k]..self.sub_start[k + 1]]
    }

    /// Where the satellites of host `k` beyond its own subhalos go: `Some(bin)` when they
    /// borrow offsets from [`Hosts::pool`]`(bin)` (leaving out the host's own subhalos, which
    /// are in that pool), `None` when they take NFW positions.
    pub fn borrowing(&self, k: usize) -> Option<usize> {
        if !self.use_subhalos {
            return None;
        }
        let bin = offset_bin(self.log_m[k])?;
        (self.pool[bin].len() > self.subhalos_of(k).len()).then_some(bin)
    }

    /// The subhalo offsets hosts of offset bin `bin` borrow from: (offset, velocity, host row).
    pub fn pool(&self, bin: usize) -> &[Borrowable] {
        &self.pool[bin]
    }

    /// The offset from its centre (Mpc/h) and the relative velocity (km/s) of a satellite of
    /// host `k` beyond its own subhalos: a subhalo of another host of similar mass when
    /// satellites sit on subhalos and one is there to borrow, else an NFW position.
    pub fn extra_offset(&self, k: usize, r: &mut impl Rng) -> ([f64; 3], [f64; 3]) {
        let h = self.rows[k];
        if let Some(bin) = self.borrowing(k) {
            let pool = &self.pool[bin];
            loop {
                let (d, dv, host) = pool[r.random_range(0..pool.len())];
                if host != h {
                    return (d, dv);
                }
            }
        }
        let m = self.halos.col(Column::Mvir)[h];
        nfw_offset(
            m,
            self.halos.col(Column::Rvir)[h],
            self.halos.col(Column::NfwConc)[h],
            r,
        )
    }
}

/// One galaxy before it joins the catalogue.
struct Galaxy {
    pos: [f64; 3],
    vel: [f64; 3],
    axis: [f64; 3],
    central: bool,
    host: i64,
}

/// Puts galaxies into the hosts of `halos` for model point `params`, with random numbers from
/// `seed` (the same catalogue for any thread count). Errors: invalid parameters, or fewer than
/// two galaxies.
pub fn populate(
    halos: &HaloCatalog,
    params: &HodParams,
    seed: u64,
    opts: &PopulateOptions,
) -> Result<GalaxyCatalog> {
    params.validate()?;
    PreparedHalos::new(halos, opts)?.populate(params, seed)
}

fn populate_hosts(prepared: &PreparedHalos, params: &HodParams, seed: u64) -> Result<GalaxyCatalog> {
    let (hosts, packed, opts) = (&prepared.hosts, &prepared.heaviest_first, &prepared.options);
    let halos = hosts.halos;
    let l = halos.box_size();
    let [pos, vel, axis] = [
        [Column::X, Column::Y, Column::Z],
        [Column::Vx, Column::Vy, Column::Vz],
        [Column::AxisAX, Column::AxisAY, Column::AxisAZ],
    ]
    .map(|c| c.map(|c| halos.col(c)));
    let (w_cen, w_sat) = (Watson::new(params.mu_cen), Watson::new(params.mu_sat));
    let n_hosts = hosts.rows.len();
    let occupation = params.occupation();
    let p_cen = |t: usize| occupation.centrals(packed[t].log_m);
    let mean_sat = |t: usize| {
        let mean = occupation.satellites(packed[t].mvir);
        if opts.satellites_times_centrals && mean > 0.0 {
            mean * occupation.centrals(packed[t].log_m)
        } else {
            mean
        }
    };
    // Both occupations grow with mass (for alpha >= 0), so along the hosts heaviest first
    // they fall and a block's first host bounds the rest.
    let sat_bounded = params.alpha >= 0.0;

    let blocks: Vec<Vec<Galaxy>> = (0..n_hosts.div_ceil(BLOCK))
        .into_par_iter()
        .map(|block| {
            let mut r = stream(seed, 10, block as u64);
            let span = block * BLOCK..((block + 1) * BLOCK).min(n_hosts);
            // Which hosts take a central, and which take satellites (and how many).
            let centrals = occupied(span.clone(), true, &p_cen, &mut r);
            let sat_prob = |t: usize| -(-mean_sat(t)).exp_m1();
            let with_sats = occupied(span, sat_bounded, &sat_prob, &mut r);
            let n_sats = with_sats
                .iter()
                .map(|&t| {
                    let mean = mean_sat(t);
                    at_least_one_poisson(mean, &mut r).ok_or_else(|| {
                        Error::invalid(format!(
                            "the model point {:?} gives a host of {:.3e} Msun/h a mean of {mean:.3e} satellites (at most {MAX_MEAN_SATELLITES:.0e})",
                            params.to_array(),
                            packed[t].mvir
                        ))
                    })
                })
                .collect::<Result<Vec<usize>>>()?;
            let mut out = Vec::with_capacity(centrals.len() + n_sats.iter().sum::<usize>());
            let (mut c, mut s) = (0, 0);
            // Host by host, heaviest first: its central, then its satellites.
            while c < centrals.len() || s < with_sats.len() {
                let next = |list: &[usize], i: usize| list.get(i).copied().unwrap_or(usize::MAX);
                let t = next(&centrals, c).min(next(&with_sats, s));
                let k = packed[t].k as usize;
                let h = hosts.rows[k];
                let hp: [f64; 3] = std::array::from_fn(|a| pos[a][h]);
                let hv: [f64; 3] = std::array::from_fn(|a| vel[a][h]);
                let id = halos.id()[h];
                if centrals.get(c) == Some(&t) {
                    c += 1;
                    let reference = unit_or_random(std::array::from_fn(|a| axis[a][h]), &mut r);
                    out.push(Galaxy {
                        pos: hp,
                        vel: hv,
                        axis: w_cen.sample_axis(reference, &mut r),
                        central: true,
                        host: id,
                    });
                }
                if with_sats.get(s) != Some(&t) {
                    continue;
                }
                let n_sat = n_sats[s];
                s += 1;
                // (Hosts have subhalos here only when satellites sit on them.)
                let own = hosts.sub_relative_of(k);
                for j in 0..n_sat {
                    let (offset, dv) = match own.get(j) {
                        Some(&relative) => relative,
                        None => hosts.extra_offset(k, &mut r),
                    };
                    let sp: [f64; 3] = std::array::from_fn(|a| {
                        (hp[a] + offset[a])
                            .rem_euclid(l[a])
                            .min(l[a] * (1.0 - f64::EPSILON))
                    });
                    let reference = unit_or_random(offset, &mut r);
                    out.push(Galaxy {
                        pos: sp,
                        vel: std::array::from_fn(|a| hv[a] + dv[a]),
                        axis: w_sat.sample_axis(reference, &mut r),
                        central: false,
                        host: id,
                    });
                }
            }
            Ok(out)
        })
        .collect::<Result<_>>()?;

    let n: usize = blocks.iter().map(Vec::len).sum();
    if n < 2 {
        return Err(Error::invalid(format!(
            "the model point {:?} puts {n} galaxies in this catalogue ({} hosts); at least 2 are needed",
            params.to_array(),
            n_hosts
        )));
    }
    let mut cat = GalaxyCatalog {
        positions: Vec::with_capacity(n),
        velocities: Vec::with_capacity(n),
        orientations: Vec::with_capacity(n),
        is_central: Vec::with_capacity(n),
        host_id: Vec::with_capacity(n),
        box_size: l,
    };
    for g in blocks.into_iter().flatten() {
        cat.positions.push(g.pos);
        cat.velocities.push(g.vel);
        cat.orientations.push(g.axis);
        cat.is_central.push(g.central);
        cat.host_id.push(g.host);
    }
    Ok(cat)
}

/// Below this chance for the first host of a stretch, [`occupied`] jumps between the hosts
/// that take a galaxy rather than drawing for each.
const SPARSE: f64 = 0.1;

/// The hosts of `span` (positions in the heaviest-first order) that take a galaxy, host `t`
/// with chance `prob(t)`, in order. With `bounded` (the chance does not grow along the span),
/// where the first host's chance p is below [`SPARSE`] the draws jump from one candidate to
/// the next by geometric gaps at p, each candidate kept with chance prob(t) / p: the same
/// law as one Bernoulli draw per host (thinning), at a cost in proportion to the hosts kept.
fn occupied(span: std::ops::Range<usize>, bounded: bool, prob: &impl Fn(usize) -> f64, r: &mut impl Rng) -> Vec<usize> {
    let mut out = Vec::new();
    let mut t = span.start;
    while t < span.end {
        let p = prob(t);
        if !bounded || p >= SPARSE {
            if r.random::<f64>() < p {
                out.push(t);
            }
            t += 1;
            continue;
        }
        if p <= 0.0 {
            break;
        }
        // The rest of the span at the bound p; fall back to host-by-host draws where the
        // chances come close to it again (they do not, hosts heaviest first).
        let log_q = (-p).ln_1p();
        loop {
            let gap = ((1.0 - r.random::<f64>()).ln() / log_q).floor();
            // (Written so that a NaN gap also ends the span.)
            if !(gap < (span.end - t) as f64) {
                return out;
            }
            t += gap as usize;
            if r.random::<f64>() * p < prob(t) {
                out.push(t);
            }
            t += 1;
        }
    }
    out
}

/// Most satellites a host may take on average.
const MAX_MEAN_SATELLITES: f64 = 1e8;

/// A Poisson number with mean `mean` > 0 given that it is at least one: inversion from one
/// for small means, else Poisson draws until one is not zero (at least 63% kept). None for a
/// mean above [`MAX_MEAN_SATELLITES`] (or not finite).
fn at_least_one_poisson(mean: f64, r: &mut impl Rng) -> Option<usize> {
    if mean > 1.0 {
        let poisson = Poisson::new(mean).ok().filter(|_| mean <= MAX_MEAN_SATELLITES)?;
        loop {
            let n = poisson.sample(r) as usize;
            if n > 0 {
                return Some(n);
            }
        }
    }
    // P(n) / P(n >= 1) = mean^n e^-mean / (n! (1 - e^-mean)).
    let mut u = r.random::<f64>();
    let mut term = mean * (-mean).exp() / -(-mean).exp_m1();
    let mut n = 1;
    while u >= term && term > 0.0 {
        u -= term;
        n += 1;
        term *= mean / n as f64;
    }
    Some(n)
}

/// An NFW offset inside rvir (concentration clipped to [2, 20]) and a virial velocity.
fn nfw_offset(m: f64, rvir: f64, conc: f64, r: &mut impl Rng) -> ([f64; 3], [f64; 3]) {
    let s = nfw_radius(conc.clamp(2.0, 20.0), r.random());
    let dir = crate::random::unit_vector(r);
    let sigma = (G_NEWTON * m / rvir).sqrt() / std::f64::consts::SQRT_2;
    (
        dir.map(|d| d * s * rvir),
        std::array::from_fn(|_| sigma * r.sample::<f64, _>(StandardNormal)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Over many spans, each position is kept as often as its chance says (binomial bounds,
    /// 5 sd), in the dense and the sparse regime and across the switch between them.
    #[test]
    fn occupied_keeps_each_host_with_its_chance() {
        let n = 400;
        let prob = |t: usize| 0.3 * (-(t as f64) / 40.0).exp();
        let trials = 20_000;
        let mut kept = vec![0u32; n];
        let mut r = stream(5, 99, 0);
        for _ in 0..trials {
            let mut last = None;
            for t in occupied(0..n, true, &prob, &mut r) {
                assert!(last.is_none_or(|l| t > l), "positions in order, once each");
                last = Some(t);
                kept[t] += 1;
            }
        }
        for (t, &k) in kept.iter().enumerate() {
            let (e, p) = (trials as f64 * prob(t), prob(t));
            let sd = (trials as f64 * p * (1.0 - p)).sqrt();
            assert!((k as f64 - e).abs() <= 5.0 * sd + 1.0, "position {t}: kept {k}, expected {e:.1}");
        }
    }

    /// The law of a Poisson number given at least one, on both sides of mean 1: frequencies
    /// of 1..6 against mean^n e^-mean / (n! (1 - e^-mean)), 5 sd.
    #[test]
    fn at_least_one_poisson_follows_its_law() {
        let mut r = stream(6, 99, 0);
        for mean in [0.01, 0.4, 1.0, 2.5] {
            let trials = 50_000;
            let mut seen = [0u32; 7];
            for _ in 0..trials {
                let n = at_least_one_poisson(mean, &mut r).expect("a small mean");
                assert!(n >= 1);
                seen[n.min(6)] += 1;
            }
            let mut pmf = mean * (-mean).exp() / -(-mean).exp_m1();
            for (n, &s) in seen.iter().enumerate().take(6).skip(1) {
                let e = trials as f64 * pmf;
                let sd = (trials as f64 * pmf * (1.0 - pmf)).sqrt();
                assert!((s as f64 - e).abs() <= 5.0 * sd + 1.0, "mean {mean}, n = {n}: {s} vs {e:.1}");
                pmf *= mean / (n + 1) as f64;
            }
        }
        assert!(at_least_one_poisson(f64::INFINITY, &mut r).is_none());
        assert!(at_least_one_poisson(1e12, &mut r).is_none());
    }
}
