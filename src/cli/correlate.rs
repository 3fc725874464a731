//! `iaemu correlate`: xi, omega and eta of a galaxy catalogue.

use super::args::MeasureArgs;
use super::common::measure_and_report;
use iaemu::{io, Result};
use std::path::PathBuf;

pub fn run(catalog: PathBuf, box_size: [f64; 3], measure: MeasureArgs) -> Result<()> {
    let file = io::read_galaxies(&catalog)?;
    let n = file.positions.len();
    eprintln!(
        "{}: {n} galaxies{}",
        catalog.display(),
        if file.orientations.is_some() {
            " with orientations"
        } else {
            " (positions only: xi)"
        }
    );
    measure_and_report(&file.galaxies(), box_size, &measure)
}
