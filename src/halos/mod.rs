//! Halo catalogues: the halos that galaxies are put into (docs/science.md sections 7 and 8).
//!
//! - [`HaloCatalog`]: one validated, column-oriented table (halotools column names) with its box,
//!   particle mass, redshift, provenance and a [`LoadReport`] of what was derived or dropped;
//! - readers for the files users have ([`load`]): halotools cache HDF5, Rockstar `out_*.list`
//!   and consistent-trees `hlist_*.list` ASCII, NumPy `.npz` with one array per column;
//! - a writer of the halotools cache HDF5 format ([`save`]) that halotools itself loads;
//! - [`SyntheticUniverse`]: a realistic stand-in for an N-body catalogue, made from a seed.
//!
//! Units: positions and radii in comoving Mpc/h, masses in Msun/h, velocities in km/s.

mod ascii;
mod columns;
mod hdf5;
mod hosts;
pub mod nfw;
mod npz;
pub mod synthetic;

use std::path::Path;

pub use columns::{Column, RawHalos};
pub use synthetic::SyntheticUniverse;

use crate::{Error, Result};

/// Default minimum host mass in particles: hosts that can carry galaxies have
/// `mvir > HOST_MIN_PARTICLES * particle_mass` (docs/science.md section 7).
pub const HOST_MIN_PARTICLES: f64 = 300.0;

/// Where a catalogue came from; written back as HDF5 attributes.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Provenance {
    /// The file read, or `synthetic` for the generator.
    pub source: String,
    /// halotools `simname` (e.g. `bolplanck`), or `iaemu_synthetic`.
    pub simname: String,
    /// halotools `halo_finder` (e.g. `rockstar`).
    pub halo_finder: String,
    /// halotools `version_name`.
    pub version_name: String,
    /// Free text: processing notes, or the generator settings and seed as JSON.
    pub notes: String,
}

/// What validation derived, dropped or changed while building a catalogue.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct LoadReport {
    /// Rows in the input, before anything was dropped.
    pub rows_read: usize,
    /// Subhalos whose host is not in the catalogue: dropped.
    pub dropped_orphans: usize,
    /// Positions outside [0, L) that were wrapped into the box.
    pub wrapped_positions: usize,
    /// Host halos (upid = -1) whose major axis is all zeros: kept, but they cannot carry an
    /// aligned central and [`HaloCatalog::central_hosts`] leaves them out.
    pub zero_axis_hosts: usize,
    /// One line per column that was derived or filled in, saying how.
    pub derived: Vec<String>,
}

/// Box, particle mass and redshift of a catalogue, plus its provenance.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogMeta {
    /// Periodic box side lengths (Mpc/h).
    pub box_size: [f64; 3],
    /// Simulation particle mass (Msun/h).
    pub particle_mass: f64,
    pub redshift: f64,
    pub provenance: Provenance,
}

/// Values a caller supplies for what a file may lack (ASCII files without comment lines,
/// `.npz` files without metadata arrays). A value found in the file wins unless `force` is set.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Box side (Mpc/h), cubic.
    pub box_size: Option<f64>,
    /// Particle mass (Msun/h).
    pub particle_mass: Option<f64>,
    pub redshift: Option<f64>,
    /// Use the values above even where the file has its own.
    pub force: bool,
}

impl LoadOptions {
    pub(crate) fn pick(&self, from_file: Option<f64>, given: Option<f64>) -> Option<f64> {
        if self.force {
            given.or(from_file)
        } else {
            from_file.or(given)
        }
    }
}

/// A validated halo catalogue. Columns follow docs/science.md section 7 and are read-only once
/// built; every constructor goes through [`HaloCatalog::from_raw`]'s checks.
#[derive(Clone, Debug)]
pub struct HaloCatalog {
    pub(crate) id: Vec<i64>,
    pub(crate) upid: Vec<i64>,
    pub(crate) hostid: Vec<i64>,
    pub(crate) f: Vec<Vec<f64>>,
    meta: CatalogMeta,
    report: LoadReport,
}

impl HaloCatalog {
    /// Validates raw columns and derives the missing ones (see [`RawHalos`] for the rules).
    pub fn from_raw(raw: RawHalos, meta: CatalogMeta) -> Result<Self> {
        hosts::build(raw, meta)
    }

    /// Number of halos (hosts and subhalos).
    pub fn len(&self) -> usize {
        self.id.len()
    }
    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }
    /// Number of host halos (`upid == -1`).
    pub fn n_hosts(&self) -> usize {
        self.upid.iter().filter(|&&u| u == -1).count()
    }
    pub fn meta(&self) -> &CatalogMeta {
        &self.meta
    }
    pub fn report(&self) -> &LoadReport {
        &self.report
    }
    pub fn box_size(&self) -> [f64; 3] {
        self.meta.box_size
    }
    pub fn particle_mass(&self) -> f64 {
        self.meta.particle_mass
    }
    pub fn redshift(&self) -> f64 {
        self.meta.redshift
    }
    /// `halo_id`.
    pub fn id(&self) -> &[i64] {
        &self.id
    }
    /// `halo_upid`: -1 for a host, else the id of its top-level host.
    pub fn upid(&self) -> &[i64] {
        &self.upid
    }
    /// `halo_hostid`: the halo's own id for hosts, its upid for subhalos.
    pub fn hostid(&self) -> &[i64] {
        &self.hostid
    }
    /// A floating-point column (`Column::Id`, `Upid` and `Hostid` are integer: see [`Self::id`]).
    ///
    /// # Panics
    /// For an integer column: a programming error, not a data error.
    pub fn col(&self, c: Column) -> &[f64] {
        let slot = c
            .float_slot()
            .unwrap_or_else(|| panic!("{} is an integer column", c.name()));
        &self.f[slot]
    }
    /// `halo_rs` = rvir / nfw_conc (Mpc/h): the NFW scale radius, which files carry and the
    /// catalogue keeps as the concentration.
    pub fn rs(&self) -> Vec<f64> {
        let (rvir, conc) = (self.col(Column::Rvir), self.col(Column::NfwConc));
        rvir.iter().zip(conc).map(|(r, c)| r / c).collect()
    }

    /// Whether halo `i` is a host (`upid == -1`).
    pub fn is_host(&self, i: usize) -> bool {
        self.upid[i] == -1
    }

    /// Median b/a and c/a over `rows` (NaN for an empty list).
    pub fn median_shapes(&self, rows: &[usize]) -> [f64; 2] {
        [Column::BToA, Column::CToA].map(|c| {
            let col = self.col(c);
            crate::stats::median(&mut rows.iter().map(|&i| col[i]).collect::<Vec<_>>())
        })
    }

    /// Hosts that can carry a central: `upid == -1`, `mvir > min_particles * particle_mass`,
    /// and a major axis that is not all zeros (docs/science.md section 7). Row indices, ascending.
    pub fn central_hosts(&self, min_particles: f64) -> Vec<usize> {
        let m_min = min_particles * self.meta.particle_mass;
        let (mvir, ax, ay, az) = (
            self.col(Column::Mvir),
            self.col(Column::AxisAX),
            self.col(Column::AxisAY),
            self.col(Column::AxisAZ),
        );
        (0..self.len())
            .filter(|&i| {
                self.upid[i] == -1
                    && mvir[i] > m_min
                    && (ax[i] != 0.0 || ay[i] != 0.0 || az[i] != 0.0)
            })
            .collect()
    }
}

/// Positions keyed by halo id. Ids are integers chosen by the halo finder: when they are
/// dense (a synthetic catalogue numbers its halos 0..n), a table indexed by id; otherwise
/// (Rockstar's ids are sparse) a hash map with a multiply-shift mix of the id (the splitmix64
/// finaliser) instead of the default keyed SipHash, which costs several times more on
/// catalogues of millions of halos. A repeated id keeps its last position, as a map would.
pub(crate) enum IdIndex {
    /// `slot[id - min]`, `u32::MAX` where no halo has that id.
    Dense { min: i64, slot: Vec<u32> },
    Sparse(std::collections::HashMap<i64, usize, std::hash::BuildHasherDefault<IdHasher>>),
}

impl IdIndex {
    /// The index of `entries` (id, position), read twice.
    pub fn new<I: Iterator<Item = (i64, usize)> + Clone>(entries: I) -> IdIndex {
        let (mut count, mut min, mut max, mut big) = (0usize, i64::MAX, i64::MIN, false);
        for (id, at) in entries.clone() {
            count += 1;
            min = min.min(id);
            max = max.max(id);
            big |= at >= u32::MAX as usize;
        }
        // A table at most four slots per halo (16 bytes, under a map's cost per entry).
        let span = (max as i128 - min as i128 + 1).max(0) as u128;
        if count > 0 && !big && span <= 4 * count as u128 + 1024 {
            let mut slot = vec![u32::MAX; span as usize];
            for (id, at) in entries {
                slot[(id - min) as usize] = at as u32;
            }
            IdIndex::Dense { min, slot }
        } else {
            IdIndex::Sparse(entries.collect())
        }
    }

    /// The position of `id`, if a halo has it.
    #[inline]
    pub fn get(&self, id: i64) -> Option<usize> {
        match self {
            IdIndex::Dense { min, slot } => {
                let k = id.checked_sub(*min)?;
                let v = *slot.get(usize::try_from(k).ok()?)?;
                (v != u32::MAX).then_some(v as usize)
            }
            IdIndex::Sparse(map) => map.get(&id).copied(),
        }
    }
}

/// The hasher of [`IdIndex`]'s map.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | self.0 >> 56) ^ b as u64;
        }
    }
    fn write_i64(&mut self, v: i64) {
        self.0 ^= v as u64;
    }
}

/// The file formats [`load`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// halotools cache HDF5: compound dataset `/data` plus file attributes.
    Hdf5,
    /// Rockstar `out_*.list` or consistent-trees `hlist_*.list`.
    Ascii,
    /// NumPy `.npz`, one array per column.
    Npz,
}

impl Format {
    /// The format of `path`, from its first bytes (HDF5 and zip signatures, `#` for ASCII),
    /// else from its extension.
    pub fn detect(path: &Path) -> Result<Format> {
        use std::io::Read;
        let mut head = [0u8; 8];
        let mut f = std::fs::File::open(path)
            .map_err(|e| Error::io(format!("cannot open {}: {e}", path.display())))?;
        let n = f
            .read(&mut head)
            .map_err(|e| Error::io(format!("cannot read {}: {e}", path.display())))?;
        if n == 0 {
            return Err(Error::io(format!("{} is empty", path.display())));
        }
        if head[..n].starts_with(b"\x89HDF\r\n\x1a\n") {
            return Ok(Format::Hdf5);
        }
        if head[..n].starts_with(b"PK") {
            return Ok(Format::Npz);
        }
        if head[0] == b'#' {
            return Ok(Format::Ascii);
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("hdf5" | "h5") => Ok(Format::Hdf5),
            Some("npz") => Ok(Format::Npz),
            Some("list" | "ascii" | "txt") => Ok(Format::Ascii),
            _ => Err(Error::io(format!(
                "{}: not a halo catalogue iaemu reads (halotools HDF5, Rockstar/hlist ASCII, .npz)",
                path.display()
            ))),
        }
    }
}

/// Reads a halo catalogue, detecting the format from the file (see [`Format::detect`]).
pub fn load(path: &Path, opts: &LoadOptions) -> Result<HaloCatalog> {
    match Format::detect(path)? {
        Format::Hdf5 => hdf5::read(path, opts),
        Format::Ascii => ascii::read(path, opts),
        Format::Npz => npz::read(path, opts),
    }
}

/// Writes a catalogue: halotools cache HDF5 for `.hdf5`/`.h5`, NumPy `.npz` for `.npz`.
/// The file appears complete or not at all (written beside, then renamed).
pub fn save(cat: &HaloCatalog, path: &Path) -> Result<()> {
    check_output(path)?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("hdf5" | "h5") => hdf5::write(cat, path),
        _ => npz::write(cat, path),
    }
}

/// Checks, before any work, that [`save`] can write `path`: a known extension (.hdf5, .h5,
/// .npz) and an existing folder.
pub fn check_output(path: &Path) -> Result<()> {
    crate::io::check_output(path, &["hdf5", "h5", "npz"], "choose the format by extension, .hdf5 (halotools) or .npz")
}

#[cfg(test)]
mod tests {
    use super::IdIndex;
    use rand::{Rng, SeedableRng};

    /// The last position holding `id`, by looking at every one.
    fn brute(ids: &[i64], id: i64) -> Option<usize> {
        ids.iter().rposition(|&v| v == id)
    }

    #[test]
    fn id_index_finds_the_last_position_of_each_id_dense_or_sparse() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        // Dense: ids 100..1100 shuffled, some repeated, some missing; sparse: Rockstar-like.
        let dense: Vec<i64> = (0..1000).map(|_| 100 + rng.random_range(0..1000)).collect();
        let sparse: Vec<i64> = (0..1000).map(|_| rng.random_range(-1i64 << 40..1i64 << 40)).collect();
        for (ids, want_dense) in [(&dense, true), (&sparse, false)] {
            let index = IdIndex::new(ids.iter().enumerate().map(|(i, &v)| (v, i)));
            assert_eq!(matches!(index, IdIndex::Dense { .. }), want_dense);
            let probes = ids.iter().copied().chain([i64::MIN, i64::MAX, -1, 0, 99, 1100, 1 << 41]);
            for id in probes.chain((0..2000).map(|_| 100 + rng.random_range(-50..1050))) {
                assert_eq!(index.get(id), brute(ids, id), "id {id}");
            }
        }
        assert_eq!(IdIndex::new(std::iter::empty()).get(0), None);
    }
}
