//! Tables at scale: a [`TableShard`] holds one process's share of a table's pair sums (the
//! hosts and the first objects of pairs in its share of the work), and [`Table::merge`] adds
//! the shards of one tabulation into the table one process would have made.

use std::path::{Path, PathBuf};

use super::file::TwoHalo;
use super::{tabulate, Progress, Table, TableOptions};
use crate::halos::HaloCatalog;
use crate::shard::Shard;
use crate::{Error, Result};

/// One shard of a table: the 1-halo sums of the shard's blocks of hosts and the 2-halo sums of
/// the pairs whose first object lies in its chunks of grid cells (each a sub-volume), with the
/// host counts, rows and categories of the whole catalogue, so that the shards of one
/// tabulation add up to the whole table. Its 2-halo sums stay in f64 until [`Table::merge`].
#[derive(Clone, Debug, PartialEq)]
pub struct TableShard {
    /// Everything but the 2-halo sums, with `meta.shard` set.
    table: Table,
    two_halo: Vec<f64>,
}

impl TableShard {
    /// Tabulates the `shard`'s share of `halos` (as [`Table::build`], with the same options
    /// for every shard). Every shard reads the whole catalogue and places every object: the
    /// memory of a one-process tabulation, and 1/count of its pair work.
    pub fn build(
        halos: &HaloCatalog,
        options: &TableOptions,
        shard: Shard,
        progress: Option<Progress>,
    ) -> Result<TableShard> {
        let (mut table, two_halo) = tabulate::build(halos, options, shard, progress)?;
        table.meta.shard = Some(shard);
        Ok(TableShard { table, two_halo })
    }

    pub fn shard(&self) -> Shard {
        self.table.meta.shard.unwrap_or(Shard::WHOLE)
    }

    pub fn meta(&self) -> &super::TableMeta {
        &self.table.meta
    }

    /// Writes the shard to `path` (`.npz`), atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.table.write(path, TwoHalo::Share(&self.two_halo))
    }

    /// Reads a shard written by [`TableShard::save`] (checked as [`Table::load`] checks a
    /// table). Errors also for a whole table's file.
    pub fn load(path: &Path) -> Result<TableShard> {
        match Table::read(path)? {
            (table, Some(two_halo)) => Ok(TableShard { table, two_halo }),
            (_, None) => Err(Error::invalid(format!(
                "{}: a whole table, not a shard of one (`iaemu tabulate --shard` writes shards)",
                path.display()
            ))),
        }
    }

    /// The file name of shard `shard` of the table `out`: `NAME.shard-K-of-N.npz` beside it.
    pub fn path_for(out: &Path, shard: Shard) -> PathBuf {
        let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        out.with_file_name(format!("{stem}.shard-{}-of-{}.npz", shard.index, shard.count))
    }
}

impl Table {
    /// Adds the shard files of one tabulation, each once, into the table one process would
    /// have made (equal up to the order of the sums: the 2-halo sums are added in f64 and
    /// rounded to f32 once, as [`Table::build`] does). Reads one shard at a time. Errors: a
    /// missing or repeated shard, shards of different tabulations (catalogue, options or
    /// shard count), or a file that is not a shard.
    pub fn merge(paths: &[PathBuf]) -> Result<Table> {
        let Some(first) = paths.first() else {
            return Err(Error::invalid("merge: no shard files given"));
        };
        let mut total = TableShard::load(first)?;
        let count = total.shard().count;
        let mut seen = vec![None; count];
        seen[total.shard().index] = Some(first);
        for path in &paths[1..] {
            let next = TableShard::load(path)?;
            let s = next.shard();
            let mut expected = total.table.meta.clone();
            expected.shard = Some(s);
            if s.count != count || next.table.meta != expected {
                return Err(Error::invalid(format!(
                    "{} and {}: shards of different tabulations (halo catalogue, options or shard count differ)",
                    first.display(),
                    path.display()
                )));
            }
            if let Some(other) = seen[s.index].replace(path) {
                return Err(Error::invalid(format!(
                    "shard {}/{count} given twice: {} and {}",
                    s.index,
                    other.display(),
                    path.display()
                )));
            }
            total.add(&next).map_err(|what| {
                Error::invalid(format!(
                    "{} and {}: shards of different tabulations ({what} differ)",
                    first.display(),
                    path.display()
                ))
            })?;
        }
        if let Some(missing) = seen.iter().position(Option::is_none) {
            return Err(Error::invalid(format!(
                "shard {missing}/{count} is missing ({} of {count} given)",
                paths.len()
            )));
        }
        let TableShard { mut table, two_halo } = total;
        table.meta.shard = None;
        table.set_two_halo(&two_halo);
        Ok(table)
    }
}

impl TableShard {
    /// Adds another shard's pair sums; errors (naming the part) where the parts every shard
    /// holds whole are not the same.
    fn add(&mut self, other: &TableShard) -> std::result::Result<(), &'static str> {
        let (a, b) = (&mut self.table, &other.table);
        if a.log_m_lo != b.log_m_lo || a.n_mass != b.n_mass {
            return Err("host-mass bins");
        }
        if a.host_counts != b.host_counts || a.node_log_m != b.node_log_m {
            return Err("host counts");
        }
        if a.rank_start != b.rank_start || a.rank_counts != b.rank_counts {
            return Err("subhalo rank rows");
        }
        if a.excess_start != b.excess_start || a.excess_n != b.excess_n || a.excess_counts != b.excess_counts {
            return Err("subhalo count rows");
        }
        if a.category != b.category || self.two_halo.len() != other.two_halo.len() {
            return Err("2-halo categories");
        }
        for (sum, part) in [
            (&mut a.cen_sub, &b.cen_sub),
            (&mut a.sub_sub, &b.sub_sub),
            (&mut a.cen_rnd, &b.cen_rnd),
            (&mut a.sub_rnd, &b.sub_rnd),
            (&mut a.rnd_rnd, &b.rnd_rnd),
            (&mut self.two_halo, &other.two_halo),
        ] {
            if sum.len() != part.len() {
                return Err("1-halo rows");
            }
            for (s, v) in sum.iter_mut().zip(part) {
                *s += v;
            }
        }
        Ok(())
    }
}
