//! `iaemu tabulate`: a halo catalogue's pair sums for expected correlations, written once.

use super::args::{load_halos, TableArgs};
use super::common::{progress_bar, synthesize};
use iaemu::expect::{Table, TableOptions};
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

/// Tabulates with a progress bar on a terminal (a line per stage otherwise).
pub fn build(halos: &HaloCatalog, options: &TableOptions) -> Result<Table> {
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
                None => eprintln!("tabulating: {name} ({:.1} s)", start.elapsed().as_secs_f64()),
            }
        }
        if let Some(b) = &bar {
            b.set_position(done as u64);
        }
    };
    let table = Table::build(halos, options, Some(&report));
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let table = table?;
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

pub fn run(request: Request, out: PathBuf) -> Result<()> {
    iaemu::io::check_output(&out, &["npz"], "write a table as .npz")?;
    let halos = request.catalogue()?;
    let table = build(&halos, &request.options())?;
    table.save(&out)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
