//! `iaemu populate`: the galaxies of one model point, written to a file.

use super::args::ModelArgs;
use iaemu::hod;
use iaemu::{io, Result};
use std::path::PathBuf;

pub fn run(model: ModelArgs, out: PathBuf) -> Result<()> {
    io::check_galaxies_output(&out)?;
    let params = model.params()?;
    let halos = model.halos()?;
    let g = iaemu::threads::install(model.threads, || {
        hod::populate(&halos, &params, model.seed, &model.populate_options())
    })??;
    let n_cen = g.is_central.iter().filter(|c| **c).count();
    eprintln!(
        "{} galaxies ({n_cen} centrals, {} satellites)",
        g.len(),
        g.len() - n_cen
    );
    io::write_galaxies(&out, &g)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
