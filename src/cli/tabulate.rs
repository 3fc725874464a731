//! `iaemu tabulate`: a halo catalogue's pair sums for expected correlations, written once.

use super::args::{load_halos, TableArgs};
use super::common::{progress_bar, synthesize};
use iaemu::expect::{Progress, Table, TableOptions, TableShard};
use iaemu::shard::Shard;
use iaemu::halos::{HaloCatalog, SyntheticUniverse};
use iaemu::{corr, Result};
use std::path::PathBuf;
use std::time::Instant;

/// What a table is made of and for, from the flags of `tabulate` and `expect`.
pub struct Request<'a> {
    pub source: &'a TableArgs,
    pub mass_bin_dex: f64,
    pub seed: u64,
}

impl Request<'_> {
    pub fn options(&self) -> TableOptions {
        TableOptions {
            r_edges: self.source.edges.clone().unwrap_or_else(corr::default_r_edges),
            satellites: self.source.satellites.model(),
            mass_bin_dex: self.mass_bin_dex,
            seed: self.seed,
            threads: self.source.threads,
            ..TableOptions::default()
        }
    }

    pub fn catalogue(&self) -> Result<HaloCatalog> {
        match &self.source.halos {
            Some(path) => {
                let h = load_halos(path, &self.source.load)?;
                eprintln!("{}: {} halos ({} hosts)", path.display(), h.len(), h.n_hosts());
                Ok(h)
            }
            None => synthesize(&SyntheticUniverse { threads: self.source.threads, ..Default::default() }),
        }
    }
}

/// Tabulates (the whole table, or a shard's share) with a progress bar on a terminal (a line
/// per stage otherwise).
pub fn build_with_progress<T>(
    what: &str,
    tabulate: impl FnOnce(Progress) -> Result<T>,
) -> Result<T> {
    let start = Instant::now();
    let bar = progress_bar("{msg:>13} {bar:40} {percent:>3}% {elapsed} (eta {eta})");
    let stage = std::sync::Mutex::new(String::new());
    let report = |name: &str, done: usize, total: usize| {
        let mut current = stage.lock().unwrap_or_else(|e| e.into_inner());
        if *current != name {
            *current = name.to_string();
            match &bar {
                Some(b) => {
                    b.set_message(name.to_string());
                    b.set_length(total as u64);
                    b.reset();
                }
                None => eprintln!("tabulating{what}: {name} ({:.1} s)", start.elapsed().as_secs_f64()),
            }
        }
        if let Some(b) = &bar {
            b.set_position(done as u64);
        }
    };
    let result = tabulate(&report);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    result
}

/// Tabulates the whole table, reporting progress and then its size.
pub fn build(halos: &HaloCatalog, options: &TableOptions) -> Result<Table> {
    let start = Instant::now();
    let table = build_with_progress("", |report| Table::build(halos, options, Some(report)))?;
    let m = table.meta();
    eprintln!(
        "tabulated {} hosts and {} subhalos ({:?} satellites) in {:.1} s: {:.1} MB",
        m.n_hosts,
        m.n_subhalos,
        table.satellites(),
        start.elapsed().as_secs_f64(),
        table.size_bytes() as f64 / 1e6
    );
    Ok(table)
}

pub fn run(request: Request, shard: Option<&str>, out: PathBuf) -> Result<()> {
    iaemu::io::check_output(&out, &["npz"], "write a table as .npz")?;
    let shard = Shard::from_flag(shard)?;
    let halos = request.catalogue()?;
    if shard == Shard::WHOLE {
        let table = build(&halos, &request.options())?;
        table.save(&out)?;
        eprintln!("wrote {}", out.display());
        return Ok(());
    }
    let start = Instant::now();
    let what = format!(" shard {}/{}", shard.index, shard.count);
    let part = build_with_progress(&what, |report| TableShard::build(&halos, &request.options(), shard, Some(report)))?;
    let path = TableShard::path_for(&out, shard);
    part.save(&path)?;
    eprintln!(
        "tabulated{what} of {} hosts in {:.1} s; wrote {} (join the shards with `iaemu tabulate merge`)",
        part.meta().n_hosts,
        start.elapsed().as_secs_f64(),
        path.display()
    );
    Ok(())
}

/// `iaemu tabulate merge`: the shards' sums added into one table.
pub fn merge(shards: &[PathBuf], out: PathBuf) -> Result<()> {
    iaemu::io::check_output(&out, &["npz"], "write a table as .npz")?;
    let table = Table::merge(shards)?;
    table.save(&out)?;
    eprintln!(
        "merged {} shards into {} ({} hosts, {:.1} MB)",
        shards.len(),
        out.display(),
        table.meta().n_hosts,
        table.size_bytes() as f64 / 1e6
    );
    Ok(())
}
