//! `iaemu demo`: xi, omega and eta of the synthetic universe's host halos.

use super::args::{MeasureArgs, UniverseArgs};
use super::common::{measure_and_report, synthesize};
use iaemu::corr;
use iaemu::halos::{Column, HOST_MIN_PARTICLES};
use iaemu::Result;

pub fn run(universe: UniverseArgs, min_mass: f64, measure: MeasureArgs) -> Result<()> {
    let halos = synthesize(&universe.universe(measure.threads))?;
    let rows: Vec<usize> = halos
        .central_hosts(HOST_MIN_PARTICLES)
        .into_iter()
        .filter(|&i| halos.col(Column::Mvir)[i] >= min_mass)
        .collect();
    let column = |c: [Column; 3]| -> Vec<[f64; 3]> {
        rows.iter().map(|&i| c.map(|c| halos.col(c)[i])).collect()
    };
    let positions = column([Column::X, Column::Y, Column::Z]);
    let axes = column([Column::AxisAX, Column::AxisAY, Column::AxisAZ]);
    eprintln!(
        "measuring {} host halos with mvir >= {min_mass:.3e} Msun/h, oriented along their major axes",
        rows.len()
    );
    let g = corr::Galaxies::new(&positions, Some(&axes));
    measure_and_report(&g, halos.box_size(), &measure)
}
