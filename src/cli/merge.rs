//! `iaemu merge`: join the shards of one `generate` run.

use iaemu::{dataset, Result};
use std::path::PathBuf;

pub fn run(shards: Vec<PathBuf>, out: PathBuf) -> Result<()> {
    dataset::merge(&shards, &out)?;
    eprintln!("merged {} shards into {}", shards.len(), out.display());
    Ok(())
}
