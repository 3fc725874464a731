//! Building a [`Table`]: the 1-halo sums host by host, the 2-halo sums with the correlation
//! engine's grid and kernel (categories and marks), and the host counts the weights need.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::nfw_pairs::{self, NfwPairs};
use super::{category_key, rank_group, Progress, Table, TableMeta, CEN, FORMAT_VERSION, KINDS, MARKS_1H, MARKS_2H, RANK_GROUPS, RND, SUB, SUB_BINS};
use crate::corr::{self, CorrelationOptions, Galaxies, XiNormalization};
use crate::halos::{Column, HaloCatalog, HOST_MIN_PARTICLES};
use crate::hod::watson::unit_or_random;
use crate::hod::{PopulateOptions, PreparedHalos, SatelliteModel, OFFSET_BINS};
use crate::random::stream;
use crate::shard::Shard;
use crate::{Error, Result};

/// Settings of [`Table::build`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableOptions {
    /// Bin edges, Mpc/h (default: the 20 bins of docs/science.md section 5).
    pub r_edges: Vec<f64>,
    /// Where satellites sit; `Auto` takes subhalos when the catalogue has any.
    pub satellites: SatelliteModel,
    /// Hosts that take galaxies have mvir above this many particle masses.
    pub min_host_particles: f64,
    /// Width of the host-mass bins, dex (0.01 to 1).
    pub mass_bin_dex: f64,
    /// Satellites beyond a host's subhalos borrow offsets of other hosts' subhalos: their
    /// 1-halo pair sums with each other and with the host's subhalos are averaged over this
    /// many independent draws per host-mass bin (shared among its hosts). (With the central
    /// they are exact, as are all 1-halo sums of NFW positions.)
    pub draws_per_mass_bin: u64,
    /// The same in pairs across hosts (each weighing 1 / its host's count): at least this
    /// many per host, and more in heavier hosts (whose satellites are more numerous):
    /// [`TWO_HALO_TRACERS_PER_MASS`] per 1e12 Msun/h of the mass bin's upper edge.
    pub tracers_two_halo: usize,
    /// Seed of the random positions.
    pub seed: u64,
    /// Threads (None: the library default).
    #[serde(skip)]
    pub threads: Option<usize>,
}

/// The defaults: default bins, satellite model from the catalogue, 300 particles, 0.2 dex
/// mass bins, 2^21 draws of borrowed offsets per mass bin, 1 random position per host across
/// hosts.
pub fn default_table_options() -> TableOptions {
    TableOptions {
        r_edges: corr::default_r_edges(),
        satellites: SatelliteModel::Auto,
        min_host_particles: HOST_MIN_PARTICLES,
        mass_bin_dex: 0.2,
        draws_per_mass_bin: 1 << 21,
        tracers_two_halo: 1,
        seed: 1,
        threads: None,
    }
}

impl Default for TableOptions {
    fn default() -> Self {
        default_table_options()
    }
}

impl TableOptions {
    fn validate(&self, box_size: [f64; 3]) -> Result<()> {
        if !(self.mass_bin_dex.is_finite() && (0.01..=1.0).contains(&self.mass_bin_dex)) {
            return Err(Error::invalid(format!(
                "mass_bin_dex = {}: must be between 0.01 and 1",
                self.mass_bin_dex
            )));
        }
        if !(1024..=1 << 30).contains(&self.draws_per_mass_bin) {
            return Err(Error::invalid(format!(
                "draws_per_mass_bin = {}: must be between 1024 and 2^30",
                self.draws_per_mass_bin
            )));
        }
        if !(1..=64).contains(&self.tracers_two_halo) {
            return Err(Error::invalid(format!(
                "tracers_two_halo = {}: must be between 1 and 64",
                self.tracers_two_halo
            )));
        }
        corr::check_options(&self.correlation(box_size))
    }

    fn correlation(&self, box_size: [f64; 3]) -> CorrelationOptions {
        CorrelationOptions {
            r_edges: self.r_edges.clone(),
            box_size,
            xi_normalization: XiNormalization::NSquared,
            jackknife: None,
            covariance: false,
            threads: self.threads,
        }
    }
}

/// Random positions per host in the 2-halo sums per 1e12 Msun/h of host mass, at least.
pub const TWO_HALO_TRACERS_PER_MASS: f64 = 2.0;
/// Most random positions per host.
pub const MAX_TRACERS: usize = 1024;

/// Random-number purposes of the tracers.
const PURPOSE_ONE_HALO: u64 = 31;
const PURPOSE_TWO_HALO: u64 = 32;
/// Hosts per work item of the 1-halo sums.
const HOST_BLOCK: usize = 256;

/// A host's objects relative to its centre: offsets (Mpc/h) and unit axes.
struct HostObjects {
    centre: [f64; 3],
    axis: [f64; 3],
    sub_offset: Vec<[f64; 3]>,
    sub_axis: Vec<[f64; 3]>,
}

impl Table {
    /// Tabulates `halos` (docs/science.md section 11). `progress(stage, done, total)` reports
    /// the two stages, "1-halo pairs" (hosts) and "2-halo pairs" (cell chunks), from worker
    /// threads. Errors: invalid options, bins the box cannot hold, no host above the mass cut,
    /// or a table beyond the memory budget. (A share of the work: [`TableShard::build`].)
    pub fn build(
        halos: &HaloCatalog,
        options: &TableOptions,
        progress: Option<Progress>,
    ) -> Result<Table> {
        let (mut table, two_halo) = build(halos, options, Shard::WHOLE, progress)?;
        table.set_two_halo(&two_halo);
        Ok(table)
    }
}

/// The table of `halos` with the `shard`'s share of the pair sums (its blocks of hosts in the
/// 1-halo sums, its chunks of grid cells as first objects in the 2-halo sums) and everything
/// else whole; the 2-halo sums in f64, apart (the table's `two_halo` is left empty).
pub(super) fn build(
    halos: &HaloCatalog,
    options: &TableOptions,
    shard: Shard,
    progress: Option<Progress>,
) -> Result<(Table, Vec<f64>)> {
    options.validate(halos.box_size())?;
    crate::threads::install(options.threads, || build_in_pool(halos, options, shard, progress))?
}

fn build_in_pool(
    halos: &HaloCatalog,
    options: &TableOptions,
    shard: Shard,
    progress: Option<Progress>,
) -> Result<(Table, Vec<f64>)> {
    let populate = PopulateOptions {
        satellites: options.satellites,
        satellites_times_centrals: false,
        min_host_particles: options.min_host_particles,
    };
    let prepared = PreparedHalos::new(halos, &populate)?;
    let hosts = prepared.hosts();
    let n_hosts = hosts.rows.len();
    if n_hosts == 0 {
        return Err(Error::invalid(format!(
            "no host halo above {} particles ({:.3e} Msun/h) with a major axis: nothing to tabulate",
            options.min_host_particles,
            options.min_host_particles * halos.particle_mass()
        )));
    }
    let nb = options.r_edges.len() - 1;
    let dex = options.mass_bin_dex;
    let lo = hosts.log_m.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = hosts.log_m.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let log_m_lo = (lo / dex).floor() * dex;
    let n_mass = ((hi - log_m_lo) / dex).floor() as usize + 1;
    let place = |log_m: f64| {
        let x = (log_m - log_m_lo) / dex;
        let a = (x.floor().max(0.0) as usize).min(n_mass - 1);
        let q = (((x - a as f64) * SUB_BINS as f64).max(0.0) as usize).min(SUB_BINS - 1);
        (a, q)
    };
    let n_sub: Vec<usize> = (0..n_hosts).map(|k| hosts.subhalos_of(k).len()).collect();

    // Host counts and mean log masses per (mass bin, sub-bin); rank and excess rows.
    let mut host_counts = vec![0.0; n_mass * SUB_BINS];
    let mut node_log_m = vec![0.0; n_mass * SUB_BINS];
    let mut max_rank = vec![0usize; n_mass];
    let mut excess: Vec<BTreeMap<usize, usize>> = vec![BTreeMap::new(); n_mass];
    let placed: Vec<(usize, usize)> = hosts.log_m.iter().map(|&m| place(m)).collect();
    for k in 0..n_hosts {
        let (a, q) = placed[k];
        host_counts[a * SUB_BINS + q] += 1.0;
        node_log_m[a * SUB_BINS + q] += hosts.log_m[k];
        max_rank[a] = max_rank[a].max(n_sub[k]);
        excess[a].insert(n_sub[k], 0);
    }
    for (s, c) in node_log_m.iter_mut().zip(&host_counts) {
        if *c > 0.0 {
            *s /= c;
        }
    }
    // Random positions per host of each mass bin.
    let hosts_in = |a: usize| row_count(&host_counts, a).max(1.0);
    let t2_of: Vec<usize> = (0..n_mass)
        .map(|a| {
            let upper = 10f64.powf(log_m_lo + (a + 1) as f64 * dex);
            ((TWO_HALO_TRACERS_PER_MASS * upper / 1e12).ceil() as usize)
                .clamp(options.tracers_two_halo, MAX_TRACERS.max(options.tracers_two_halo))
        })
        .collect();
    let mut rank_start = vec![0usize; n_mass + 1];
    for a in 0..n_mass {
        rank_start[a + 1] = rank_start[a] + max_rank[a];
    }
    let (mut excess_start, mut excess_n) = (vec![0usize], Vec::new());
    for map in excess.iter_mut() {
        for (n, row) in map.iter_mut() {
            *row = excess_n.len();
            excess_n.push(*n);
        }
        excess_start.push(excess_n.len());
    }
    let (n_rank, n_excess) = (rank_start[n_mass], excess_n.len());
    let mut rank_counts = vec![0.0; n_rank * SUB_BINS];
    let mut excess_counts = vec![0.0; n_excess * SUB_BINS];
    // Mean log mass of each row's hosts.
    let (mut rank_mean, mut excess_mean) = (vec![0.0; n_rank], vec![0.0; n_excess]);
    for k in 0..n_hosts {
        let (a, q) = placed[k];
        for rank in 0..n_sub[k] {
            rank_counts[(rank_start[a] + rank) * SUB_BINS + q] += 1.0;
            rank_mean[rank_start[a] + rank] += hosts.log_m[k];
        }
        excess_counts[excess[a][&n_sub[k]] * SUB_BINS + q] += 1.0;
        excess_mean[excess[a][&n_sub[k]]] += hosts.log_m[k];
    }
    for (row, m) in rank_mean.iter_mut().enumerate() {
        *m /= row_count(&rank_counts, row).max(1.0);
    }
    for (row, m) in excess_mean.iter_mut().enumerate() {
        *m /= row_count(&excess_counts, row).max(1.0);
    }
    let row_len = nb * MARKS_1H;
    crate::memory::ensure(
        "the 1-halo sums of a table",
        (crate::threads::num_threads()? * (2 * n_rank + 3 * n_excess) * row_len * 8) as f64,
    )?;

    // Each host's objects relative to its centre.
    let l = halos.box_size();
    let pos = [halos.col(Column::X), halos.col(Column::Y), halos.col(Column::Z)];
    let axis = [halos.col(Column::AxisAX), halos.col(Column::AxisAY), halos.col(Column::AxisAZ)];
    let objects = |k: usize, r: &mut rand_chacha::ChaCha8Rng| {
        let h = hosts.rows[k];
        let centre: [f64; 3] = std::array::from_fn(|d| pos[d][h]);
        let sub_offset: Vec<[f64; 3]> = hosts.sub_relative_of(k).iter().map(|r| r.0).collect();
        HostObjects {
            centre,
            axis: unit_or_random(std::array::from_fn(|d| axis[d][h]), r),
            sub_axis: sub_offset.iter().map(|&o| unit_or_random(o, r)).collect(),
            sub_offset,
        }
    };

    // 1-halo sums: blocks of hosts dealt to the workers in a fixed interleaving.
    let e2: Vec<f64> = options.r_edges.iter().map(|r| r * r).collect();
    let blocks: Vec<usize> = (0..n_hosts.div_ceil(HOST_BLOCK)).filter(|&b| shard.takes(b)).collect();
    let n_mine = blocks.iter().map(|&b| ((b + 1) * HOST_BLOCK).min(n_hosts) - b * HOST_BLOCK).sum::<usize>();
    let workers = rayon::current_num_threads().min(blocks.len()).max(1);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let nfw = NfwPairs::new();
    let moments: Vec<Vec<[f64; 7]>> =
        (0..OFFSET_BINS).map(|o| offset_moments(hosts.pool(o).iter().map(|e| e.0), &e2)).collect();
    let (conc, rvir) = (halos.col(Column::NfwConc), halos.col(Column::Rvir));
    let draws = options.draws_per_mass_bin as f64;
    let subs_in = |a: usize| -> f64 { rank_counts[rank_start[a] * SUB_BINS..rank_start[a + 1] * SUB_BINS].iter().sum::<f64>().max(1.0) };
    let pairs_of: Vec<usize> = (0..n_mass).map(|a| ((draws / hosts_in(a)).ceil() as usize).clamp(8, 1 << 22)).collect();
    let samples_of: Vec<usize> = (0..n_mass).map(|a| ((draws / subs_in(a)).ceil() as usize).clamp(4, 1 << 16)).collect();
    let partial: Vec<[Vec<f64>; 5]> = (0..workers)
        .into_par_iter()
        .map(|worker| {
            let mut sums: [Vec<f64>; 5] = [
                vec![0.0; n_rank * row_len],
                vec![0.0; n_rank * row_len],
                vec![0.0; n_excess * row_len],
                vec![0.0; n_excess * row_len],
                vec![0.0; n_excess * row_len],
            ];
            let [cen_sub, sub_sub, cen_rnd, sub_rnd, rnd_rnd] = &mut sums;
            for &block in blocks.iter().skip(worker).step_by(workers) {
                for k in block * HOST_BLOCK..((block + 1) * HOST_BLOCK).min(n_hosts) {
                    let mut r = stream(options.seed, PURPOSE_ONE_HALO, k as u64);
                    let o = objects(k, &mut r);
                    let (a, _) = placed[k];
                    let origin = [0.0; 3];
                    // Subhalo slots: the central with each, each with those before it.
                    let log_m = hosts.log_m[k];
                    for (rank, (&d, &e)) in o.sub_offset.iter().zip(&o.sub_axis).enumerate() {
                        let x = log_m - rank_mean[rank_start[a] + rank];
                        let row = (rank_start[a] + rank) * row_len;
                        add_pair(&mut cen_sub[row..row + row_len], &e2, (origin, o.axis), (d, e), 1.0, false, x);
                        for (&d0, &e0) in o.sub_offset[..rank].iter().zip(&o.sub_axis) {
                            add_pair(&mut sub_sub[row..row + row_len], &e2, (d0, e0), (d, e), 1.0, true, x);
                        }
                    }
                    // Random slots: expected sums per pair of slots.
                    let x = log_m - excess_mean[excess[a][&n_sub[k]]];
                    let row = excess[a][&n_sub[k]] * row_len;
                    let (cr, rr) = (&mut cen_rnd[row..row + row_len], &mut rnd_rnd[row..row + row_len]);
                    let draw = |r: &mut rand_chacha::ChaCha8Rng| {
                        let d = hosts.extra_offset(k, r).0;
                        (d, unit_or_random(d, r))
                    };
                    match hosts.borrowing(k) {
                        Some(bin) => {
                            // The central with a borrowed offset: exact over the pool, less
                            // the host's own subhalos.
                            let own = offset_moments(o.sub_offset.iter().copied(), &e2);
                            let n_pool = (hosts.pool(bin).len() - o.sub_offset.len()) as f64;
                            for (b, (all, mine)) in moments[bin].iter().zip(&own).enumerate() {
                                let m: [f64; 7] = std::array::from_fn(|i| (all[i] - mine[i]) / n_pool);
                                let e = o.axis;
                                let a_m_a = e[0] * e[0] * m[1] + e[1] * e[1] * m[4] + e[2] * e[2] * m[6]
                                    + 2.0 * (e[0] * e[1] * m[2] + e[0] * e[2] * m[3] + e[1] * e[2] * m[5]);
                                let g = a_m_a - m[0] / 3.0;
                                add_marks(cr, b, [2.0 * m[0], g, 2.0 / 3.0 * m[0], 2.0 * g], x);
                            }
                            // Two borrowed offsets: independent pairs drawn.
                            let n = pairs_of[a];
                            for _ in 0..n {
                                let (p, q) = (draw(&mut r), draw(&mut r));
                                add_pair(rr, &e2, p, q, 0.5 / n as f64, true, x);
                            }
                        }
                        None => {
                            // NFW positions: the enclosed mass, and the tabulated pair sums.
                            let (c, rv) = (conc[hosts.rows[k]], rvir[hosts.rows[k]]);
                            for b in 0..nb {
                                let (lo, hi) = (options.r_edges[b] / rv, options.r_edges[b + 1] / rv);
                                let share = nfw_pairs::enclosed(c, hi) - nfw_pairs::enclosed(c, lo);
                                add_marks(cr, b, [2.0 * share, 0.0, 2.0 / 3.0 * share, 0.0], x);
                                let (u, l) = (nfw.cumulative(c, hi), nfw.cumulative(c, lo));
                                add_marks(rr, b, [u[0] - l[0], u[1] - l[1], 0.0, u[2] - l[2]], x);
                            }
                        }
                    }
                    // Each subhalo slot with a random slot: drawn.
                    let n = samples_of[a];
                    for (&d0, &e0) in o.sub_offset.iter().zip(&o.sub_axis) {
                        for _ in 0..n {
                            let q = draw(&mut r);
                            add_pair(&mut sub_rnd[row..row + row_len], &e2, (d0, e0), q, 1.0 / n as f64, true, x);
                        }
                    }
                }
                if let Some(p) = progress {
                    let n = ((block + 1) * HOST_BLOCK).min(n_hosts) - block * HOST_BLOCK;
                    let n = done.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
                    p("1-halo pairs", n, n_mine);
                }
            }
            sums
        })
        .collect();
    let mut partial = partial.into_iter();
    let mut one_halo = partial.next().expect("at least one worker");
    for p in partial {
        for (total, part) in one_halo.iter_mut().zip(&p) {
            for (s, v) in total.iter_mut().zip(part) {
                *s += v;
            }
        }
    }
    let [cen_sub, sub_sub, cen_rnd, sub_rnd, rnd_rnd] = one_halo;

    // 2-halo sums: every central, subhalo slot and random position, by category.
    let n_objects = n_hosts + hosts.subs.len() + placed.iter().map(|&(a, _)| t2_of[a]).sum::<usize>();
    crate::memory::ensure(
        &format!("the {n_objects} objects of a 2-halo table"),
        n_objects as f64 * (72.0 + 136.0),
    )?;
    // Categories that hold objects, numbered densely.
    let mut category = vec![usize::MAX; KINDS * n_mass * RANK_GROUPS];
    for k in 0..n_hosts {
        let (a, _) = placed[k];
        category[category_key(CEN, a, 0, n_mass)] = 0;
        category[category_key(RND, a, rank_group(n_sub[k]), n_mass)] = 0;
        for rank in 0..n_sub[k] {
            category[category_key(SUB, a, rank_group(rank), n_mass)] = 0;
        }
    }
    let mut n_cat = 0;
    for c in category.iter_mut().filter(|c| **c != usize::MAX) {
        *c = n_cat;
        n_cat += 1;
    }
    let id = |kind: usize, a: usize, g: usize| category[category_key(kind, a, g, n_mass)] as u32;
    // Mean host log mass of each category's objects (a host's random positions count once).
    let (mut cat_sum, mut cat_count) = (vec![0.0f64; n_cat], vec![0.0f64; n_cat]);
    for k in 0..n_hosts {
        let (a, _) = placed[k];
        let mut add = |c: u32| {
            cat_sum[c as usize] += hosts.log_m[k];
            cat_count[c as usize] += 1.0;
        };
        add(id(CEN, a, 0));
        add(id(RND, a, rank_group(n_sub[k])));
        for rank in 0..n_sub[k] {
            add(id(SUB, a, rank_group(rank)));
        }
    }
    let cat_mean: Vec<f64> = cat_sum.iter().zip(&cat_count).map(|(s, c): (&f64, &f64)| s / c.max(1.0)).collect();
    type HostObjectsFlat = (Vec<[f64; 3]>, Vec<[f64; 3]>, Vec<f64>, Vec<u32>);
    let per_host: Vec<HostObjectsFlat> = (0..n_hosts)
        .into_par_iter()
        .map(|k| {
            let mut r = stream(options.seed, PURPOSE_TWO_HALO, k as u64);
            let o = objects(k, &mut r);
            let (a, _) = placed[k];
            let t2 = t2_of[a];
            let shifted = |d: [f64; 3]| std::array::from_fn(|x| (o.centre[x] + d[x]).rem_euclid(l[x]));
            let mut p = vec![o.centre];
            let mut e = vec![o.axis];
            let mut w = vec![1.0];
            let mut c = vec![id(CEN, a, 0)];
            for (rank, (&d, &ax)) in o.sub_offset.iter().zip(&o.sub_axis).enumerate() {
                p.push(shifted(d));
                e.push(ax);
                w.push(1.0);
                c.push(id(SUB, a, rank_group(rank)));
            }
            for _ in 0..t2 {
                let d = hosts.extra_offset(k, &mut r).0;
                p.push(shifted(d));
                e.push(unit_or_random(d, &mut r));
                w.push(1.0 / t2 as f64);
                c.push(id(RND, a, rank_group(n_sub[k])));
            }
            (p, e, w, c)
        })
        .collect();
    let (mut positions, mut axes, mut weights, mut cat, mut host, mut x) = (
        Vec::with_capacity(n_objects),
        Vec::with_capacity(n_objects),
        Vec::with_capacity(n_objects),
        Vec::with_capacity(n_objects),
        Vec::with_capacity(n_objects),
        Vec::with_capacity(n_objects),
    );
    for (k, (p, e, w, c)) in per_host.into_iter().enumerate() {
        host.extend(std::iter::repeat_n(k as u32, p.len()));
        x.extend(c.iter().map(|&c| hosts.log_m[k] - cat_mean[c as usize]));
        positions.extend(p);
        axes.extend(e);
        weights.extend(w);
        cat.extend(c);
    }
    let objects = Galaxies { positions: &positions, orientations: Some(&axes), weights: Some(&weights) };
    let report = progress.map(|p| move |done: usize, total: usize| p("2-halo pairs", done, total));
    let raw = corr::category_pair_sums(
        &objects,
        &cat,
        &host,
        &x,
        n_cat,
        &options.correlation(l),
        shard,
        report.as_ref().map(|f| f as &(dyn Fn(usize, usize) + Sync)),
    )?;
    // [cat_i][cat_j][bin][mark] -> [bin][mark][cat_i][cat_j], the order a table file holds.
    let mut two_halo = vec![0.0; raw.len()];
    for ci in 0..n_cat {
        for cj in 0..n_cat {
            for b in 0..nb {
                for m in 0..MARKS_2H {
                    two_halo[((b * MARKS_2H + m) * n_cat + ci) * n_cat + cj] =
                        raw[((ci * n_cat + cj) * nb + b) * MARKS_2H + m];
                }
            }
        }
    }

    let mut resolved = options.clone();
    resolved.threads = None;
    resolved.satellites = if hosts.use_subhalos { SatelliteModel::Subhalos } else { SatelliteModel::Nfw };
    let provenance = &halos.meta().provenance;
    let table = Table {
        meta: TableMeta {
            format_version: FORMAT_VERSION,
            options: resolved,
            box_size: l,
            particle_mass: halos.particle_mass(),
            redshift: halos.redshift(),
            halos_source: provenance.source.clone(),
            halos_simname: provenance.simname.clone(),
            halos_fingerprint: fingerprint(halos),
            n_hosts,
            n_subhalos: hosts.subs.len(),
            shard: None,
        },
        log_m_lo,
        n_mass,
        host_counts,
        node_log_m,
        rank_start,
        rank_counts,
        excess_start,
        excess_n,
        excess_counts,
        cen_sub,
        sub_sub,
        cen_rnd,
        sub_rnd,
        rnd_rnd,
        category,
        two_halo: Vec::new(),
    };
    Ok((table, two_halo))
}

/// Adds the four marks of bin `bin` to a row of 1-halo sums, and the same times `x` (the
/// host's log mass less the row's mean).
#[inline]
fn add_marks(row: &mut [f64], bin: usize, marks: [f64; 4], x: f64) {
    let s = &mut row[bin * MARKS_1H..(bin + 1) * MARKS_1H];
    for (k, m) in marks.into_iter().enumerate() {
        s[k] += m;
        s[k + 4] += x * m;
    }
}

/// Adds the two ordered pairs of objects i and j (offsets from their host's centre, unit
/// axes), times `w`, to a row of 1-halo sums: pairs, g with i first, g with j first, h (and
/// those times `x`). With `same_kind` both g terms go to the first slot (both objects take
/// S_sat).
#[inline]
fn add_pair(
    row: &mut [f64],
    e2: &[f64],
    (pi, ei): ([f64; 3], [f64; 3]),
    (pj, ej): ([f64; 3], [f64; 3]),
    w: f64,
    same_kind: bool,
    x: f64,
) {
    let d: [f64; 3] = std::array::from_fn(|x| pj[x] - pi[x]);
    let r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    let nb = e2.len() - 1;
    if !(r2 > e2[0] && r2 <= e2[nb]) {
        return;
    }
    // Bin k holds r in (r_k, r_{k+1}]: the edges below r2, less one.
    let bin = e2.partition_point(|&e| e < r2) - 1;
    let third = 1.0 / 3.0;
    let dot = |u: [f64; 3], v: [f64; 3]| u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
    let (a, b) = (dot(ei, d), dot(ej, d));
    let gi = a * a / r2 - third;
    let gj = b * b / r2 - third;
    let c = dot(ei, ej);
    let marks = if same_kind {
        [2.0 * w, w * (gi + gj), 0.0, 2.0 * w * (c * c - third)]
    } else {
        [2.0 * w, w * gi, w * gj, 2.0 * w * (c * c - third)]
    };
    add_marks(row, bin, marks, x);
}

/// The hosts of row `row` of per-(row, sub-bin) counts.
fn row_count(counts: &[f64], row: usize) -> f64 {
    counts[row * SUB_BINS..(row + 1) * SUB_BINS].iter().sum()
}

/// Per bin, the count of `offsets` whose length falls in it and the sums of their unit
/// vectors' outer products (xx, xy, xz, yy, yz, zz).
fn offset_moments(offsets: impl Iterator<Item = [f64; 3]>, e2: &[f64]) -> Vec<[f64; 7]> {
    let nb = e2.len() - 1;
    let mut out = vec![[0.0; 7]; nb];
    for d in offsets {
        let r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
        if !(r2 > e2[0] && r2 <= e2[nb]) {
            continue;
        }
        let b = e2.partition_point(|&e| e < r2) - 1;
        let u = d.map(|x| x / r2.sqrt());
        for (s, v) in out[b].iter_mut().zip([1.0, u[0] * u[0], u[0] * u[1], u[0] * u[2], u[1] * u[1], u[1] * u[2], u[2] * u[2]]) {
            *s += v;
        }
    }
    out
}

/// FNV-1a 64 over the columns that fix a table: ids, host ids, masses, radii, concentrations,
/// positions, major axes, and the box.
pub(crate) fn fingerprint(halos: &HaloCatalog) -> String {
    let columns = [
        Column::Mvir,
        Column::Mpeak,
        Column::Rvir,
        Column::NfwConc,
        Column::X,
        Column::Y,
        Column::Z,
        Column::AxisAX,
        Column::AxisAY,
        Column::AxisAZ,
    ];
    let ids = halos.id().iter().chain(halos.upid()).map(|&v| v as u64);
    let values = columns.into_iter().flat_map(|c| halos.col(c).iter().map(|v| v.to_bits()));
    let sides = halos.box_size().map(f64::to_bits);
    format!("{:016x}", crate::io::fnv1a(ids.chain(values).chain(sides)))
}
