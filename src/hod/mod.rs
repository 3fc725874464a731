//! Galaxies in halos (docs/science.md sections 2 to 4): the seven model parameters, the
//! Zheng et al. (2007) occupation, where centrals and satellites sit, and their alignments
//! (Dimroth-Watson around the host's major axis for centrals, around the radial direction for
//! satellites). [`simulate`] measures xi, omega and eta over realisations.
//!
//! Units: positions in comoving Mpc/h, masses in Msun/h, velocities in km/s.

mod simulate;
pub mod watson;

use std::collections::HashMap;

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
    options: PopulateOptions,
}

impl<'a> PreparedHalos<'a> {
    pub fn new(halos: &'a HaloCatalog, options: &PopulateOptions) -> Result<Self> {
        if !(options.min_host_particles.is_finite() && options.min_host_particles >= 0.0) {
            return Err(Error::invalid(format!(
                "min_host_particles = {}: must be finite and >= 0",
                options.min_host_particles
            )));
        }
        Ok(PreparedHalos {
            hosts: Hosts::new(halos, options),
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
        populate_hosts(&self.hosts, params, seed, &self.options)
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
        let index: HashMap<i64, usize> = rows
            .iter()
            .enumerate()
            .map(|(k, &i)| (halos.id()[i], k))
            .collect();
        let mut lists: Vec<Vec<usize>> = vec![Vec::new(); rows.len()];
        if use_subhalos {
            for i in 0..halos.len() {
                if !halos.is_host(i) {
                    if let Some(&k) = index.get(&halos.upid()[i]) {
                        lists[k].push(i);
                    }
                }
            }
        }
        let mpeak = halos.col(Column::Mpeak);
        let (mut sub_start, mut subs) = (vec![0], Vec::new());
        for list in lists.iter_mut() {
            list.sort_by(|&a, &b| mpeak[b].total_cmp(&mpeak[a]).then(a.cmp(&b)));
            subs.extend_from_slice(list);
            sub_start.push(subs.len());
        }
        let mut pool = vec![Vec::new(); OFFSET_BINS];
        if use_subhalos {
            let l = halos.box_size();
            let (mvir, pos, vel) = (
                halos.col(Column::Mvir),
                [
                    halos.col(Column::X),
                    halos.col(Column::Y),
                    halos.col(Column::Z),
                ],
                [
                    halos.col(Column::Vx),
                    halos.col(Column::Vy),
                    halos.col(Column::Vz),
                ],
            );
            for (k, &h) in rows.iter().enumerate() {
                if let Some(bin) = offset_bin(mvir[h].log10()) {
                    for &s in &subs[sub_start[k]..sub_start[k + 1]] {
                        let d: [f64; 3] =
                            std::array::from_fn(|a| min_image(pos[a][s] - pos[a][h], l[a]));
                        let dv: [f64; 3] = std::array::from_fn(|a| vel[a][s] - vel[a][h]);
                        pool[bin].push((d, dv, h));
                    }
                }
            }
        }
        let mvir = halos.col(Column::Mvir);
        let log_m = rows.iter().map(|&h| mvir[h].log10()).collect();
        Hosts {
            halos,
            rows,
            log_m,
            sub_start,
            subs,
            pool,
            use_subhalos,
        }
    }

    /// The subhalo rows of host `k` (an index into `rows`), heaviest first.
    pub fn subhalos_of(&self, k: usize) -> &[usize] {
        &self.subs[self.sub_start[k]..self.sub_start[k + 1]]
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

fn populate_hosts(
    hosts: &Hosts,
    params: &HodParams,
    seed: u64,
    opts: &PopulateOptions,
) -> Result<GalaxyCatalog> {
    let halos = hosts.halos;
    let l = halos.box_size();
    let mvir = halos.col(Column::Mvir);
    let pos = [
        halos.col(Column::X),
        halos.col(Column::Y),
        halos.col(Column::Z),
    ];
    let vel = [
        halos.col(Column::Vx),
        halos.col(Column::Vy),
        halos.col(Column::Vz),
    ];
    let axis = [
        halos.col(Column::AxisAX),
        halos.col(Column::AxisAY),
        halos.col(Column::AxisAZ),
    ];
    let (w_cen, w_sat) = (Watson::new(params.mu_cen), Watson::new(params.mu_sat));
    let n_hosts = hosts.rows.len();
    let occupation = params.occupation();

    let blocks: Vec<Vec<Galaxy>> = (0..n_hosts.div_ceil(BLOCK))
        .into_par_iter()
        .map(|block| {
            let mut r = stream(seed, 10, block as u64);
            let mut out = Vec::new();
            for k in block * BLOCK..((block + 1) * BLOCK).min(n_hosts) {
                let h = hosts.rows[k];
                let m = mvir[h];
                let hp: [f64; 3] = std::array::from_fn(|a| pos[a][h]);
                let hv: [f64; 3] = std::array::from_fn(|a| vel[a][h]);
                let id = halos.id()[h];
                let p_cen = occupation.centrals(hosts.log_m[k]);
                if r.random::<f64>() < p_cen {
                    let reference = unit_or_random(std::array::from_fn(|a| axis[a][h]), &mut r);
                    out.push(Galaxy {
                        pos: hp,
                        vel: hv,
                        axis: w_cen.sample_axis(reference, &mut r),
                        central: true,
                        host: id,
                    });
                }
                let mut mean_sat = occupation.satellites(m);
                if opts.satellites_times_centrals {
                    mean_sat *= p_cen;
                }
                let n_sat = if mean_sat > 0.0 {
                    Poisson::new(mean_sat)
                        .map(|p| p.sample(&mut r) as usize)
                        .unwrap_or(0)
                } else {
                    0
                };
                let own = &hosts.subs[hosts.sub_start[k]..hosts.sub_start[k + 1]];
                for j in 0..n_sat {
                    let (offset, dv) = if hosts.use_subhalos && j < own.len() {
                        let s = own[j];
                        (
                            std::array::from_fn(|a| min_image(pos[a][s] - hp[a], l[a])),
                            std::array::from_fn(|a| vel[a][s] - hv[a]),
                        )
                    } else {
                        hosts.extra_offset(k, &mut r)
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
            out
        })
        .collect();

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
