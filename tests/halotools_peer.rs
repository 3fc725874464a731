//! Agreement with halotools 0.9.4 (`tpcf`, `ed_3d`, `ee_3d`, `npairs_3d`) on a clustered,
//! aligned catalogue: the fixture in tests/fixtures/halotools_corr is data halotools computed
//! (made by tests/peers/make_halotools_fixture.py, see its README).

use iaemu::corr::{self, CorrelationOptions};
use std::path::Path;

#[test]
fn matches_halotools_on_a_clustered_aligned_catalogue() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/halotools_corr");
    let cat = iaemu::io::read_galaxies(&dir.join("catalog.npy")).expect("fixture catalogue");
    let text = std::fs::read_to_string(dir.join("expected.json")).expect("fixture results");
    let want: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let floats = |k: &str| -> Vec<f64> {
        want[k]
            .as_array()
            .unwrap_or_else(|| panic!("{k} missing"))
            .iter()
            .map(|v| v.as_f64().unwrap_or(f64::NAN))
            .collect()
    };
    let l = want["box_size"].as_f64().expect("box_size");
    assert_eq!(
        cat.positions.len() as u64,
        want["n_galaxies"].as_u64().unwrap()
    );
    assert!(cat.positions.len() >= 50_000);
    let mut options = CorrelationOptions::cubic(l);
    options.r_edges = floats("r_edges");
    let got = corr::correlate(&cat.galaxies(), &options, None).unwrap();

    let pairs: Vec<u64> = want["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(
        got.pairs, pairs,
        "ordered pair counts vs halotools npairs_3d"
    );
    let (xi, omega, eta) = (floats("xi"), floats("omega"), floats("eta"));
    for k in 0..got.xi.len() {
        let tol_xi = 1e-9 * xi[k].abs().max(1.0);
        assert!(
            (got.xi[k] - xi[k]).abs() <= tol_xi,
            "xi[{k}]: {} vs halotools {}",
            got.xi[k],
            xi[k]
        );
        assert!(
            (got.omega[k] - omega[k]).abs() <= 1e-9,
            "omega[{k}]: {} vs halotools {}",
            got.omega[k],
            omega[k]
        );
        assert!(
            (got.eta[k] - eta[k]).abs() <= 1e-9,
            "eta[{k}]: {} vs halotools {}",
            got.eta[k],
            eta[k]
        );
    }
    // The fixture must carry a real signal for the comparison to mean something.
    assert!(
        xi[2] > 10.0 && omega[2].abs() > 0.02,
        "fixture without clustering or alignment"
    );
}
