//! `iaemu mock`: the clustered, aligned sample catalogue.

use super::args::MockArgs;
use iaemu::{io, mock, Result};
use std::path::PathBuf;

pub fn run(mock: MockArgs, out: PathBuf) -> Result<()> {
    let cat = mock::mock_catalog(&mock_options(&mock))?;
    let rows = ndarray::Array2::from_shape_fn((cat.positions.len(), 6), |(i, k)| {
        if k < 3 {
            cat.positions[i][k]
        } else {
            cat.orientations[i][k - 3]
        }
    });
    io::write_npy_matrix(&out, &rows)?;
    eprintln!(
        "wrote {} galaxies (box {} Mpc/h) to {}",
        rows.nrows(),
        cat.box_size,
        out.display()
    );
    Ok(())
}

fn mock_options(m: &MockArgs) -> mock::MockOptions {
    mock::MockOptions {
        n_galaxies: m.n,
        box_size: m.box_size,
        seed: m.seed,
        ..Default::default()
    }
}
