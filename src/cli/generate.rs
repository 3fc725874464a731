//! `iaemu generate`: a training dataset, in chunks, optionally sharded.

use super::args::{load_halos, LoadArgs};
use super::common::{progress_bar, synthesize};
use iaemu::corr;
use iaemu::dataset::{self, Design, Shard};
use iaemu::halos::SyntheticUniverse;
use iaemu::hod::PopulateOptions;
use iaemu::Result;
use std::path::PathBuf;
use std::time::Instant;

#[allow(clippy::too_many_arguments)]
pub fn run(
    design: Design,
    n: usize,
    (realizations, realizations_every): (usize, usize),
    halos_file: Option<PathBuf>,
    load: LoadArgs,
    seed: u64,
    shard: Option<String>,
    chunk: usize,
    (edges, expected): (Option<Vec<f64>>, bool),
    threads: Option<usize>,
    out: PathBuf,
) -> Result<()> {
    let shard = Shard::from_flag(shard.as_deref())?;
    let halos = match &halos_file {
        Some(path) => load_halos(path, &load)?,
        None => synthesize(&SyntheticUniverse {
            threads,
            ..Default::default()
        })?,
    };
    let plan = dataset::Plan {
        design,
        n_points: n,
        realizations,
        seed,
        r_edges: edges.unwrap_or_else(corr::default_r_edges),
        populate: PopulateOptions::default(),
        chunk,
        halos: dataset::HalosIdentity::of(&halos),
        expected,
        realizations_every,
    };
    let bar = progress_bar("{spinner} points {bar:40} {pos}/{len} {per_sec} {elapsed} (eta {eta})");
    let last = std::sync::Mutex::new(Instant::now());
    let start = Instant::now();
    let progress = |done: usize, total: usize| match &bar {
        Some(b) => {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
        None => {
            // Logs (SLURM, mpirun): a line at most every 10 s, and at the end.
            let mut l = last.lock().expect("progress lock");
            if done == total || l.elapsed().as_secs_f64() > 10.0 {
                *l = Instant::now();
                let rate = done as f64 / start.elapsed().as_secs_f64();
                eprintln!(
                    "shard {}/{}: {done}/{total} points, {:.0} points/hour, eta {:.0} s",
                    shard.index,
                    shard.count,
                    rate * 3600.0,
                    (total - done) as f64 / rate.max(1e-12)
                );
            }
        }
    };
    let report = dataset::generate(&plan, &halos, shard, &out, threads, &progress)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    eprintln!(
        "{}: {} chunks done ({} points) in {:.1} s, {} already there{}",
        report.dir.display(),
        report.chunks_done,
        report.points_done,
        report.seconds,
        report.chunks_skipped,
        if report.assembled {
            "; dataset complete"
        } else {
            "; join the shards with `iaemu merge`"
        }
    );
    Ok(())
}
