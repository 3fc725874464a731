//! Expected correlations (docs/science.md section 11): the mean of xi, omega and eta over
//! realisations of a model point, for fixed halos, without drawing any.
//!
//! Orientations average analytically (mu enters only through the Watson order parameter
//! S(mu)), occupations through the probabilities that two objects both exist, and every pair
//! sum that depends on the halos is tabulated once per catalogue, bin set and satellite model
//! ([`Table::build`]): by object category (centrals, subhalo slots and random satellite
//! positions, by host-mass bin), apart for pairs in one host (1-halo, by subhalo rank) and
//! pairs across hosts (2-halo), with the marks 1, g_ij and h_ij. A model point is then a
//! weighted sum over the table ([`Table::expect`]): noise-free, with its exact Jacobian and its
//! central/satellite and 1-halo/2-halo parts.
//!
//! Units: lengths in comoving Mpc/h, masses in Msun/h.

mod evaluate;
mod file;
mod nfw_pairs;
pub mod occupation;
mod shard;
mod tabulate;

use serde::{Deserialize, Serialize};

pub use evaluate::{ExpectOptions, Expectation, Parts, Statistics, MAX_MEAN_SATELLITES};
pub use shard::TableShard;
pub use tabulate::{default_table_options, TableOptions};

use crate::hod::SatelliteModel;

/// Reports a tabulation's progress from its worker threads: the stage ("1-halo pairs",
/// "2-halo pairs"), the work done and the total.
pub type Progress<'a> = &'a (dyn Fn(&str, usize, usize) + Sync);

/// Version of the table layout and of its file.
pub const FORMAT_VERSION: u32 = 1;

/// Sub-bins of each host-mass bin: occupations are evaluated at the mean log mass of the hosts
/// in each; their host-weighted mean and their slope in log mass (a least-squares line over the
/// sub-bins) weight a row's or category's sums and its sums times log mass.
pub const SUB_BINS: usize = 8;

/// Marks of the 1-halo sums, per bin: ordered pairs, `sum g_ij` with the first kind's object as
/// i, `sum g_ij` with the second kind's as i, `sum h_ij` (ordered pairs); then the same four
/// times the host's log mass less the mean of the row's hosts.
const MARKS_1H: usize = 8;
/// Marks of the 2-halo sums, per ordered category pair and bin (see
/// `corr::kernel::count_category_pairs`): pairs, `sum g_ij`, `sum h_ij`, and those times x_i,
/// plus `sum x_j g_ij`, with x an object's host log mass less its category's mean.
const MARKS_2H: usize = crate::corr::CATEGORY_MARKS;
/// Kinds of object in the 2-halo table: centrals, subhalo slots, random satellite positions.
const KINDS: usize = 3;
const CEN: usize = 0;
const SUB: usize = 1;
const RND: usize = 2;
/// Groups of subhalo ranks (subhalo slots) and of subhalo counts (random slots) in the 2-halo
/// categories: 0, 1, 2-3, 4-7, .., 64 and beyond.
pub const RANK_GROUPS: usize = 8;

/// The group of rank (or count) `k`.
fn rank_group(k: usize) -> usize {
    if k == 0 {
        0
    } else {
        ((usize::BITS - k.leading_zeros()) as usize).min(RANK_GROUPS - 1)
    }
}

/// The dense index of a 2-halo category (kind, mass bin, rank group).
fn category_key(kind: usize, mass: usize, group: usize, n_mass: usize) -> usize {
    (kind * n_mass + mass) * RANK_GROUPS + group
}

/// What a table was made from and for; written into its file and checked on every use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableMeta {
    pub format_version: u32,
    /// The options it was built with (the satellite model resolved: subhalos or NFW).
    pub options: TableOptions,
    /// Box sides, Mpc/h.
    pub box_size: [f64; 3],
    pub particle_mass: f64,
    pub redshift: f64,
    /// The halo catalogue's source (file or `synthetic`) and simulation name.
    pub halos_source: String,
    pub halos_simname: String,
    /// FNV-1a 64 of the catalogue's columns (ids, masses, radii, positions, axes), hex.
    pub halos_fingerprint: String,
    /// Hosts that take galaxies, and their subhalos.
    pub n_hosts: usize,
    pub n_subhalos: usize,
    /// The share of the pair sums a shard's file holds ([`TableShard`]); none in a table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::Shard>,
}

/// Pair sums of one halo catalogue for one bin set and satellite model, from which any model
/// point's expected correlations follow. Build with [`Table::build`], keep with [`Table::save`]
/// and [`Table::load`].
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    meta: TableMeta,
    /// Lower edge of the first host-mass bin (log10 Msun/h) and the bin count.
    log_m_lo: f64,
    n_mass: usize,
    /// Per (mass bin, sub-bin): host count and the hosts' mean log10 mvir (0 when empty).
    host_counts: Vec<f64>,
    node_log_m: Vec<f64>,
    /// Subhalo rank rows: mass bin A's rows are `rank_start[A]..rank_start[A + 1]`, row
    /// `rank_start[A] + k` for rank k; per (row, sub-bin) the hosts with more than k subhalos.
    rank_start: Vec<usize>,
    rank_counts: Vec<f64>,
    /// Excess rows: hosts of mass bin A with exactly `excess_n[row]` subhalos, rows
    /// `excess_start[A]..excess_start[A + 1]`; per (row, sub-bin) their count.
    excess_start: Vec<usize>,
    excess_n: Vec<usize>,
    excess_counts: Vec<f64>,
    /// 1-halo sums, `[row][bin][MARKS_1H]`: central with subhalo k, subhalo k with the
    /// subhalos before it (rank rows); central with a random satellite, subhalos with a random
    /// satellite, two random satellites (excess rows; per pair of slots).
    cen_sub: Vec<f64>,
    sub_sub: Vec<f64>,
    cen_rnd: Vec<f64>,
    sub_rnd: Vec<f64>,
    rnd_rnd: Vec<f64>,
    /// The 2-halo categories that hold objects, by [`category_key`]; `category[key]` is its
    /// row in `two_halo` or `usize::MAX`.
    category: Vec<usize>,
    /// 2-halo sums, accumulated in f64 and kept in f32 (7 significant digits, far below the
    /// noise it averages; half the memory traffic of a point's evaluation, which streams the
    /// whole block). Laid out as evaluation reads them, `[bin][cat_i][ROW_MARKS][lane of
    /// cat_j]` with the marks in the order of `occupation::RowKernels` and the partner
    /// categories in [`Lanes`]; files hold them as `[bin][MARKS_2H][cat_i][cat_j]`
    /// ([`Table::set_two_halo`], [`Table::stored_two_halo`]).
    two_halo: Vec<f32>,
}

/// Where the 2-halo partner categories lie in a row of the evaluation layout: the centrals'
/// from lane 0, the satellites' from `cen_pad`, each group padded with zeros to a multiple of
/// [`occupation::LANES`] so that every dot product runs over whole vectors.
#[derive(Clone, Copy)]
struct Lanes {
    n_cen_cat: usize,
    cen_pad: usize,
    n_pad: usize,
}

impl Lanes {
    /// The lane of category `c`.
    fn of(&self, c: usize) -> usize {
        if c < self.n_cen_cat {
            c
        } else {
            self.cen_pad + c - self.n_cen_cat
        }
    }
}

/// The stored mark of each of a row's marks in the evaluation layout: T0, X0, T1, X1, Y1, T2,
/// X2 (see `corr::kernel::count_category_pairs` and `Table::add_two_halo`).
const ROW_MARK_SOURCE: [usize; occupation::ROW_MARKS] = [0, 3, 1, 4, 5, 2, 6];

impl Table {
    pub fn meta(&self) -> &TableMeta {
        &self.meta
    }

    pub fn r_edges(&self) -> &[f64] {
        &self.meta.options.r_edges
    }

    pub fn n_bins(&self) -> usize {
        self.meta.options.r_edges.len() - 1
    }

    /// The satellite model the table holds (subhalos or NFW).
    pub fn satellites(&self) -> SatelliteModel {
        self.meta.options.satellites
    }

    /// Host-mass bins (log10 Msun/h edges).
    pub fn mass_edges(&self) -> Vec<f64> {
        let dex = self.meta.options.mass_bin_dex;
        (0..=self.n_mass).map(|a| self.log_m_lo + a as f64 * dex).collect()
    }

    /// Categories of the 2-halo table.
    fn n_cat(&self) -> usize {
        self.category.iter().filter(|&&c| c != usize::MAX).count()
    }

    /// Categories of centrals: numbered first, as categories are numbered in key order and
    /// the centrals' keys come first ([`category_key`]).
    fn n_cen_cat(&self) -> usize {
        self.category[..self.n_mass * RANK_GROUPS].iter().filter(|&&c| c != usize::MAX).count()
    }

    /// The partner lanes of the 2-halo rows.
    fn lanes(&self) -> Lanes {
        let (n_cat, n_cen_cat) = (self.n_cat(), self.n_cen_cat());
        let cen_pad = n_cen_cat.next_multiple_of(occupation::LANES);
        Lanes { n_cen_cat, cen_pad, n_pad: cen_pad + (n_cat - n_cen_cat).next_multiple_of(occupation::LANES) }
    }

    /// Sets the 2-halo sums from the stored layout `[bin][MARKS_2H][cat_i][cat_j]` (rounded
    /// to f32). `stored` holds `n_bins * MARKS_2H * n_cat^2` values (checked by the callers).
    fn set_two_halo<T: Copy + Into<f64>>(&mut self, stored: &[T]) {
        let (nb, n_cat, lanes) = (self.n_bins(), self.n_cat(), self.lanes());
        let mut two_halo = vec![0.0f32; nb * n_cat * occupation::ROW_MARKS * lanes.n_pad];
        for (k, row) in two_halo.chunks_exact_mut(occupation::ROW_MARKS * lanes.n_pad).enumerate() {
            let (b, i) = (k / n_cat, k % n_cat);
            for (mark, &m) in row.chunks_exact_mut(lanes.n_pad).zip(&ROW_MARK_SOURCE) {
                let from = ((b * MARKS_2H + m) * n_cat + i) * n_cat;
                for (j, &v) in stored[from..from + n_cat].iter().enumerate() {
                    mark[lanes.of(j)] = v.into() as f32;
                }
            }
        }
        self.two_halo = two_halo;
    }

    /// The 2-halo sums in the stored layout `[bin][MARKS_2H][cat_i][cat_j]`.
    fn stored_two_halo(&self) -> Vec<f32> {
        let (nb, n_cat, lanes) = (self.n_bins(), self.n_cat(), self.lanes());
        let mut stored = vec![0.0f32; nb * MARKS_2H * n_cat * n_cat];
        for (k, row) in self.two_halo.chunks_exact(occupation::ROW_MARKS * lanes.n_pad).enumerate() {
            let (b, i) = (k / n_cat, k % n_cat);
            for (mark, &m) in row.chunks_exact(lanes.n_pad).zip(&ROW_MARK_SOURCE) {
                let to = ((b * MARKS_2H + m) * n_cat + i) * n_cat;
                for (j, v) in stored[to..to + n_cat].iter_mut().enumerate() {
                    *v = mark[lanes.of(j)];
                }
            }
        }
        stored
    }

    /// Bytes held.
    pub fn size_bytes(&self) -> usize {
        8 * (self.host_counts.len()
            + self.node_log_m.len()
            + self.rank_counts.len()
            + self.excess_counts.len()
            + self.cen_sub.len()
            + self.sub_sub.len()
            + self.cen_rnd.len()
            + self.sub_rnd.len()
            + self.rnd_rnd.len()
            + self.category.len())
            + 4 * self.two_halo.len()
    }
}
