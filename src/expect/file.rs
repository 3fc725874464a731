//! A [`Table`] as one `.npz` file: its metadata as JSON text (array `meta`, bytes) and one
//! array per part (a shard's file: the same, with `shard` in the metadata and its 2-halo sums
//! in f64). Reading checks the format version and that every part has the size and
//! values the metadata implies, so a corrupt or foreign file is an error naming the problem.

use std::path::Path;

use ndarray::{Array1, ArrayView1, Ix1, OwnedRepr};
use ndarray_npy::{NpzReader, NpzWriter};

use super::{Table, TableMeta, FORMAT_VERSION, KINDS, MARKS_1H, MARKS_2H, RANK_GROUPS, SUB_BINS};
use crate::shard::Shard;
use crate::{Error, Result};

const FLOAT_PARTS: [&str; 11] = [
    "host_counts",
    "node_log_m",
    "rank_counts",
    "excess_counts",
    "cen_sub",
    "sub_sub",
    "cen_rnd",
    "sub_rnd",
    "rnd_rnd",
    "log_m_lo",
    "n_mass",
];
const INDEX_PARTS: [&str; 4] = ["rank_start", "excess_start", "excess_n", "category"];
/// `category` entries of an empty category.
const NONE: u64 = u64::MAX;

impl Table {
    /// Writes the table to `path` (`.npz`), atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.write(path, TwoHalo::Whole(&self.stored_two_halo()))
    }

    /// Writes the table with the 2-halo sums given (the table's own, or a shard's in f64).
    pub(super) fn write(&self, path: &Path, two_halo: TwoHalo) -> Result<()> {
        crate::io::check_output(path, &["npz"], "write a table as .npz")?;
        let shown = path.display().to_string();
        let fail = |e: String| Error::io(format!("cannot write {shown}: {e}"));
        let meta = serde_json::to_vec(&self.meta).map_err(|e| fail(e.to_string()))?;
        crate::io::write_atomically(path, |tmp| {
            let file = std::fs::File::create(tmp).map_err(|e| fail(e.to_string()))?;
            let mut npz = NpzWriter::new(file);
            npz.add_array("meta", &Array1::from(meta.clone())).map_err(|e| fail(e.to_string()))?;
            for (name, v) in FLOAT_PARTS.iter().zip(self.float_parts()) {
                npz.add_array(*name, &Array1::from(v)).map_err(|e| fail(e.to_string()))?;
            }
            match two_halo {
                TwoHalo::Whole(v) => npz.add_array("two_halo", &ArrayView1::from(v)),
                TwoHalo::Share(v) => npz.add_array("two_halo", &ArrayView1::from(v)),
            }
            .map_err(|e| fail(e.to_string()))?;
            for (name, v) in INDEX_PARTS.iter().zip([&self.rank_start, &self.excess_start, &self.excess_n, &self.category]) {
                let v: Vec<u64> = v.iter().map(|&x| if x == usize::MAX { NONE } else { x as u64 }).collect();
                npz.add_array(*name, &Array1::from(v)).map_err(|e| fail(e.to_string()))?;
            }
            npz.finish().map_err(|e| fail(e.to_string()))?;
            Ok(())
        })
    }

    fn float_parts(&self) -> [Vec<f64>; 11] {
        [
            self.host_counts.clone(),
            self.node_log_m.clone(),
            self.rank_counts.clone(),
            self.excess_counts.clone(),
            self.cen_sub.clone(),
            self.sub_sub.clone(),
            self.cen_rnd.clone(),
            self.sub_rnd.clone(),
            self.rnd_rnd.clone(),
            vec![self.log_m_lo],
            vec![self.n_mass as f64],
        ]
    }

    /// Reads a table written by [`Table::save`]. Errors: a missing or unreadable file, another
    /// format version, a shard's file, missing parts, or parts whose sizes or values do not fit
    /// the metadata.
    pub fn load(path: &Path) -> Result<Table> {
        match Table::read(path)? {
            (table, None) => Ok(table),
            (table, Some(_)) => {
                let s = table.meta.shard.unwrap_or(Shard::WHOLE);
                Err(Error::invalid(format!(
                    "{}: shard {}/{} of a table, not a whole one: join the shards with `iaemu tabulate merge`",
                    path.display(),
                    s.index,
                    s.count
                )))
            }
        }
    }

    /// Reads a table's file or a shard's (then with its 2-halo sums in f64 apart, the table's
    /// own left empty), checking it as [`Table::load`] says.
    pub(super) fn read(path: &Path) -> Result<(Table, Option<Vec<f64>>)> {
        let shown = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| Error::io(format!("cannot open {shown}: {e}")))?;
        let bad = |what: String| Error::invalid(format!("{shown}: not an iaemu table ({what})"));
        let mut npz = NpzReader::new(file).map_err(|e| bad(format!("not a readable .npz archive: {e}")))?;
        let bytes = npz
            .by_name::<OwnedRepr<u8>, Ix1>("meta")
            .map_err(|e| bad(format!("no readable array `meta`: {e}")))?
            .to_vec();
        let version = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("format_version").and_then(|x| x.as_u64()));
        match version {
            Some(v) if v == FORMAT_VERSION as u64 => {}
            Some(v) => {
                return Err(Error::invalid(format!(
                    "{shown}: a table of format version {v}; this iaemu reads version {FORMAT_VERSION} (tabulate again)"
                )))
            }
            None => return Err(bad("its metadata has no format_version".into())),
        }
        let meta: TableMeta =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("metadata: {e}")))?;
        let mut float = |name: &str| -> Result<Vec<f64>> {
            let v = npz
                .by_name::<OwnedRepr<f64>, Ix1>(name)
                .map_err(|e| bad(format!("no readable array `{name}`: {e}")))?
                .to_vec();
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(bad(format!("`{name}`[{i}] is {}", v[i])));
            }
            Ok(v)
        };
        let f: Vec<Vec<f64>> = FLOAT_PARTS.iter().map(|n| float(n)).collect::<Result<_>>()?;
        let mut index = |name: &str| -> Result<Vec<usize>> {
            Ok(npz
                .by_name::<OwnedRepr<u64>, Ix1>(name)
                .map_err(|e| bad(format!("no readable array `{name}`: {e}")))?
                .iter()
                .map(|&x| if x == NONE { usize::MAX } else { x as usize })
                .collect())
        };
        let (rank_start, excess_start, excess_n, category) =
            (index("rank_start")?, index("excess_start")?, index("excess_n")?, index("category")?);
        let no_two_halo = |e| bad(format!("no readable array `two_halo` of {}: {e}", if meta.shard.is_some() { "f64" } else { "f32" }));
        let (two_halo, share) = match meta.shard {
            None => (npz.by_name::<OwnedRepr<f32>, Ix1>("two_halo").map_err(no_two_halo)?.to_vec(), None),
            Some(_) => (Vec::new(), Some(npz.by_name::<OwnedRepr<f64>, Ix1>("two_halo").map_err(no_two_halo)?.to_vec())),
        };
        let n_two_halo = share.as_ref().map_or(two_halo.len(), Vec::len);
        if let Some(i) = two_halo.iter().position(|x| !x.is_finite()) {
            return Err(bad(format!("`two_halo`[{i}] is {}", two_halo[i])));
        }
        if let Some(i) = share.iter().flatten().position(|x| !x.is_finite()) {
            return Err(bad(format!("`two_halo`[{i}] is not finite")));
        }
        if let Some(s) = meta.shard {
            Shard::parse(&format!("{}/{}", s.index, s.count)).map_err(|e| bad(format!("metadata: {e}")))?;
        }
        let [host_counts, node_log_m, rank_counts, excess_counts, cen_sub, sub_sub, cen_rnd, sub_rnd, rnd_rnd, log_m_lo, n_mass]: [Vec<f64>; 11] =
            f.try_into().map_err(|_| bad("parts".into()))?;
        let (log_m_lo, n_mass_f) = match (log_m_lo.as_slice(), n_mass.as_slice()) {
            ([lo], [n]) if *n >= 1.0 && *n <= 1e4 && n.fract() == 0.0 => (*lo, *n),
            _ => return Err(bad("`log_m_lo` and `n_mass` must be one number each, n_mass a count".into())),
        };
        let n_mass = n_mass_f as usize;
        let nb = meta.options.r_edges.len().checked_sub(1).filter(|&n| n >= 1).ok_or_else(|| bad("no bins".into()))?;
        crate::corr::check_options(&crate::corr::CorrelationOptions {
            r_edges: meta.options.r_edges.clone(),
            box_size: meta.box_size,
            ..crate::corr::CorrelationOptions::cubic(1.0)
        })
        .map_err(|e| bad(format!("metadata: {e}")))?;
        let starts_ok = |s: &[usize], end_len: usize| {
            s.len() == n_mass + 1 && s[0] == 0 && s.windows(2).all(|w| w[0] <= w[1]) && s[n_mass] == end_len
        };
        let n_rank = rank_start.last().copied().unwrap_or(0);
        if !starts_ok(&rank_start, n_rank) || !starts_ok(&excess_start, excess_n.len()) {
            return Err(bad("row offsets do not fit the mass bins".into()));
        }
        let n_excess = excess_n.len();
        let mut used: Vec<usize> = category.iter().copied().filter(|&c| c != usize::MAX).collect();
        used.sort_unstable();
        let n_cat = used.len();
        if category.len() != KINDS * n_mass * RANK_GROUPS || used.iter().enumerate().any(|(i, &c)| c != i) {
            return Err(bad("its 2-halo categories are not numbered 0, 1, .. once each".into()));
        }
        let row = nb * MARKS_1H;
        let sizes = [
            ("host_counts", host_counts.len(), n_mass * SUB_BINS),
            ("node_log_m", node_log_m.len(), n_mass * SUB_BINS),
            ("rank_counts", rank_counts.len(), n_rank * SUB_BINS),
            ("excess_counts", excess_counts.len(), n_excess * SUB_BINS),
            ("cen_sub", cen_sub.len(), n_rank * row),
            ("sub_sub", sub_sub.len(), n_rank * row),
            ("cen_rnd", cen_rnd.len(), n_excess * row),
            ("sub_rnd", sub_rnd.len(), n_excess * row),
            ("rnd_rnd", rnd_rnd.len(), n_excess * row),
            ("two_halo", n_two_halo, nb * MARKS_2H * n_cat * n_cat),
        ];
        for (name, got, want) in sizes {
            if got != want {
                return Err(bad(format!("`{name}` has {got} values where its metadata implies {want}")));
            }
        }
        if host_counts.iter().chain(&rank_counts).chain(&excess_counts).any(|&c| c < 0.0 || c.fract() != 0.0) {
            return Err(bad("host counts must be whole numbers >= 0".into()));
        }
        let hosts: f64 = host_counts.iter().sum();
        if hosts as usize != meta.n_hosts {
            return Err(bad(format!("{hosts} hosts counted where the metadata says {}", meta.n_hosts)));
        }
        let max_slot = excess_n.iter().copied().max().unwrap_or(0).max(n_rank);
        if max_slot > 10_000_000 {
            return Err(bad(format!("a host with {max_slot} subhalos")));
        }
        let mut table = Table {
            meta,
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
        if !two_halo.is_empty() {
            table.set_two_halo(&two_halo);
        }
        Ok((table, share))
    }
}

/// The 2-halo sums a file holds: a table's (f32) or a shard's (f64, added before rounding).
pub(super) enum TwoHalo<'a> {
    Whole(&'a [f32]),
    Share(&'a [f64]),
}
