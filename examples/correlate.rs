//! Measure xi, omega and eta of the built-in sample catalogue from Rust.
//!
//!     cargo run --release --example correlate

use iaemu::corr::{correlate, CorrelationOptions, Galaxies};

fn main() -> iaemu::Result<()> {
    let cat = iaemu::mock::mock_catalog(&Default::default())?;
    let mut options = CorrelationOptions::cubic(cat.box_size); // default bins, N^2
    options.jackknife = Some(3);
    let r = correlate(
        &Galaxies::new(&cat.positions, Some(&cat.orientations)),
        &options,
        None,
    )?;
    let jk = r.jackknife.as_ref().expect("asked for a jackknife");
    println!("{:>8} {:>11} {:>11} {:>11}", "r_mid", "xi", "omega", "eta");
    for k in 0..r.xi.len() {
        println!(
            "{:>8.3} {:>11.4e} {:>11.4e} {:>11.4e}   (omega ± {:.1e})",
            r.r_mid[k],
            r.xi[k],
            r.omega[k],
            r.eta[k],
            jk.omega_var[k].sqrt()
        );
    }
    Ok(())
}
